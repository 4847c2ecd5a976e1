"""The store's files: created safely by concurrent processes, never left half-built by a signal,
refused in one line when half-built, and self-contained after ``cp -a`` or ``mv``.

Everything runs the CLI in real subprocesses on a real store in tmp_path; signals are real; the
databases are read back through SQLite, Optuna and MLflow themselves.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_dlcore
from tests.store.integrity import check_store

TINY = """
[study]
name = "tiny"
metric = "val_cost"
trials = 1
seed = 0
sampler = "tpe"
pruner = "none"
report_every = 50

[data]
name = "planar"
validation_fraction = 0.2
test_fraction = 0.2

[model]
hidden_activation = "tanh"
output_activation = "sigmoid"
init = "constant"

[train]
iterations = 200
dtype = "float64"

[space]
learning_rate = { low = 0.01, high = 5.0, log = true }
n_layers = { low = 2, high = 3 }
n_units = { low = 2, high = 8, log = true }
init_scale = { low = 0.001, high = 1.0, log = true }
"""


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("space") / "tiny.toml"
    path.write_text(TINY)
    return path


def dlcore(*args, env=None):
    return run_dlcore(*args, env={"DLCORE_STORE": "", **(env or {})})


def popen(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "dlcore", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def search(space, store, trials=1):
    return ok(dlcore("search", space, "--trials", trials, "--store", store))


def snapshot(root: Path, data_only: bool = False) -> dict:
    """Every file under ``root`` with its size and modification time; ``data_only`` leaves out what a
    SQLite reader of a WAL database touches without writing data: the -shm index in shared memory and
    an empty -wal."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(d, f))
            if data_only and (f.endswith("-shm") or (f.endswith("-wal") and st.st_size == 0)):
                continue
            out[os.path.relpath(os.path.join(d, f), root)] = (st.st_size, st.st_mtime_ns)
    return out


def assert_whole(store: Path, study: str | None = "tiny") -> dict:
    """Both databases present, complete (by the libraries' own schema checks) and alone: no temporary
    file of a builder left, no write-ahead log of a file that is not there."""
    import optuna
    from mlflow.store.db.utils import _get_latest_schema_revision
    from mlflow.tracking import MlflowClient

    names = {p.name for p in store.iterdir()}
    assert {"optuna.db", "mlflow.db", "dlcore-store.json", "artifacts"} <= names, names
    assert not [n for n in names if ".building-" in n], names
    with sqlite3.connect(store / "mlflow.db") as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(_get_latest_schema_revision(),)]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(f"sqlite:///{store / 'optuna.db'}", skip_table_creation=True)
    studies = optuna.get_all_study_names(storage)
    storage.engine.dispose()
    assert MlflowClient(f"sqlite:///{store / 'mlflow.db'}").search_experiments()
    if study is None:
        return {}
    assert study in studies, studies
    return check_store(store, study)


def file_uris(db: Path) -> list:
    """Every value in any text column of mlflow.db that is a file: URI."""
    out = []
    with sqlite3.connect(db) as con:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for _, col, kind, *_ in con.execute(f'PRAGMA table_info("{table}")').fetchall():
                out += [(table, col, v) for (v,) in con.execute(
                    f'SELECT "{col}" FROM "{table}" WHERE CAST("{col}" AS TEXT) LIKE \'file:%\'')]
    return out


# -- creation ---------------------------------------------------------------------------------------

def test_concurrent_processes_create_one_fresh_store(space, tmp_path):
    """Three searches (each its own study: concurrent searches of one study are item 1's) and a train."""
    store = tmp_path / "fresh"
    procs = [popen("search", space, "--trials", 1, "--study", name, "--store", store) for name in "abc"]
    procs.append(popen("train", ROOT / "experiments/course/planar.toml", "--set", "train.iterations=50",
                       "--store", store))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out + err
        assert "Traceback" not in err, err
    for name in "abc":
        assert assert_whole(store, name) == {"trials": 1, "counts": {"COMPLETE": 1}, "runs": 1, "parents": 1}
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "a", "b", "c", "dlcore-train"]
    assert len(client.search_runs([client.get_experiment_by_name("dlcore-train").experiment_id])) == 1


