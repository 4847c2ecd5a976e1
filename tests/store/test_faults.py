"""Faults give one line and leave consistent records (issue 9, items 4, 6 and 7).

Every scenario runs the command line in real subprocesses on real stores in tmp_path, with real
signals, and ends with ``check_store`` (Optuna's trials and MLflow's runs agree by one state table)
and, where the fault must change nothing, a byte-for-byte comparison of both databases.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.store.integrity import check_store

PLANAR = ROOT / "experiments" / "course" / "planar.toml"
SPACE = """
[study]
name = "{name}"
metric = "{metric}"
trials = {trials}
seed = 7
report_every = 25
[data]
{data}
validation_fraction = 0.25
[model]
{model}
[train]
iterations = {iterations}
[space]
learning_rate = {{ low = 0.05, high = 1.0, log = true }}
"""
MOONS = 'name = "moons"\nn_samples = 120'
TANH = 'hidden_activation = "tanh"\nhidden_units = [3]\ninit = "he"'


def space_file(d: Path, name: str, metric="val_cost", trials=2, data=MOONS, model=TANH, iterations=100) -> Path:
    f = d / f"{name}.toml"
    f.write_text(SPACE.format(name=name, metric=metric, trials=trials, data=data, model=model, iterations=iterations))
    return f


def start(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlcore", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def finish(proc: subprocess.Popen, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_all(*commands, timeout=600) -> list:
    """Run independent commands at once (each its own process) and return their results in order."""
    return [finish(p, timeout) for p in [start(*c) for c in commands]]


def one_line_error(p, *texts):
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("dlcore: error: "), p.stderr[-3000:]
    for text in texts:
        assert text in lines[0], lines[0]


def snapshot(root: Path) -> dict:
    """Both databases' bytes, and their trial and run counts read directly."""
    out = {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in ("optuna.db", "mlflow.db")}
    with sqlite3.connect(f"file:{root / 'optuna.db'}?mode=ro", uri=True) as o:
        out["trials"] = o.execute("select count(*) from trials").fetchone()[0]
    with sqlite3.connect(f"file:{root / 'mlflow.db'}?mode=ro", uri=True) as m:
        out["runs"] = m.execute("select count(*) from runs").fetchone()[0]
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A store holding study 'keep' (2 trials), made by the command line."""
    d = tmp_path_factory.mktemp("faults")
    p = finish(start("search", space_file(d, "keep"), "--store", d / "store"))
    assert p.returncode == 0, p.stderr[-3000:]
    assert check_store(d / "store", "keep")["trials"] == 2
    return d, d / "store"


def copy_store(base_store: Path, to: Path) -> Path:
    shutil.copytree(base_store, to, symlinks=True)
    return to


def test_refusals_change_nothing(base, tmp_path):
    """In-memory storages, a cost curve beyond memory, an empty experiment name, an unbounded --trials,
    a study name ending in a space and report --csv over a file: one line each, before anything is written."""
    d, store = base
    before = snapshot(store)
    csv = tmp_path / "mine.csv"
    csv.write_text("my data\n")
    space = d / "keep.toml"
    results = run_all(
        ["search", space, "--store", store, "--storage", "sqlite:///:memory:"],
        ["search", space, "--store", store, "--tracking-uri", "sqlite:///:memory:"],
        ["train", PLANAR, "--store", store, "--set", "train.iterations=1000000000000"],
        ["train", PLANAR, "--store", store, "--set", "train.iterations=5", "--experiment", ""],
        ["search", space, "--store", store, "--trials", "1000001"],
        ["search", space, "--store", store, "--study", "keep "],
        ["report", "--study", "keep", "--store", store, "--csv", csv])
    expected = [("Optuna storage sqlite:///:memory: is in memory", "workers and later commands could never see"),
                ("--tracking-uri sqlite:///:memory: is in memory",),
                ("train.iterations = 1000000000000", "7.3 TiB"),
                ("--experiment ''", "cannot be empty"),
                ("--trials 1000001", "at most 1000000"),
                ("--study 'keep '", "not end with a space"),
                (f"--csv {csv}: the file exists", "--force")]
    for p, texts in zip(results, expected):
        one_line_error(p, *texts)
    assert csv.read_text() == "my data\n"
    assert snapshot(store) == before
    assert check_store(store, "keep")["trials"] == 2


def corrupt(path: Path, how: str):
    if how == "garbage":  # not a database at all
        path.write_bytes(np.random.default_rng(0).bytes(8192))
    else:  # a database whose second page is damaged
        # Fold the write-ahead log in first: a newer copy of the page in the -wal would otherwise stand in
        # for the damaged one (and mend it at the next checkpoint), so whether the store is corrupt at
        # all would depend on when SQLite last checkpointed.
        con = sqlite3.connect(path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        con.close()
        with open(path, "r+b") as f:
            f.seek(4096)
            f.write(b"\xff" * 4096)


@pytest.mark.parametrize("name,how", [("mlflow.db", "garbage"), ("mlflow.db", "page"), ("optuna.db", "garbage"),
                                      ("optuna.db", "page")])
def test_a_corrupt_database_is_one_line_and_nothing_changes(base, tmp_path, name, how):
    d, original = base
    kept = snapshot(original)
    store = copy_store(original, tmp_path / "store")
    corrupt(store / name, how)
    before = {n: (store / n).read_bytes() for n in ("optuna.db", "mlflow.db")}
    commands = [["search", d / "keep.toml", "--store", store], ["reproduce", "--study", "keep", "--store", store]]
    if name == "optuna.db":
        commands += [["best", "--study", "keep", "--store", store], ["report", "--study", "keep", "--store", store]]
    for p in run_all(*commands):
        one_line_error(p, f"{store / name}: not a readable SQLite database")
    assert {n: (store / n).read_bytes() for n in before} == before
    assert snapshot(original) == kept
    check_store(original, "keep")


@pytest.fixture
def read_only(base, tmp_path):
    """The base store seen through a read-only bind mount (root ignores file modes, not a read-only mount)."""
    _, store = base
    view = tmp_path / "ro"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(store), str(view)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount a read-only view of the store: {mounted.stderr.strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True, text=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount the view read-only: {ro.stderr.strip()}")
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_a_read_only_store_is_read_and_never_written(base, read_only):
    d, store = base
    before = snapshot(store)
    best, report, repro, search, train = run_all(
        ["best", "--study", "keep", "--store", read_only, "--json"],
        ["report", "--study", "keep", "--store", read_only],
        ["reproduce", "--study", "keep", "--store", read_only, "--json"],
        ["search", d / "keep.toml", "--store", read_only],
        ["train", PLANAR, "--store", read_only, "--set", "train.iterations=5"])
    assert best.returncode == 0 and json.loads(best.stdout)["best_trial"] in (0, 1), best.stderr[-3000:]
    assert report.returncode == 0 and "COMPLETE" in report.stdout, report.stderr[-3000:]
    out = json.loads(repro.stdout)
    assert repro.returncode == 0 and out["verdict"] == "identical" and out["reproduction_run_id"] is None, repro.stderr
    one_line_error(search, f"{read_only / 'optuna.db'}: read-only")
    one_line_error(train, f"{read_only / 'mlflow.db'}: read-only")
    assert snapshot(store) == before
    check_store(store, "keep")


def wait_for_running_trial(db: Path, name: str, proc, timeout=300) -> dict:
    """The first RUNNING trial of study ``name`` whose MLflow run exists, read with plain SQL."""
    query = ("select t.number, a.key, a.value_json from trials t join studies s on t.study_id = s.study_id "
             "join trial_user_attributes a on a.trial_id = t.trial_id where s.study_name = ? and t.state = 'RUNNING'")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the search ended before a trial started: {proc.communicate()[1][-3000:]}"
        rows = []
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
                    rows = c.execute(query, (name,)).fetchall()
            except sqlite3.OperationalError:  # tables not made yet
                pass
        trial = {}
        for number, key, value in rows:
            trial.setdefault(number, {"number": number})[key] = json.loads(value)
        for t in trial.values():
            if "mlflow_run_id" in t:
                return t
        time.sleep(0.1)
    raise AssertionError("no trial started")


@pytest.mark.parametrize("second", [None, 0.05, 0.5], ids=["one Ctrl-C", "two at once", "two apart"])
def test_an_interrupted_search_closes_every_record(tmp_path, second):
    """Ctrl-C (once, or twice: the second while the first is being handled) mid-trial: the trial is FAIL and its
    run FAILED (one table), the parent run KILLED, nothing RUNNING, one line."""
    store = tmp_path / "store"
    proc = start("search", space_file(tmp_path, "intr", trials=3, iterations=400000), "--store", store)
    try:
        trial = wait_for_running_trial(store / "optuna.db", "intr", proc)
        proc.send_signal(signal.SIGINT)
        if second is not None:
            time.sleep(second)  # only varies the moment of the second signal; nothing asserts on time
            proc.send_signal(signal.SIGINT)
        p = finish(proc)
    finally:
        proc.kill()
    assert p.returncode == 130 and p.stderr.strip().splitlines()[-1] == "dlcore: interrupted", p.stderr[-12000:]
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr
    counts = check_store(store, "intr")
    assert counts["counts"] == {"FAIL": 1} and counts["parents"] == 1
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    run = client.get_run(trial["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["optuna.trial_state"] == "FAIL"
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "KILLED"


def handles_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has installed a handler for SIGTERM (its SigCgt mask), i.e. dlcore's own."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(caught >> (signal.SIGTERM - 1) & 1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_at_start_up_is_one_line(tmp_path, sig):
    """A signal at several moments of start-up (imports, loading the data, opening the store): one line,
    exit 130, never "Exception ignored ... KeyboardInterrupt"; a store it began is left consistent."""
    space = space_file(tmp_path, "boot", iterations=400000)
    for k, delay in enumerate([0.0, 0.3, 1.0, 3.0]):
        store = tmp_path / f"store{k}"
        proc = start("search", space, "--store", store, "--no-track")
        try:
            while not handles_sigterm(proc.pid):  # the handler is in place: from here on it is dlcore's moment
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                time.sleep(0.01)
            time.sleep(delay)  # varies the moment only
            proc.send_signal(sig)
            p = finish(proc)
        finally:
            proc.kill()
        assert p.returncode == 130, (delay, p.returncode, p.stderr[-3000:])
        assert p.stderr.strip().splitlines() == ["dlcore: interrupted"], (delay, p.stderr[-3000:])
        if (store / "optuna.db").exists():
            with sqlite3.connect(f"file:{store / 'optuna.db'}?mode=ro", uri=True) as c:
                studies = c.execute("select count(*) from studies").fetchone()[0] if c.execute(
                    "select count(*) from sqlite_master where name = 'studies'").fetchone()[0] else 0
            if studies:
                check_store(store, "boot", tracked=False)


def group_alive(pgid: int) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def children(pid: int) -> list:
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(p))
    return out


def test_sigterm_to_ui_stops_its_server(base):
    _, store = base
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start("ui", "--store", store, "--port", port)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # wait until the server listens
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        server = children(proc.pid)
        assert len(server) == 1
        pgid = os.getpgid(server[0])
        assert pgid == server[0] and group_alive(pgid)
        proc.send_signal(signal.SIGTERM)
        p = finish(proc, timeout=120)
    finally:
        proc.kill()
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert not group_alive(pgid)  # uvicorn too: nothing of the server is left
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_sigkilled_trial_is_named_as_such_by_reproduce(tmp_path):
    store = tmp_path / "store"
    proc = start("search", space_file(tmp_path, "dead", iterations=400000), "--store", store)
    try:
        trial = wait_for_running_trial(store / "optuna.db", "dead", proc)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    before = snapshot(store)
    p, = run_all(["reproduce", "--run-id", trial["mlflow_run_id"], "--store", store])
    one_line_error(p, f"is the run of trial {trial['number']} of study 'dead', whose process died before logging it "
                      "(status RUNNING)")
    assert snapshot(store) == before  # closing a dead process's records is the next search's job (its own test)


def test_a_nan_objective_is_a_fail_with_its_reason(tmp_path):
    """A validation example the net cannot map to a finite output (features of 1e200): the objective val_r2
    is not finite, so the trial is FAIL in Optuna and its run FAILED, with the reason on both, said once."""
    from dlcore.data import split_indices

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X @ np.array([1.0, -2.0]) + 0.1 * rng.normal(size=40)
    _, val = split_indices(y.reshape(1, -1), 0.25, 0)
    X[val[0]] = 1e200
    np.savez(tmp_path / "reg.npz", X=X, Y=y)
    space = space_file(tmp_path, "nan", metric="val_r2", data=f'name = "npz"\npath = "{tmp_path / "reg.npz"}"',
                       model='output_activation = "linear"\ninit = "he"')
    store = tmp_path / "store"
    p = finish(start("search", space, "--store", store))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    warnings = [line for line in p.stderr.splitlines() if "objective val_r2 is" in line]
    assert len(warnings) == 2 and all("the net's validation outputs are not finite" in w for w in warnings), p.stderr
    counts = check_store(store, "nan")
    assert counts["counts"] == {"FAIL": 2} and counts["runs"] == 2
    import optuna
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    for t in optuna.load_study(study_name="nan", storage=f"sqlite:///{store / 'optuna.db'}").trials:
        run = client.get_run(t.user_attrs["mlflow_run_id"])
        assert t.user_attrs["state_reason"].startswith("objective val_r2 is ")
        assert run.data.tags["dlcore.state_reason"] == t.user_attrs["state_reason"]
        assert run.data.tags["optuna.trial_state"] == "FAIL" and run.info.status == "FAILED"
