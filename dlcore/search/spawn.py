"""The worker processes of ``search --workers N``, started before the search they serve is ready.

A worker spends its first seconds importing (NumPy, Optuna, MLflow, SQLAlchemy: 2.5-3 s here), and the
search spends as long importing and setting up (data, stores, parent run). So the workers are started
first and wait, imports done, for one line on their standard input: ``go`` with the study, the stores
and the parent run as JSON. A search that stops before its trials (bad input, Ctrl-C) closes their
input instead, and they end at once having written nothing; so does a search that is killed, as its
end of the pipe closes with it. The line travels on a pipe, not the command line, because the storage
URL may hold a password (``ps`` shows command lines to every user).

This module imports nothing heavy: ``dlcore.search(workers=N)`` starts the workers before it imports
the rest of dlcore.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

BLAS_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
GO = "--await-go"  # the hidden option of ``dlcore worker`` that makes it wait for the line


def blas_threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def worker_env(threads: int) -> dict:
    """This environment with the BLAS thread count. BLAS libraries read it when they load, so a worker
    given one thread starts no other, and none is left spinning beside its trials on the core another
    worker trains on (``join_study`` also limits the count with threadpoolctl, for a worker started by
    hand)."""
    return {**os.environ, **{v: str(threads) for v in BLAS_THREAD_ENV}}


class Workers:
    """``n`` ``dlcore worker`` processes waiting for ``go``; ``procs`` are their ``Popen`` objects."""

    def __init__(self, n: int):
        self.n, self.threads = n, blas_threads_per_worker(n)
        cmd = [sys.executable, "-m", "dlcore", "worker", GO, "--blas-threads", str(self.threads),
               "--parent-pid", str(os.getpid())]
        self.procs = [subprocess.Popen(cmd + ["--worker-index", str(i + 1)], stdin=subprocess.PIPE,
                                       env=worker_env(self.threads), start_new_session=True, text=True)
                      for i in range(n)]
        self.sent = False

    def go(self, study: str, storage: str, tracking_uri: str | None, parent: str | None, track: bool):
        """Send each worker its study; a worker that already died is seen as failed by the caller."""
        line = json.dumps({"study": study, "storage": storage, "tracking_uri": tracking_uri,
                           "parent_run_id": parent, "track": track}) + "\n"
        self.sent = True
        for p in self.procs:
            try:
                p.stdin.write(line)
                p.stdin.close()
            except (BrokenPipeError, OSError):
                pass

    def cancel(self, timeout: float = 30.0):
        """Before ``go``: close their input, so that they end without joining anything, and wait for them."""
        if self.sent:
            return
        self.sent = True
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def await_go() -> dict | None:
    """In a worker started with ``--await-go``: the search's line, or None when the search stopped
    before its trials (its end of the pipe closed without a line)."""
    line = sys.stdin.readline()
    if not line.strip():
        return None
    return json.loads(line)


__all__ = ["GO", "Workers", "await_go", "blas_threads_per_worker", "worker_env"]
