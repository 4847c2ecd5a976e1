"""The one table between Optuna's trial states and MLflow's run statuses, read and written by both sides.

A trial's run ends with the status its trial's state maps to, whatever ended it (a finished trial,
pruning or divergence, an error, an interrupt, a dead worker failed later); reading a run back maps the
status the other way. A single dict serves both directions so that they can never drift apart.
Pure data: importing it imports neither Optuna nor MLflow.
"""
from __future__ import annotations

STATUS_OF_TRIAL = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
TRIAL_OF_STATUS = {status: state for state, status in STATUS_OF_TRIAL.items()}

# How a training run (``nn.TrainResult.status``) ends as a trial state: divergence is PRUNED, with its reason.
STATE_OF_TRAINING = {"completed": "COMPLETE", "stopped": "COMPLETE", "diverged": "PRUNED"}

__all__ = ["STATE_OF_TRAINING", "STATUS_OF_TRIAL", "TRIAL_OF_STATUS"]
