"""The dual form's K from one Gram matrix per dataset (train.gram = "dataset"): each fold's blocks are
taken from X^T X of the whole training split. Its curves equal each run forming its own K (train.gram =
"run") to rounding; a logged config without the key is read as "run"; reproduce is bit-exact."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dlcore import nn
from dlcore.config import ConfigError, RunConfig
from dlcore.runner import folds_for, gram_blocks, load_dataset, make_split, train_run


def wide_npz(d, n_x=400, m=90, seed=0):
    """More features than examples: the dual form is the cheaper one."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x))
    y = (X[:, :5].sum(axis=1) + 0.3 * rng.standard_normal(m) > 0).astype(int)
    path = d / "wide.npz"
    np.savez(path, X=X, Y=y)
    return path


def config(path, gram="dataset", standardize=False) -> RunConfig:
    return RunConfig.from_dict({"data": {"name": "npz", "path": str(path), "standardize": standardize},
                                "model": {"hidden_units": [7, 5], "init_scale": 0.05},
                                "train": {"iterations": 300, "learning_rate": 0.05, "gram": gram}})


def fold_curves(cfg, k=3):
    dataset = load_dataset(cfg)
    outs = [train_run(cfg, make_split(cfg, dataset, tr, va)) for tr, va in folds_for(cfg, dataset, k)]
    assert all(o.result.form == "dual" for o in outs)
    return [o.result.costs for o in outs], dataset


def test_blocks_of_one_gram_give_each_folds_curve(tmp_path):
    path = wide_npz(tmp_path)
    own, _ = fold_curves(config(path, "run"))
    shared, dataset = fold_curves(config(path, "dataset"))
    assert [k for k in dataset.cache if k[0] == "gram"] == [("gram", "<f8")]  # one product for the 3 folds
    for a, b in zip(own, shared):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=0)
    again, _ = fold_curves(config(path, "dataset"))
    assert all(np.array_equal(a, b) for a, b in zip(shared, again))  # the same path: bit for bit


def test_the_blocks_are_the_folds_products(tmp_path):
    cfg = config(wide_npz(tmp_path))
    dataset = load_dataset(cfg)
    (tr, va) = folds_for(cfg, dataset, 3)[1]
    split = make_split(cfg, dataset, tr, va)
    K, K_val = gram_blocks(cfg, split, "dual")
    np.testing.assert_allclose(K, split.X.T @ split.X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K_val, split.X.T @ split.X_val, rtol=1e-12, atol=1e-12)
    assert gram_blocks(cfg, split, "direct") is None
    assert gram_blocks(replace(cfg, train=replace(cfg.train, gram="run")), split, "dual") is None


def test_standardized_folds_form_their_own_gram(tmp_path):
    """Scaled by each fold's own statistics, the folds' X differ: no shared product applies."""
    cfg = config(wide_npz(tmp_path), standardize=True)
    dataset = load_dataset(cfg)
    tr, va = folds_for(cfg, dataset, 3)[0]
    assert gram_blocks(cfg, make_split(cfg, dataset, tr, va), "dual") is None


def test_a_logged_config_without_the_key_formed_its_own():
    logged = RunConfig().to_dict()
    del logged["train"]["gram"]
    assert RunConfig.from_logged(logged).train.gram == "run"
    assert RunConfig.from_dict(logged).train.gram == "dataset"  # a user's file: today's default
    with pytest.raises(ConfigError, match="gram"):
        RunConfig.from_dict({"train": {"gram": "fold"}})


def test_gradient_descent_refuses_a_gram_of_the_wrong_shape():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((50, 10)), (rng.random((1, 10)) > 0.5).astype(float)
    arch = nn.Architecture((50, 3, 1), "relu", "sigmoid")
    W, b = nn.initialize(arch.layer_dims, "constant", 0.01, np.random.RandomState(0))
    with pytest.raises(ValueError, match="gram must be"):
        nn.gradient_descent(X, Y, W, b, arch, 0.1, 5, form="dual", gram=(np.eye(9), None))
