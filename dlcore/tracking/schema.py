"""What dlcore logs, named once: the record a trial hands to the tracker, the one state table, and the
layout of ``curves.npz``. Written by ``tracking.trials`` and read back by ``reproduce`` and the summary
through the same functions, so writing and reading cannot drift apart. Pure data: imports neither Optuna
nor MLflow.

The state table. A trial's run ends with the status its trial's state maps to, whatever ended it (a
finished trial, pruning or divergence, an error, an interrupt, a dead worker failed later); reading a
run back maps the status the other way. A training run's status (``nn.TrainResult.status``) maps to a
trial state: divergence is PRUNED, with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STATUS_OF_TRIAL = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
TRIAL_OF_STATUS = {status: state for state, status in STATUS_OF_TRIAL.items()}
STATE_OF_TRAINING = {"completed": "COMPLETE", "stopped": "COMPLETE", "diverged": "PRUNED"}

CURVES = "curves.npz"        # artifact: J at every iteration, per fold
REPORT = "report.html"       # the parent run's interactive study report
FOLDS = "folds.json"         # table artifact (MLflow's log_table): one row per fold of a k-fold trial
RUN_CONFIG_TAG = "dlcore.run_config"
STATE_TAG, REASON_TAG = "optuna.trial_state", "dlcore.state_reason"


@dataclass
class TrialRecord:
    """Everything a trial (or a ``dlcore train`` run) produced, handed to the tracker, which alone talks
    to MLflow: it needs nothing else from the objective. ``context`` holds the run's fixed facts as
    params (dataset and fingerprint, fold sizes, metric, ...)."""
    number: int
    params: dict
    config: object                  # the resolved RunConfig
    layer_dims: tuple
    state: str = "RUNNING"          # COMPLETE | PRUNED | FAIL
    reason: str = ""
    value: float | None = None
    metrics: dict = field(default_factory=dict)      # finals: means over folds
    folds: list = field(default_factory=list)        # per fold: fold, repeat, seed, sizes and its finals
    steps: list = field(default_factory=list)        # iterations of the logged curve points
    cost: list = field(default_factory=list)         # mean over folds at those steps
    val_cost: list = field(default_factory=list)
    full_costs: list = field(default_factory=list)   # per fold, J at every iteration
    form: str = ""
    context: dict = field(default_factory=dict)


def curves_to_arrays(curves: list) -> dict:
    """Per-fold cost curves as the arrays of ``curves.npz``: ``cost`` for one, ``cost_fold{f}`` for k."""
    if len(curves) == 1:
        return {"cost": np.asarray(curves[0], dtype=np.float64)}
    return {f"cost_fold{f}": np.asarray(c, dtype=np.float64) for f, c in enumerate(curves)}


def curves_from_arrays(arrays: dict) -> list:
    """The per-fold curves back from the arrays of ``curves.npz``, in fold order."""
    if "cost" in arrays:
        return [arrays["cost"]]
    return [arrays[f"cost_fold{f}"] for f in range(len(arrays))]


__all__ = ["CURVES", "FOLDS", "REPORT", "REASON_TAG", "RUN_CONFIG_TAG", "STATE_OF_TRAINING", "STATE_TAG", "STATUS_OF_TRIAL",
           "TRIAL_OF_STATUS", "TrialRecord", "curves_from_arrays", "curves_to_arrays"]
