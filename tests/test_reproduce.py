"""dlcore reproduce: a run trained inside a search, reproduced in another process, bit for bit."""
import json
from dataclasses import replace

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from dlcore import nn
from dlcore.config import RunConfig
from dlcore.session import run_search
from dlcore.store import Store as Backends  # the public Store: Optuna storage and MLflow tracking
from dlcore.runner import load_dataset, make_split, train_run
from dlcore.search import load_space
from dlcore.tracking.store import Store
from tests.conftest import run_dlcore
from tests.search.test_search import tiny_space

CSV_SPACE = """
[study]
name = "csv"
trials = 3
report_every = 20
[data]
name = "csv"
path = "data.csv"
validation_fraction = 0.25
test_fraction = 0.2
[model]
hidden_activation = "relu"
init = "he"
[train]
iterations = 80
blas_threads = 1
[space]
learning_rate = { low = 0.05, high = 0.5, log = true }
n_layers = { low = 1, high = 2 }
n_units = { low = 2, high = 5 }
"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    d = tmp_path_factory.mktemp("repro")
    store = Store(d / "store")
    space = tiny_space(d, name="repro")
    summary = run_search(space, Backends(store.root), 5)
    return store, summary


def repro(store, *args):
    return run_dlcore("reproduce", "--store", store.root, *args)


def test_best_trial_reproduces_identically_in_another_process(searched):
    store, summary = searched
    p = repro(store, "--study", "repro", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"] == "identical" and out["max_abs_diff"] == 0 and out["run_id"] == summary["best_run_id"]
    client = MlflowClient(store.tracking_uri)
    run = client.get_run(out["reproduction_run_id"])
    assert run.data.tags["dlcore.reproduces"] == summary["best_run_id"] and run.data.tags["dlcore.verdict"] == "identical"
    assert run.info.status == "FINISHED" and run.info.experiment_id == summary["experiment_id"]


def test_plain_text_verdict(searched):
    store, _ = searched
    p = repro(store, "--study", "repro")
    assert p.returncode == 0 and p.stdout.startswith("identical")


@pytest.mark.parametrize("folds", [0, 3])
def test_pruned_runs_need_allow_incomplete(tmp_path, folds):
    """A diverged trial, a hold-out's or one whose folds trained together (the first fold to diverge
    ended them all), reproduces as far as it went."""
    space = tiny_space(tmp_path, name="div", lr_low=1e5, lr_high=1e7, folds=folds)
    store = Store(tmp_path / "s")
    run_search(space, Backends(store.root), 2)
    study = optuna.load_study(study_name="div", storage=store.optuna_url)
    run_id = study.trials[0].user_attrs["mlflow_run_id"]
    n_runs = len(MlflowClient(store.tracking_uri).search_runs(["1"]))
    p = repro(store, "--run-id", run_id)
    assert p.returncode == 2 and "did not complete (PRUNED, diverged" in p.stderr and "--allow-incomplete" in p.stderr
    assert len(MlflowClient(store.tracking_uri).search_runs(["1"])) == n_runs  # nothing logged
    p = repro(store, "--run-id", run_id, "--allow-incomplete", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"] == "identical" and out["folds"] == max(folds, 1)


def test_a_diverged_train_run_is_refused_as_pruned(tmp_path):
    """A `dlcore train` run has no Optuna trial state: its status (KILLED for diverged) says it."""
    store = Store(tmp_path / "s")
    p = run_dlcore("train", "experiments/course/planar.toml", "--set", "train.learning_rate=1e6",
                   "--set", "train.iterations=50", "--json", "--store", store.root)
    out = json.loads(p.stdout)
    assert p.returncode == 1 and out["status"] == "diverged", p.stderr  # train says so with exit 1
    p = repro(store, "--run-id", out["run_id"])
    assert p.returncode == 2 and "did not complete (PRUNED, " in p.stderr, p.stderr


def test_the_model_is_logged_with_its_signature_and_no_warning(searched):
    store, _ = searched
    p = repro(store, "--study", "repro", "--json")
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stderr.lower(), p.stderr  # was: "Failed to infer model signature"
    mlflow.set_tracking_uri(store.tracking_uri)
    info = mlflow.models.get_model_info(json.loads(p.stdout)["model_uri"])
    assert info.signature.inputs.to_dict() == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": (-1, 2)}}]
    assert info.signature.outputs.to_dict() == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": (-1,)}}]


MOONS_SPACE = """
[study]
name = "moons2"
trials = 4
seed = 11
pruner = "none"
report_every = 100
[data]
name = "moons"
n_samples = 1000
validation_fraction = 0.25
[model]
hidden_activation = "tanh"
init = "he"
[train]
iterations = 400
[space]
learning_rate = { low = 0.05, high = 0.5, log = true }
n_layers = { low = 2, high = 3 }
n_units = { low = 16, high = 48 }
"""


def test_trials_of_each_worker_of_a_search_reproduce_identically(tmp_path):
    """Issue 4: bit for bit whatever the worker count. Each worker's first trial is reproduced in a fresh
    process with the BLAS threads the worker used (1 each here, against 2 for one process)."""
    (tmp_path / "moons.toml").write_text(MOONS_SPACE)
    store = Store(tmp_path / "s")
    p = run_dlcore("search", tmp_path / "moons.toml", "--workers", 2, "--trials", 4, "--store", store.root)
    assert p.returncode == 0, p.stderr
    study = optuna.load_study(study_name="moons2", storage=store.optuna_url)
    first = {}
    for t in study.trials:  # each worker's first trial
        assert t.state.name == "COMPLETE", (t.number, t.state, t.user_attrs.get("state_reason"))
        first.setdefault(t.user_attrs["worker"], t)
    assert first  # usually both workers; on a loaded machine one may take all four, which still tests it
    for t in first.values():
        r = repro(store, "--run-id", t.user_attrs["mlflow_run_id"])
        assert r.returncode == 0 and r.stdout.startswith("identical: 400 costs"), r.stdout + r.stderr


@pytest.mark.parametrize("args,message", [
    (["--run-id", "0123456789abcdef"], "no MLflow run '0123456789abcdef'"),
    (["--study", "nope"], "no study 'nope'"),
    (["--study", "repro", "--trial", "99"], "has no trial 99"),
    ([], "give exactly one of --run-id ID or --study NAME"),
])
def test_refusals_are_one_line(searched, args, message):
    store, _ = searched
    p = repro(store, *args)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_changed_data_is_refused_by_fingerprint(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    data = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y)
    data.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "space.toml").write_text(CSV_SPACE)
    store = Store(tmp_path / "s")
    summary = run_search(load_space(tmp_path / "space.toml"), Backends(store.root))
    assert repro(store, "--study", "csv").returncode == 0
    data.loc[7, "b"] += 0.001                      # one value changed
    data.to_csv(tmp_path / "data.csv", index=False)
    runs_before = len(MlflowClient(store.tracking_uri).search_runs([summary["experiment_id"]]))
    p = repro(store, "--study", "csv")
    assert p.returncode == 2 and "dataset fingerprint differs from the logged one" in p.stderr
    assert len(MlflowClient(store.tracking_uri).search_runs([summary["experiment_id"]])) == runs_before
    run = MlflowClient(store.tracking_uri).get_run(summary["best_run_id"])
    assert run.data.params["blas_threads"] == "1"


def test_pyfunc_model_round_trip_and_locked_test_set(searched, tmp_path):
    store, summary = searched
    p = repro(store, "--study", "repro", "--evaluate-test", "--seeds", "2", "--register", "repro-net", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    client = MlflowClient(store.tracking_uri)
    run = client.get_run(out["reproduction_run_id"])
    assert {"refit_test_cost", "refit_test_accuracy", "seeds_val_cost_mean", "seeds_val_cost_std",
            "seeds_test_accuracy_mean", "seeds_test_accuracy_std"} <= set(run.data.metrics)
    assert len(out["seeds"]["runs"]) == 2
    # The logged model is the refit: the reproduced run's configuration (as it logged it) trained here again,
    # on the whole training split with its seed; params.npz and the pyfunc model must hold that net.
    trial_run = client.get_run(summary["best_run_id"])
    cfg = RunConfig.from_dict(json.loads(trial_run.data.tags["dlcore.run_config"]))
    cfg = replace(cfg, train=replace(cfg.train, form="auto", blas_threads=int(trial_run.data.params["blas_threads"])))
    dataset = load_dataset(cfg)
    refit = train_run(cfg, make_split(cfg, dataset, np.arange(dataset.Y.shape[1]), None), evaluate_test=True)
    assert out["refit"] == refit.metrics
    W, b = refit.result.W, refit.result.b
    with np.load(client.download_artifacts(run.info.run_id, "params.npz", str(tmp_path)), allow_pickle=False) as z:
        assert sorted(z.files) == sorted(f"{name}{l}" for name in "Wb" for l in range(1, len(W) + 1))
        for l in range(1, len(W) + 1):
            np.testing.assert_array_equal(z[f"W{l}"], W[l - 1])
            np.testing.assert_array_equal(z[f"b{l}"], b[l - 1])
    mlflow.set_tracking_uri(store.tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    X = np.random.default_rng(1).standard_normal((17, 2))
    expected = nn.predict_proba(W, b, X.T, refit.arch)[0]
    np.testing.assert_array_equal(model.predict(X), expected)
    np.testing.assert_array_equal(model.predict(pd.DataFrame(X, columns=["x1", "x2"])), expected)
    assert client.get_registered_model("repro-net").name == "repro-net"


def _train_run(store_root, *sets):
    p = run_dlcore("train", "experiments/course/planar.toml", "--store", store_root, "--json",
                   *[a for s in sets for a in ("--set", s)])
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["run_id"]


def test_seeds_of_a_run_without_validation_report_train_and_test_metrics(tmp_path):
    store = Store(tmp_path / "s")
    run_id = _train_run(store.root, "data.name='moons'", "data.test_fraction=0.25", "train.iterations=200")
    p = repro(store, "--run-id", run_id, "--seeds", "2", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)["seeds"]["summary"]
    assert set(summary) == {"train_cost", "train_accuracy", "train_balanced_accuracy"}
    assert all(0 < s["mean"] for s in summary.values())
    p = repro(store, "--run-id", run_id, "--seeds", "2", "--evaluate-test")
    assert p.returncode == 0, p.stderr
    assert "2 seeds train_accuracy" in p.stdout and "2 seeds test_accuracy" in p.stdout


def _unwritable_experiment(client, tmp_path) -> str:
    """An experiment whose artifact location lies under a regular file: every artifact write fails."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return client.create_experiment(f"unwritable-{tmp_path.name}", artifact_location=(blocker / "artifacts").as_uri())


