"""Input standardization (the course's "normalizing inputs", Course 2 week 1), as a fitted pair of arrays.

X is (n_x, m): features are rows, examples columns. The statistics are fitted on a run's training part
only and then applied, unchanged, to its validation and test examples and to whatever the logged model
is later asked to predict: fitting them on data the run validates on would leak it into training.
"""
from __future__ import annotations

import numpy as np


def fit_standardizer(X) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (ddof 0) of ``X`` (n_x, m), as (n_x, 1) float64 arrays
    (mean, scale) such that ``(X - mean) / scale`` has mean 0 and variance 1 per feature.

    A constant feature (all its training values equal) has no spread to divide by: its scale is 1 and
    its mean is that value exactly, so the feature becomes exactly 0 on the training examples (not
    ±1 or NaN from a rounding-error spread) and ``x - value`` on any other example."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] == 0:
        raise ValueError(f"fit_standardizer needs an (n_x, m) array with m >= 1 (got shape {X.shape})")
    mean = X.mean(axis=1, keepdims=True)
    scale = X.std(axis=1, keepdims=True)
    constant = (X.max(axis=1) == X.min(axis=1))[:, None]
    mean = np.where(constant, X[:, :1], mean)
    scale = np.where(constant, 1.0, scale)
    return mean, scale


def apply_standardizer(X, mean, scale) -> np.ndarray:
    """``(X - mean) / scale`` in float64, for X of shape (n_x, m) and statistics from fit_standardizer."""
    return (np.asarray(X, dtype=np.float64) - mean) / scale
