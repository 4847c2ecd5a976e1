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

import dlcore

ROWS = ["val_balanced_accuracy", "val_accuracy", "val_cost", "test_balanced_accuracy", "test_accuracy", "test_cost"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--study", default="cat-loop")
    p.add_argument("--store", help="store directory (default $DLCORE_STORE, else ./mlruns)")
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    cat = dlcore.data_available("cat")
    if not cat:
        print("cat_loop: the cat data is absent (set DLCORE_DATA_DIR to the directory holding catvnoncat/): "
              "running the same loop on the planar flower, against the course's planar net", file=sys.stderr)
    space = dlcore.load_space("cat" if cat else "planar")
    store = dlcore.Store(args.store)
    start = time.perf_counter()
    result = dlcore.search(space, trials=args.trials, store=store, study=args.study)
    print(f"1. search: {sum(result.counts.values())} trials in {time.perf_counter() - start:.0f} s, {result.counts}")
    best = result.best
    print(f"2. best: trial {best.trial}, {best.metric} {best.value:.4f}, params {best.params}")
    rep = dlcore.reproduce(best, store=store, evaluate_test=True, seeds=args.seeds)
    print(f"3. reproduce run {best.run_id}: {rep.verdict} (max |difference| {rep.max_abs_diff})")
    seeds = [r["seed"] for r in rep.seeds["runs"]]

    course = dlcore.load_run_config("course/deep" if cat else "course/planar")
    course = replace(course, data=space.base.data)  # the same data, splits and locked test set as the search
    scores = dlcore.evaluate_seeds(course, seeds, folds=space.study.folds, repeats=space.study.repeats,
                                   evaluate_test=True)
    course_dims = "-".join(map(str, (best.layer_dims[0], *course.model.hidden_units, 1)))
    print(f"4. course model {course_dims} with the same seeds {seeds}\n")
    dims = "-".join(map(str, best.layer_dims))
    print(f"{'metric (mean +- std over ' + str(len(seeds)) + ' seeds)':44s} {'searched ' + dims:>24s} "
          f"{'course ' + course_dims:>24s}")
    for name in ROWS:
        a, b = rep.seeds["summary"][name], scores["summary"][name]
        print(f"{name:44s} {a['mean']:>14.3f} +- {a['std']:.3f} {b['mean']:>14.3f} +- {b['std']:.3f}")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
