"""Standardized inputs end to end: a CSV search, its reproduction, and the logged model on raw rows."""
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from dlcore import nn
from dlcore.config import RunConfig
from dlcore.data import apply_standardizer, fit_standardizer
from dlcore.session import run_search
from dlcore.store import Store as Backends  # the public Store: Optuna storage and MLflow tracking
from dlcore.runner import load_dataset
from dlcore.search import load_space
from dlcore.tracking.store import Store
from tests.conftest import run_dlcore
from tests.test_reproduce import CSV_SPACE


def write_csv(d):
    """Features on the scales of real tabular data (ones to thousands): unscaled, a net saturates."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((160, 3)) * [1.0, 400.0, 0.02] + [10.0, 3000.0, 0.5]
    y = ((X[:, 0] - 10) + (X[:, 1] - 3000) / 400 > 0).astype(int)
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y).to_csv(d / "data.csv", index=False)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    d = tmp_path_factory.mktemp("scaled")
    write_csv(d)
    (d / "space.toml").write_text(CSV_SPACE)
    store = Store(d / "store")
    summary = run_search(load_space(d / "space.toml"), Backends(store.root))
    return d, store, summary


def test_the_search_logs_standardize_and_reproduces_identically(searched):
    d, store, summary = searched
    client = MlflowClient(store.tracking_uri)
    run = client.get_run(summary["best_run_id"])
    assert run.data.params["standardize"] == "True"
    assert json.loads(run.data.tags["dlcore.run_config"])["data"]["standardize"] is True
    p = run_dlcore("reproduce", "--store", store.root, "--study", "csv", "--seeds", "2", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"] == "identical" and out["max_abs_diff"] == 0.0


def test_the_logged_model_standardizes_raw_rows_as_the_refit_did(searched, tmp_path):
    d, store, summary = searched
    p = run_dlcore("reproduce", "--store", store.root, "--study", "csv", "--evaluate-test", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    client = MlflowClient(store.tracking_uri)
    cfg = RunConfig.from_logged(json.loads(client.get_run(summary["best_run_id"]).data.tags["dlcore.run_config"]))
    dataset = load_dataset(cfg)
    with np.load(client.download_artifacts(out["reproduction_run_id"], "params.npz", str(tmp_path))) as z:
        L = len([k for k in z.files if k.startswith("W")])
        W, b = [z[f"W{l}"] for l in range(1, L + 1)], [z[f"b{l}"] for l in range(1, L + 1)]
        mean, scale = z["x_mean"], z["x_scale"]
    # the scaler is the refit's: fitted on the whole training split, never on the test rows
    for got, want in zip((mean, scale), fit_standardizer(dataset.X)):
        np.testing.assert_array_equal(got, want)
    arch = nn.Architecture(tuple(w.shape[1] for w in W) + (W[-1].shape[0],), cfg.model.hidden_activation,
                           cfg.model.output_activation, cfg.model.relu_grad_at_zero)
    mlflow.set_tracking_uri(store.tracking_uri)
    model = mlflow.pyfunc.load_model(out["model_uri"])
    raw = dataset.X_test.T                                     # raw rows, one example each
    got = model.predict(raw)
    expected = nn.predict_proba(W, b, apply_standardizer(dataset.X_test, mean, scale), arch)[0]
    np.testing.assert_array_equal(got, expected)
    Y_hat = (got > 0.5).astype(np.int64)
    assert nn.accuracy(Y_hat, dataset.Y_test) == out["refit"]["test_accuracy"]  # what the refit measured
    # on unscaled inputs the same net says something else: the scaler really is part of the model
    assert not np.array_equal(nn.predict_proba(W, b, dataset.X_test, arch)[0], got)


def test_a_run_logged_before_scaling_reproduces_unscaled(searched, tmp_path):
    """A logged config without data.standardize (as every run before it existed) is read as false."""
    d, _, _ = searched
    (tmp_path / "run.toml").write_text(f"[data]\nname = 'csv'\npath = '{d / 'data.csv'}'\n"
                                       "validation_fraction = 0.25\n[model]\nhidden_units = [3]\n"
                                       "[train]\niterations = 60\nblas_threads = 1\n")
    store = Store(tmp_path / "s")
    p = run_dlcore("train", tmp_path / "run.toml", "--store", store.root, "--set", "data.standardize=false", "--json")
    assert p.returncode == 0, p.stderr
    run_id = json.loads(p.stdout)["run_id"]
    client = MlflowClient(store.tracking_uri)
    logged = json.loads(client.get_run(run_id).data.tags["dlcore.run_config"])
    assert logged["data"].pop("standardize") is False
    client.set_tag(run_id, "dlcore.run_config", json.dumps(logged))  # as an older dlcore logged it
    p = run_dlcore("reproduce", "--store", store.root, "--run-id", run_id, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"] == "identical"
    again = json.loads(client.get_run(out["reproduction_run_id"]).data.tags["dlcore.run_config"])
    assert again["data"]["standardize"] is False
