"""Scale-out and faults, for real: PostgreSQL and an MLflow tracking server on loopback, worker
processes, SIGKILL and Ctrl-C. Slow; CI runs them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, run_dlcore
from tests.services import mlflow_server, postgres

pytestmark = pytest.mark.slow

SPACE = """
[study]
name = "{name}"
trials = 6
seed = 3
report_every = 100
pruner = "none"
[data]
name = "moons"
n_samples = 600
validation_fraction = 0.25
[model]
hidden_activation = "tanh"
init = "he"
[train]
iterations = {iterations}
[space]
learning_rate = {{ low = 0.05, high = 1.0, log = true }}
n_layers = {{ low = 2, high = 3 }}
n_units = {{ low = 8, high = 32 }}
"""


def space_file(tmp_path, name, iterations=1500):
    f = tmp_path / f"{name}.toml"
    f.write_text(SPACE.format(name=name, iterations=iterations))
    return f


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("servers")
    with postgres() as pg:
        with mlflow_server(f"{pg}/mlflow", tmp / "artifacts") as tracking:
            yield f"{pg}/optuna", tracking


def check_linked(study, client, experiment_name, budget):
    """Optuna's trial count, MLflow's child-run count and the budget agree; every trial has exactly one
    run and none is left RUNNING."""
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == budget
    assert not [t for t in trials if t.state.name == "RUNNING"]
    exp = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    children = [r for r in runs if r.data.tags.get("dlcore.kind") == "trial"]
    assert len(children) == budget
    assert not [r for r in runs if r.info.status == "RUNNING"]
    by_number = {}
    for r in children:
        by_number.setdefault(int(r.data.tags["optuna.trial_number"]), []).append(r.info.run_id)
    assert all(len(v) == 1 for v in by_number.values()) and len(by_number) == budget
    for t in trials:
        assert by_number[t.number] == [t.user_attrs["mlflow_run_id"]]
    return {t.number: r for t in trials for r in children if r.info.run_id == t.user_attrs["mlflow_run_id"]}


def test_three_workers_on_postgres_and_a_tracking_server(servers, tmp_path):
    storage, tracking = servers
    p = run_dlcore("search", space_file(tmp_path, "pg3", 400), "--storage", storage, "--tracking-uri", tracking,
                   "--workers", 3, "--trials", 9, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert sum(out["counts"].values()) == 9 and out["workers"] == 3
    study = optuna.load_study(study_name="pg3", storage=storage)
    runs = check_linked(study, MlflowClient(tracking), "pg3", 9)
    assert len({t.user_attrs["worker"] for t in study.trials}) >= 2           # the work was shared
    assert {r.data.params["blas_threads"] for r in runs.values()} == {str(max(1, os.cpu_count() // 3))}
    assert all(r.data.tags["mlflow.parentRunId"] == out["parent_run_id"] for r in runs.values())
    # running `search` again raises the budget and continues the study
    p = run_dlcore("search", space_file(tmp_path, "pg3", 400), "--storage", storage, "--tracking-uri", tracking,
                   "--trials", 2, "--json")
    assert p.returncode == 0 and sum(json.loads(p.stdout)["counts"].values()) == 11


def wait_for_running_trial(storage, name, proc=None, timeout=180) -> dict:
    """The first RUNNING trial of study ``name`` that has its MLflow run, read with plain SQL: opening
    the storage through Optuna would race the search process creating the tables."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
    query = sqlalchemy.text(
        "SELECT t.trial_id, t.number, a.key, a.value_json FROM trials t JOIN studies s ON t.study_id = s.study_id "
        "JOIN trial_user_attributes a ON a.trial_id = t.trial_id WHERE s.study_name = :name AND t.state = 'RUNNING'")
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the search ended before a trial started: {proc.communicate()[1][-2000:]}")
            if not (storage.startswith("sqlite:///") and not os.path.exists(storage[len("sqlite:///"):])):
                try:
                    with engine.connect() as conn:
                        rows = conn.execute(query, {"name": name}).fetchall()
                except sqlalchemy.exc.DBAPIError:  # no tables yet
                    rows = []
                trials = {}
                for trial_id, number, key, value in rows:
                    trials.setdefault(number, {"number": number})[key] = json.loads(value)
                for t in trials.values():
                    if "mlflow_run_id" in t and "worker" in t:
                        return t
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise TimeoutError("no trial started")


def trial_state(storage, name, number) -> str:
    import sqlalchemy

    engine = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text(
                "SELECT t.state FROM trials t JOIN studies s ON t.study_id = s.study_id "
                "WHERE s.study_name = :name AND t.number = :number"), {"name": name, "number": number}).scalar_one()
    finally:
        engine.dispose()


