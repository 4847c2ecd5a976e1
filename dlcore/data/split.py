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


def check_holdout(Y, train, held, setting: str, part: str = "validation"):
    """Refuse a hold-out that leaves the ``part`` split empty or the training part without a class.

    ``setting`` names what asked for the split, e.g. "data.validation_fraction = 0.2"; raises a
    DataError that also gives the number of examples."""
    from .files import DataError

    y = np.asarray(Y).ravel()
    if len(held) == 0:
        raise DataError(f"{setting} of {y.size} example(s) leaves the {part} split empty (each class holds out "
                        "round(fraction x its count)): use more data or a larger fraction")
    lost = [c for c in np.unique(y) if not np.any(y[train] == c)] if _is_labels(y) else []
    if len(train) == 0 or lost:
        what = "no training example" if len(train) == 0 else f"no training example of class {lost[0]:g}"
        raise DataError(f"{setting} of {y.size} example(s) leaves {what}: use more data or a smaller fraction")


def check_kfold(Y, k: int, setting: str):
    """Refuse k folds when a class has fewer than k examples (some fold would validate without it, and
    with one example a fold would train without it), or when there are fewer than k examples."""
    from .files import DataError

    y = np.asarray(Y).ravel()
    if _is_labels(y):
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < k:
            c = int(np.argmin(counts))
            raise DataError(f"{setting} needs at least {k} examples of each class; class {classes[c]:g} has "
                            f"{counts[c]} (of {y.size} example(s)): use fewer folds or more data")
    elif y.size < k:
        raise DataError(f"{setting} needs at least {k} examples; there are {y.size}")


def _is_labels(y) -> bool:
    return bool(np.all((y == 0) | (y == 1)))
