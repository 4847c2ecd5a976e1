"""Logging a search to MLflow: one parent run per invocation, one child run per trial.

A child run is created when its trial starts (the trial stores the run id as the user attribute
``mlflow_run_id``; the run stores the trial number as a tag), and everything it produced is written
in one batch when the trial ends, with the run's status following the trial's state.
"""
from __future__ import annotations

import queue
import sys
import threading


from ..runner import fold_seeds
from .mlflow_runs import Tracker
from .schema import (CURVES, REASON_TAG, RUN_CONFIG_TAG, STATE_OF_TRAINING, STATE_TAG, STATUS_OF_TRIAL,
                     TrialRecord, curves_to_arrays)
from .provenance import provenance_tags


class SearchTracker:
    """Creates each trial's run when the trial starts (a few ms, in the trial's thread) and writes what
    the trial produced from a background thread while the next trial trains; ``flush()`` waits for it.
    """

    def __init__(self, tracker: Tracker, experiment_id: str, parent_id: str, study_name: str):
        self.tracker, self.experiment_id, self.parent_id = tracker, experiment_id, parent_id
        self.study_name = study_name
        self.run_ids: dict[int, str] = {}
        self._jobs: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None

    def start(self, trial, record):
        tags = {"dlcore.kind": "trial", "optuna.study_name": self.study_name,
                "optuna.trial_number": record.number, **provenance_tags()}
        run_id = self.tracker.start_run(self.experiment_id, f"trial-{record.number}", tags, self.parent_id)
        trial.set_user_attr("mlflow_run_id", run_id)
        self.run_ids[record.number] = run_id

    def finish(self, record):
        run_id = self.run_ids.get(record.number)
        if run_id is None:
            return
        c = record.context
        params = run_params(record, c["dataset"], c["folds"], c.get("space")) if c else record.params
        if record.reason.startswith("KeyboardInterrupt"):  # being interrupted: write now, in this thread
            self._write(run_id, record, params)
            return
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._drain, name="dlcore-mlflow-writer", daemon=True)
            self._writer.start()
        self._jobs.put((run_id, record, params))

    def flush(self):
        """Wait until every finished trial is written."""
        if self._writer is not None and self._writer.is_alive():
            self._jobs.put(None)
            self._writer.join()
        self._writer = None

    def _drain(self):
        while (job := self._jobs.get()) is not None:
            self._write(*job)

    def _write(self, run_id, record, params):
        try:
            log_run(self.tracker, run_id, record, params, trial=True)
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


def log_run(tracker: Tracker, run_id: str, record, params: dict, trial: bool = False):
    """Write a finished trial (``trial=True``) or a single training run to its MLflow run, in one batch,
    and close it. Only a trial's run gets optuna.* tags: a training run has no trial."""
    metrics = {f"final_{k}": v for k, v in record.metrics.items()}  # apart from the curves' keys
    if record.value is not None:
        metrics["objective"] = record.value
    curves = {"cost": (record.steps, record.cost)}
    if any(v is not None for v in record.val_cost):
        curves["val_cost"] = (record.steps, record.val_cost)
    tags = {REASON_TAG: record.reason, RUN_CONFIG_TAG: record.config.to_dict()}
    if trial:
        tags[STATE_TAG] = record.state
    tracker.log(run_id, params=params, metrics=metrics, curves=curves, tags=tags)
    if record.full_costs:
        tracker.log_arrays(run_id, CURVES, **curves_to_arrays(record.full_costs))
    # An interrupted trial is FAIL in Optuna, so its run is FAILED: one table, whatever ended the trial.
    tracker.end(run_id, STATUS_OF_TRIAL.get(record.state, "FAILED"))


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
    run_id = tracker.start_run(tracker.experiment_id(experiment), "train", {"dlcore.kind": "train", **provenance_tags()})
    log_run(tracker, run_id, record, run_params(record, split.dataset, folds))
    return run_id