def kill_mid_trial(storage, name, proc) -> dict:
    """SIGKILL the worker of a RUNNING trial. The worker is stopped (SIGSTOP) first and killed only if its
    trial is still RUNNING then, so a trial that ends between the look and the kill cannot fool the test."""
    while True:
        victim = wait_for_running_trial(storage, name, proc)
        pid = int(victim["worker"].rsplit(":", 1)[1])
        os.kill(pid, signal.SIGSTOP)
        try:
            running = trial_state(storage, name, victim["number"]) == "RUNNING"
        except Exception:  # noqa: BLE001 -- e.g. SQLite locked by the stopped worker: look again
            running = False
        if running:
            os.kill(pid, signal.SIGKILL)
            return victim
        os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("backend", ["postgres", "embedded"])
def test_sigkill_of_a_worker_mid_trial(servers, tmp_path, backend):
    storage, tracking = servers
    name = f"kill-{backend}"
    store = tmp_path / "store"
    args = ["--storage", storage, "--tracking-uri", tracking] if backend == "postgres" else ["--store", str(store)]
    read_storage = storage if backend == "postgres" else f"sqlite:///{store / 'optuna.db'}"
    env = {**os.environ, "DLCORE_HEARTBEAT_INTERVAL": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dlcore", "search", str(space_file(tmp_path, name, 3000)),
                             "--workers", "3", "--trials", "12", "--json", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = kill_mid_trial(read_storage, name, proc)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=read_storage)
    client = MlflowClient(tracking if backend == "postgres" else f"sqlite:///{store / 'mlflow.db'}")
    runs = check_linked(study, client, name, 12)                   # the others finished the budget
    killed = study.trials[victim["number"]]
    assert killed.state.name == "FAIL"
    assert runs[victim["number"]].info.status in ("FAILED", "KILLED")
    reason = runs[victim["number"]].data.tags["dlcore.state_reason"]
    # A process of this host that is gone: failed at once, by another worker's next ask or by the parent
    # seeing it end (one check, one wording), never left to the heartbeat, which covers other hosts
    # (tests/store/test_budget_and_dead.py::test_another_hosts_trial_is_left_to_the_heartbeat).
    assert reason.startswith(f"worker {victim['worker']} is gone (found by "), reason
    assert killed.user_attrs["state_reason"] == reason
    # running search again resumes the study
    p = run_dlcore("search", space_file(tmp_path, name, 200), "--trials", 2, "--json", *args, env=env)
    assert p.returncode == 0, p.stderr
    assert sum(json.loads(p.stdout)["counts"].values()) == 14


def test_ctrl_c_ends_the_trial_cleanly_and_closes_the_parent_run(tmp_path):
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "dlcore", "search", str(space_file(tmp_path, "intr", 200000)),
                             "--store", str(store)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trial = wait_for_running_trial(f"sqlite:///{store / 'optuna.db'}", "intr", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    study = optuna.load_study(study_name="intr", storage=f"sqlite:///{store / 'optuna.db'}")
    assert study.trials[trial["number"]].state.name == "FAIL"
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("intr").experiment_id])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    assert client.get_run(trial["mlflow_run_id"]).info.status == "FAILED"  # FAIL in Optuna: one table
    parent = [r for r in runs if r.data.tags.get("dlcore.kind") == "search"]
    assert len(parent) == 1 and parent[0].info.status == "KILLED"