def test_sigterm_at_any_moment_of_start_up_leaves_a_store_that_works(space, tmp_path):
    for i, delay in enumerate((0.05, 0.2, 0.5, 0.9, 1.4, 2.0)):
        store = tmp_path / f"s{i}"
        p = popen("search", space, "--trials", 1, "--store", store)
        time.sleep(delay)  # where the signal lands varies; what follows must work wherever it landed
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=600)
        assert p.returncode in (130, -signal.SIGTERM, 0), err
        search(space, store)
        assert_whole(store)


def test_a_signal_while_mlflow_db_is_built_leaves_no_half_built_file(space, tmp_path):
    """Waits for MLflow's migrations to be under way on the temporary file, then SIGKILL (nothing of
    the builder runs after it); then the same with SIGTERM on a second try, which finds the first
    one's leftovers; then a search that works."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    store = tmp_path / "s"
    for sig in (signal.SIGKILL, signal.SIGTERM):  # migrated in place, not copied from the template (milliseconds)
        p = popen("search", space, "--trials", 1, "--store", store, env={**os.environ, "DLCORE_CACHE_DIR": ""})
        deadline = time.monotonic() + 300
        while not (store / f".mlflow.db.building-{p.pid}").exists():
            assert p.poll() is None and time.monotonic() < deadline, "the search never began building mlflow.db"
            time.sleep(0.01)
        p.send_signal(sig)
        _, err = p.communicate(timeout=600)
        if sig == signal.SIGKILL:  # killed mid-build: absent, its temporary file left for the next builder
            assert not (store / "mlflow.db").exists()
            assert (store / f".mlflow.db.building-{p.pid}").exists()
        else:  # SIGTERM is held while MLflow's migrations run (never raised in database code): a build
            # under way ends whole and is renamed in; one not yet in MLflow's hands is abandoned
            assert p.returncode == 130 and err.strip().splitlines()[-1] == "dlcore: interrupted", err
            assert not (store / f".mlflow.db.building-{p.pid}").exists()
            if (store / "mlflow.db").exists():
                con = sqlite3.connect(f"file:{store / 'mlflow.db'}?mode=ro", uri=True)
                assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [
                    (_get_latest_schema_revision(),)]
                con.close()
    search(space, store)
    assert_whole(store)


def test_a_half_built_store_is_refused_in_one_line(original, tmp_path):
    """Refused before anything is written, even the re-rooting this copy would otherwise get."""
    from mlflow.store.db.utils import _get_alembic_config
    from alembic.script import ScriptDirectory

    store = tmp_path / "s"
    subprocess.run(["cp", "-a", str(original), str(store)], check=True)
    space = original.parent / "tiny.toml"
    head = ScriptDirectory.from_config(_get_alembic_config("")).get_current_head()
    older = ScriptDirectory.from_config(_get_alembic_config("")).get_revision(head).down_revision
    with sqlite3.connect(store / "mlflow.db") as con:  # as an older MLflow, or an interrupted upgrade, leaves it
        con.execute("UPDATE alembic_version SET version_num = ?", (older,))
    before = snapshot(store, data_only=True)
    for args in (("search", space, "--trials", 1), ("ui",)):
        r = dlcore(*args, "--store", store)
        assert r.returncode == 2, r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"dlcore: error: {store / 'mlflow.db'} is half-built"), r.stderr
        assert "mlflow db upgrade" in lines[0]
    assert snapshot(store, data_only=True) == before  # nothing written to either database

    with sqlite3.connect(store / "mlflow.db") as con:
        con.execute("UPDATE alembic_version SET version_num = ?", (head,))
    with sqlite3.connect(store / "optuna.db") as con:  # an Optuna storage missing one of its tables
        con.execute("DROP TABLE trial_heartbeats")
    before = snapshot(store, data_only=True)
    for args in (("search", space, "--trials", 1), ("best", "--study", "tiny")):
        r = dlcore(*args, "--store", store)
        assert r.returncode == 2, r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{store / 'optuna.db'} is not a whole Optuna storage (no table trial_heartbeats)" \
            in lines[0], r.stderr
    assert snapshot(store, data_only=True) == before


# -- copies and moves -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def original(space, tmp_path_factory) -> Path:
    """A store with a search and a registered model, made where it lives."""
    store = tmp_path_factory.mktemp("orig") / "S"
    shutil.copy(space, store.parent / "tiny.toml")
    search(space, store)
    ok(dlcore("reproduce", "--study", "tiny", "--store", store, "--register", "m1"))
    return store


def test_a_copied_store_works_and_never_touches_the_original(space, original, tmp_path):
    before = snapshot(original)
    copy = tmp_path / "S2"
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    check_self_contained(space, copy, original)
    assert snapshot(original) == before


def test_a_moved_store_works_and_its_old_path_is_not_recreated(space, original, tmp_path):
    before = snapshot(original)
    first = tmp_path / "M"
    subprocess.run(["cp", "-a", str(original), str(first)], check=True)
    ok(dlcore("best", "--study", "tiny", "--store", first))  # used at M (reading only: no re-rooting needed)
    moved = tmp_path / "M2"
    shutil.move(first, moved)
    check_self_contained(space, moved, original, load_model=False)
    assert not first.exists()
    assert snapshot(original) == before


def check_self_contained(space, store: Path, old: Path, load_model: bool = True):
    """Search (re-rooting once, with a notice), reproduce an old run identically, load the registered
    model, and serve an old run's artifact through `dlcore ui`, all from ``store``."""
    r = search(space, store)
    notices = [line for line in r.stderr.splitlines() if "store moved" in line]
    assert len(notices) == 1 and notices[0].startswith(f"dlcore: store moved from {old} to {store}: re-rooted "), r.stderr
    assert int(notices[0].split("re-rooted ")[1].split()[0]) > 0
    uris = file_uris(store / "mlflow.db")
    assert uris and all(v.startswith(store.as_uri() + "/") for _, _, v in uris), \
        [u for u in uris if not u[2].startswith(store.as_uri() + "/")]
    assert {(t, c) for t, c, _ in uris} >= {("experiments", "artifact_location"), ("runs", "artifact_uri"),
                                          ("logged_models", "artifact_location"),
                                          ("model_versions", "storage_location")}
    r = ok(dlcore("reproduce", "--study", "tiny", "--trial", 0, "--store", store))
    assert r.stdout.startswith("identical: "), r.stdout
    assert "store moved" not in r.stderr  # once only
    code = ("import mlflow, numpy as np; mlflow.set_tracking_uri(%r); m = mlflow.pyfunc.load_model('models:/m1/1'); "
            "print(m.predict(np.zeros((3, 2))).shape)") % f"sqlite:///{store / 'mlflow.db'}"
    if load_model:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert r.returncode == 0 and r.stdout.strip() == "(3,)", r.stdout + r.stderr
    assert_ui_serves_an_old_artifact(store)
    assert_whole(store)


