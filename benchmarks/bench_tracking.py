"""Benchmark: what MLflow tracking costs a search, per trial, measured side by side in one process.

The same seeded search (same space, same trials: TPE is seeded and runs sequentially, so every arm
proposes the same parameters) runs in a fresh temporary store in up to three arms:

  off       Optuna only (``track=False``): the baseline every other arm is compared with
  dlcore    dlcore's integration: a child run per trial with params, tags, the full curves in one batch,
            the curve artifact and the run config; the parent run with the summary table and plots
  callback  optuna-integration's MLflowCallback (final value, params and a few tags per trial) on the
            untracked search; only when installed: pip install -e '.[mlflowcb]'

Each repeat runs every arm once, rotating the order so that each arm runs first, in the middle and last
equally often (drift on a shared machine then hits all of them); medians over the repeats are reported.

Printed per arm: median wall time and the overhead per trial against ``off``; Optuna's (and dlcore's)
cost outside the objective, (wall time - sum of the trials' durations) / trials, split into the start
(before the first trial), the gaps between trials and the end (after the last); for ``dlcore`` the time
to create each trial's run, the background write of each finished trial, the final wait for that
writer and the parent run's summary step (trials table and plots), timed by wrapping those calls here.

    .venv/bin/python benchmarks/bench_tracking.py                          # planar.toml, 20 trials, 3 repeats
    .venv/bin/python benchmarks/bench_tracking.py search_spaces/moons.toml --trials 40 --repeats 3
    DLCORE_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_tracking.py search_spaces/cat.toml --trials 100 --repeats 3
"""
from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata
import platform
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dlcore.session as launch  # noqa: E402 -- run_search calls summarize from here
import dlcore.tracking.search_tracker as tracker_mod  # noqa: E402
from dlcore.session import run_search  # noqa: E402
from dlcore.store import Store as Backends  # noqa: E402
from dlcore.search import load_space  # noqa: E402
from dlcore.tracking.mlflow_runs import Tracker  # noqa: E402
from dlcore.tracking.provenance import blas_info  # noqa: E402
from dlcore.tracking.store import Store  # noqa: E402

# Durations (s) of the wrapped calls during the current search; reset before each search.
TIMES: dict[str, list[float]] = defaultdict(list)


