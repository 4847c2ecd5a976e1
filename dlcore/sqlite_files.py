"""SQLite database files that appear whole or not at all, created by one process at a time.

Optuna and MLflow create their schema inside the database file they are given: Optuna with
``create_all`` and a version stamp, MLflow with some sixty Alembic migrations. Two processes creating
the same fresh file race ("table studies already exists", Alembic's ``CommandError``), and a signal in
the middle leaves a half-migrated file that neither library can open again ("duplicate column name:
step"). Here a database is built by one process at a time, under a file lock beside it, under a
temporary name in the same directory, and renamed into place once its schema is complete.

Why rename rather than deferring SIGINT/SIGTERM until the schema is complete: deferring cannot cover
SIGKILL, the OOM killer, a full disk or a power cut, and it would have to reach into two libraries'
threads and signal handlers; ``rename`` within one directory is atomic on POSIX, so a reader sees either
no file or a complete one, whatever kills the builder. What a killed builder leaves (a temporary file)
is removed by the next one, under the same lock.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

LOCK_NAME = ".create.lock"
SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's companions of a database file
_held: dict = {}                # lock path -> [file descriptor, depth] held by this process
_guard = threading.RLock()      # threads of one process take the lock in turn; one thread may nest


@contextmanager
def creation_lock(directory: Path):
    """An exclusive lock on ``<directory>/.create.lock`` (fcntl), re-entrant within this process: the
    one lock under which databases are created in that directory and a store is re-rooted. The lock
    file is in the directory itself, so a store carries its lock with it and nothing is written beside
    it. It is released when the process ends, however it ends."""
    path = str(Path(directory) / LOCK_NAME)
    with _guard:
        entry = _held.get(path)
        if entry is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            entry = _held[path] = [fd, 0]
        entry[1] += 1
        try:
            yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[path]
                fcntl.flock(entry[0], fcntl.LOCK_UN)
                os.close(entry[0])


def build_once(path: Path, build) -> bool:
    """Create the SQLite database ``path`` with ``build(tmp_path)`` unless it exists; True if this call
    built it. ``build`` must leave its connections closed. Safe to call from many processes at once: one
    builds, the others wait for the lock and then find the file."""
    path = Path(path)
    if path.exists():
        return False
    with creation_lock(path.parent):
        if path.exists():
            return False
        remove_leftovers(path)
        tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
        try:
            build(tmp)
            settle(tmp)
            os.rename(tmp, path)
            fsync_dir(path.parent)
        finally:
            for p in [tmp, *companions(tmp)]:
                p.unlink(missing_ok=True)
    return True


def companions(path: Path) -> list:
    return [path.with_name(path.name + s) for s in SIDE_FILES]


def remove_leftovers(path: Path):
    """Under the creation lock, with ``path`` absent: what killed builders left (their temporary files)
    and any -wal/-shm/-journal of a former file of that name, which SQLite would otherwise replay into
    the new database."""
    for p in path.parent.glob(f".{path.name}.building-*"):
        p.unlink(missing_ok=True)
    for p in companions(path):
        p.unlink(missing_ok=True)


def settle(path: Path):
    """Make a freshly built file self-contained and durable before it is renamed in: back to the
    rollback journal (which folds and deletes any write-ahead log), then fsync."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode = DELETE").fetchall()
    finally:
        con.close()
    left = [p.name for p in companions(path) if p.exists()]
    if left:
        raise OSError(f"building {path.name}: SQLite left {', '.join(left)} behind")
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sqlite_path(url) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (a ``file:`` URI too); None for other URLs (and non-strings)
    and for in-memory databases."""
    if not isinstance(url, str) or not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    if path.startswith("file:"):
        path = path[len("file:"):]
    return None if path in ("", ":memory:") else Path(path).expanduser()


def read_rows(path: Path, sql: str) -> list | None:
    """Rows of a query on an existing SQLite file, None when the table is missing. Never creates the
    file (``mode=rw`` opens an existing one only, read-only if the system says so); opened read-write
    when it can be, so that closing it removes the -wal and -shm a reader of a WAL database makes."""
    con = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=60)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None
        raise
    finally:
        con.close()


def table_names(path: Path) -> set:
    return {r[0] for r in read_rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
