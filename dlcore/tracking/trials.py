"""What a trial's (or a training run's) MLflow run holds: its params, metrics, curves, tags, dataset
inputs, fold table and curve arrays, made from its record (``run_payload``) and written in one batch
(``write_payload``), by whichever writer the search has (``tracking.search_tracker``)."""
from __future__ import annotations

import re
import sys

from ..runner import fold_seeds
from .datasets import dataset_inputs, split_protocol
from .descriptions import train_description, trial_description
from .mlflow_runs import NOTE_TAG, Tracker
from .schema import (CURVES, FOLDS, REASON_TAG, RUN_CONFIG_TAG, STATE_OF_TRAINING, STATE_TAG, STATUS_OF_TRIAL,
                     TrialRecord, curves_to_arrays)
from .provenance import provenance_tags


def run_path(experiment_id: str, run_id: str) -> str:
    """Where ``dlcore ui`` shows a run: append it to the UI's address."""
    return f"#/experiments/{experiment_id}/runs/{run_id}"


def write_or_close(tracker: Tracker, run_id: str, payload: dict, number: int):
    """``write_payload``; when it fails, a warning, and the run closed FAILED with the reason, never left
    RUNNING (a tracking failure must not lose the trial itself)."""
    try:
        write_payload(tracker, run_id, payload)
    except Exception as e:  # noqa: BLE001
        print(f"dlcore: warning: could not log trial {number} to MLflow: {e}", file=sys.stderr)
        try:
            tracker.log(run_id, tags={"dlcore.state_reason": f"logging failed: {e}"[:5000]})
            tracker.end(run_id, "FAILED")
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
    write_payload(tracker, run_id, run_payload(record, params, trial, study, test))


def run_payload(record, params: dict, trial: bool = False, study: str | None = None, test: bool = False) -> dict:
    """What ``write_payload`` writes of a finished run, as plain data (names, numbers, strings, the curve
    arrays): made where the record and its context (the dataset, the folds) are, written wherever the
    run's writer is (``search_tracker``'s background thread, or the caller's)."""
    c = record.context or {}
    space = c.get("space")
    curves = {"cost": (list(record.steps), list(record.cost))}
    if any(v is not None for v in record.val_cost):
        curves["val_cost"] = (list(record.steps), list(record.val_cost))
    tags = {REASON_TAG: record.reason, RUN_CONFIG_TAG: record.config.to_dict(),
            NOTE_TAG: describe_record(record, study if trial else None)}
    if trial:
        tags[STATE_TAG] = record.state
    if len(record.folds) > 1:
        tags.update(Tracker.table_tag(FOLDS))  # the run is new: no other table to keep in the tag
    inputs = []
    if c.get("dataset") is not None and c.get("folds"):
        k, r = (space.study.folds, space.study.repeats) if space is not None else (0, 1)
        inputs = inputs_of(record.config.data, c["dataset"], c["folds"], k, r, test)
    return {"params": params, "metrics": run_metrics(record, space.study.metric if space is not None else None),
            "curves": curves, "tags": tags, "inputs": inputs, "folds": list(record.folds) if len(record.folds) > 1 else [],
            "arrays": curves_to_arrays(record.full_costs) if record.full_costs else None,
            # an interrupted trial is FAIL in Optuna, so its run is FAILED: one table, whatever ended the trial
            "status": STATUS_OF_TRIAL.get(record.state, "FAILED")}


def write_payload(tracker: Tracker, run_id: str, payload: dict):
    """A ``run_payload`` into run ``run_id``: one batch, the dataset inputs, the fold table, the curves
    artifact, then the run closed with its status."""
    tracker.log(run_id, params=payload["params"], metrics=payload["metrics"], curves=payload["curves"],
                tags=payload["tags"])
    tracker.log_inputs(run_id, payload["inputs"])
    if payload["folds"]:
        tracker.log_table(run_id, payload["folds"], FOLDS, tagged=True)
    if payload["arrays"] is not None:
        tracker.log_arrays(run_id, CURVES, **payload["arrays"])
    tracker.end(run_id, payload["status"])


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
