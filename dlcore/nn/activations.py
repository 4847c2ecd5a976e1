"""Activation functions g and their derivatives g', one table entry per name.

Every entry maps a pre-activation ``Z`` (n[l], m) to ``A = g(Z)`` (n[l], m), and gives the
derivative ``g'(Z)`` from ``Z`` and the already computed ``A`` (so sigmoid and tanh reuse ``A``).

The value of ReLU'(0) and leaky-ReLU'(0) is a model setting, ``relu_grad_at_zero``:
the course notes take 1, the course's published code takes 0 (``dZ[Z <= 0] = 0``), and exact
zeros do occur in ``Z``, so the two give different training curves. Default 1, as in the notes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

LEAK = 0.01  # slope of leaky ReLU for z < 0



def _sigmoid_bounds(dtype):
    """(clip, exp_min): beyond |z| = clip the course's formula would overflow in e^(-z) (700 for
    float64, 79 for float32); below exp_min, e^z leaves the normal range (-708 and -87)."""
    info = np.finfo(dtype)
    return math.floor(math.log(info.max)) - 9, math.ceil(math.log(info.tiny))


def sigmoid(Z):
    """sigmoid(z) = 1 / (1 + e^(-z)), with no overflow, underflow or warning for any finite z.

    For |z| <= 700 (float64) this is the course's formula bit for bit. Above, it is 1 to double
    precision; below, sigmoid(z) = e^z / (1 + e^z) = e^z, and 0 once e^z would leave the normal range.
    """
    Z = np.asarray(Z)
    if not np.issubdtype(Z.dtype, np.floating):
        Z = Z.astype(np.float64)
    clip, exp_min = _sigmoid_bounds(Z.dtype)
    A = 1.0 / (1.0 + np.exp(-np.clip(Z, -clip, clip)))
    low = Z < -clip
    if np.any(low):
        tail = np.exp(np.clip(Z, exp_min, 0.0))
        A = np.where(low, np.where(Z < exp_min, 0.0, tail), A).astype(A.dtype, copy=False)
    return A


def sigmoid_grad(Z, A, at_zero=1.0):
    """sigmoid'(z) = a (1 - a); sigmoid'(0) = 1/4."""
    return A * (1.0 - A)


def tanh(Z):
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z)."""
    return np.tanh(Z)


def tanh_grad(Z, A, at_zero=1.0):
    """tanh'(z) = 1 - a^2; tanh'(0) = 1."""
    return 1.0 - A * A


def relu(Z):
    """relu(z) = max(0, z)."""
    return np.maximum(0, Z)


def relu_grad(Z, A, at_zero=1.0):
    """relu'(z) = 1 for z > 0, 0 for z < 0, and ``at_zero`` at z = 0 (notes: 1, course code: 0)."""
    one = np.ones((), dtype=A.dtype)
    zero = np.zeros((), dtype=A.dtype)
    G = np.where(Z > 0, one, zero)
    if at_zero:
        G[Z == 0] = at_zero
    return G


def leaky_relu(Z):
    """leaky_relu(z) = z for z > 0, 0.01 z otherwise."""
    return np.where(Z > 0, Z, LEAK * Z)


def leaky_relu_grad(Z, A, at_zero=1.0):
    """leaky_relu'(z) = 1 for z > 0, 0.01 for z < 0, and ``at_zero`` at z = 0 (notes: 1)."""
    G = np.where(Z > 0, np.ones((), dtype=A.dtype), np.asarray(LEAK, dtype=A.dtype))
    G[Z == 0] = at_zero
    return G


def linear(Z):
    """linear(z) = z (the output of a regression net)."""
    return Z


def linear_grad(Z, A, at_zero=1.0):
    """linear'(z) = 1."""
    return np.ones_like(A)


@dataclass(frozen=True)
class Activation:
    name: str
    value: Callable  # Z -> A
    grad: Callable   # (Z, A, at_zero) -> g'(Z)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", sigmoid, sigmoid_grad),
        Activation("tanh", tanh, tanh_grad),
        Activation("relu", relu, relu_grad),
        Activation("leaky_relu", leaky_relu, leaky_relu_grad),
        Activation("linear", linear, linear_grad),
    )
}

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
OUTPUT_ACTIVATIONS = ("sigmoid", "linear")


def get(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None
