"""Seeded, stratified splits of the m examples of Y (1, m). Each class is split in proportion."""
from __future__ import annotations

import numpy as np


def _by_class(Y, rng):
    """Per class (in sorted label order) a random permutation of its example indices."""
    y = np.asarray(Y).ravel()
    return [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]


def split_indices(Y, fraction: float, seed: int):
    """Indices (train, held_out), sorted, with round(fraction * n_c) of each class c held out.

    Continuous targets (a regression) are split without strata.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split fraction must be in [0, 1) (got {fraction})")
    rng = np.random.default_rng(seed)
    y = np.asarray(Y).ravel()
    groups = _by_class(Y, rng) if _is_labels(y) else [rng.permutation(y.size)]
    held = np.concatenate([g[: int(round(fraction * g.size))] for g in groups])
    mask = np.zeros(y.size, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def kfold_indices(Y, k: int, seed: int):
    """k stratified folds: a list of (train, validation) index pairs, each sorted.

    Each class's shuffled examples are dealt to the folds in turn, so fold sizes differ by at most one
    per class.
    """
    y = np.asarray(Y).ravel()
    if not 2 <= k <= y.size:
        raise ValueError(f"folds must be between 2 and the number of examples {y.size} (got {k})")
    rng = np.random.default_rng(seed)
    groups = _by_class(Y, rng) if _is_labels(y) else [rng.permutation(y.size)]
    fold = np.empty(y.size, dtype=np.int64)
    offset = 0
    for g in groups:
        fold[g] = (np.arange(g.size) + offset) % k
        offset += g.size
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def _is_labels(y) -> bool:
    return bool(np.all((y == 0) | (y == 1)))
