import numpy as np
import pytest

from dlcore.data import kfold_indices, split_indices

Y = np.array([[0] * 70 + [1] * 30], dtype=float)


def test_split_is_stratified_seeded_and_disjoint():
    tr, va = split_indices(Y, 0.2, seed=0)
    assert len(va) == 20 and Y[0, va].sum() == 6
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == 100
    assert np.array_equal(va, split_indices(Y, 0.2, seed=0)[1])
    assert not np.array_equal(va, split_indices(Y, 0.2, seed=1)[1])


def test_zero_fraction_keeps_everything():
    tr, va = split_indices(Y, 0.0, seed=0)
    assert len(tr) == 100 and len(va) == 0


def test_kfold_partitions_and_stratifies():
    folds = kfold_indices(Y, 5, seed=2)
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals) == list(range(100))
    for tr, va in folds:
        assert len(va) == 20 and Y[0, va].sum() == 6 and set(tr).isdisjoint(va)


def test_regression_targets_split_without_strata():
    y = np.linspace(-1, 1, 50).reshape(1, -1)
    tr, va = split_indices(y, 0.3, seed=0)
    assert len(va) == 15
    assert len(kfold_indices(y, 5, seed=0)) == 5


@pytest.mark.parametrize("k", [1, 101])
def test_bad_fold_counts(k):
    with pytest.raises(ValueError, match="folds must be between 2"):
        kfold_indices(Y, k, seed=0)
