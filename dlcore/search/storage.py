"""Optuna's storage as dlcore opens it: SQLite or PostgreSQL, with a heartbeat, built whole, shared by
several processes (BEGIN IMMEDIATE and the write-ahead log), read-only for the commands that only read."""
from __future__ import annotations

import os
import warnings

import optuna

from ..disk import is_full_error, retry_when_full
from ..errors import ConfigError
from ..sqlite_files import build_once, read_rows, table_names


HEARTBEAT_INTERVAL = int(os.environ.get("DLCORE_HEARTBEAT_INTERVAL", "5"))  # seconds


SUPPORTED_STORAGES = "sqlite:///PATH or postgresql://USER@HOST/DB"
SQLITE_BUSY_TIMEOUT = 60  # seconds a writer waits for another process's transaction to end


def check_storage_url(url: str) -> None:
    """Refuse, as a ConfigError, an Optuna storage URL dlcore cannot use: a scheme other than SQLite or
    PostgreSQL (the trial budget's lock exists for those two only), or one whose database driver is
    not installed. Checks the URL only: connects to nothing and creates nothing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    dialect = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if not (url.startswith("sqlite:///") or dialect == "postgresql"):
        raise ConfigError(f"unsupported Optuna storage {redact(url)}: use {SUPPORTED_STORAGES}")
    if dialect == "sqlite" and in_memory_sqlite(url):
        raise ConfigError(f"Optuna storage {url} is in memory, which lives and dies with one process: workers "
                          "and later commands could never see its trials; use sqlite:///PATH")
    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, ValueError) as e:
        raise ConfigError(f"cannot open Optuna storage {redact(url)}: {str(e).splitlines()[0]}") from None
    except (NoSuchModuleError, ImportError) as e:
        raise ConfigError(f"cannot open Optuna storage {redact(url)}: its database driver is not "
                          f"installed ({str(e).splitlines()[0]}); install it, or use postgresql:// with psycopg "
                          "(pip install 'dlcore[postgres]')") from None


class HeartbeatStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, whose stale trials dlcore fails itself (``budget.close_dead_trials``, under
    the study's lock, storing the reason on the trial first). Optuna's own check, before every trial,
    would fail them with no reason, and a finished trial takes no attribute afterwards."""

    def _get_stale_trial_ids(self, study_id: int) -> list:
        return []  # what optuna.storages.fail_stale_trials asks: nothing, dlcore does it

    def stale_trial_ids(self, study_id: int) -> list:
        """RUNNING trials whose heartbeat is older than the grace period (by the database's clock)."""
        return super()._get_stale_trial_ids(study_id)

    def record_heartbeat(self, trial_id: int) -> None:
        """A beat, from Optuna's heartbeat thread: on a full disk (and no reserve left) it is skipped, not
        a traceback from that thread; the search itself stops at its next write or trial."""
        try:
            _beat(self, trial_id)
        except Exception as e:
            if not is_full_error(e):
                raise


# Every write of a trial or study: on a full disk, tried once more in the room the store's reserve made.
for _name in ("create_new_study", "set_study_user_attr", "set_study_system_attr", "create_new_trial",
              "set_trial_param", "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr",
              "set_trial_system_attr"):
    setattr(HeartbeatStorage, _name, retry_when_full(getattr(HeartbeatStorage, _name)))
_beat = retry_when_full(optuna.storages.RDBStorage.record_heartbeat)


def stale_trial_ids(study) -> list:
    storage = getattr(study._storage, "_backend", study._storage)  # Optuna wraps it in a _CachedStorage
    return storage.stale_trial_ids(study._study_id) if isinstance(storage, HeartbeatStorage) else []


def in_memory_sqlite(url: str) -> bool:
    """Whether a sqlite URL names no file: sqlite://, sqlite:///:memory:, or a URI with mode=memory."""
    path = url.split("://", 1)[1][1:] if "://" in url else ""
    name, _, query = path.partition("?")
    return name in ("", ":memory:") or name.startswith("file::memory:") or "mode=memory" in query


