"""The MLflow pyfunc model of a trained dlcore net, logged as "models from code": MLflow runs this
file when loading (no pickle), with the dlcore package shipped beside it in the model's code path.

``predict`` takes an (m, n_x) array or DataFrame, one example per row, and returns A[L] per example:
probabilities for a sigmoid output, values for a linear one.
"""
from __future__ import annotations

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel

from dlcore.nn import Architecture, predict_proba


class DlcoreNet(PythonModel):
    def load_context(self, context):
        cfg = context.model_config
        self.arch = Architecture(tuple(cfg["layer_dims"]), cfg["hidden_activation"], cfg["output_activation"],
                                 cfg["relu_grad_at_zero"])
        with np.load(context.artifacts["params"], allow_pickle=False) as z:
            self.W = [z[f"W{l}"] for l in range(1, self.arch.L + 1)]
            self.b = [z[f"b{l}"] for l in range(1, self.arch.L + 1)]

    def predict(self, context, model_input: np.ndarray, params=None):  # a DataFrame works too (np.asarray)
        X = np.asarray(model_input, dtype=self.W[0].dtype)
        if X.ndim != 2 or X.shape[1] != self.arch.layer_dims[0]:
            raise ValueError(f"expected input of shape (m, {self.arch.layer_dims[0]}), got {X.shape}")
        AL = predict_proba(self.W, self.b, X.T, self.arch)  # (n[L], m)
        return AL[0] if AL.shape[0] == 1 else AL.T


mlflow.models.set_model(DlcoreNet())
