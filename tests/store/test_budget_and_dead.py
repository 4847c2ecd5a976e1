"""Concurrent searches add their budgets; a dead process's trials are closed by the next one at once.

Real `dlcore` processes on a real embedded store in tmp_path, real SIGKILL; after every scenario
``check_store`` asserts that Optuna and MLflow agree, and the counts are asserted exactly.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import sqlalchemy

from tests.conftest import ROOT, run_dlcore
from tests.store.integrity import check_store, open_study
from tests.test_distributed import kill_mid_trial, space_file, wait_for_running_trial

pytestmark = pytest.mark.slow


def start_search(space, store, *args, env=None, out=None):
    """``dlcore search SPACE --store STORE ARGS --json`` in the background; output to files when given
    (a SIGKILLed search's workers keep its pipes open)."""
    io = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE) if out is None else dict(
        stdout=open(out.with_suffix(".out"), "w"), stderr=open(out.with_suffix(".err"), "w"))
    return subprocess.Popen([sys.executable, "-m", "dlcore", "search", str(space), "--store", str(store), "--json",
                             *map(str, args)], cwd=ROOT, env={**os.environ, **(env or {})}, text=True, **io)


def finished(proc) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out)


def started(store, name) -> int:
    return sum(t.state.name != "WAITING" for t in open_study(store, name).get_trials(deepcopy=False))


def test_two_searches_at_once_on_an_existing_study_add_their_trials(tmp_path):
    store, space = tmp_path / "store", space_file(tmp_path, "both", 1500)
    p = run_dlcore("search", space, "--store", store, "--trials", 2)
    assert p.returncode == 0, p.stderr
    a, b = (start_search(space, store, "--trials", 4) for _ in range(2))
    outs = [finished(a), finished(b)]
    for out in outs:  # each prints the study's true counts and budget, not its own
        assert sum(out["counts"].values()) == 10 and out["budget"] == 10
    c = check_store(store, "both")
    assert (c["trials"], c["runs"], c["parents"]) == (10, 10, 3)
    assert open_study(store, "both").user_attrs["searches"] == {}  # both claims withdrawn


# How creating one store from two processes at once fails until the creation lock lands (issue 9 item 2,
# store creation, another branch): Optuna's or MLflow's schema built twice, or the experiment created twice.
CREATION_RACE = re.compile(r"alembic|already exists|duplicate column|CommandError")


def test_two_searches_at_once_on_a_fresh_store_add_their_trials(tmp_path):
    store, space = tmp_path / "store", space_file(tmp_path, "fresh", 1500)
    a, b = (start_search(space, store, "--trials", 4) for _ in range(2))
    done = [(p, *p.communicate(timeout=600)) for p in (a, b)]
    raced = [err for p, _, err in done if p.returncode != 0 and CREATION_RACE.search(err)]
    if raced:  # only this known failure is excused; any other fails below
        pytest.xfail(f"the fresh store's creation raced (issue 9 item 2, not yet here): {raced[0].strip()[-300:]}")
    for p, _, err in done:
        assert p.returncode == 0, err
    outs = [json.loads(out) for _, out, _ in done]
    for out in outs:
        assert sum(out["counts"].values()) == 8 and out["budget"] == 8
    c = check_store(store, "fresh")
    assert (c["trials"], c["runs"], c["parents"]) == (8, 8, 2)


def test_a_search_after_a_sigkilled_one_fails_its_trial_at_once(tmp_path):
    """No heartbeat grace: the dead search was a process of this host, so the next one fails its trial
    and closes its run before it counts the study's trials; the dead search's unspent trials are not
    inherited (--trials 2 runs 2)."""
    store = tmp_path / "store"
    proc = start_search(space_file(tmp_path, "dead", 200000), store)
    url = f"sqlite:///{store / 'optuna.db'}"
    victim = kill_mid_trial(url, "dead", proc)
    proc.communicate()
    before = started(store, "dead")
    out = finished(start_search(space_file(tmp_path, "dead", 200), store, "--trials", 2,
                                env={"DLCORE_HEARTBEAT_INTERVAL": "600"}))  # the heartbeat cannot be what fails it
    assert sum(out["counts"].values()) == before + 2 and out["budget"] == before + 2
    counts = check_store(store, "dead")
    assert counts["trials"] == counts["runs"] == before + 2 and counts["parents"] == 2
    trial = open_study(store, "dead").trials[victim["number"]]
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["state_reason"].startswith(f"worker {victim['worker']} is gone (found by ")


