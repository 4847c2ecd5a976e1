"""Activation functions g and their derivatives g', one table entry per name.

Every entry maps a pre-activation ``Z`` (n[l], m) to ``A = g(Z)`` (n[l], m), and gives the
derivative ``g'(Z)`` from ``Z`` and the already computed ``A`` (so sigmoid and tanh reuse ``A``).
Both take an optional ``out`` array of Z's shape and write into it (the training loop reuses its
arrays); each numpy operation is one call, since on a net's small arrays the calls cost more than
the arithmetic.

The value of ReLU'(0) and leaky-ReLU'(0) is a model setting, ``relu_grad_at_zero``:
the course notes take 1, the course's published code takes 0 (``dZ[Z <= 0] = 0``), and exact
zeros do occur in ``Z``, so the two give different training curves. Default 1, as in the notes.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

LEAK = 0.01  # slope of leaky ReLU for z < 0


@functools.cache
def _sigmoid_bounds(dtype):
    """(clip, exp_min): beyond |z| = clip the course's formula would overflow in e^(-z) (700 for
    float64, 79 for float32); below exp_min, e^z leaves the normal range (-708 and -87)."""
    info = np.finfo(dtype)
    return math.floor(math.log(info.max)) - 9, math.ceil(math.log(info.tiny))


def sigmoid(Z, out=None):
    """sigmoid(z) = 1 / (1 + e^(-z)), with no overflow, underflow or warning for any finite z.

    For z >= -700 (float64) this is the course's formula bit for bit (above 700, e^(-z) is too small
    to change 1 + e^(-z)). Below, sigmoid(z) = e^z / (1 + e^z) = e^z, and 0 once e^z would leave the
    normal range. ``out`` (the shape of Z) receives A when given.
    """
    Z = np.asarray(Z)
    if Z.dtype.kind != "f":
        Z = Z.astype(np.float64)
    clip, exp_min = _sigmoid_bounds(Z.dtype)
    if not (Z < -clip).any():  # the course's formula, one ufunc call per operation (a NaN elsewhere
        # in Z changes nothing: each value is its own, as the folds of a stacked training need)
        A = np.negative(Z, out=out)
        np.exp(A, out=A)
        A += 1.0
        return np.divide(1.0, A, out=A)
    A = 1.0 / (1.0 + np.exp(-np.clip(Z, -clip, clip)))
    tail = np.exp(np.clip(Z, exp_min, 0.0))
    A = np.where(Z < -clip, np.where(Z < exp_min, 0.0, tail), A).astype(A.dtype, copy=False)
    if out is None:
        return A
    out[...] = A
    return out


def sigmoid_grad(Z, A, at_zero=1.0, out=None):
    """sigmoid'(z) = a (1 - a); sigmoid'(0) = 1/4."""
    G = np.subtract(1.0, A, out=out)
    G *= A
    return G


def tanh(Z, out=None):
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z)."""
    return np.tanh(Z, out=out)


def tanh_grad(Z, A, at_zero=1.0, out=None):
    """tanh'(z) = 1 - a^2; tanh'(0) = 1."""
    G = np.multiply(A, A, out=out)
    return np.subtract(1.0, G, out=G)


def relu(Z, out=None):
    """relu(z) = max(0, z)."""
    return np.maximum(0, Z, out=out)


def relu_grad(Z, A, at_zero=1.0, out=None):
    """relu'(z) = 1 for z > 0, 0 for z < 0, and ``at_zero`` at z = 0 (notes: 1, course code: 0):
    1{z >= 0} or 1{z > 0}, written as 1.0 and 0.0 in A's dtype."""
    if out is None:
        out = np.empty_like(A)
    return np.greater_equal(Z, 0, out=out) if at_zero else np.greater(Z, 0, out=out)


def leaky_relu(Z, out=None):
    """leaky_relu(z) = z for z > 0, 0.01 z otherwise."""
    A = np.multiply(LEAK, Z, out=out)
    np.copyto(A, Z, where=Z > 0)
    return A


def leaky_relu_grad(Z, A, at_zero=1.0, out=None):
    """leaky_relu'(z) = 1 for z > 0, 0.01 for z < 0, and ``at_zero`` at z = 0 (notes: 1)."""
    if out is None:
        out = np.empty_like(A)
    out[...] = LEAK
    np.copyto(out, 1.0, where=Z >= 0 if at_zero else Z > 0)
    if not at_zero:
        np.copyto(out, 0.0, where=Z == 0)
    return out


def linear(Z, out=None):
    """linear(z) = z (the output of a regression net): Z itself, ``out`` unused."""
    return Z


def linear_grad(Z, A, at_zero=1.0, out=None):
    """linear'(z) = 1."""
    if out is None:
        return np.ones_like(A)
    out[...] = 1.0
    return out


class Hidden:
    """A hidden layer's activation in a training loop (one net's arrays or a stack of folds'):
    ``value(Z, A)`` writes g(Z) into A, and ``backprop(dZ, Z, A)`` multiplies dA[l] (in dZ) by g'(Z) in
    place, for the Z and A of the last ``value``. ReLU makes g'(Z) first, as the floats 1{z > 0} (or
    1{z >= 0}), and takes A = Z g'(Z) from it, which the backward pass reuses: instead of numpy's
    maximum (slow for its NaN handling) and a second comparison. The values are the table's for finite
    Z (a zero may be -0.0 instead of 0.0, which no later step tells apart); a Z of -inf (products that
    overflow: a training gone astray, or weights near the float's range) gives NaN instead of 0, and
    the training ends as diverged."""

    def __init__(self, g, at_zero, shape, dtype):
        self.g, self.at_zero = g, at_zero
        self.relu = g.name == "relu"
        self.G = np.empty(shape, dtype)  # g'(Z)

    def value(self, Z, A):
        if not self.relu:
            return self.g.value(Z, out=A)
        (np.greater_equal if self.at_zero else np.greater)(Z, 0, out=self.G)
        return np.multiply(Z, self.G, out=A)

    def backprop(self, dZ, Z, A):
        dZ *= self.G if self.relu else self.g.grad(Z, A, self.at_zero, out=self.G)


@dataclass(frozen=True)
class Activation:
    name: str
    value: Callable  # (Z, out=None) -> A
    grad: Callable   # (Z, A, at_zero, out=None) -> g'(Z)


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
