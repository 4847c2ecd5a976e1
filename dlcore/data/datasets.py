"""The dataset registry: ``load(name, ...)`` returns a Dataset with its train (and test) arrays."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..nn.checks import check_xy
from . import generated
from .files import DataError, load_cat, load_csv, load_npz
from .split import check_holdout, split_indices

GENERATED = {"planar": generated.planar_flower, "moons": generated.moons,
             "circles": generated.circles, "blobs": generated.blobs}
DATASETS = ("cat", *GENERATED, "csv", "npz")


@dataclass(frozen=True)
class Dataset:
    name: str
    X: np.ndarray                 # (n_x, m) training examples (validation is split from these)
    Y: np.ndarray                 # (1, m)
    X_test: np.ndarray | None     # the locked test split: never seen by a search
    Y_test: np.ndarray | None
    fingerprint: str              # sha256 of the arrays as loaded (before any split)
    source: str = ""              # file or directory read, for messages
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # what runs derive from X once (Gram)

    @property
    def has_test(self) -> bool:
        return self.X_test is not None


def fingerprint(*arrays) -> str:
    """sha256 over each array's shape, dtype and bytes (C order); None entries count as absent."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load(name: str, path: str | None = None, n_samples: int | None = None, noise: float | None = None,
         seed: int | None = None, test_fraction: float = 0.0, split_seed: int = 0,
         label_column: str | None = None) -> Dataset:
    """Load a dataset by name (one of DATASETS).

    cat: the course's h5 files from ``path`` (a directory) or $DLCORE_DATA_DIR/catvnoncat; has a test split.
    planar, moons, circles, blobs: generated; ``n_samples``, ``noise`` and ``seed`` default to each
    generator's own (planar's give the course's flower). csv, npz: the file at ``path``.
    Datasets without a test split of their own get one of ``test_fraction`` (stratified, ``split_seed``).
    """
    X_test = Y_test = None
    source = path or name
    if name == "cat":
        X, Y, X_test, Y_test = load_cat(path)
    elif name in GENERATED:
        kwargs = {k: v for k, v in (("m", n_samples), ("noise", noise), ("seed", seed)) if v is not None}
        X, Y = GENERATED[name](**kwargs)
    elif name in ("csv", "npz"):
        if not path:
            raise DataError(f"dataset {name!r} needs data.path (the file to read)")
        X, Y = load_csv(path, label_column) if name == "csv" else load_npz(path)
    else:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    try:
        check_xy(X, Y, output_activation="linear")
    except ValueError as e:
        raise DataError(f"{source}: {e}") from None
    fp = fingerprint(X, Y, X_test, Y_test)
    if X_test is None and test_fraction > 0:
        train, test = split_indices(Y, test_fraction, split_seed)
        check_holdout(Y, train, test, f"{source}: data.test_fraction = {test_fraction:g}", "test")
        X, Y, X_test, Y_test = X[:, train], Y[:, train], X[:, test], Y[:, test]
    return Dataset(name, X, Y, X_test, Y_test, fp, str(source))
