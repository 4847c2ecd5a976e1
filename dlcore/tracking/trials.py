"""Logging a search to MLflow: one parent run per invocation, one child run per trial.

A child run is created when its trial starts (the trial stores the run id as the user attribute
``mlflow_run_id``; the run stores the trial number as a tag), and everything it produced is written
in one batch when the trial ends, with the run's status following the trial's state. Both happen in a
background thread (a run it has not begun by the trial's end is made by the trial's own thread then).
"""
from __future__ import annotations

import collections
import re
import sys
import threading


from ..errors import describe
from ..runner import fold_seeds
from .datasets import dataset_inputs, split_protocol
from .descriptions import train_description, trial_description
from .mlflow_runs import NOTE_TAG, Tracker
from .schema import (CURVES, FOLDS, REASON_TAG, RUN_CONFIG_TAG, STATE_OF_TRAINING, STATE_TAG, STATUS_OF_TRIAL,
                     TrialRecord, curves_to_arrays)
from .provenance import provenance_tags


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
            job.trial.set_user_attr("mlflow_run_path", f"#/experiments/{self.experiment_id}/runs/{run_id}")
        except Exception as e:  # noqa: BLE001 -- a tracking failure must not lose the trial itself
            print(f"dlcore: warning: could not create the MLflow run of trial {number}: {describe(e)}",
                  file=sys.stderr)
        finally:
            job.done.set()

    def _write(self, run_id, record, params):
        try:
            log_run(self.tracker, run_id, record, params, trial=True, study=self.study_name)
        except Exception as e:  # noqa: BLE001 -- a tracking failure must not lose the trial itself
            print(f"dlcore: warning: could not log trial {record.number} to MLflow: {e}", file=sys.stderr)
            try:  # never leave the run RUNNING: say it is incomplete
                self.tracker.log(run_id, tags={"dlcore.state_reason": f"logging failed: {e}"[:5000]})
                self.tracker.end(run_id, "FAILED")
            except Exception:  # noqa: BLE001 -- the store itself is unreachable; a later search closes it
                pass


def run_params(record, dataset, folds, space=None) -> dict:
    cfg = record.config
    p = {
        **record.params,
        "layer_dims": list(record.layer_dims),
        "seed": cfg.model.seed,
        "dataset": dataset.name,
        "data_fingerprint": dataset.fingerprint,
        "dtype": cfg.train.dtype,
        "iterations": cfg.train.iterations,
        "learning_rate": cfg.train.learning_rate,
        "init": cfg.model.init,
        "init_scale": cfg.model.init_scale,
        "hidden_activation": cfg.model.hidden_activation,
        "output_activation": cfg.model.output_activation,
        "relu_grad_at_zero": cfg.model.relu_grad_at_zero,
        "split_seed": cfg.data.split_seed,
        "validation_fraction": cfg.data.validation_fraction,
        "standardize": cfg.data.standardized,
        "form": record.form,
        "blas_threads": cfg.blas_threads,
    }
    if folds is not None:
        repeats = space.study.repeats if space is not None else 1
        p["folds"], p["repeats"] = len(folds) // repeats, repeats
        p["fold_seeds"] = fold_seeds(cfg.model.seed, len(folds))  # what each of the r*k trainings started from
        p["n_train"] = [len(tr) for tr, _ in folds] if len(folds) > 1 else len(folds[0][0])
        p["n_val"] = [len(va) for _, va in folds] if len(folds) > 1 else len(folds[0][1])
    if space is not None:
        p["metric"] = space.study.metric
        p["report_every"] = space.study.report_every
    return p


CURVE_KEYS = ("cost", "val_cost")


def run_metrics(record, metric: str | None = None) -> dict:
    """The run's metric keys apart from the curves: the finals (means over folds) as ``final_*``, the
    objective as ``objective`` and under its metric's own name (unless that name is a curve's): at most
    12 keys with the curves, whatever the number of folds (the per-fold finals are in ``folds.json``)."""
    metrics = {f"final_{k}": v for k, v in record.metrics.items()}
    if record.value is not None:
        metrics["objective"] = record.value
        if metric and metric not in CURVE_KEYS:
            metrics[metric] = record.value
    return metrics


def inputs_of(data, dataset, folds, k: int = 0, repeats: int = 1, test: bool = False) -> list:
    """The dataset inputs of a run on data config ``data`` and its loaded ``dataset`` that trained on
    ``folds`` ((train, validation) index pairs; ``k`` folds x ``repeats`` when k >= 2): the training and
    validation splits it used (k folds: every training example is trained on and validated on) and the
    test split when it was evaluated."""
    if len(folds) > 1:
        sizes = {"training": dataset.Y.shape[1], "validation": dataset.Y.shape[1]}
    else:
        tr, va = folds[0]
        sizes = {"training": len(tr), "validation": 0 if va is None else len(va)}
    if test and dataset.has_test:
        sizes["test"] = dataset.Y_test.shape[1]
    return dataset_inputs(data, dataset.fingerprint, sizes, split_protocol(data, k, repeats))


