"""Input checks: bad data or parameters raise a ValueError that says what is wrong."""
from __future__ import annotations

import numpy as np


def _check_array(arr, label: str):
    if arr.ndim != 2:
        raise ValueError(f"{label} must be 2-D (features or outputs, examples); got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{label} must be numeric; got dtype {arr.dtype}")
    bad = ~np.isfinite(arr)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{label} holds {int(bad.sum())} NaN or infinite value(s), the first at {where}")


def check_x(X, n_x: int | None = None, name: str = "X"):
    """Check X (n_x, m): 2-D, numeric, finite, m >= 1, and n_x rows when given."""
    X = np.asarray(X)
    _check_array(X, name)
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no examples (shape {X.shape})")
    if n_x is not None and X.shape[0] != n_x:
        raise ValueError(f"{name} has {X.shape[0]} features (rows); the net expects n_x = {n_x}")
    return X


def check_xy(X, Y, output_activation: str = "sigmoid", n_x: int | None = None, name: str = "X",
             n_y: int | None = None):
    """Check X (n_x, m) and Y (n_y, m): 2-D, numeric, finite, same m >= 1, labels in {0, 1} for a
    sigmoid output; n_x and n_y rows when given. ``name`` prefixes the messages (e.g. "validation X")."""
    X, Y = np.asarray(X), np.asarray(Y)
    yname = "Y" if name == "X" else name[:-1] + "Y"
    if Y.ndim != 2:  # before X's values: a 1-D Y is the commonest slip
        raise ValueError(f"{yname} must be 2-D (outputs, examples), e.g. (1, m); got shape {Y.shape}")
    X = check_x(X, n_x, name)
    _check_array(Y, yname)
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"{name} has {X.shape[1]} examples (columns) but {yname} has {Y.shape[1]}: "
                         f"expected X (n_x, m) and Y (1, m)")
    if n_y is not None and Y.shape[0] != n_y:
        raise ValueError(f"{yname} has {Y.shape[0]} rows; the net has n[L] = {n_y} output units")
    if output_activation == "sigmoid":
        bad = (Y != 0) & (Y != 1)
        if np.any(bad):
            raise ValueError(f"{yname} must hold labels 0 or 1 for a sigmoid output; "
                             f"found {Y[bad].ravel()[0].item()!r} ({int(bad.sum())} such value(s))")
    return X, Y


def check_params(W, b, layer_dims):
    """W[l] (n[l], n[l-1]) and b[l] (n[l], 1) for every layer of ``layer_dims``, all finite."""
    L = len(layer_dims) - 1
    if len(W) != L or len(b) != L:
        raise ValueError(f"expected {L} weight matrices and bias vectors for layer_dims {list(layer_dims)}; "
                         f"got {len(W)} and {len(b)}")
    for l in range(1, L + 1):
        for P, label, shape in ((W[l - 1], f"W[{l}]", (layer_dims[l], layer_dims[l - 1])),
                                (b[l - 1], f"b[{l}]", (layer_dims[l], 1))):
            if np.shape(P) != shape:
                raise ValueError(f"{label} has shape {np.shape(P)}; layer_dims {list(layer_dims)} needs {shape}")
            if not np.all(np.isfinite(P)):
                raise ValueError(f"{label} holds NaN or infinite values")
