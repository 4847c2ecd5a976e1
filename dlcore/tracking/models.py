"""Logging a trained net: its parameters as an .npz and an MLflow pyfunc model (models from code)."""
from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path

import numpy as np

from .mlflow_runs import Tracker

PACKAGE = Path(__file__).resolve().parents[1]      # the dlcore package, shipped as the model's code path
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")


def save_params(path, W, b, scaler=None):
    """W[l], b[l] as arrays named W1, b1, ..., WL, bL (the notes' 1-based names), and the input scaler
    the net was trained behind, when there is one, as x_mean and x_scale ((n_x, 1), float64): it is
    part of the model, since the net only makes sense on inputs scaled by it."""
    extra = {} if scaler is None else {"x_mean": scaler[0], "x_scale": scaler[1]}
    np.savez(path, **{f"W{l + 1}": w for l, w in enumerate(W)}, **{f"b{l + 1}": x for l, x in enumerate(b)},
             **extra)


def model_name_problem(name: str) -> str | None:
    """Why MLflow's model registry would refuse ``name`` (its rules), or None when it is fine."""
    if not name.strip():
        return "a registered model name cannot be empty"
    if "/" in name or ":" in name:
        return "a registered model name cannot contain '/' or ':'"
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith(".."):
        return f"a registered model name must not read as another path (it reads as {norm!r})"
    return None


def model_signature(arch, dtype):
    """The model's contract, given explicitly (MLflow cannot infer one from the ``np.ndarray`` type hint of
    ``predict`` and warns): a float64 (m, n_x) input, one example per row, and A[L] in the net's dtype,
    (m,) for one output unit, (m, n[L]) otherwise. On predict MLflow checks the input's shape and dtype."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    n_x, n_y = arch.layer_dims[0], arch.layer_dims[-1]
    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float64), (-1, n_x))]),
                          outputs=Schema([TensorSpec(np.dtype(dtype), (-1,) if n_y == 1 else (-1, n_y))]))


def log_model(tracker: Tracker, run_id: str, W, b, arch, register: str | None = None, scaler=None) -> str:
    """Log ``params.npz`` and a pyfunc model named "model" to the run, then close it: FINISHED, or
    FAILED (KILLED on Ctrl-C) when logging or registering raised. Returns the model URI. With a
    ``scaler`` (mean, scale) the model standardizes its input itself: ``predict`` takes raw rows."""
    import mlflow

    if register is not None and (problem := model_name_problem(register)):
        raise ValueError(f"registered model name {register!r}: {problem}")
    with tempfile.TemporaryDirectory() as d:
        params = Path(d) / "params.npz"
        save_params(params, W, b, scaler)
        previous_uri = mlflow.tracking._tracking_service.utils._tracking_uri  # the caller's, set back below
        mlflow.set_tracking_uri(tracker.tracking_uri)
        config = {"layer_dims": list(arch.layer_dims), "hidden_activation": arch.hidden_activation,
                  "output_activation": arch.output_activation, "relu_grad_at_zero": arch.relu_grad_at_zero}
        mlflow.start_run(run_id=run_id)
        status = "FAILED"
        try:
            tracker.client.log_artifact(run_id, str(params))
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(MODEL_CODE), artifacts={"params": str(params)},
                model_config=config, code_paths=[str(PACKAGE)], registered_model_name=register,
                # with a signature but no example MLflow warns again; the example (one row of zeros: only
                # its shape and dtype matter) is also served once by MLflow, checking the logged model
                signature=model_signature(arch, W[0].dtype), input_example=np.zeros((1, arch.layer_dims[0])),
                pip_requirements=[f"numpy=={np.__version__}", f"mlflow=={mlflow.__version__}"])
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            try:
                mlflow.end_run(status)  # closes the run: call last
            finally:
                mlflow.set_tracking_uri(previous_uri)  # (the variable it sets is restored by dlcore.quiet)
    return info.model_uri