def describe_record(record, study: str | None = None) -> str:
    """The run's markdown description: a trial's (``study`` given) or a training run's."""
    c = record.context or {}
    if study is None:
        name = c["dataset"].name if c.get("dataset") is not None else record.config.data.name
        return train_description(name, record.layer_dims, record.state, record.reason, record.metrics)
    metric = c["space"].study.metric if c.get("space") is not None else "objective"
    return trial_description(study, record.number, record.layer_dims, record.params, record.state,
                             record.reason, metric, record.value, record.folds)


def log_run(tracker: Tracker, run_id: str, record, params: dict, trial: bool = False, study: str | None = None,
            test: bool = False):
    """Write a finished trial (``trial=True``) or a single training run to its MLflow run, in one batch
    (plus its dataset inputs and, with k folds, the ``folds.json`` table), and close it. Only a trial's
    run gets optuna.* tags: a training run has no trial."""
    c = record.context or {}
    space = c.get("space")
    metrics = run_metrics(record, space.study.metric if space is not None else None)
    curves = {"cost": (record.steps, record.cost)}
    if any(v is not None for v in record.val_cost):
        curves["val_cost"] = (record.steps, record.val_cost)
    tags = {REASON_TAG: record.reason, RUN_CONFIG_TAG: record.config.to_dict(),
            NOTE_TAG: describe_record(record, study if trial else None)}
    if trial:
        tags[STATE_TAG] = record.state
    if len(record.folds) > 1:
        tags.update(tracker.table_tag(FOLDS))  # the run is new: no other table to keep in the tag
    tracker.log(run_id, params=params, metrics=metrics, curves=curves, tags=tags)
    if c.get("dataset") is not None and c.get("folds"):
        k, r = (space.study.folds, space.study.repeats) if space is not None else (0, 1)
        tracker.log_inputs(run_id, inputs_of(record.config.data, c["dataset"], c["folds"], k, r, test))
    if len(record.folds) > 1:
        tracker.log_table(run_id, record.folds, FOLDS, tagged=True)
    if record.full_costs:
        tracker.log_arrays(run_id, CURVES, **curves_to_arrays(record.full_costs))
    # An interrupted trial is FAIL in Optuna, so its run is FAILED: one table, whatever ended the trial.
    tracker.end(run_id, STATUS_OF_TRIAL.get(record.state, "FAILED"))


def fold_rows(tracker: Tracker, run_id: str) -> list:
    """A run's per-fold finals, one dict per fold: from its ``folds.json`` table, or, for a run logged
    before that table existed, from its ``final_fold{f}_*`` metric keys ([] for a hold-out run)."""
    rows = tracker.load_table(run_id, FOLDS)
    if rows is not None:
        return rows
    run = tracker.find_run(run_id)
    by_fold: dict = {}
    for key, v in (run.data.metrics if run else {}).items():
        m = _OLD_FOLD_KEY.match(key)
        if m:
            by_fold.setdefault(int(m.group(1)), {"fold": int(m.group(1))})[m.group(2)] = v
    return [by_fold[f] for f in sorted(by_fold)]


_OLD_FOLD_KEY = re.compile(r"final_fold(\d+)_(.+)")


def log_train_run(tracker: Tracker, outcome, steps, val_costs, experiment: str) -> str:
    """Log one ``dlcore train`` run (a ``runner.RunOutcome`` and its curve points) the way a trial is
    logged; returns its run id."""
    r = outcome.result
    record = TrialRecord(0, {}, outcome.config, outcome.arch.layer_dims, state=STATE_OF_TRAINING[r.status],
                         reason=r.reason, metrics=dict(outcome.metrics), steps=list(steps),
                         cost=[float(r.costs[i]) for i in steps], val_cost=list(val_costs) or [None] * len(steps),
                         full_costs=[r.costs], form=r.form)
    split = outcome.split
    n_val = 0 if split.X_val is None else split.X_val.shape[1]
    folds = [(range(split.X.shape[1]), range(n_val))]
    record.context = {"dataset": split.dataset, "folds": folds}
    run_id = tracker.start_run(tracker.experiment_id(experiment), "train", {"dlcore.kind": "train", **provenance_tags()})
    log_run(tracker, run_id, record, run_params(record, split.dataset, folds),
            test=any(k.startswith("test_") for k in outcome.metrics))
    return run_id