def test_moons_with_two_workers_on_the_embedded_store(tmp_path):
    p = run_dlcore("search", "search_spaces/moons.toml", "--workers", 2, "--trials", 40, "--json",
                   "--store", tmp_path / "store")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    study = optuna.load_study(study_name="moons", storage=f"sqlite:///{tmp_path / 'store' / 'optuna.db'}")
    check_linked(study, MlflowClient(f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"), "moons", 40)
    assert sum(out["counts"].values()) == 40


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux's /proc")
def test_a_worker_of_a_search_starts_no_blas_thread_beyond_its_own(tmp_path):
    """A worker given one BLAS thread must not own idle OpenBLAS threads: after a threaded call they
    spin for a while, on the core the other worker trains on (two workers ran at 0.6x one)."""
    from dlcore.search.spawn import worker_env

    probe = ("import os, numpy as np; from threadpoolctl import threadpool_info; np.ones((600, 600)) @ np.ones((600, 600)); "
             "print([p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'], len(os.listdir('/proc/self/task')))")
    p = subprocess.run([sys.executable, "-c", probe], env=worker_env(1),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["[1]", "1"], p.stdout  # BLAS at one thread, and the process has one thread


def _workers_of(pid: int) -> list:
    """Live `dlcore worker` processes started by the search ``pid`` (their --parent-pid)."""
    found = []
    for d in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"worker" in argv and b"--parent-pid" in argv and argv[argv.index(b"--parent-pid") + 1] == str(pid).encode():
            found.append(int(d))
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads process command lines from Linux's /proc")
def test_a_search_with_workers_that_stops_before_its_trials_leaves_no_worker_and_no_store(tmp_path):
    """The workers start before the search has checked its input (search/spawn.py); a refused search
    ends them before it returns, and they write nothing."""
    space = space_file(tmp_path, "refused")
    space.write_text(space.read_text().replace('name = "moons"', 'name = "csv"\npath = "no-such.csv"'))
    p = subprocess.Popen([sys.executable, "-m", "dlcore", "search", str(space), "--workers", "2", "--store",
                          str(tmp_path / "store")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    seen = _workers_of(p.pid)  # started at once, while the search imports
    out, err = p.communicate(timeout=300)
    assert p.returncode != 0 and "no-such.csv" in err and "Traceback" not in err, err
    assert len(seen) == 2, seen
    assert _workers_of(p.pid) == [] and not any(os.path.exists(f"/proc/{w}") for w in seen)
    assert not (tmp_path / "store" / "optuna.db").exists() and not (tmp_path / "store" / "mlflow.db").exists()


def test_a_worker_joins_a_running_search_from_the_command_line(servers, tmp_path):
    storage, tracking = servers
    search = subprocess.Popen([sys.executable, "-m", "dlcore", "search", str(space_file(tmp_path, "join", 3000)),
                               "--storage", storage, "--tracking-uri", tracking, "--trials", "8", "--json"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_running_trial(storage, "join", search)
    worker = run_dlcore("worker", "--study", "join", "--storage", storage, "--tracking-uri", tracking)
    out, err = search.communicate(timeout=600)
    assert search.returncode == 0 and worker.returncode == 0, err + worker.stderr
    assert "ran" in worker.stderr
    study = optuna.load_study(study_name="join", storage=storage)
    runs = check_linked(study, MlflowClient(tracking), "join", 8)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2       # both took trials
    assert {r.data.tags["mlflow.parentRunId"] for r in runs.values()} == {json.loads(out)["parent_run_id"]}


def test_ctrl_c_in_the_terminal_on_a_search_with_workers(tmp_path):
    """A terminal's Ctrl-C signals the whole foreground process group; every started trial must end FAIL
    with its run closed, and the parent run KILLED."""
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "dlcore", "search", str(space_file(tmp_path, "intrw", 200000)),
                             "--workers", "2", "--trials", "4", "--store", str(store)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = f"sqlite:///{store / 'optuna.db'}"
    wait_for_running_trial(url, "intrw", proc)
    time.sleep(1.0)  # let the second worker start its trial too
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    study = optuna.load_study(study_name="intrw", storage=url)
    assert study.trials and {t.state.name for t in study.trials} == {"FAIL"}
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("intrw").experiment_id])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    children = {r.info.run_id for r in runs if r.data.tags.get("dlcore.kind") == "trial"}
    assert {t.user_attrs.get("mlflow_run_id") for t in study.trials} == children, err
    parent = [r for r in runs if r.data.tags.get("dlcore.kind") == "search"]
    assert len(parent) == 1 and parent[0].info.status == "KILLED"


def test_a_killed_search_leaves_no_run_running_once_searched_again(tmp_path):
    store = tmp_path / "store"
    env = {**os.environ, "DLCORE_HEARTBEAT_INTERVAL": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dlcore", "search", str(space_file(tmp_path, "dead", 200000)),
                             "--store", str(store)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"sqlite:///{store / 'optuna.db'}"
    victim = wait_for_running_trial(url, "dead", proc)
    proc.kill()
    proc.communicate()  # no wait for the heartbeat's grace: a dead process of this host is seen at once
    p = run_dlcore("search", space_file(tmp_path, "dead", 200), "--trials", 2, "--store", store, env=env)
    assert p.returncode == 0, p.stderr
    study = optuna.load_study(study_name="dead", storage=url)
    assert study.trials[victim["number"]].state.name == "FAIL"
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("dead").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parents = sorted((r for r in runs if r.data.tags.get("dlcore.kind") == "search"), key=lambda r: r.info.start_time)
    assert [r.info.status for r in parents] == ["KILLED", "FINISHED"]
    assert client.get_run(victim["mlflow_run_id"]).info.status == "FAILED"
