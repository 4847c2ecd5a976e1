"""A full disk during a search: a small reserve file in the store, given up at the first "disk full".

When the disk holding the store fills, every write fails: Optuna's final write of a trial's state, the
trial's MLflow run, the heartbeat, the parent run's close. Nothing could then be left consistent. So
the store keeps ``.reserve`` (``RESERVE_BYTES`` of allocated space, made when a command that writes
opens the store, remade once space allows). The first write that fails for lack of space deletes it and
is tried once more (``retry_when_full``), in the room it made; from then on ``is_full()`` is true, the
search starts no further trial, closes what it has open and ends with one line (``DiskFull``).

No Optuna and no MLflow here: both sides (``search/storage.py``, ``tracking/mlflow_runs.py``) use it.
"""
from __future__ import annotations

import errno
import functools
import os
import threading
from pathlib import Path

from .errors import StoreError

RESERVE = ".reserve"
RESERVE_BYTES = 512 * 1024   # a few trials' writes to both databases, the parent's close, the budget's claim
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
SQLITE_FULL = 13
_lock = threading.Lock()
_reserves: set[Path] = set()   # the reserves of the stores this process writes
_full = threading.Event()      # set once a write found the disk full (the reserve given up)
_first: list = []              # that first error's line and the store, for the message


class DiskFull(StoreError):
    """The disk holding the store is full: the search stopped, its records closed."""


def ensure_reserve(root: Path, size: int = RESERVE_BYTES) -> None:
    """Make (or complete) ``root/.reserve`` and remember it. A disk without even that much room is
    refused before anything is written; a store that cannot be written (read-only) keeps none."""
    path = Path(root) / RESERVE
    try:
        if not (path.is_file() and os.stat(path).st_blocks * 512 >= size):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.posix_fallocate(fd, 0, size)  # really allocated: a sparse file would free nothing
            finally:
                os.close(fd)
    except OSError as e:
        if e.errno in FULL_ERRNOS:
            path.unlink(missing_ok=True)
            raise DiskFull(f"{root}: disk full ({e.strerror}): the store needs at least {size // 1024} KiB free "
                           "before a command writes to it; free some space and run it again") from None
        return  # read-only, or no fallocate here: the store works, without a reserve
    with _lock:
        _reserves.add(path)


def is_full_error(e: BaseException | None) -> bool:
    """Whether ``e``, or an error behind it (what SQLAlchemy, Optuna and MLflow wrap), says the disk
    is full: SQLite's SQLITE_FULL ("database or disk is full") or an OSError ENOSPC/EDQUOT."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in FULL_ERRNOS:
            return True
        if getattr(e, "sqlite_errorcode", None) == SQLITE_FULL or "database or disk is full" in str(e):
            return True
        e = e.__cause__ or getattr(e, "orig", None) or e.__context__
    return False


def release(e: BaseException) -> bool:
    """The disk is full (``e`` said so): give up the reserves; True if one was freed now (a write is
    worth trying again), False when they were already gone."""
    with _lock:
        if not _first:
            _first.append(_line(e))
        _full.set()
        freed = False
        for path in list(_reserves):
            try:
                path.unlink()
                freed = True
            except FileNotFoundError:
                pass
            _reserves.discard(path)
        return freed


def retry_when_full(method):
    """Decorate a write: when it fails for lack of space, give up the reserve and try it once more
    (the failed transaction was rolled back). Raises the error when there was no reserve left."""
    @functools.wraps(method)
    def write(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as e:
            if not is_full_error(e) or not release(e):
                raise
        return method(*args, **kwargs)
    return write


def is_full() -> bool:
    """Whether a write of this process found the disk full (then no further trial is started)."""
    return _full.is_set()


def disk_full_error(where) -> DiskFull:
    """The one line a search ends with once the disk is full."""
    line = _first[0] if _first else "no space left on device"
    return DiskFull(f"disk full under the store {where} ({line}): the search stopped; its trials and runs are "
                    "closed; free some space and run it again")


def reset() -> None:
    """A new search in this process starts with the disk not known full (its store's reserve remade)."""
    with _lock:
        _first.clear()
        _full.clear()


def _line(e: BaseException) -> str:
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) or type(e).__module__ == "sqlite3":
            return (str(e).strip().splitlines() or [type(e).__name__])[0]
        e = e.__cause__ or getattr(e, "orig", None) or e.__context__
    return "no space left on device"


__all__ = ["DiskFull", "ensure_reserve", "is_full", "is_full_error", "release", "reset", "retry_when_full"]
