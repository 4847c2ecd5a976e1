"""search, best, report and ui from the command line, as a user runs them, on a real store."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pandas as pd
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
    # integer params print as integers, also in a column some trials lack (n_layers 2..4: n_units_l2 is absent at 2)
    p = run_dlcore("report", "--study", "planar", "--csv", tmp_path / "all.csv", "--store", cwd / "mlruns")
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(tmp_path / "all.csv", dtype=str, keep_default_na=False)
    ints = [c for c in table.columns if c == "params_n_layers" or c.startswith("params_n_units_l")]
    assert any((table[c] == "").any() and (table[c] != "").any() for c in ints)  # else this checks nothing
    assert all(re.fullmatch(r"\d*", v) for c in ints for v in table[c]), table[ints]
    shown = [row.split() for row in p.stdout.splitlines()[1:]]  # after "wrote 20 trials to ..."
    cols = [i for i, name in enumerate(shown[0]) if name in ints]
    assert len(shown) == 21 and len(cols) == len(ints)
    assert all(re.fullmatch(r"\d+|<NA>", row[i]) for row in shown[1:] for i in cols), p.stdout


def test_trials_table_keeps_integer_params_integers():
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    from dlcore.search.report import trials_table

    study = optuna.create_study()
    dists = {"learning_rate": FloatDistribution(0.01, 1.0, log=True), "n_layers": IntDistribution(1, 3),
             "n_units_l1": IntDistribution(2, 8), "n_units_l2": IntDistribution(2, 8)}
    trials = [{"learning_rate": 0.1, "n_layers": 1},
              {"learning_rate": 0.2, "n_layers": 3, "n_units_l1": 8, "n_units_l2": 5},
              {"learning_rate": 1.0, "n_layers": 2, "n_units_l1": 2}]
    for params in trials:
        study.add_trial(optuna.trial.create_trial(params=params, distributions={k: dists[k] for k in params},
                                                  value=params["learning_rate"]))
    df = trials_table(study)
    for name in ("params_n_layers", "params_n_units_l1", "params_n_units_l2"):
        assert df[name].dtype == "Int64", (name, df[name].dtype)
    assert df["params_learning_rate"].dtype == "float64"
    assert df["params_n_units_l2"].tolist()[1] == 5 and df["params_n_units_l2"].isna().tolist() == [True, False, True]
    csv = df.to_csv(index=False).splitlines()
    assert csv[1].startswith("0,COMPLETE,0.1,0.1,1,,,") and csv[3].startswith("2,COMPLETE,1.0,1.0,2,2,,"), csv
    assert "8.0" not in df.to_string() and "5.0" not in df.to_string()


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


class UI:
    """``dlcore ui`` in its own process group, up once /health answers; stopped on exit."""

    def __init__(self, store, port, *args):
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "dlcore", "ui", "--port", str(port), "--store", str(store),
                                      *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)

    def __enter__(self):
        self.first_line = self.proc.stdout.readline()
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"UI did not start: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")
                time.sleep(0.5)

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


def test_ui_serves_the_runs_over_its_rest_api(planar_search):
    cwd, out = planar_search
    with UI(cwd / "mlruns", _free_port()) as ui:
        assert ui.base in ui.first_line
        req = urllib.request.Request(f"{ui.base}/api/2.0/mlflow/runs/search", method="POST",
                                     data=json.dumps({"experiment_ids": [out["experiment_id"]], "max_results": 100}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            runs = json.loads(r.read())["runs"]
        assert len(runs) == 21
        ids = {r["info"]["run_id"] for r in runs}
        assert out["parent_run_id"] in ids and out["best_run_id"] in ids


def _outside_address():
    """This machine's address on its default route, if it has one other than loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def _status(url, host=None):
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_ui_binds_loopback_unless_told_and_then_warns(planar_search):
    cwd, _ = planar_search
    outside = _outside_address()
    with UI(cwd / "mlruns", _free_port()) as ui:
        os.set_blocking(ui.proc.stderr.fileno(), False)
        assert "exposes the UI" not in (ui.proc.stderr.read() or "")
        if outside:  # bound to 127.0.0.1 only: the machine's other address does not answer
            with pytest.raises(OSError):
                socket.create_connection((outside, ui.port), timeout=5).close()
    with UI(cwd / "mlruns", _free_port(), "--host", "0.0.0.0") as ui:
        os.set_blocking(ui.proc.stderr.fileno(), False)
        assert "exposes the UI" in (ui.proc.stderr.read() or "")
        assert _status(f"{ui.base}/health") == 200
        # MLflow's DNS-rebinding check stays on: a foreign Host header is refused
        assert _status(f"{ui.base}/api/2.0/mlflow/experiments/search?max_results=1", "evil.example.com") in (400, 403)
