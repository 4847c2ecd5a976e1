"""Benchmark: Optuna storage overhead per trial with parallel writer processes, SQLite against a journal file.

K worker processes (1 and 2 by default) each run N trials of a trivial objective (no training: suggest
5 parameters, report and ask should_prune a few steps, return a number) sharing one study, created once
before the workers start, in

  sqlite   dlcore's storage as ``dlcore search`` builds it (``dlcore.search.storage.make_storage``): Optuna's
           RDBStorage on SQLite with the heartbeat and BEGIN IMMEDIATE transactions
  journal  Optuna's JournalStorage with a JournalFileBackend (its default lock)

optionally (--plain-sqlite) ``sqlite-plain``, Optuna's default RDBStorage on SQLite (no heartbeat, no
BEGIN IMMEDIATE), to show what dlcore's settings cost; and, as the baseline measured in the same run, ``memory``: K processes each with its own InMemoryStorage
(the same sampler, pruner and objective, the same CPU contention, no shared store). Storage overhead per
trial = a worker's time per trial - the baseline's. Workers import and open the study first, then all
start together; each repeat runs every arm, rotating the order; medians over repeats are reported.
Afterwards the study must hold K x N trials, all finished (COMPLETE or PRUNED), and no worker may have
failed (e.g. "database is locked").

    .venv/bin/python benchmarks/bench_storage.py                             # K = 1 2, N = 200, 3 repeats
    .venv/bin/python benchmarks/bench_storage.py --workers 1 2 --trials 200 --repeats 5 --sampler tpe
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STUDY = "bench-storage"


def make(kind: str, path: Path):
    """The storage of one arm (``path`` is its file); None for memory (a fresh InMemoryStorage per study)."""
    import optuna

    if kind == "memory":
        return None
    if kind == "sqlite":
        from dlcore.search.storage import make_storage

        return make_storage(f"sqlite:///{path}")
    if kind == "sqlite-plain":
        return optuna.storages.RDBStorage(f"sqlite:///{path}")
    if kind == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(path)))
    raise ValueError(kind)


def sampler_and_pruner(name: str, seed: int):
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed) if name == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    return sampler, optuna.pruners.MedianPruner(n_startup_trials=5)


def objective(trial, steps: int):
    import optuna

    xs = [trial.suggest_float(f"x{i}", -5.0, 5.0) for i in range(3)]
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    n = trial.suggest_int("n", 1, 8)
    value = sum(x * x for x in xs) + n * lr
    for step in range(steps):
        trial.report(value * (1 + 1 / (step + 1)), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def worker(kind: str, path: str, trials: int, seed: int, sampler: str, steps: int) -> int:
    """One worker process: open the study, say "ready", wait for "go" on stdin, run the trials, print JSON."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    s, p = sampler_and_pruner(sampler, seed)
    error = None
    try:
        storage = make(kind, Path(path))
        if storage is None:
            study = optuna.create_study(study_name=STUDY, direction="minimize", sampler=s, pruner=p)
        else:
            study = optuna.load_study(study_name=STUDY, storage=storage, sampler=s, pruner=p)
    except Exception as e:  # noqa: BLE001 -- reported, not raised: the parent counts it
        study, error = None, f"{type(e).__name__}: {e}"
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    if study is not None:
        try:
            study.optimize(lambda t: objective(t, steps), n_trials=trials)
        except Exception as e:  # noqa: BLE001
            error = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    states = {}
    if kind == "memory" and study is not None:  # its own study: only this process can count its states
        for t in study.get_trials(deepcopy=False):
            states[t.state.name] = states.get(t.state.name, 0) + 1
    print(json.dumps({"seconds": seconds, "error": error, "states": states}), flush=True)
    return 0


def run_arm(kind: str, k: int, trials: int, seed: int, sampler: str, steps: int, tmp: Path) -> dict:
    """K workers on one fresh store; wall time, each worker's time per trial and the study's final states."""
    import optuna

    path = tmp / {"memory": "none", "journal": "optuna.journal.log"}.get(kind, "optuna.db")
    for f in tmp.iterdir():
        f.unlink()
    storage = make(kind, path)
    if storage is not None:  # created once, before the workers start
        s, p = sampler_and_pruner(sampler, seed)
        optuna.create_study(study_name=STUDY, storage=storage, direction="minimize", sampler=s, pruner=p)
    procs = []
    for i in range(k):
        err = tempfile.TemporaryFile("w+")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(path), str(trials), str(seed + i), sampler, str(steps)]
        procs.append((subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                       cwd=ROOT), err))
    for proc, _ in procs:
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"{kind} worker did not start: {line!r}")
    start = time.perf_counter()
    for proc, _ in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = []
    for proc, err in procs:
        out, _ = proc.communicate()
        wall = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().strip()
        err.close()
        try:
            outs.append(json.loads(out.strip().splitlines()[-1]))
        except (IndexError, json.JSONDecodeError):
            outs.append({"seconds": float("nan"), "error": f"exit {proc.returncode}: {stderr[-300:]}"})
        if proc.returncode != 0 and not outs[-1]["error"]:
            outs[-1]["error"] = f"exit {proc.returncode}: {stderr[-300:]}"
        if "database is locked" in stderr and not outs[-1]["error"]:
            outs[-1]["error"] = "database is locked (stderr)"
    errors = [o["error"] for o in outs if o["error"]]
    states = {}
    if storage is None:  # one study per process: add up what each counted
        for o in outs:
            for name, c in o.get("states", {}).items():
                states[name] = states.get(name, 0) + c
    else:
        for t in optuna.load_study(study_name=STUDY, storage=make(kind, path)).get_trials(deepcopy=False):
            states[t.state.name] = states.get(t.state.name, 0) + 1
    finished = states.get("COMPLETE", 0) + states.get("PRUNED", 0)
    size = path.stat().st_size if path.exists() else 0
    return {"wall": wall, "per_trial": statistics.median(o["seconds"] / trials for o in outs),
            "errors": errors, "states": states, "ok": finished == k * trials and not errors, "bytes": size}


