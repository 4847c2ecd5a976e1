"""The folds of a k-fold run as ``gradient_descent_stacked`` (``nn.stacked``) trains them: grouped by size,
each group's arrays stacked on a leading axis, made once for any number of trainings (a search's trials)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Fold:
    """One training's examples: X (n_x, m), Y (n_y, m), and validation X_val, Y_val (or None)."""
    X: np.ndarray
    Y: np.ndarray
    X_val: np.ndarray | None = None
    Y_val: np.ndarray | None = None


class FoldStack:
    """The folds grouped by size, each group's arrays stacked: made once for any number of trainings of
    any architecture on these folds (a search's trials). Every array must have the stack's dtype.
    ``gram(f)``, optional, gives fold f's (K, K_val) for the dual form (X^T X and X^T X_val, blocks of one
    Gram matrix, say), else they are computed; either way only when a dual-form training first needs them."""

    def __init__(self, folds: list[Fold], dtype=None, gram=None):
        if not folds:
            raise ValueError("FoldStack needs at least one fold")
        self.folds, self.k, self.gram = list(folds), len(folds), gram
        self.dtype = np.dtype(dtype or folds[0].X.dtype)
        self.validated = folds[0].X_val is not None
        for f, fold in enumerate(folds):
            if (fold.X_val is not None) != self.validated:
                raise ValueError("either every fold has validation examples or none has")
            for name in ("X", "Y", "X_val", "Y_val"):
                a = getattr(fold, name)
                if a is not None and np.asarray(a).dtype != self.dtype:
                    raise ValueError(f"fold {f}'s {name} is {np.asarray(a).dtype}, the stack {self.dtype}: "
                                     "give every array in one dtype")
        sizes = [(f.X.shape[1], f.X_val.shape[1] if self.validated else 0) for f in folds]
        self.groups = [_Group(self, [i for i, s in enumerate(sizes) if s == size]) for size in dict.fromkeys(sizes)]


class _Group:
    """Folds of one size (m training, m_val validation examples): their arrays stacked."""

    def __init__(self, stack: FoldStack, index: list):
        self.stack, self.index = stack, index
        folds = [stack.folds[i] for i in index]
        self.folds, dt = folds, stack.dtype
        self.m = folds[0].X.shape[1]
        self.Y = np.stack([f.Y for f in folds]).astype(dt, copy=False)
        if stack.validated:
            self.m_val = folds[0].X_val.shape[1]
            self.Y_val = np.stack([f.Y_val for f in folds]).astype(dt, copy=False)
        self._cache: dict = {}

    def stacked(self, name: str):
        """X, X_val (the direct form), K, K_val (the dual form: the stack's ``gram`` blocks or each fold's
        own X^T X), stacked on first use."""
        if name not in self._cache:
            if name in ("K", "K_val"):
                self._cache["K"], self._cache["K_val"] = self._grams()
            else:
                self._cache[name] = np.stack([getattr(f, name) for f in self.folds])
        return self._cache[name]

    def _grams(self):
        K, K_val = [], []
        for i, f in zip(self.index, self.folds):
            given = self.stack.gram(i) if self.stack.gram is not None else None
            k, k_val = given if given is not None else (f.X.T @ f.X, None if f.X_val is None else f.X.T @ f.X_val)
            want = [(self.m, self.m), None if f.X_val is None else (self.m, self.m_val)]
            if [np.shape(k), None if k_val is None else np.shape(k_val)] != want:
                raise ValueError(f"fold {i}'s (K, K_val) must have shapes {want}")
            K.append(k)
            K_val.append(k_val)
        stacked = lambda blocks: None if blocks[0] is None else np.stack(blocks).astype(self.stack.dtype, copy=False)
        return stacked(K), stacked(K_val)


__all__ = ["Fold", "FoldStack"]
