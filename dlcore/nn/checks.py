"""Input checks: bad data raises a ValueError that says what is wrong."""
from __future__ import annotations

import numpy as np


def check_xy(X, Y, output_activation: str = "sigmoid", n_x: int | None = None, name: str = "X"):
    """Check X (n_x, m) and Y (n_y, m): 2-D, numeric, finite, same m >= 1, labels in {0, 1}.

    ``name`` prefixes the messages (e.g. "validation X").
    """
    X, Y = np.asarray(X), np.asarray(Y)
    yname = "Y" if name == "X" else name[:-1] + "Y"
    for arr, label in ((X, name), (Y, yname)):
        if arr.ndim != 2:
            raise ValueError(f"{label} must be 2-D (features or outputs, examples); got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{label} must be numeric; got dtype {arr.dtype}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no examples (shape {X.shape})")
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"{name} has {X.shape[1]} examples (columns) but {yname} has {Y.shape[1]}: "
                         f"expected X (n_x, m) and Y (1, m)")
    if n_x is not None and X.shape[0] != n_x:
        raise ValueError(f"{name} has {X.shape[0]} features (rows); the net expects n_x = {n_x}")
    for arr, label in ((X, name), (Y, yname)):
        bad = ~np.isfinite(arr)
        if np.any(bad):
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{label} holds {int(bad.sum())} NaN or infinite value(s), the first at {where}")
    if output_activation == "sigmoid":
        bad = (Y != 0) & (Y != 1)
        if np.any(bad):
            raise ValueError(f"{yname} must hold labels 0 or 1 for a sigmoid output; "
                             f"found {Y[bad].ravel()[0].item()!r} ({int(bad.sum())} such value(s))")
    return X, Y
