"""The whole loop on the cat data: search, best, reproduce with the locked test set, and the course.

1. search   search_spaces/cat.toml (5-fold balanced accuracy on the training set only)
2. best     the study's best trial
3. reproduce that run bit for bit, then --evaluate-test --seeds 5: the configuration trained with 5
            fresh seeds, validated by the same 5 folds and refit on the whole training set for the test
4. course   the course's hand-tuned deep model (experiments/course/deep.toml) through the same
            protocol, with the same 5 seeds
and prints both side by side (mean and standard deviation over the 5 seeds).

    DLCORE_DATA_DIR=../shared/data .venv/bin/python experiments/cat_loop.py --trials 100 --store /tmp/cat-loop
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlcore.config import load_run_config  # noqa: E402
from dlcore.launch import Backends, run_search, with_overrides  # noqa: E402
from dlcore.reproduce import read_run, reproduce, seed_study  # noqa: E402
from dlcore.runner import fold_seeds, folds_for, load_dataset  # noqa: E402
from dlcore.search import load_space  # noqa: E402
from dlcore.tracking.mlflow_runs import Tracker  # noqa: E402
from dlcore.tracking.store import resolve_store  # noqa: E402

ROWS = ["val_balanced_accuracy", "val_accuracy", "val_cost", "test_balanced_accuracy", "test_accuracy", "test_cost"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--study", default="cat-loop")
    p.add_argument("--store", help="store directory (default $DLCORE_STORE, else ./mlruns)")
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)

    space = with_overrides(load_space(ROOT / "search_spaces" / "cat.toml"), study=args.study)
    store = resolve_store(args.store)
    start = time.perf_counter()
    summary = run_search(space, Backends.resolve(store), args.trials)
    print(f"1. search: {sum(summary['counts'].values())} trials in {time.perf_counter() - start:.0f} s, "
          f"{summary['counts']}")
    print(f"2. best: trial {summary['best_trial']}, {space.study.metric} {summary['best_value']:.4f}, "
          f"params {summary['best_params']}")
    tracker = Tracker(store.tracking_uri, store.artifact_root)
    out = reproduce(tracker, read_run(tracker, summary["best_run_id"]), evaluate_test=True, seeds=args.seeds)
    print(f"3. reproduce run {summary['best_run_id']}: {out['verdict']} (max |difference| {out['max_abs_diff']})")
    seeds = [r["seed"] for r in out["seeds"]["runs"]]

    course_cfg = load_run_config(ROOT / "experiments" / "course" / "deep.toml")
    course_cfg = replace(course_cfg, data=replace(course_cfg.data, split_seed=space.base.data.split_seed))
    dataset = load_dataset(course_cfg)
    folds = folds_for(course_cfg, dataset, space.study.folds, space.study.repeats)
    course = seed_study(course_cfg, dataset, folds, seeds, True, lambda s: fold_seeds(s, len(folds)))
    print(f"4. course deep model 12288-20-7-5-1 with the same seeds {seeds}\n")
    searched_cfg = read_run(tracker, summary["best_run_id"]).config
    dims = "-".join(map(str, (12288, *searched_cfg.model.hidden_units, 1)))
    print(f"{'metric (mean +- std over ' + str(len(seeds)) + ' seeds)':44s} {'searched ' + dims:>24s} {'course 12288-20-7-5-1':>24s}")
    for name in ROWS:
        a, b = out["seeds"]["summary"][name], course["summary"][name]
        print(f"{name:44s} {a['mean']:>14.3f} +- {a['std']:.3f} {b['mean']:>14.3f} +- {b['std']:.3f}")
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
