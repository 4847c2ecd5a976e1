"""Logging a search to MLflow: one parent run per invocation, one child run per trial.

A child run is created when its trial starts (the trial stores the run id as the user attribute
``mlflow_run_id``; the run stores the trial number as a tag), and everything it produced is written
in one batch when the trial ends, with the run's status following the trial's state. Both happen in a
background thread (a run it has not begun by the trial's end is made by the trial's own thread then).
What a run holds is ``tracking.trials``'.
"""
from __future__ import annotations

import collections
import sys
import threading

from ..errors import describe
from .mlflow_runs import Tracker
from .provenance import provenance_tags
from .trials import run_params, run_path, run_payload, write_or_close


class _Creation:
    """A trial's run to be made: by the writer thread, or by ``finish`` if the writer has not begun it
    (``claimed`` says who, under the tracker's lock); ``done`` is set once it exists or could not be made."""

    __slots__ = ("trial", "number", "claimed", "done")

    def __init__(self, trial, number: int):
        self.trial, self.number, self.claimed, self.done = trial, number, False, threading.Event()


class SearchTracker:
    """Creates each trial's run and writes what the trial produced from one background thread, so the
    trial's own thread spends no time on MLflow: ``start`` asks for the run (created, and its id stored
    on the trial, while the trial trains), ``finish`` hands over the finished trial, written while the
    next one trains; ``flush()`` waits for both. A run is created before anything of a finished trial is
    written, and its id is on the trial before the trial ends: ``finish`` waits for a creation the writer
    has begun and makes the run itself if it has not (or if an interrupt cut ``start`` short)."""

    def __init__(self, tracker: Tracker, experiment_id: str, parent_id: str, study_name: str):
        self.tracker, self.experiment_id, self.parent_id = tracker, experiment_id, parent_id
        self.study_name = study_name
        self.run_ids: dict[int, str] = {}
        self._pending: dict[int, _Creation] = {}  # started trials whose finish has not come yet
        self._creates: collections.deque = collections.deque()  # served first: a trial waits for its run
        self._writes: collections.deque = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self._writer: threading.Thread | None = None

    def start(self, trial, record):
        job = self._pending[record.number] = _Creation(trial, record.number)
        self._submit(self._creates, job)

    def finish(self, trial, record):
        job = self._pending.pop(record.number, None)
        with self._wake:
            mine = job is None or not job.claimed
            if job is not None and mine:
                job.claimed = True
                if job in self._creates:
                    self._creates.remove(job)
        if mine:  # the writer has not begun it (busy, or never given it): made here, now
            self._create(job or _Creation(trial, record.number))
        else:
            while not job.done.wait(0.5):  # normally long done: the run was made while the trial trained
                if self._writer is None or not self._writer.is_alive():
                    break  # nothing left to make it (never expected: the writer catches every error)
        run_id = self.run_ids.get(record.number)
        if run_id is None:  # it could not be created (the warning is printed)
            return
        c = record.context
        params = run_params(record, c["dataset"], c["folds"], c.get("space")) if c else record.params
        if record.reason.startswith("KeyboardInterrupt"):  # being interrupted: write now, in this thread
            self._write(run_id, record, params)
            return
        self._submit(self._writes, (run_id, record, params))

    def flush(self):
        """Wait until every run is created and every finished trial written."""
        writer = self._writer
        if writer is not None and writer.is_alive():
            with self._wake:
                self._closing = True
                self._wake.notify()
            writer.join()
        self._writer, self._closing = None, False

    def _submit(self, jobs: collections.deque, job):
        with self._wake:
            jobs.append(job)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._drain, name="dlcore-mlflow-writer", daemon=True)
                self._writer.start()
            self._wake.notify()

    def _drain(self):
        while True:
            with self._wake:
                while not (self._creates or self._writes or self._closing):
                    self._wake.wait()
                if self._creates:
                    job = self._creates.popleft()
                    job.claimed = True
                elif self._writes:
                    job = self._writes.popleft()
                else:
                    return
            if isinstance(job, _Creation):
                self._create(job)
            else:
                self._write(*job)

    def _create(self, job: _Creation):
        number = job.number
        try:
            tags = {"dlcore.kind": "trial", "optuna.study_name": self.study_name, "optuna.trial_number": number,
                    **provenance_tags()}
            run_id = self.tracker.start_run(self.experiment_id, f"trial-{number}", tags, self.parent_id)
            self.run_ids[number] = run_id  # first: from here on the trial's finish closes the run
            job.trial.set_user_attr("mlflow_run_id", run_id)
            # where `dlcore ui` shows the run (append to its address): optuna-dashboard lists it with the trial
            job.trial.set_user_attr("mlflow_run_path", run_path(self.experiment_id, run_id))
        except Exception as e:  # noqa: BLE001 -- a tracking failure must not lose the trial itself
            print(f"dlcore: warning: could not create the MLflow run of trial {number}: {describe(e)}",
                  file=sys.stderr)
        finally:
            job.done.set()

    def _write(self, run_id, record, params):
        """The finished trial's run written (the payload made here, in the writer's thread)."""
        write_or_close(self.tracker, run_id, run_payload(record, params, trial=True, study=self.study_name),
                       record.number)


__all__ = ["SearchTracker"]