def test_a_reproduction_that_fails_ends_its_run_failed(searched, tmp_path):
    from dataclasses import replace

    from dlcore.reproduction import read_run, reproduce
    from dlcore.tracking.mlflow_runs import Tracker

    store, summary = searched
    tracker = Tracker(store.tracking_uri, store.artifact_root)
    logged = read_run(tracker, summary["best_run_id"])
    exp = _unwritable_experiment(tracker.client, tmp_path)
    with pytest.raises(OSError):
        reproduce(tracker, replace(logged, experiment_id=exp))
    [run] = tracker.client.search_runs([exp])
    assert run.data.tags["dlcore.kind"] == "reproduction" and run.info.status == "FAILED"


def test_log_model_that_raises_leaves_its_run_failed(searched, tmp_path):
    from dlcore.tracking.mlflow_runs import Tracker
    from dlcore.tracking.models import log_model

    store, _ = searched
    tracker = Tracker(store.tracking_uri, store.artifact_root)
    exp = _unwritable_experiment(tracker.client, tmp_path)
    run_id = tracker.start_run(exp, "model", {})
    arch = nn.Architecture((2, 1), "relu", "sigmoid", 1)
    with pytest.raises(OSError):
        log_model(tracker, run_id, [np.zeros((1, 2))], [np.zeros((1, 1))], arch)
    assert tracker.client.get_run(run_id).info.status == "FAILED"


def test_ctrl_c_during_a_reproduction_ends_its_run_killed(tmp_path):
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    store = Store(tmp_path / "s")
    run_id = _train_run(store.root, "train.iterations=20000", "train.blas_threads=1")
    proc = subprocess.Popen([sys.executable, "-m", "dlcore", "reproduce", "--run-id", run_id, "--seeds", "3",
                             "--store", str(store.root)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    query = ("select r.status from runs r join tags t on r.run_uuid = t.run_uuid "
             "where t.key = 'dlcore.kind' and t.value = 'reproduction'")
    try:
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:  # wait for the reproduction run, then Ctrl-C
            with sqlite3.connect(store.root / "mlflow.db") as db:
                if db.execute(query).fetchall():
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the reproduction ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err, err
    with sqlite3.connect(store.root / "mlflow.db") as db:
        assert db.execute(query).fetchall() == [("KILLED",)]
