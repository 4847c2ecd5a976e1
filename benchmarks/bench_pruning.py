"""Benchmark: what the median pruner's reads cost a search, dlcore's pruner against Optuna's, same trials.

Optuna's ``MedianPruner`` reads the study's trials from the storage at every report (its cache keeps
only finished trials, so the running one is read again with all its intermediate values); dlcore's
(``dlcore/search/pruning.py``) reads them once per trial. Both arms run the same seeded, untracked,
sequential search in a fresh store, alternating (the order rotated each repeat); the trials of both
are compared (state, value and every intermediate value) and the medians of the wall times printed
with their ratio. Nothing else differs: the arms replace the pruner ``dlcore.search.workers`` builds.

    .venv/bin/python benchmarks/bench_pruning.py                                    # moons.toml, 40 trials
    .venv/bin/python benchmarks/bench_pruning.py search_spaces/planar.toml --trials 30 --repeats 3
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlcore.search import load_space  # noqa: E402
from dlcore.search.study import make_pruner  # noqa: E402
from dlcore.session import run_search  # noqa: E402
from dlcore.store import Store  # noqa: E402

workers = importlib.import_module("dlcore.search.workers")


def one(space, trials: int, arm: str):
    """One search with ``arm``'s pruner: wall time, the trials, the pruner's reads (dlcore's arm)."""
    made = []

    def pruner(kind, warmup):
        p = make_pruner(kind, warmup)
        made.append(p)
        return getattr(p, "inner", p) if arm == "optuna" else p

    workers.make_pruner = pruner
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        run_search(space, Store(Path(d)), trials, track=False)
        wall = time.perf_counter() - start
        study = optuna.load_study(study_name=space.study.name, storage=Store(Path(d)).storage)
        seen = [(t.state.name, t.value, dict(t.intermediate_values)) for t in study.trials]
    return wall, seen, getattr(made[0], "reads", None) if made else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("space", nargs="?", default=str(ROOT / "search_spaces" / "moons.toml"))
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    space = load_space(a.space)
    if space.study.pruner != "median":
        print(f"{a.space}: study.pruner is {space.study.pruner!r}; this benchmark compares median pruners")
        return 2
    print(f"pruning benchmark: {a.space}, {a.trials} trials, {a.repeats} repeats; optuna {optuna.__version__}")
    print(f"rerun: .venv/bin/python benchmarks/bench_pruning.py {a.space} --trials {a.trials} --repeats {a.repeats}")
    walls = {"optuna": [], "dlcore": []}
    same = True
    for r in range(a.repeats):
        arms = ["optuna", "dlcore"] if r % 2 == 0 else ["dlcore", "optuna"]
        out = {arm: one(space, a.trials, arm) for arm in arms}
        for arm in arms:
            walls[arm].append(out[arm][0])
        same &= out["optuna"][1] == out["dlcore"][1]
        reports = sum(len(iv) for *_, iv in out["dlcore"][1])
        pruned = sum(s == "PRUNED" for s, *_ in out["dlcore"][1])
        print(f"  repeat {r + 1}: Optuna's pruner {out['optuna'][0]:6.2f} s, dlcore's {out['dlcore'][0]:6.2f} s; "
              f"{reports} reports, {pruned} pruned, dlcore's reads of the study {out['dlcore'][2]}; "
              f"same trials: {out['optuna'][1] == out['dlcore'][1]}")
    o, d = statistics.median(walls["optuna"]), statistics.median(walls["dlcore"])
    print(f"median wall: Optuna's MedianPruner {o:.2f} s, dlcore's {d:.2f} s: x{o / d:.2f} trials per minute; "
          f"same trials in every repeat: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
