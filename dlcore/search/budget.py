"""A global trial budget shared by every worker of a study, on one machine or several.

Optuna's ``n_trials`` counts per process and ``MaxTrialsCallback`` checks after a trial, so N workers
can overshoot by N - 1. Here a worker reserves its next trial under a lock: count the study's trials,
and ask for a new one only while the count is below the budget, which is re-read each time. A search
raises the budget by its ``--trials`` under the same lock, so concurrent searches add up. The lock is
a file lock beside a SQLite database (one machine) or a PostgreSQL advisory lock (several machines);
under it, too, each process fails the trials that dead processes left RUNNING.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

from .. import interrupt


class BudgetExhausted(Exception):
    """Raised instead of asking for a trial once the study holds its budget of trials."""


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


def this_process() -> str:
    """``host:pid``, the owner stored on each trial (``worker``) and each search's claim."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """Whether process ``host:pid`` may still run: False only when it is on this host and gone (a
    zombie, ended but not yet reaped by its parent, is gone). Another host's process cannot be asked."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux): the signal's answer stands
        return True


def raise_budget(study, lock, n: int, enqueue=(), me: str | None = None) -> int:
    """Add ``n`` trials to the study's budget, atomically, and return the level it starts from.

    Read, modify and write under the lock, so concurrent searches add their n's. The budget goes on
    from the study's budget while another search that claimed trials is alive (its claim is in the
    ``searches`` attribute until it ends), else from the trials started: the unspent claim of a search
    that ended or died is not inherited. Enqueued configurations (``enqueue``) are added as WAITING
    trials in the same step, counted among the n."""
    me = me or this_process()
    with lock():
        attrs = study.user_attrs
        started = started_trials(study)
        searches = {k: v for k, v in attrs.get("searches", {}).items() if k != me and owner_alive(k)}
        base = max(attrs.get("budget", 0), started) if searches else started
        for params in enqueue:
            study.enqueue_trial(params, skip_if_exists=True)
        study.set_user_attr("budget", base + n)
        study.set_user_attr("searches", {**searches, me: base + n})
    return base


def leave(study, lock, me: str | None = None) -> int:
    """A search ends: withdraw its claim (the budget stays); returns the study's budget."""
    me = me or this_process()
    with lock():
        attrs = study.user_attrs
        searches = attrs.get("searches", {})
        if me in searches:
            study.set_user_attr("searches", {k: v for k, v in searches.items() if k != me})
    return attrs.get("budget", 0)


def fail_trial(study, trial, reason: str) -> bool:
    """FAIL a RUNNING trial with ``reason`` stored first (a finished trial takes no attribute); False
    when it finished meanwhile."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        study._storage.set_trial_user_attr(trial._trial_id, "state_reason", reason)
        return study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False


def close_dead_trials(study, on_failed=None) -> list:
    """FAIL the RUNNING trials whose process is gone, and call ``on_failed(study, trial, reason)`` for
    each (to close its run); returns their numbers. Call it under the study's lock.

    A trial owned (``worker`` attribute) by a process of this host that no longer exists is failed at
    once; one whose heartbeat has gone stale (another host's, or one with no owner yet) when the
    heartbeat's grace is over. Optuna's own check would fail it too, but without a reason."""
    from optuna.trial import TrialState

    from .storage import stale_trial_ids

    me, stale, failed = this_process(), set(stale_trial_ids(study)), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("worker")
        if owner and owner != me and not owner_alive(owner):
            reason = f"worker {owner} is gone (found by {me})"
        elif t._trial_id in stale:
            reason = f"worker {owner or '?'} stopped beating (failed by the heartbeat, found by {me})"
        else:
            continue
        if fail_trial(study, t, reason):
            failed.append(t.number)
            if on_failed is not None:
                on_failed(study, t, reason)
    return failed


def enforce_budget(study, lock, before_ask=None, stop=None, owner: str | None = None) -> None:
    """Make ``study.ask()`` (which ``study.optimize`` calls for every trial) refuse once the study's
    budget, read from storage under the lock at every ask, has started; or once ``stop()`` says so.
    ``before_ask()`` runs under the same lock (closing dead processes' trials). ``owner`` ("host:pid")
    is stored on each new trial (user attribute ``worker``) before a Ctrl-C can end the process: a
    trial left RUNNING by an interrupt or a kill always names the process a reaper checks."""
    ask = study.ask

    def ask_within_budget(*args, **kwargs):
        if stop is not None and stop():
            raise BudgetExhausted
        with lock():  # (a Ctrl-C still cuts a wait for the lock short)
            if before_ask is not None:
                before_ask()
            if started_trials(study) >= study.user_attrs.get("budget", 0):
                raise BudgetExhausted
            with interrupt.held():  # a Ctrl-C here is raised as the trial begins, once it names its owner
                trial = ask(*args, **kwargs)
                if owner:
                    trial.set_user_attr("worker", owner)
            return trial

    study.ask = ask_within_budget
