"""A global trial budget shared by every worker of a study, on one machine or several.

Optuna's ``n_trials`` counts per process and ``MaxTrialsCallback`` checks after a trial, so N workers
can overshoot by N - 1. Here a worker reserves its next trial under a lock: count the study's trials,
and ask for a new one only while the count is below the budget. The lock is a file lock beside a
SQLite database (one machine) or a PostgreSQL advisory lock (several machines).
"""
from __future__ import annotations

import fcntl
import hashlib
import threading
from contextlib import contextmanager
from pathlib import Path


class BudgetExhausted(Exception):
    """Raised instead of asking for a trial once the study holds ``budget`` trials."""


@contextmanager
def file_lock(path: Path):
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class AdvisoryLock:
    """A PostgreSQL session advisory lock keyed by the study name, on its own connection."""

    def __init__(self, url: str, name: str):
        import sqlalchemy

        self.engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        self.key = int.from_bytes(hashlib.sha256(f"dlcore:{name}".encode()).digest()[:8], "big", signed=True)
        self._text = sqlalchemy.text

    @contextmanager
    def __call__(self):
        with self.engine.connect() as conn:
            conn.execute(self._text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
            try:
                yield
            finally:
                conn.execute(self._text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})


def lock_for(storage_url: str, study_name: str):
    """A context-manager factory serialising trial reservations for this storage."""
    if storage_url.startswith("sqlite:///"):
        db = Path(storage_url[len("sqlite:///"):])
        return lambda: file_lock(db.with_name(db.name + ".budget.lock"))
    if storage_url.startswith("postgresql"):
        return AdvisoryLock(storage_url, study_name)
    local = threading.Lock()  # other storages: serialise within this process only
    return lambda: local


def started_trials(study) -> int:
    """Trials that have started: an enqueued trial still WAITING is not one yet (``ask`` starts it)."""
    from optuna.trial import TrialState

    return sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))


def enforce_budget(study, budget: int, lock) -> None:
    """Make ``study.ask()`` (which ``study.optimize`` calls for every trial) refuse once ``budget``
    trials have started."""
    ask = study.ask

    def ask_within_budget(*args, **kwargs):
        with lock():
            if started_trials(study) >= budget:
                raise BudgetExhausted
            return ask(*args, **kwargs)

    study.ask = ask_within_budget
