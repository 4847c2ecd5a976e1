"""``dlcore search --workers N``: N ``dlcore worker`` processes sharing one study, watched by the search."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from . import interrupt
from .reaper import reap, study_lock
from .search.study import load_study, make_storage
from .tracking.mlflow_runs import Tracker

STORAGE_ENV = "DLCORE_WORKER_STORAGE"  # how run_workers hands the storage URL to ``dlcore worker``


def run_workers(space, backends, parent, workers: int, on_trial=None, track=True) -> list:
    """Start ``workers`` processes of ``dlcore worker`` and wait for them, showing progress; returns the
    exit codes of those that failed. A worker that dies leaves its trial RUNNING: it is failed (and its
    run closed) as soon as this process sees the worker end, if another worker has not done it first.

    The workers run in their own session, so a Ctrl-C in the terminal reaches this process only, which
    forwards exactly one SIGINT to each worker: each ends its trial as FAIL and closes its run. (A second
    SIGINT while a worker is saving its trial would interrupt the save.) Each worker is given this
    process's pid and stops after its trial once this process is gone (SIGKILL), instead of running on.
    The storage URL, which may hold a password, goes to the workers in their environment, not on their
    command line, where ``ps`` shows it."""
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    if workers * threads > cores:
        print(f"dlcore: warning: {workers} workers on {cores} cores: one BLAS thread each still oversubscribes",
              file=sys.stderr)
    cmd = [sys.executable, "-m", "dlcore", "worker", "--study", space.study.name, "--tracking-uri",
           backends.tracking_uri, "--blas-threads", str(threads), "--parent-pid", str(os.getpid())]
    if parent:
        cmd += ["--parent-run-id", parent]
    if not track:
        cmd += ["--no-track"]
    env = {**os.environ, STORAGE_ENV: str(backends.storage)}
    procs = [subprocess.Popen(cmd + ["--worker-index", str(i + 1)], env=env, start_new_session=True)
             for i in range(workers)]
    study = load_study(space.study.name, make_storage(backends.storage))
    lock, tracker = study_lock(backends.storage, space.study.name), Tracker(
        backends.tracking_uri, backends.artifact_root) if track else None
    seen, interrupted = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False)), False
    try:
        ended = 0
        while any(p.poll() is None for p in procs):
            time.sleep(0.5)
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
