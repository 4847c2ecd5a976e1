"""Datasets generated in NumPy from a seed: the course's planar flower and toy sets.

Each returns X (2, m) float64 and Y (1, m) with labels 0/1.
"""
from __future__ import annotations

import numpy as np


def planar_flower(m: int = 400, noise: float = 0.2, seed: int = 1):
    """The course's "flower": two classes of m/2 points on the petals r = 4 sin(4 theta).

    Drawn from the legacy ``RandomState(seed)`` stream in the course's order (for class j: theta noise,
    then r noise), so the defaults (and any even m) give the course's formula bit for bit. Rows
    0..m//2-1 are class 0; for an odd m class 1 has the one point more (m - m//2).
    """
    rng = np.random.RandomState(seed)
    N, a = m // 2, 4
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1), dtype="uint8")
    for j, n in enumerate((N, m - N)):
        ix = range(N * j, N * j + n)
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + rng.randn(n) * noise  # theta
        r = a * np.sin(4 * t) + rng.randn(n) * noise  # radius
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T.astype(np.float64)


def moons(m: int = 400, noise: float = 0.2, seed: int = 0):
    """Two interleaving half circles (class 0 on top, class 1 below), plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    n0 = m // 2
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, m - n0)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
    y = np.r_[np.zeros(n0), np.ones(m - n0)]
    return _shuffle(X + noise * rng.standard_normal(X.shape), y, rng)


def circles(m: int = 400, noise: float = 0.1, seed: int = 0, factor: float = 0.5):
    """Two concentric circles: class 0 of radius 1 outside, class 1 of radius ``factor`` inside."""
    rng = np.random.default_rng(seed)
    n0 = m // 2
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, m - n0, endpoint=False)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], factor * np.c_[np.cos(t1), np.sin(t1)]])
    y = np.r_[np.zeros(n0), np.ones(m - n0)]
    return _shuffle(X + noise * rng.standard_normal(X.shape), y, rng)


def blobs(m: int = 400, noise: float = 1.0, seed: int = 0):
    """Two Gaussian blobs of standard deviation ``noise`` around (-1.5, -1.5) and (1.5, 1.5)."""
    rng = np.random.default_rng(seed)
    n0 = m // 2
    y = np.r_[np.zeros(n0), np.ones(m - n0)]
    centres = np.where(y[:, None] == 0, -1.5, 1.5)
    return _shuffle(centres + noise * rng.standard_normal((m, 2)), y, rng)


def _shuffle(X, y, rng):
    order = rng.permutation(y.size)
    return np.ascontiguousarray(X[order].T), y[order].reshape(1, -1)