def heartbeat_support(tmp: Path) -> dict:
    """Whether each storage can fail a dead worker's trial by Optuna's heartbeat."""
    from optuna.storages import _heartbeat

    out = {}
    for kind in ("sqlite", "journal"):
        s = make(kind, tmp / f"hb-{kind}")
        out[kind] = _heartbeat.is_heartbeat_enabled(s)
    return out


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts K")
    p.add_argument("--trials", type=int, default=200, help="trials per worker N")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sampler", choices=["random", "tpe"], default="random",
                   help="random keeps the sampler's cost flat, so the difference is the storage's; tpe is dlcore's")
    p.add_argument("--steps", type=int, default=3, help="report/should_prune steps per trial")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plain-sqlite", action="store_true",
                   help="also Optuna's default RDBStorage on SQLite, without dlcore's heartbeat and BEGIN IMMEDIATE")
    p.add_argument("--dir", default=None, help="where the store files go (default: the system's temp dir)")
    p.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kind, path, trials, seed, sampler, steps = args.worker
        return worker(kind, path, int(trials), int(seed), sampler, int(steps))

    import numpy as np
    import optuna
    from dlcore.search.storage import HEARTBEAT_INTERVAL

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    from dlcore.tracking.provenance import blas_info

    blas = blas_info()
    print(f"storage benchmark: {datetime.datetime.now().isoformat(timespec='seconds')} {platform.machine()} "
          f"{os.cpu_count()} cores, python {platform.python_version()} numpy {np.__version__} BLAS {blas['blas']}; "
          f"optuna {_version('optuna')}, SQLAlchemy {_version('SQLAlchemy')}, sqlite "
          f"{__import__('sqlite3').sqlite_version}")
    print(f"rerun: {shlex.join([sys.executable, *sys.argv])}")
    print(f"{args.trials} trials per worker, {args.steps} report/should_prune steps, {args.sampler} sampler, "
          f"median pruner; workers {args.workers}; {args.repeats} repeats, arm order rotated")
    kinds = ("memory", "sqlite", "journal") + (("sqlite-plain",) if args.plain_sqlite else ())
    results = {(kind, k): [] for k in args.workers for kind in kinds}
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        tmp = Path(d) / "store"
        tmp.mkdir()
        print(f"store files in {Path(d).resolve()}")
        hb = heartbeat_support(Path(d))
        run_arm("sqlite", 1, 3, args.seed, args.sampler, args.steps, tmp)  # warm-up: imports, file cache
        for r in range(args.repeats):
            for k in args.workers:
                order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
                for kind in order:
                    res = run_arm(kind, k, args.trials, args.seed, args.sampler, args.steps, tmp)
                    results[(kind, k)].append(res)
                    print(f"  repeat {r + 1}, K={k} {kind:12s}: wall {res['wall']:6.2f} s, "
                          f"{res['per_trial'] * 1000:6.2f} ms/trial per worker, states {res['states']}"
                          + (f", ERRORS {res['errors']}" if res["errors"] else ""))
    print(f"medians over {args.repeats} repeats; overhead = ms/trial per worker - memory's at the same K:")
    for k in args.workers:
        per = {kind: statistics.median(x["per_trial"] for x in results[(kind, k)]) for kind in kinds}
        wall = {kind: statistics.median(x["wall"] for x in results[(kind, k)]) for kind in kinds}
        over = {kind: per[kind] - per["memory"] for kind in kinds}
        for kind in kinds:
            runs = results[(kind, k)]
            ok = all(x["ok"] for x in runs)
            extra = "" if kind == "memory" else f", storage overhead {over[kind] * 1000:6.2f} ms/trial"
            print(f"  K={k} {kind:12s}: {per[kind] * 1000:6.2f} ms/trial per worker{extra}, "
                  f"{k * args.trials / wall[kind]:7.1f} trials/s in all; every trial finished, no worker error: "
                  f"{'yes' if ok else 'NO'}")
        print(f"  K={k} journal/sqlite: overhead ratio {over['journal'] / over['sqlite']:.2f}, "
              f"time per trial ratio {per['journal'] / per['sqlite']:.2f}, throughput ratio "
              f"{wall['sqlite'] / wall['journal']:.2f}")
    print(f"heartbeat (fails a dead worker's RUNNING trial): sqlite RDBStorage {'yes' if hb['sqlite'] else 'no'} "
          f"(dlcore: interval {HEARTBEAT_INTERVAL} s, grace {3 * HEARTBEAT_INTERVAL} s); JournalStorage "
          f"{'yes' if hb['journal'] else 'no (not a BaseHeartbeat: fail_stale_trials skips it)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
