"""Where studies and runs live: the public ``dlcore.Store``, one Optuna storage and one MLflow tracking
store, checked and opened here for every command and every API call.

``Store(path)`` is the embedded store, one directory (``dlcore.tracking.store`` has its layout and its
promises: created whole, re-rooted when moved). ``Store(storage=URL, tracking_uri=URI)`` points at an
Optuna database (PostgreSQL) and an MLflow tracking server instead; either may be given alone, the
other part staying in the directory. Writers call :meth:`Store.prepare` before anything is written;
readers open the store read-only and never create it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, StoreError
from .urls import check_existing_sqlite, check_storage, check_tracking_uri


@dataclass(frozen=True, init=False)
class Store:
    """An Optuna storage URL and an MLflow tracking URI, with the embedded directory ``root`` (default
    ``$DLCORE_STORE``, else ``./mlruns``, made absolute) holding whatever is not elsewhere."""
    root: Path
    storage: str
    tracking_uri: str
    custom: tuple = field(default=(), repr=False)   # the options given: "storage", "tracking_uri"

    def __init__(self, path: str | os.PathLike | None = None, *, storage: str | None = None,
                 tracking_uri: str | None = None):
        from .tracking.store import resolve_store

        if storage is not None:
            check_storage(storage)
        if tracking_uri is not None:
            check_tracking_uri(tracking_uri)
        directory = resolve_store(None if path is None else str(path))
        object.__setattr__(self, "root", directory.root)
        object.__setattr__(self, "storage", storage or directory.optuna_url)
        object.__setattr__(self, "tracking_uri", tracking_uri or directory.tracking_uri)
        object.__setattr__(self, "custom", tuple(k for k, v in (("storage", storage), ("tracking_uri", tracking_uri))
                                                 if v is not None))

    @property
    def remote_tracking(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    @property
    def artifact_root(self) -> Path | None:
        """Where the embedded store keeps artifacts; None with a tracking server (it has its own)."""
        return None if self.remote_tracking else self.root / "artifacts"

    @property
    def directory(self):
        """The embedded store's directory (``dlcore.tracking.store.Store``), when anything lives in it."""
        from .tracking.store import Store as Directory

        uses = "storage" not in self.custom or not self.remote_tracking
        return Directory(self.root) if uses else None

    def prepare(self, optuna: bool = True) -> "Store":
        """Before a command writes: a tracking server answers; each SQLite database is intact, writable
        and not half-built (a corrupt mlflow.db found later left a raised budget behind); then the
        embedded directory and its marker exist (a moved store re-rooted). The databases themselves
        are built, whole, by their first user (``make_storage``, ``Tracker``), so ``--no-track``
        creates no mlflow.db."""
        from .preflight import check_backends
        from .search.storage import check_optuna_db
        from .sqlite_files import sqlite_path
        from .tracking.store import check_mlflow_db

        if self.remote_tracking:
            check_server(self.tracking_uri)
        storage = self.storage if optuna else None  # `dlcore train` writes MLflow only
        check_backends(storage, self.tracking_uri, write=True)
        for url, check in ((storage, check_optuna_db), (self.tracking_uri, check_mlflow_db)):
            path = sqlite_path(url)
            if path is not None and path.is_file():
                check(path)
        if self.directory is not None:
            self.directory.create()
        return self

    def read_storage(self):
        """Optuna's storage opened read-only, for the commands that only read; never creates one."""
        from .search.storage import make_storage

        if "storage" in self.custom:
            check_existing_sqlite(self.storage, "--storage")
        elif not (self.root / "optuna.db").is_file():
            raise StoreError(f"no dlcore store at {self.root} (no optuna.db): run 'dlcore search' first, "
                             "or point --store / $DLCORE_STORE / --storage at one")
        return make_storage(self.storage, read_only=True)

    def tracker(self):
        """The MLflow side for logging (call :meth:`prepare` first)."""
        from .tracking.mlflow_runs import Tracker

        return Tracker(self.tracking_uri, self.artifact_root)

    def read_tracker(self):
        """The MLflow side of an existing store, and whether it can be written: a read-only store is
        opened read-only (``reproduce`` still reproduces it, and logs nothing). Returns (tracker, db)
        where ``db`` is the read-only SQLite file, or None when logging is possible."""
        from .preflight import check_database, read_only_url, writable
        from .sqlite_files import sqlite_path
        from .tracking.mlflow_runs import Tracker

        if "tracking_uri" in self.custom:
            check_existing_sqlite(self.tracking_uri, "--tracking-uri")
        elif not (self.root / "mlflow.db").is_file():
            raise StoreError(f"no MLflow store at {self.root} (no mlflow.db); pass --store or --tracking-uri")
        if self.remote_tracking:
            check_server(self.tracking_uri)
        db = sqlite_path(self.tracking_uri)
        if db is None:
            return Tracker(self.tracking_uri, self.artifact_root), None
        check_database(db, "MLflow's tracking store", write=False)
        if writable(db):
            return Tracker(self.tracking_uri, self.artifact_root), None
        return Tracker(read_only_url(db), self.artifact_root), db


def check_server(uri: str, timeout: float = 5.0):
    """A one-line error, not minutes of MLflow's retries, when the tracking server does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as r:
            if r.status == 200:
                return
            problem = f"HTTP {r.status}"
    except OSError as e:
        problem = str(getattr(e, "reason", e))
    raise ConfigError(f"cannot reach the MLflow tracking server at {uri} ({problem})")


def as_store(store) -> Store:
    """``store`` itself, or ``Store(store)`` for a path or None (the default store)."""
    return store if isinstance(store, Store) else Store(store)


__all__ = ["Store", "as_store", "check_server"]