def assert_ui_serves_an_old_artifact(store: Path):
    from tests.store.integrity import runs_of

    run = next(r for r in runs_of(store, "tiny") if r.data.tags.get("optuna.trial_number") == "0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([sys.executable, "-m", "dlcore", "ui", "--store", str(store), "--port", str(port)], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            assert p.poll() is None, p.stderr.read().decode()
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the MLflow server never answered"
                time.sleep(0.2)
        url = f"{base}/get-artifact?path=curves.npz&run_uuid={run.info.run_id}"
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
        local = Path(run.info.artifact_uri[len("file://"):]) / "curves.npz"
        assert str(local).startswith(str(store)) and body == local.read_bytes()
    finally:
        os.killpg(p.pid, signal.SIGTERM)  # the server `dlcore ui` started is in its process group
        p.wait(timeout=60)
        p.stderr.close()


# -- the environment beside the verdict --------------------------------------------------------------

def _kernel(env=None) -> str:
    code = "import numpy; from threadpoolctl import threadpool_info; " \
           "print([p.get('architecture') for p in threadpool_info() if p['user_api'] == 'blas'][0])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}).stdout.strip()


def _kernel_here() -> str:
    """This process's NumPy BLAS kernel, by threadpoolctl: chosen when NumPy loaded OpenBLAS, so from the
    OPENBLAS_CORETYPE this process started with (a machine may set one), whatever os.environ says now."""
    from threadpoolctl import threadpool_info

    return next(p["architecture"] for p in threadpool_info()
                if p["user_api"] == "blas" and Path(p["filepath"]).parent.name.startswith("numpy"))


def test_reproduce_names_the_blas_kernel_that_differs(original, tmp_path):
    from tests.store.integrity import runs_of

    logged = _kernel()
    trial = next(r for r in runs_of(original, "tiny") if r.data.tags.get("optuna.trial_number") == "0")
    assert trial.data.tags["dlcore.blas_kernel"] == logged
    other = next((k for k in ("Sandybridge", "Nehalem", "Haswell") if k != logged and
                  _kernel({"OPENBLAS_CORETYPE": k}) == k), None)
    if other is None:
        pytest.skip(f"OpenBLAS here offers no kernel besides {logged}")
    store = tmp_path / "S"
    shutil.copytree(original, store, symlinks=True)
    r = dlcore("reproduce", "--run-id", trial.info.run_id, "--store", store, env={"OPENBLAS_CORETYPE": other})
    first = r.stdout.splitlines()[0]
    assert first.endswith(f"; BLAS kernel {other} here, {logged} when logged"), r.stdout + r.stderr
    if r.returncode == 1:  # the kernel changed the sums: the verdict says where, the facts say why
        assert first.startswith("differs from iteration "), first
    else:
        assert r.returncode == 0 and first.startswith("identical: "), r.stdout + r.stderr


def test_the_verdict_names_each_logged_fact_that_differs(original, tmp_path):
    from mlflow.tracking import MlflowClient

    from dlcore.comparison import environment_facts, verdict_line
    from dlcore.reproduction import read_run
    from dlcore.tracking.mlflow_runs import Tracker
    from tests.store.integrity import runs_of

    store = tmp_path / "S"
    shutil.copytree(original, store, symlinks=True)
    run = next(r for r in runs_of(store, "tiny") if r.data.tags.get("optuna.trial_number") == "0")
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    client.set_tag(run.info.run_id, "dlcore.numpy_version", "1.0.0")
    client.set_tag(run.info.run_id, "dlcore.blas_kernel", "Prescott")
    logged = read_run(Tracker(f"sqlite:///{store / 'mlflow.db'}", store / "artifacts"), run.info.run_id)
    import numpy as np

    facts = environment_facts(logged.tags, logged.config.blas_threads)
    assert facts == [f"BLAS kernel {_kernel_here()} here, Prescott when logged", f"numpy {np.__version__} here, 1.0.0 when logged"]
    line = verdict_line({"verdict": "differs", "first_diff": {"fold": 0, "iteration": 812}, "folds": 1,
                         "max_abs_diff": 2.2e-16, "iterations": [1000], "run_id": run.info.run_id, "environment": facts})
    assert line == (f"differs from iteration 812 (largest |difference| 2.2e-16); BLAS kernel {_kernel_here()} here, "
                    f"Prescott when logged; numpy {np.__version__} here, 1.0.0 when logged")


def test_the_logged_blas_is_numpys_whatever_else_is_loaded(monkeypatch):
    """With SciPy loaded a process holds two OpenBLAS builds; which one threadpoolctl lists first follows
    the load order, which differed between the search that logged a run and the process reading it (CI:
    "BLAS openblas 0.3.30 here, openblas 0.3.31 when logged"). NumPy's is the one dlcore computes with."""
    import numpy as np
    import scipy.linalg  # noqa: F401 -- loads SciPy's own BLAS
    import threadpoolctl

    from dlcore.tracking.provenance import blas_info

    pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    site = os.path.dirname(os.path.dirname(np.__file__))
    numpys = [p for p in pools if os.path.relpath(p["filepath"], site).startswith("numpy")]
    if not numpys:
        pytest.skip("this NumPy's BLAS is not a library of its own (a system BLAS)")
    want = f"{numpys[0]['internal_api']} {numpys[0]['version']}"
    for order in (pools, pools[::-1]):
        monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda order=order: [dict(p) for p in order])
        assert blas_info()["blas"] == want
