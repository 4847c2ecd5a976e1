"""Input standardization: fitted on a run's training examples only, applied unchanged to the rest."""
import numpy as np
import pytest

from dlcore.config import RunConfig, load_run_config
from dlcore.data import Dataset, apply_standardizer, fingerprint, fit_standardizer, kfold_indices
from dlcore.runner import folds_for, make_split
from tests.conftest import ROOT


def tabular(m=60, seed=0):
    """Three features on very different scales (as in real tabular data), labels from the first two."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, m)) * np.array([[1.0], [300.0], [0.01]]) + np.array([[5.0], [2000.0], [0.0]])
    Y = (((X[0] - 5) + (X[1] - 2000) / 300) > 0).astype(np.float64)[None, :]
    return Dataset("csv", X, Y, None, None, fingerprint(X, Y), "tabular.csv")


CSV = RunConfig.from_dict({"data": {"name": "csv", "path": "tabular.csv", "validation_fraction": 0.25}})


def test_fitted_per_feature_with_ddof_0():
    X = tabular().X
    mean, scale = fit_standardizer(X)
    assert mean.shape == scale.shape == (3, 1) and mean.dtype == scale.dtype == np.float64
    np.testing.assert_array_equal(mean[:, 0], X.mean(axis=1))
    np.testing.assert_array_equal(scale[:, 0], X.std(axis=1, ddof=0))
    Z = apply_standardizer(X, mean, scale)
    np.testing.assert_allclose(Z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=1), 1, rtol=1e-12)


@pytest.mark.parametrize("folds", [1, 4])
def test_an_outlier_in_validation_rows_leaves_the_training_statistics_unchanged(folds):
    clean = tabular()
    split_points = folds_for(CSV, clean, folds)
    for tr, va in split_points:
        X = clean.X.copy()
        X[1, va[0]] = 1e9  # an outlier planted in one validation example
        planted = Dataset("csv", X, clean.Y, None, None, clean.fingerprint, "tabular.csv")
        split, reference = make_split(CSV, planted, tr, va), make_split(CSV, clean, tr, va)
        for got, want in zip(split.scaler, reference.scaler):
            np.testing.assert_array_equal(got, want)     # the training statistics ignore the outlier
        np.testing.assert_array_equal(split.scaler[0], clean.X[:, tr].mean(axis=1, keepdims=True))
        np.testing.assert_array_equal(split.X, reference.X)
        mean, scale = reference.scaler
        np.testing.assert_array_equal(split.X_val[:, 0], (X[:, va[0]] - mean[:, 0]) / scale[:, 0])
        assert split.X_val[1, 0] > 1e6                 # scaled with the training statistics, not its own


def test_the_refit_fits_on_the_whole_training_split():
    ds = tabular()
    split = make_split(CSV, ds, np.arange(ds.Y.shape[1]), None)
    np.testing.assert_array_equal(split.scaler[1], ds.X.std(axis=1, keepdims=True))
    assert split.X_val is None and np.isfinite(split.X).all()
    assert ds.fingerprint == fingerprint(tabular().X, tabular().Y)  # the raw data, untouched


def test_constant_features_become_finite_zeros():
    ds = tabular()
    X = ds.X.copy()
    X[0] = 0.1          # constant, and not exactly representable: a naive std would be a rounding error
    X[2] = 7.0
    const = Dataset("csv", X, ds.Y, None, None, ds.fingerprint, "c.csv")
    tr, va = kfold_indices(ds.Y, 3, 0)[0]
    split = make_split(CSV, const, tr, va)
    assert np.isfinite(split.X).all() and np.isfinite(split.X_val).all()
    np.testing.assert_array_equal(split.X[[0, 2]], 0.0)
    np.testing.assert_array_equal(split.X_val[[0, 2]], 0.0)
    np.testing.assert_array_equal(split.scaler[1][[0, 2]], 1.0)


def test_default_on_for_files_off_for_the_course_datasets_and_resolved_when_logged(tmp_path):
    assert CSV.data.standardized and RunConfig.from_dict({"data": {"name": "npz"}}).data.standardized
    for name in ("cat", "planar", "moons", "circles", "blobs"):
        cfg = RunConfig.from_dict({"data": {"name": name}})
        assert not cfg.data.standardized and cfg.to_dict()["data"]["standardize"] is False
    assert not RunConfig.from_dict({"data": {"name": "csv", "standardize": False}}).data.standardized
    assert RunConfig.from_dict({"data": {"name": "moons", "standardize": True}}).data.standardized
    # --set data.name='csv' on a course config takes csv's default, not the course dataset's
    cfg = load_run_config(ROOT / "experiments" / "course" / "planar.toml", ["data.name='csv'", "data.path='x.csv'"])
    assert cfg.data.standardize is True and cfg.to_dict()["data"]["standardize"] is True
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    # a logged config without the key predates scaling: read as off, whatever the dataset
    old = cfg.to_dict()
    del old["data"]["standardize"]
    assert RunConfig.from_logged(old).data.standardize is False
    assert RunConfig.from_logged(cfg.to_dict()).data.standardize is True


def test_unscaled_runs_keep_their_arrays():
    """standardize = false: the arrays are the raw data, as before scaling existed (course numbers)."""
    ds = tabular()
    off = RunConfig.from_dict({"data": {"name": "csv", "standardize": False}})
    tr, va = folds_for(off, ds, 3)[0]
    split = make_split(off, ds, tr, va)
    assert split.scaler is None
    np.testing.assert_array_equal(split.X, ds.X[:, tr])
    np.testing.assert_array_equal(split.X_val, ds.X[:, va])
