"""Fault sweep: Ctrl-C at random moments of a real search; counts the searches that left a trial without
its run, a run RUNNING, or an exit other than 130.

Each run starts ``dlcore search`` (optionally ``--workers N``) on the small moons space of
``tests/test_distributed.py`` in a fresh store,
waits until its first trial is RUNNING, sleeps a random delay in [0, --max-delay] s (uniform, seeded), then
sends SIGINT to the whole process group, as a terminal does, and checks the store afterwards: every trial
FAIL/COMPLETE/PRUNED, every trial's ``mlflow_run_id`` one of the experiment's trial runs and the other way
round, no run RUNNING. Short trials (``--iterations 400``) put the signal at trial boundaries (a run being
created, handed over, written); long ones (the default) inside a worker's first trial.

    .venv/bin/python benchmarks/sweep_ctrl_c.py --workers 2 --runs 40 --max-delay 0.15
    .venv/bin/python benchmarks/sweep_ctrl_c.py --workers 2 --runs 30 --max-delay 3 --iterations 400 --trials 200
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_distributed import space_file  # noqa: E402 -- the small moons space the fault tests use



def first_running(db: Path, proc, timeout: float = 180.0) -> None:
    """Wait for a RUNNING trial, reading optuna.db read-only (never creating it: the search builds it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the search ended before a trial started: {proc.communicate()[1][-2000:]}")
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as c:
                    if c.execute("select count(*) from trials where state = 'RUNNING'").fetchone()[0]:
                        return
            except sqlite3.Error:  # no tables yet
                pass
        time.sleep(0.005)
    raise SystemExit("no trial started")


def one(tmp: Path, args, delay: float) -> list:
    """One interrupted search; returns what is wrong with the store it left ([] if nothing)."""
    import optuna
    from mlflow import MlflowClient

    space = space_file(tmp, "sweep", args.iterations)
    store = tmp / "store"
    cmd = [sys.executable, "-m", "dlcore", "search", str(space), "--trials", str(args.trials), "--store", str(store)]
    if args.workers > 1:
        cmd += ["--workers", str(args.workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    first_running(store / "optuna.db", proc)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    problems = [] if proc.returncode == 130 else [f"exit {proc.returncode}: {err[-500:]}"]
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{store / 'optuna.db'}")
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("sweep").experiment_id], max_results=5000)
    children = {r.info.run_id for r in runs if r.data.tags.get("dlcore.kind") == "trial"}
    for t in study.trials:
        if t.state.name == "RUNNING":
            problems.append(f"trial {t.number} RUNNING")
        if t.user_attrs.get("mlflow_run_id") not in children:
            problems.append(f"trial {t.number} ({t.state.name}, {t.user_attrs.get('state_reason')!r}) has no run")
    linked = {t.user_attrs.get("mlflow_run_id") for t in study.trials}
    problems += [f"run {r} has no trial" for r in sorted(children - linked)]
    problems += [f"run {r.info.run_id} ({r.data.tags.get('dlcore.kind')}) RUNNING" for r in runs
                 if r.info.status == "RUNNING"]
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--max-delay", type=float, default=0.5, help="seconds after the first RUNNING trial")
    ap.add_argument("--iterations", type=int, default=200000)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    bad = 0
    for i in range(args.runs):
        delay = rng.uniform(0, args.max_delay)
        with tempfile.TemporaryDirectory() as d:
            problems = one(Path(d), args, delay)
        bad += bool(problems)
        print(f"run {i + 1}/{args.runs}: delay {delay:.3f} s: {'; '.join(problems) or 'ok'}", flush=True)
    print(f"{bad} of {args.runs} interrupted searches left a problem "
          f"(workers {args.workers}, iterations {args.iterations}, delay up to {args.max_delay} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
