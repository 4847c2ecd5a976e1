import re

import numpy as np
import pytest

from dlcore.data import DataError, check_holdout, check_kfold, kfold_indices, split_indices

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


@pytest.mark.parametrize("y,fraction,message", [
    ([0], 0.2, "f = 0.2 of 1 example(s) leaves the validation split empty"),
    ([0, 1], 0.2, "f = 0.2 of 2 example(s) leaves the validation split empty"),
    ([0, 0, 1], 0.6, "f = 0.6 of 3 example(s) leaves no training example of class 1"),
    ([0.5], 0.6, "f = 0.6 of 1 example(s) leaves no training example"),
])
def test_a_holdout_with_an_empty_part_is_refused(y, fraction, message):
    Y = np.array([y], dtype=float)
    tr, va = split_indices(Y, fraction, seed=0)
    with pytest.raises(DataError, match=re.escape(message)):
        check_holdout(Y, tr, va, f"f = {fraction}")


def test_a_holdout_with_both_parts_passes():
    tr, va = split_indices(Y, 0.2, seed=0)
    check_holdout(Y, tr, va, "f")


def test_folds_need_k_examples_of_each_class():
    y = np.array([[0] * 5 + [1] * 2], dtype=float)
    check_kfold(y, 2, "k")
    with pytest.raises(DataError, match=r"k needs at least 3 examples of each class; class 1 has 2 \(of 7"):
        check_kfold(y, 3, "k")
    with pytest.raises(DataError, match="k needs at least 5 examples; there are 4"):
        check_kfold(np.linspace(0, 1, 4).reshape(1, -1) + 0.1, 5, "k")
