"""Worker processes: the trials of one study run in this process (``work``), in N ``dlcore worker``
processes started and watched by a search (``run_workers``), or by workers joining from any machine
(``join_study``). Each worker reserves its next trial under the study's lock, stops when the study holds
its budget, and stops after its trial when the search that started it is gone.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from .. import disk, interrupt
from ..quiet import quiet
from ..reaper import close_run, reap, study_lock
from ..tracking.search_tracker import SearchTracker
from .budget import (BudgetExhausted, close_dead_trials, enforce_budget, fail_trial, started_trials,
                     this_process)
from .objective import Objective
from .space import SearchSpace
from .spawn import Workers
from .storage import make_storage
from .study import load_study, make_pruner, make_sampler, space_of, warmup_steps



def run_workers(space, store, parent, workers: int, on_trial=None, track=True, started: Workers | None = None) -> list:
    """Start ``workers`` processes of ``dlcore worker`` (or take those ``started`` before: see
    ``search.spawn``), hand them the study and wait for them, showing progress; returns the exit codes of
    those that failed. A worker that dies leaves its trial RUNNING: it is failed (and its run closed) as
    soon as this process sees the worker end, if another worker has not done it first.

    The workers run in their own session, so a Ctrl-C in the terminal reaches this process only, which
    forwards exactly one SIGINT to each worker: each ends its trial as FAIL and closes its run. (A second
    SIGINT while a worker is saving its trial would interrupt the save.) Each worker is given this
    process's pid and stops after its trial once this process is gone (SIGKILL), instead of running on.
    The storage URL, which may hold a password, goes to the workers on a pipe, not on their command
    line, where ``ps`` shows it."""
    group = started if started is not None else Workers(workers)
    cores = os.cpu_count() or 1
    if workers * group.threads > cores:
        print(f"dlcore: warning: {workers} workers on {cores} cores: one BLAS thread each still oversubscribes",
              file=sys.stderr)
    group.go(space.study.name, str(store.storage), store.tracking_uri, parent, track)
    procs = group.procs
    study = load_study(space.study.name, make_storage(store.storage))
    lock, tracker = study_lock(store.storage, space.study.name), store.tracker() if track else None
    seen, interrupted = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False)), False
    try:
        if track:  # the summary's imports, made in this thread while the workers train
            from .report import warm

            warm()
        ended = 0
        while any(p.poll() is None for p in procs):
            _wait_any(procs, 0.5)
            if sum(p.poll() is not None for p in procs) > ended:  # a worker ended: close a trial it left
                ended = sum(p.poll() is not None for p in procs)
                reap(study, lock, tracker)
            seen = _progress(study, seen, on_trial)
            interrupt.check()
    except KeyboardInterrupt:
        interrupted = True
        _stop(procs)
    finally:
        if not interrupted and any(p.poll() is None for p in procs):  # another error: do not leave workers behind
            _stop(procs)
        reap(study, lock, tracker)
        _progress(study, seen, on_trial)
    if interrupted:
        raise KeyboardInterrupt
    failed = [p.returncode for p in procs if p.returncode != 0]
    if failed:
        print(f"dlcore: warning: {len(failed)} of {workers} workers ended abnormally (exit {failed}): "
              f"{', '.join(f'{socket.gethostname()}:{p.pid}' for p in procs if p.returncode != 0)}", file=sys.stderr)
    return failed


def _wait_any(procs, timeout: float):
    """Until a live worker ends or ``timeout`` seconds pass (a Ctrl-C still comes through at once)."""
    live = [p for p in procs if p.poll() is None]
    if len(live) == 1:
        try:
            live[0].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in live):
        time.sleep(0.05)


def _stop(procs, grace: float = 60.0):
    """One SIGINT to each live worker, then wait; a further Ctrl-C, or ``grace`` seconds, kills the rest
    (their trials are then failed by ``reap``)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    try:
        deadline = time.monotonic() + grace
        for p in procs:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()


def parent_gone(parent_pid: int | None):
    """``stop()`` for a worker started by a search: true once that search has ended (the worker was
    handed to another parent), so that a SIGKILLed search leaves no worker running on."""
    return None if parent_pid is None else (lambda: os.getppid() != parent_pid)


def _progress(study, seen: int, on_trial) -> int:
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.is_finished()]
    for t in finished[seen:] if on_trial else []:
        on_trial(study, t)
    return max(seen, len(finished))


