"""The MLflow pyfunc model of a trained dlcore net, logged as "models from code": MLflow runs this
file when loading (no pickle), with the dlcore package shipped beside it in the model's code path.

``predict`` takes an (m, n_x) array or DataFrame, one example per row, and returns A[L] per example:
probabilities for a sigmoid output, values for a linear one. The input is raw: a net trained on
standardized inputs carries its scaler (x_mean, x_scale in params.npz) and applies it here, in float64
as training did, before casting to the net's dtype.
"""
from __future__ import annotations

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel

from dlcore.data.scaling import apply_standardizer
from dlcore.nn import Architecture, predict_proba


class DlcoreNet(PythonModel):
    def load_context(self, context):
        cfg = context.model_config
        self.arch = Architecture(tuple(cfg["layer_dims"]), cfg["hidden_activation"], cfg["output_activation"],
                                 cfg["relu_grad_at_zero"])
        with np.load(context.artifacts["params"], allow_pickle=False) as z:
            self.W = [z[f"W{l}"] for l in range(1, self.arch.L + 1)]
            self.b = [z[f"b{l}"] for l in range(1, self.arch.L + 1)]
            self.scaler = (z["x_mean"], z["x_scale"]) if "x_mean" in z.files else None

    def predict(self, context, model_input: np.ndarray, params=None):  # a DataFrame works too (np.asarray)
        X = np.asarray(model_input, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.arch.layer_dims[0]:
            raise ValueError(f"expected input of shape (m, {self.arch.layer_dims[0]}), got {X.shape}")
        X = X.T  # (n_x, m), as the net computes
        if self.scaler is not None:
            X = apply_standardizer(X, *self.scaler)
        AL = predict_proba(self.W, self.b, X.astype(self.W[0].dtype, copy=False), self.arch)  # (n[L], m)
        return AL[0] if AL.shape[0] == 1 else AL.T


mlflow.models.set_model(DlcoreNet())
