"""Parameter initialisation: b[l] = 0 and W[l] = randn(n[l], n[l-1]) * factor(n[l-1], init_scale).

The draws come from a legacy ``np.random.RandomState(seed)`` object passed in by the caller, taken
layer by layer in order l = 1..L (biases draw nothing), so seed 1 gives the course's arrays.
Each scheme is a small function that shows its factor for layer l.
"""
from __future__ import annotations

import math

import numpy as np


# Each scheme scales a standard normal draw G (n[l], n[l-1]); the operations are written in the
# course's order (e.g. G / sqrt(n) rather than G * (1 / sqrt(n))) so that the bits match its arrays.

def constant(G, n_prev: int, scale: float):
    """W = G * scale (the notes' 0.01: small random weights break symmetry)."""
    return G * scale


def fan_in(G, n_prev: int, scale: float):
    """W = G / sqrt(n[l-1]) * scale (the course's deep model, with scale 1)."""
    return G / math.sqrt(n_prev) * scale


def he(G, n_prev: int, scale: float):
    """W = G * sqrt(2 / n[l-1]) * scale (He et al., for ReLU nets, with scale 1)."""
    return G * math.sqrt(2.0 / n_prev) * scale


SCHEMES = {"constant": constant, "fan_in": fan_in, "he": he, "zeros": None}


def initialize(layer_dims, init: str = "constant", init_scale: float = 0.01, rng=None, dtype=np.float64):
    """Return lists ``W, b`` with W[l-1] (n[l], n[l-1]) and b[l-1] (n[l], 1) for l = 1..L.

    Python lists are 0-based: ``W[0]`` is the notes' W[1]. ``rng`` is a ``np.random.RandomState``
    (any object with ``randn``); it is not needed for ``init="zeros"`` (logistic regression).
    """
    if init not in SCHEMES:
        raise ValueError(f"unknown init scheme {init!r}; choose one of {', '.join(SCHEMES)}")
    dims = [int(n) for n in layer_dims]
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"layer_dims must hold n_x and at least one layer, all >= 1 (got {dims})")
    scheme = SCHEMES[init]
    if scheme is not None and rng is None:
        raise ValueError(f"init {init!r} draws random numbers: pass rng=np.random.RandomState(seed)")
    W, b = [], []
    for l in range(1, len(dims)):
        shape = (dims[l], dims[l - 1])
        if scheme is None:
            Wl = np.zeros(shape)
        else:
            Wl = scheme(rng.randn(*shape), dims[l - 1], init_scale)
        W.append(Wl.astype(dtype, copy=False))
        b.append(np.zeros((dims[l], 1), dtype=dtype))
    return W, b
