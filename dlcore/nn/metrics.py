"""Metrics on predictions; all take arrays shaped like Y (1, m)."""
from __future__ import annotations

import numpy as np


def accuracy(Y_hat, Y) -> float:
    """Fraction of examples whose predicted label equals the true one.

    Summed as the course does, sum((y_hat == y) / m), so the last digit matches its printed values.
    """
    Y_hat, Y = np.asarray(Y_hat), np.asarray(Y)
    return float(np.sum((Y_hat == Y) / Y.size))


def balanced_accuracy(Y_hat, Y) -> float:
    """Mean over the classes present in Y of the recall (true positives / class size).

    Unlike accuracy it does not reward predicting the majority class: "always 0" scores 0.5.
    """
    Y_hat, Y = np.asarray(Y_hat).ravel(), np.asarray(Y).ravel()
    recalls = [np.mean(Y_hat[Y == c] == c) for c in np.unique(Y)]
    return float(np.mean(recalls))


def mean_squared_error(A, Y) -> float:
    """(1/m) sum((a - y)^2), the regression metric for a linear output."""
    D = np.asarray(A, dtype=np.float64) - np.asarray(Y, dtype=np.float64)
    return float(np.mean(D * D))


def r2_score(A, Y) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (1 is perfect, 0 is predicting the mean)."""
    A, Y = np.asarray(A, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    ss_tot = float(np.sum((Y - Y.mean()) ** 2))
    ss_res = float(np.sum((Y - A) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