def make_storage(url, read_only: bool = False):
    """An RDB storage (SQLite or PostgreSQL) with Optuna's heartbeat: a trial whose worker stops
    beating for 3 intervals is failed by the next process that asks for a trial (``HeartbeatStorage``).
    Other URLs are refused (``check_storage_url``); storage objects pass through. A new SQLite file
    is built whole by one process (``build_once``); a half-built one is refused. ``read_only`` (the
    commands that only read) opens a SQLite file read-only, without switching it to the write-ahead
    log, so that a read-only store can be read."""
    if not isinstance(url, str):
        return url
    check_storage_url(url)
    from ..preflight import check_database, read_only_url
    from ..sqlite_files import sqlite_path

    path = sqlite_path(url)
    if read_only and path is not None:
        check_database(path, "Optuna's storage", write=False)
        if path.is_file():
            check_optuna_db(path)  # a half-built file is refused, never completed (it could not be, read-only)
        return _read_only_storage(url, read_only_url(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sqlite = url.startswith("sqlite:")
        try:
            if path is not None:
                build_once(path, _build_optuna_db)  # a fresh file appears whole, built by one process
                check_optuna_db(path)
        except OSError as e:
            raise ConfigError(f"cannot open Optuna storage {redact(url)}: {e}") from None
        try:
            storage = HeartbeatStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=3 * HEARTBEAT_INTERVAL,
                                       skip_table_creation=path is not None,  # built whole by build_once
                                       engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
                                       if sqlite else None)
            if sqlite:
                _share_sqlite_between_processes(storage.engine)
            return storage
        except Exception as e:  # noqa: BLE001 -- SQLAlchemy and driver errors vary; say which storage
            raise ConfigError(f"cannot open Optuna storage {redact(url)}: {str(e).splitlines()[0]}") from None


def _build_optuna_db(tmp):
    """Optuna's own creation (tables, version row, Alembic stamp) on the temporary file."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
    storage.engine.dispose()


def check_optuna_db(path):
    """A one-line ConfigError for an existing SQLite file that is not a whole Optuna storage (one an
    interrupted creation left half-built, or another program's file); Optuna would otherwise complete
    it in place. A whole one from an older Optuna is left to Optuna's own check, which says how to
    upgrade it."""
    import sqlite3

    from optuna.storages._rdb import models

    try:
        missing = sorted((set(models.BaseModel.metadata.tables) | {"alembic_version"}) - table_names(path))
        stamped = not missing and read_rows(path, "SELECT 1 FROM version_info") and \
            read_rows(path, "SELECT version_num FROM alembic_version")
    except sqlite3.DatabaseError as e:
        raise ConfigError(f"{path}: cannot read it as an Optuna storage ({e})") from None
    if missing or not stamped:
        what = f"no table {', '.join(missing)}" if missing else "no schema version"
        raise ConfigError(f"{path} is not a whole Optuna storage ({what}): it was left half-built or made by "
                          "another program; move it aside to start a new store")


def _read_only_storage(url: str, ro_url: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(ro_url, skip_table_creation=True,
                                              engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}})
    except Exception as e:  # noqa: BLE001 -- SQLAlchemy and driver errors vary; say which storage
        raise ConfigError(f"cannot open Optuna storage {redact(url)} read-only: {str(e).splitlines()[0]}") from None


def _share_sqlite_between_processes(engine):
    """Several processes (workers, their heartbeat threads, the parent) write one SQLite file. A
    transaction that reads, then writes, while another holds the write lock gets "database is locked" at
    once: SQLite cannot wait there without a deadlock. Beginning every transaction with BEGIN IMMEDIATE
    takes the lock first, so writers queue (up to SQLITE_BUSY_TIMEOUT) instead of failing; this is
    SQLAlchemy's documented recipe for pysqlite. The write-ahead log in NORMAL sync makes each commit
    cheaper (benchmarks/bench_storage.py)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # the driver issues no BEGIN of its own
        # Write-ahead log, synced at checkpoints: a commit no longer waits for fsync. A crash of the
        # process loses nothing; a power cut can lose the last commits, never the database.
        dbapi_connection.execute("PRAGMA journal_mode = WAL")
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while creating the tables predate the listeners


def redact(url) -> str:
    """A storage URL without its password; for a storage object, its URL (else its type's name)."""
    if not isinstance(url, str):
        inner = getattr(url, "_backend", url)  # Optuna wraps an RDBStorage in a _CachedStorage
        url = getattr(inner, "url", None) or getattr(url, "url", None) or type(url).__name__
    s = str(url)
    if "://" in s and "@" in s:
        scheme, rest = s.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        if ":" in cred:
            return f"{scheme}://{cred.split(':')[0]}:***@{host}"
    return s


def checkpoint(url) -> None:
    """Fold a SQLite storage's write-ahead log into the database file (``wal_checkpoint(TRUNCATE)``), so
    that the file alone holds every trial: a reader that opens it read-only and immutable (a read-only
    store) ignores the log, and a copy without its ``-wal`` would lose what the log held. SQLite folds
    it in by itself only when the last connection closes, which a process's pooled connections, or a
    read-only reader still open, can prevent. Best effort: a busy or full disk leaves it for later."""
    import sqlite3

    from ..sqlite_files import sqlite_path

    path = sqlite_path(url) if isinstance(url, str) else None
    if path is None or not path.is_file():
        return
    try:
        con = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        pass
