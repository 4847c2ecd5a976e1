"""search, best, report and ui from the command line, as a user runs them, on a real store."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import run_dlcore
from tests.search.test_space import BAD


@pytest.fixture(scope="module")
def planar_search(tmp_path_factory):
    """The issue's check: in an empty directory, 20 trials of the shipped planar space."""
    cwd = tmp_path_factory.mktemp("empty")
    env = {"DLCORE_STORE": ""}  # the default ./mlruns of the working directory
    p = run_dlcore("search", "search_spaces/planar.toml", "--trials", 20, "--json", cwd=cwd, env=env)
    assert p.returncode == 0, p.stderr
    return cwd, json.loads(p.stdout)


def test_planar_search_leaves_one_parent_and_20_linked_children(planar_search):
    from mlflow.tracking import MlflowClient

    cwd, out = planar_search
    assert out["storage"] == f"sqlite:///{cwd / 'mlruns' / 'optuna.db'}"
    assert out["tracking_uri"] == f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}"
    assert sum(out["counts"].values()) == 20 and out["best_run_id"] and out["best_params"]
    client = MlflowClient(out["tracking_uri"])
    runs = client.search_runs([out["experiment_id"]], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("dlcore.kind") == "search"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == out["parent_run_id"]]
    assert len(parents) == 1 and len(children) == 20 and len(runs) == 21
    for r in children:
        assert {"learning_rate", "n_layers", "n_units_l1", "init_scale", "seed", "layer_dims"} <= set(r.data.params)
        assert client.get_metric_history(r.info.run_id, "cost") and client.get_metric_history(r.info.run_id, "val_cost")
        assert r.info.status in ("FINISHED", "KILLED")


def test_best_and_report(planar_search, tmp_path):
    cwd, out = planar_search
    p = run_dlcore("best", "--study", "planar", "--json", cwd=cwd, env={"DLCORE_STORE": ""})
    assert p.returncode == 0, p.stderr
    best = json.loads(p.stdout)
    assert best["best_value"] == out["best_value"] and best["run_id"] == out["best_run_id"]
    csv = tmp_path / "top.csv"
    p = run_dlcore("report", "--study", "planar", "--top", 5, "--csv", csv, "--store", cwd / "mlruns")
    assert p.returncode == 0, p.stderr
    lines = csv.read_text().splitlines()
    assert len(lines) == 6 and lines[0].startswith("number,state,value,params_init_scale")
    assert out["best_run_id"] in lines[1]


@pytest.mark.parametrize("args,message", [
    (["best", "--study", "nope"], "no dlcore store at"),
    (["report", "--study", "nope"], "no dlcore store at"),
    (["search", "search_spaces/planar.toml", "--study", "a'b"], "--study \"a'b\": a study name must"),
    (["search", "search_spaces/planar.toml", "--trials", "0"], "--trials must be >= 1"),
    (["search", "search_spaces/cat.toml"], "train_catvnoncat.h5: no such file"),
    (["ui"], "no MLflow store at"),
])
def test_cli_errors_create_nothing(tmp_path, args, message):
    store = tmp_path / "fresh"
    p = run_dlcore(*args, env={"DLCORE_STORE": str(store), "DLCORE_DATA_DIR": str(tmp_path / "none")})
    assert p.returncode == 2 and message in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not store.exists()


def test_unknown_study_is_named(planar_search):
    cwd, _ = planar_search
    p = run_dlcore("best", "--study", "nope", "--store", cwd / "mlruns")
    assert p.returncode == 2 and "no study 'nope'" in p.stderr and "planar" in p.stderr


@pytest.mark.parametrize("text,message", BAD[:12])
def test_malformed_space_files_from_the_cli(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    store = tmp_path / "store"
    p = run_dlcore("search", f, "--store", store)
    assert p.returncode == 2 and str(f) in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not store.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_serves_the_runs_over_its_rest_api(planar_search):
    cwd, out = planar_search
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dlcore", "ui", "--port", str(port), "--store", str(cwd / "mlruns")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(f"UI did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
                time.sleep(0.5)
        req = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", method="POST",
                                     data=json.dumps({"experiment_ids": [out["experiment_id"]], "max_results": 100}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            runs = json.loads(r.read())["runs"]
        assert len(runs) == 21
        ids = {r["info"]["run_id"] for r in runs}
        assert out["parent_run_id"] in ids and out["best_run_id"] in ids
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
