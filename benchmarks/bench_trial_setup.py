"""Benchmark: what a k-fold trial costs before its first iteration, per trial against once per process.

A 5-fold cat trial used to copy each fold's columns out of X (12288 x 167) and form the dual form's
K = X^T X and K_val = X^T X_val for every fold of every trial. Now the fold arrays are made once per
search process and K, K_val are blocks of one Gram matrix of the training split (train.gram = "dataset").
Both arms run the same untracked trials through dlcore's own objective (``dlcore.search.Objective``
with an Optuna ``FixedTrial``): "per trial" with train.gram = "run" and its fold arrays dropped before
every trial (the old path), "per process" as shipped. Arms alternate, each after one warm-up trial;
CPU time of this process with one BLAS thread (time.process_time), medians over --repeats. The curves
of both arms are compared too (each arm's objective is printed beside its time).

    DLCORE_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_trial_setup.py --repeats 5
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import optuna
from threadpoolctl import threadpool_limits

import dlcore
from dlcore.search import Objective

CONFIGS = [  # (n[1], n[2] or None, iterations): small, course-like and wide nets at a typical budget
    (7, None, 500), (20, 7, 500), (40, 12, 300),
]


def params_of(n1, n2, iterations):
    p = {"learning_rate": 0.0075, "n_layers": 3 if n2 else 2, "n_units_l1": n1, "init_scale": 1.0,
         "iterations": iterations}
    if n2:
        p["n_units_l2"] = n2
    return p


def trial_cpu(objective, params, fresh: bool):
    if fresh:
        objective._splits.clear()
        objective.dataset.cache.clear()
    t = time.process_time()
    value = objective(optuna.trial.FixedTrial(params))
    return time.process_time() - t, value


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    if not dlcore.data_available("cat"):
        print("needs the cat data ($DLCORE_DATA_DIR/catvnoncat)", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = dlcore.load_space("cat")
    before = Objective(replace(space, base=replace(space.base, train=replace(space.base.train, gram="run"))))
    now = Objective(space, dataset=dlcore.runner.load_dataset(space.base))
    print(f"{'trial (5 folds)':<26} {'per trial':>10} {'per process':>12} {'saved':>8} {'ratio':>7}")
    with threadpool_limits(limits=1, user_api="blas"):
        for n1, n2, its in CONFIGS:
            params = params_of(n1, n2, its)
            trial_cpu(before, params, True), trial_cpu(now, params, False)  # warm-up (and the Gram, once)
            a, b, va, vb = [], [], None, None
            for _ in range(args.repeats):
                ta, va = trial_cpu(before, params, True)
                tb, vb = trial_cpu(now, params, False)
                a.append(ta)
                b.append(tb)
            ma, mb = statistics.median(a), statistics.median(b)
            dims = f"12288-{n1}-" + (f"{n2}-" if n2 else "") + f"1, {its} it"
            print(f"{dims:<26} {ma * 1e3:>8.0f} ms {mb * 1e3:>9.0f} ms {(ma - mb) * 1e3:>5.0f} ms {ma / mb:>6.2f}x"
                  f"   objective {va:.6f} / {vb:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
