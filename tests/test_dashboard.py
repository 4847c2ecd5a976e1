"""`dlcore dashboard`: optuna-dashboard on a store with a finished search, as a real process. The study
names its metric (the dashboard shows it instead of "Objective 0") and each trial's user attrs lead to
its MLflow run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from dlcore.session import run_search
from dlcore.store import Store as Backends
from dlcore.tracking.store import Store
from tests.conftest import ROOT, run_dlcore
from tests.search.test_search import tiny_space
from tests.services import free_port, wait_http


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def test_the_dashboard_shows_the_metric_by_name_and_links_each_trial_to_its_run(tmp_path):
    pytest.importorskip("optuna_dashboard", reason="pip install 'dlcore[dashboard]'")
    store = Store(tmp_path / "store")
    summary = run_search(tiny_space(tmp_path, name="dash", metric="val_accuracy"), Backends(store.root), 2)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dlcore", "dashboard", "--port", str(port), "--store",
                             str(store.root)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/studies", proc)
        study_id = next(s["study_id"] for s in get(f"{base}/api/studies")["study_summaries"] if s["study_name"] == "dash")
        detail = get(f"{base}/api/studies/{study_id}")
        assert detail["objective_names"] == ["val_accuracy"]
        for t in detail["trials"]:
            attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
            assert attrs["mlflow_run_path"] == f"#/experiments/{summary['experiment_id']}/runs/{attrs['mlflow_run_id']}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_dashboard_refuses_a_store_without_a_study(tmp_path):
    p = run_dlcore("dashboard", "--store", tmp_path / "none", "--port", free_port())
    assert p.returncode == 2 and "no Optuna storage at" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "none").exists()
