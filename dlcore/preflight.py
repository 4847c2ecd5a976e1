"""Checks made before anything is written: each SQLite database a command will use is a readable,
intact SQLite file, and one it will write to is writable.

A corrupt ``mlflow.db`` found only when the first run is logged left a study whose budget had already
been raised; a read-only store failed deep inside SQLAlchemy. Checked first, each is one line naming the
file, and neither database changes. Read-only commands open a read-only store read-only instead
(:func:`read_only_url`): SQLite's write-ahead log needs write access to the directory, so there the
file is opened as immutable.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from .errors import ConfigError
from .sqlite_files import sqlite_path


def writable(path: Path) -> bool:
    """Whether ``path`` (a database file, which may not exist yet) can be written, with its directory
    (SQLite writes a journal beside it)."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return os.access(directory, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def check_database(path: Path, what: str, write: bool) -> None:
    """A ConfigError naming ``path`` when it exists but is not a readable, intact SQLite database, or
    when ``write`` is asked and it (or its directory) is read-only. A missing file passes: it is created."""
    if write and not writable(path):
        raise ConfigError(f"{path}: read-only ({what}): this command writes to it; 'best', 'report' and "
                          "'reproduce' read a read-only store, or copy the store somewhere writable")
    if not path.exists():
        return
    try:
        with sqlite3.connect(read_only_url(path, uri_only=True), uri=True) as db:
            rows = [r[0] for r in db.execute("PRAGMA quick_check(3)").fetchall()]
            problem = " ".join(" ".join(rows).split())  # its report spans lines: make it one
        db.close()
    except sqlite3.Error as e:
        problem = str(e)
    if problem != "ok":
        raise ConfigError(f"{path}: not a readable SQLite database ({what}: {problem}); restore it from a copy, "
                          "or move it away to start a new one")


def check_backends(storage, tracking_uri: str | None, write: bool = True) -> None:
    """Every SQLite database of a command: Optuna's storage and MLflow's tracking store."""
    for url, what in ((storage, "Optuna's storage"), (tracking_uri, "MLflow's tracking store")):
        path = sqlite_path(url) if url else None
        if path is not None:
            check_database(path, what, write)


def read_only_url(path: Path, uri_only: bool = False) -> str:
    """A sqlite URL that opens ``path`` read-only; immutable when its directory is read-only (no
    write-ahead-log index can be made there, and nobody can be writing to it)."""
    immutable = "&immutable=1" if not os.access(path.parent, os.W_OK) else ""
    uri = f"file:{quote(str(path))}?mode=ro{immutable}"
    return uri if uri_only else f"sqlite:///{uri}&uri=true"


__all__ = ["check_backends", "check_database", "read_only_url", "sqlite_path", "writable"]