@quiet()
def work(space: SearchSpace, store, parent: str | None, objective=None, on_trial=None,
         track: bool = True, worker_index: int = 0, tracker=None, history: int | None = None,
         stop=None) -> int:
    """Run trials of the study until it holds its budget (re-read before every trial), or ``stop()``;
    returns how many this process ran. ``history``: the trials the sampler's seed counts as before."""
    if track and tracker is None:
        tracker = store.tracker()
    hooks = None
    if tracker is not None:
        hooks = SearchTracker(tracker, tracker.experiment_id(space.study.name), parent, space.study.name)
    objective = Objective(space, hooks, dataset=objective.dataset if objective else None)
    st = space.study
    study = load_study(st.name, make_storage(store.storage), pruner=make_pruner(st.pruner, warmup_steps(space)))
    study.sampler = make_sampler(st.sampler, sampler_seed(st, worker_index, started_trials(study)
                                                          if history is None else history))
    lock = study_lock(store.storage, st.name)
    on_failed = close_run(tracker)
    enforce_budget(study, lock, before_ask=lambda: close_dead_trials(study, on_failed),
                   stop=lambda: disk.is_full() or (stop is not None and stop()),  # a full disk: no next trial
                   owner=this_process())
    ran = [0]

    def counted(s, t):
        ran[0] += 1
        if on_trial:
            on_trial(s, t)
        interrupt.check()

    try:
        study.optimize(objective, catch=(Exception,), callbacks=[counted])
    except BudgetExhausted:
        interrupt.check()  # a Ctrl-C only remembered on the way (interrupt.held) is not lost
    except Exception as e:
        if not disk.is_full_error(e):
            raise
        disk.release(e)  # a write failed with no reserve left (or outside the wrapped writes)
    finally:
        if hooks is not None:
            hooks.flush()
    if disk.is_full():
        error = disk.disk_full_error(store.root)
        close_own_trials(study, on_failed, f"disk full: {error}")
        raise error
    return ran[0]


def close_own_trials(study, on_failed, reason: str) -> list:
    """FAIL this process's trials left RUNNING (a write of their end failed) and close their runs."""
    from optuna.trial import TrialState

    me, failed = this_process(), []
    try:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get("worker") == me and fail_trial(study, t, reason):
                failed.append(t.number)
                on_failed(study, t, reason)
    except Exception as e:  # noqa: BLE001 -- no room even for that: the next search's reaper closes them
        if not disk.is_full_error(e):
            raise
    return failed


def sampler_seed(st, worker_index: int, n_trials: int) -> int:
    """The sampler's seed for a process joining a study in which ``n_trials`` have started (enqueued
    ones still waiting do not count; for a search, the level its budget went on from, which differs
    between concurrent searches): the study seed for the first search's own process; otherwise one
    derived from the worker and the history, so that running a search again, or a second worker, does
    not propose the same configurations again. QMC keeps the study seed: its scrambled sequence is the
    study's, and Optuna continues it where it stopped."""
    if st.sampler == "qmc" or (worker_index == 0 and n_trials == 0):
        return st.seed
    return int(np.random.SeedSequence([st.seed, worker_index, n_trials]).generate_state(1)[0])


@quiet()
def join_study(name: str, store, parent: str | None = None, blas_threads: int | None = None,
               worker_index: int = 0, track: bool = True, parent_pid: int | None = None) -> int:
    """``dlcore worker``: join a running study from any machine, until its budget is spent (a worker
    adds nothing to it). Started by a search (``parent_pid``), it also stops once that search is gone."""
    store.prepare()
    study = load_study(name, make_storage(store.storage))
    space = space_of(study)
    if blas_threads:
        space = replace(space, base=replace(space.base, train=replace(space.base.train, blas_threads=blas_threads)))
    stop = parent_gone(parent_pid)
    # The whole worker under its thread count, not only each training: a BLAS call with more threads
    # (a Gram matrix, a final evaluation) leaves OpenBLAS's idle threads spinning for a while, taking the
    # core another worker trains on.
    with threadpool_limits(limits=blas_threads, user_api="blas") if blas_threads else nullcontext():
        ran = work(space, store, parent or study.user_attrs.get("parent_run_id"), track=track,
                   worker_index=worker_index, stop=stop)
    if stop is not None and stop():
        print(f"dlcore: warning: worker {this_process()}: its search (pid {parent_pid}) is gone; stopped",
              file=sys.stderr)
    return ran
