"""Gradient check by centred finite differences."""
from __future__ import annotations

import numpy as np

from .checks import check_params, check_xy
from .model import backward, cost, forward


def _cost(W, b, X, Y, arch):
    Zs, As = forward(W, b, X, arch)
    return cost(Zs[-1], As[-1], Y, arch.output_activation)


def gradient_check(W, b, X, Y, arch, eps: float = 1e-7) -> float:
    """Relative error ||g - g_approx|| / (||g|| + ||g_approx||) over every parameter.

    g is the backward pass's gradient; g_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps).
    Below 1e-7 the backward pass is right (in float64). ``W`` and ``b`` are perturbed and restored.
    """
    check_params(W, b, arch.layer_dims)
    check_xy(X, Y, arch.output_activation, n_x=arch.layer_dims[0], n_y=arch.layer_dims[-1])
    Zs, As = forward(W, b, X, arch)
    dW, db, _ = backward(W, Zs, As, X, Y, arch)
    grad, approx = [], []
    for P, dP in zip(list(W) + list(b), list(dW) + list(db)):
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + eps
            plus = _cost(W, b, X, Y, arch)
            P[idx] = old - eps
            minus = _cost(W, b, X, Y, arch)
            P[idx] = old
            approx.append((plus - minus) / (2 * eps))
            grad.append(dP[idx])
    grad, approx = np.array(grad), np.array(approx)
    denom = np.linalg.norm(grad) + np.linalg.norm(approx)
    return float(np.linalg.norm(grad - approx) / denom) if denom > 0 else 0.0
