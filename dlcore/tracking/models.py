"""Logging a trained net: its parameters as an .npz and an MLflow pyfunc model (models from code)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .mlflow_runs import Tracker

PACKAGE = Path(__file__).resolve().parents[1]      # the dlcore package, shipped as the model's code path
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")


def save_params(path, W, b):
    """W[l], b[l] as arrays named W1, b1, ..., WL, bL (the notes' 1-based names)."""
    np.savez(path, **{f"W{l + 1}": w for l, w in enumerate(W)}, **{f"b{l + 1}": x for l, x in enumerate(b)})


def log_model(tracker: Tracker, run_id: str, W, b, arch, register: str | None = None) -> str:
    """Log ``params.npz`` and a pyfunc model named "model" to the run, then close it (FINISHED).
    Returns the model URI."""
    import mlflow

    with tempfile.TemporaryDirectory() as d:
        params = Path(d) / "params.npz"
        save_params(params, W, b)
        tracker.client.log_artifact(run_id, str(params))
        mlflow.set_tracking_uri(tracker.tracking_uri)
        config = {"layer_dims": list(arch.layer_dims), "hidden_activation": arch.hidden_activation,
                  "output_activation": arch.output_activation, "relu_grad_at_zero": arch.relu_grad_at_zero}
        mlflow.start_run(run_id=run_id)
        try:
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(MODEL_CODE), artifacts={"params": str(params)},
                model_config=config, code_paths=[str(PACKAGE)], registered_model_name=register,
                pip_requirements=[f"numpy=={np.__version__}", f"mlflow=={mlflow.__version__}"])
        finally:
            mlflow.end_run()  # closes the run: call last
    return info.model_uri