def test_another_hosts_trial_is_left_to_the_heartbeat(tmp_path):
    """A RUNNING trial whose owner names another host cannot be asked whether it lives: a search leaves
    it RUNNING while its heartbeat is fresh, and fails it (reason stored) once the grace has passed."""
    store = tmp_path / "store"
    proc = start_search(space_file(tmp_path, "far", 200000), store)
    url = f"sqlite:///{store / 'optuna.db'}"
    victim = kill_mid_trial(url, "far", proc)
    proc.communicate()
    study = open_study(store, "far")
    trial = study.trials[victim["number"]]
    study._storage.set_trial_user_attr(trial._trial_id, "worker", "elsewhere.invalid:1")  # as if run elsewhere
    before = started(store, "far")
    space = space_file(tmp_path, "far", 200)
    finished(start_search(space, store, "--trials", 1, env={"DLCORE_HEARTBEAT_INTERVAL": "600"}))
    assert open_study(store, "far").trials[victim["number"]].state.name == "RUNNING"
    wait_for_stale_heartbeat(url, trial._trial_id, older_than=3)
    out = finished(start_search(space, store, "--trials", 1, env={"DLCORE_HEARTBEAT_INTERVAL": "1"}))
    assert sum(out["counts"].values()) == before + 2
    counts = check_store(store, "far")
    assert counts["trials"] == counts["runs"] == before + 2 and counts["parents"] == 3
    trial = open_study(store, "far").trials[victim["number"]]
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["state_reason"].startswith("worker elsewhere.invalid:1 stopped beating (failed by the heartbeat")


def wait_for_stale_heartbeat(url, trial_id, older_than, timeout=120):
    """Until the trial's last heartbeat is ``older_than`` seconds old by the database's clock, which is
    the clock Optuna's grace period is measured by."""
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    query = sqlalchemy.text("SELECT strftime('%s', 'now') - strftime('%s', heartbeat) FROM trial_heartbeats "
                            "WHERE trial_id = :id")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(query, {"id": trial_id}).scalar_one() > older_than:
                    return
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise TimeoutError(f"trial {trial_id}'s heartbeat is not {older_than} s old after {timeout} s")


def children_of(pid) -> list:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def running(pid) -> bool:
    """Whether ``pid`` runs (an exited process not yet reaped, a zombie, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_until_ended(pids, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if running(p)], f"workers {pids} still run {timeout} s after their search died"


def test_workers_of_a_sigkilled_search_stop_after_their_trial(tmp_path):
    store = tmp_path / "store"
    space = space_file(tmp_path, "orphans", 6000)
    proc = start_search(space, store, "--workers", 2, "--trials", 20, out=tmp_path / "search")
    url = f"sqlite:///{store / 'optuna.db'}"
    wait_for_running_trial(url, "orphans", proc)
    workers = children_of(proc.pid)
    assert len(workers) == 2, workers
    proc.kill()
    proc.wait()
    wait_until_ended(workers)
    err = (tmp_path / "search.err").read_text()
    assert err.count("is gone; stopped") == 2, err
    before = started(store, "orphans")
    assert before < 20  # they stopped, the budget unspent
    out = finished(start_search(space_file(tmp_path, "orphans", 200), store, "--trials", 1))
    assert sum(out["counts"].values()) == before + 1
    c = check_store(store, "orphans")
    assert (c["trials"], c["runs"], c["parents"]) == (before + 1, before + 1, 2)
    assert "FAIL" not in c["counts"]  # the workers ended their trials, none was left to be failed


def test_a_corrupt_mlflow_db_leaves_the_study_as_it_was(tmp_path):
    """The MLflow store is opened before the budget is raised: failing there writes nothing to optuna.db."""
    store, space = tmp_path / "store", space_file(tmp_path, "corrupt", 200)
    p = run_dlcore("search", space, "--store", store, "--trials", 1)
    assert p.returncode == 0, p.stderr
    before = open_study(store, "corrupt")
    attrs, trials = before.user_attrs, len(before.trials)
    (store / "mlflow.db").write_bytes(b"this is not a database" * 100)
    p = run_dlcore("search", space, "--store", store, "--trials", 3)
    assert p.returncode != 0, p.stderr  # its one-line message is another change's (issue 9 item 6)
    after = open_study(store, "corrupt")
    assert after.user_attrs == attrs and len(after.trials) == trials == 1