def _timed(owner, name: str, key: str, when=None):
    """Replace ``owner.name`` by a wrapper that appends each call's duration to TIMES[key] (only for
    calls where ``when(*args, **kwargs)`` is true, when given). dlcore's code is left as it is."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if when is None or when(*args, **kwargs):
                TIMES[key].append(time.perf_counter() - t)

    setattr(owner, name, wrapper)


def _is_child(self, experiment_id, name, tags, parent_id=None):
    return parent_id is not None


def install_timers():
    _timed(launch, "summarize", "summary")                         # parent run: trials.csv, best trial, plots
    _timed(tracker_mod.SearchTracker, "start", "run_start")         # per trial, in its thread: the run asked for
    _timed(Tracker, "start_run", "create_run", when=_is_child)      # per trial, background: MLflow's create_run
    _timed(tracker_mod, "write_or_close", "log_run")                # per trial, background: batch, artifacts, status
    _timed(tracker_mod.SearchTracker, "finish", "finish")           # per trial, in its thread: the hand-over
    _timed(tracker_mod.SearchTracker, "flush", "flush")             # the end: waiting for the background writer


def one(space, trials: int, arm: str) -> dict:
    """One search in a fresh store; its wall time, summary, the wrapped calls' timings and the split of
    the wall time into the trials' own durations and what happened outside them."""
    TIMES.clear()
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d))
        wall_start = datetime.datetime.now()
        start = time.perf_counter()
        on_trial = None
        if arm == "callback":
            from optuna_integration.mlflow import MLflowCallback

            # The experiment the callback's set_experiment() finds, with its artifacts in this store
            # (MLflow's default would be ./mlruns); created inside the timed span, as the callback would.
            Tracker(store.create().tracking_uri, store.artifact_root).experiment_id(space.study.name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # deprecated since optuna-integration 4.9
                callback = MLflowCallback(tracking_uri=store.tracking_uri, metric_name=space.study.metric)

            def on_trial(study, trial):
                t = time.perf_counter()
                callback(study, trial)
                TIMES["callback"].append(time.perf_counter() - t)

        summary = run_search(space, Backends(store.root), trials, track=arm == "dlcore", on_trial=on_trial)
        wall = time.perf_counter() - start
        wall_end = wall_start + datetime.timedelta(seconds=wall)
        done = sorted((t for t in optuna.load_study(study_name=space.study.name, storage=store.optuna_url)
                       .get_trials(deepcopy=False) if t.datetime_start and t.datetime_complete),
                      key=lambda t: t.datetime_start)
    n = max(len(done), 1)
    inside = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
    gaps = [(b.datetime_start - a.datetime_complete).total_seconds() for a, b in zip(done, done[1:])]
    return {"wall": wall, "summary": summary, "times": {k: list(v) for k, v in TIMES.items()},
            "outside_per_trial": (wall - inside) / n,
            "head": (done[0].datetime_start - wall_start).total_seconds() if done else 0.0,
            "gap": statistics.median(gaps) if gaps else 0.0, "gaps": sum(gaps),
            "tail": (wall_end - max(t.datetime_complete for t in done)).total_seconds() if done else 0.0}


def has_callback() -> bool:
    try:
        import optuna_integration.mlflow  # noqa: F401
    except ImportError:
        return False
    return True


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("space", nargs="?", default=str(ROOT / "search_spaces" / "planar.toml"))
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-callback", action="store_true", help="leave out optuna-integration's MLflowCallback")
    args = p.parse_args(argv)
    space = load_space(args.space)
    space = replace(space, study=replace(space.study, name=f"bench-{space.study.name}"))
    blas = blas_info()
    print(f"tracking benchmark: {datetime.datetime.now().isoformat(timespec='seconds')} {platform.machine()} "
          f"python {platform.python_version()} numpy {np.__version__} BLAS {blas['blas']} ({blas['blas_threads']} threads)")
    print(f"optuna {_version('optuna')}, mlflow {_version('mlflow')}, optuna-integration {_version('optuna-integration')}")
    print(f"rerun: {shlex.join([sys.executable, *sys.argv])}")
    arms = ["off", "dlcore"]
    if args.no_callback:
        pass
    elif has_callback():
        arms.append("callback")
    else:
        print("optuna-integration's MLflowCallback: skipped (pip install -e '.[mlflowcb]' to compare)")
    print(f"space {args.space}: {args.trials} trials, {args.repeats} repeats, arms {', '.join(arms)} "
          "(order rotated each repeat)")
    install_timers()
    for arm in arms:  # warm-up: imports, first database creation, matplotlib fonts
        one(space, 2, arm)
    res: dict[str, list[dict]] = {a: [] for a in arms}
    for r in range(args.repeats):
        order = arms[r % len(arms):] + arms[:r % len(arms)]
        for arm in order:
            res[arm].append(one(space, args.trials, arm))
        first = {a: (res[a][-1]["summary"]["counts"], res[a][-1]["summary"]["best_value"]) for a in arms}
        same = len(set(map(repr, first.values()))) == 1
        print(f"  repeat {r + 1} (order {' > '.join(order)}): "
              + ", ".join(f"{a} {res[a][-1]['wall']:6.2f} s" for a in arms) + f"; same trials and best value: {same}")

    n = args.trials
    wall = {a: med([x["wall"] for x in res[a]]) for a in arms}
    print("median wall time: " + ", ".join(f"{a} {wall[a]:.2f} s" for a in arms))
    label = {"dlcore": "dlcore (full curves, artifacts, summary plots)", "callback": "MLflowCallback (final values only)"}
    for a in arms[1:]:
        d = wall[a] - wall["off"]
        print(f"{label[a]}: {d / n * 1000:.1f} ms per trial over off, {100 * d / wall[a]:.1f}% of its wall time "
              f"(ratio {a}/off {wall[a] / wall['off']:.3f})")
    if "callback" in arms:
        print(f"dlcore/callback overhead ratio: {(wall['dlcore'] - wall['off']) / max(wall['callback'] - wall['off'], 1e-9):.2f}")

    print("outside the objective, (wall - sum of trial durations) / trials (medians; start | median gap between "
          "trials | end):")
    for a in arms:
        o = med([x["outside_per_trial"] for x in res[a]])
        print(f"  {a:8s}: {o * 1000:6.1f} ms per trial ({o * 1000 - med([x['outside_per_trial'] for x in res['off']]) * 1000:+.1f} "
              f"vs off); start {med([x['head'] for x in res[a]]):.2f} s | gap {med([x['gap'] for x in res[a]]) * 1000:.1f} ms"
              f" | end {med([x['tail'] for x in res[a]]):.2f} s")

    def pooled(a, key):
        return [v for x in res[a] for v in x["times"].get(key, [])]

    run_start, create, written = pooled("dlcore", "run_start"), pooled("dlcore", "create_run"), pooled("dlcore", "log_run")
    print(f"dlcore, per trial, in the trial's thread: the run asked for {med(run_start) * 1000:.2f} ms, the finished "
          f"trial handed over {med(pooled('dlcore', 'finish')) * 1000:.2f} ms (medians)")
    print(f"dlcore, per trial, in the background writer: the run created (create_run) {med(create) * 1000:.1f} ms, "
          f"the finished trial written {med(written) * 1000:.1f} ms (medians; {len(written)} trials)")
    summ = [sum(x["times"].get("summary", [])) for x in res["dlcore"]]
    flush = [sum(x["times"].get("flush", [])) for x in res["dlcore"]]
    print(f"dlcore, per search: parent summary (trials.csv, plots) {med(summ):.2f} s median, "
          f"final wait for the writer {med(flush):.3f} s median")
    if "callback" in arms:
        print(f"MLflowCallback, per trial: {med(pooled('callback', 'callback')) * 1000:.1f} ms median per call, "
              "after the trial, in the optimisation loop")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
