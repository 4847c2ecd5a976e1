"""Using dlcore from a script or notebook leaves the caller's process as it was.

A fresh interpreter imports the libraries a caller would already have (numpy, matplotlib with a backend
of its own choosing, pyplot, optuna, mlflow, pandas: their own import-time settings are theirs, not
dlcore's), takes a snapshot of the global state dlcore could touch, imports dlcore, runs a search, a
tracked training run and a reproduction, and takes the snapshot again. Every entry must be unchanged.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tests.search.test_search import TINY

SCRIPT = textwrap.dedent('''
    import json, logging, os, signal, sys, warnings
    import numpy as np
    import matplotlib
    BACKEND = sys.argv[2]
    if BACKEND != "auto":
        matplotlib.use(BACKEND)
    import matplotlib.pyplot as plt
    import mlflow, optuna, pandas
    from pathlib import Path
    from threadpoolctl import threadpool_info

    def snapshot():
        return {
            "environ": dict(os.environ),
            "backend": matplotlib.get_backend(),
            "rcParams": {k: repr(v) for k, v in matplotlib.rcParams.items()},
            "pyplot_figures": plt.get_fignums(),
            "loggers": {name: [lg.level, lg.disabled, lg.propagate, len(lg.handlers)] for name, lg in
                        [("root", logging.getLogger())] + list(logging.Logger.manager.loggerDict.items())
                        if isinstance(lg, logging.Logger)},
            "mlflow_tracking_uri": mlflow.get_tracking_uri(),
            "optuna_verbosity": optuna.logging.get_verbosity(),
            "warnings_filters": [repr(f) for f in warnings.filters],
            "signals": {s.name: repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM)},
            "numpy_rng": repr(np.random.get_state(legacy=False)),
            "numpy_err": np.geterr(),
            "thread_pools": {p["filepath"]: p["num_threads"] for p in threadpool_info()},
        }

    plt.figure()  # the caller's own figure: still there, and the only one, afterwards
    before = snapshot()
    import dlcore
    after_import = snapshot()

    tmp = Path(sys.argv[1])
    store = dlcore.Store(tmp / "store")
    result = dlcore.search(tmp / "tiny.toml", trials=3, store=store)
    print("@@ searched", file=sys.stderr, flush=True)
    dlcore.worker(result.study_name, store=store, blas_threads=1)  # the budget is spent: it joins and leaves
    cfg = dlcore.load_run_config("course/planar", ["train.iterations=30"])
    run = dlcore.train(cfg, store=store, experiment="side-effects")
    rep = dlcore.reproduce(result.best, store=store)
    summary = {"counts": result.counts}
    run_id = run.run_id
    rep = {"verdict": rep.verdict}
    after = snapshot()
    print(json.dumps({"before": before, "after_import": after_import, "after": after,
                      "trials": sum(summary["counts"].values()), "run_id": run_id, "verdict": rep["verdict"]}))
''')


@pytest.mark.parametrize("backend", ["svg", "auto"])
def test_dlcore_changes_no_global_state_of_its_caller(tmp_path, backend):
    (tmp_path / "tiny.toml").write_text(TINY.format(name="fx", metric="val_cost", folds=0, lr_low=0.05,
                                                    lr_high=2.0, sampler="tpe"))
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MPLBACKEND", "_MLFLOW"))}
    env.update(DO_NOT_TRACK="true", PYTHONPATH=str(ROOT))  # no telemetry, and the MLFLOW_* defaults are dlcore's
    p = subprocess.run([sys.executable, str(tmp_path / "script.py"), str(tmp_path), backend], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["trials"] == 3 and out["run_id"] and out["verdict"] == "identical"
    # dlcore reads its artifacts in place, with none of MLflow's download bars (MLflow's own model logging,
    # in train and reproduce, still shows one: only its environment variable turns that off)
    assert "Downloading artifacts" not in p.stderr.split("@@ searched")[0]
    assert "summary incomplete" not in p.stderr, p.stderr  # whatever backend the caller's pyplot has
    if backend != "auto":
        assert out["before"]["backend"] == backend
    assert out["before"]["pyplot_figures"] == [1]
    for stage in ("after_import", "after"):
        changed = {k: (v, out[stage][k]) for k, v in out["before"].items() if out[stage][k] != v}
        if "environ" in changed:  # name the variables, not the whole environment
            b, a = changed["environ"]
            changed["environ"] = {k: (b.get(k), a.get(k)) for k in set(b) | set(a) if b.get(k) != a.get(k)}
        if "loggers" in changed:  # loggers made during the call are the libraries' own; the others must be as they were
            b, a = changed["loggers"]
            changed["loggers"] = {k: (b[k], a[k]) for k in b if b[k] != a[k]} or None
            changed = {k: v for k, v in changed.items() if v is not None}
        if "thread_pools" in changed:  # libraries loaded later are theirs; those the caller had keep their counts
            b, a = changed["thread_pools"]
            changed["thread_pools"] = {k: (b[k], a.get(k)) for k in b if a.get(k) != b[k]} or None
            changed = {k: v for k, v in changed.items() if v is not None}
        if "rcParams" in changed:
            b, a = changed["rcParams"]
            changed["rcParams"] = {k: (b[k], a[k]) for k in b if b[k] != a[k]}
        assert changed == {}, f"{stage}: {changed}"
