"""Benchmark: dlcore's gradient-descent iteration against its floor, the same matrix products alone.

One iteration of ``dlcore.nn.gradient_descent`` does a fixed set of matrix products (the forward
pass, the backward pass's dW[l] and W[l]^T dZ[l], and every ``every`` iterations the validation
forward pass); everything else is elementwise work and numpy call overhead. The floor runs exactly
those products, same shapes and same operands (transposed views included), into preallocated
outputs in a tight Python loop, in the same process and under the same BLAS settings. The ratio
dlcore / floor says how much of an iteration is not arithmetic.

Timing: CPU time of this process (time.process_time) with BLAS limited to --blas-threads (default 1),
so that on a shared machine other processes' load does not count; with one thread it is the work done.
dlcore's per-iteration cost is taken between its first and last ``on_step`` reports (every
100 iterations), so the one-off set-up (K = X^T X, W[1](0) X) is left out; the floor is timed over
the same number of iterations. Each shape runs --repeats round-robin pairs (dlcore, floor), and the
medians are shown. Shapes (cat data, or a random X of the same shape when the data is absent):
  deep cat       12288-20-7-5-1, m = 209, no validation, the course's model
  cat fold       12288-21-22-1, m = 167 (4/5 of 209), 42 validation rows scored every 100 iterations:
                 one fold of a 5-fold cat search trial, trained alone (gradient_descent)
  cat trial      the same net on the 5 stratified folds of the 209 images, trained together as a cat.toml
                 trial trains them (nn.gradient_descent_stacked: two stacks, four folds of 167 examples and
                 one of 168); its floor is the same stacked products; per fold-iteration
All in float64 with ReLU'(0) = 0 and the dual first layer, as the cat search runs them.

Run from the repository root:
    DLCORE_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_inner_loop.py --repeats 5
"""
import argparse
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from dlcore import nn
from dlcore.data import DataError, load

EVERY = 100
CLOCK = time.process_time
SHAPES = {  # name: (layer dims, training rows m, validation rows)
    "deep cat": ((12288, 20, 7, 5, 1), 209, 0),
    "cat fold": ((12288, 21, 22, 1), 167, 42),
}
FOLDS = 5  # the cat trial: cat fold's net on every fold of the training set at once


def cat_arrays(m, m_val):
    """The cat training set's first m + m_val images (X (12288, m), Y (1, m), X_val, Y_val), or random
    ones of the same shape when the data is absent (the timing depends on shapes only)."""
    try:
        data = load("cat")
        X, Y, source = data.X, data.Y, "cat data"
    except DataError:
        rng = np.random.default_rng(0)
        X, Y = rng.random((12288, 209)), (rng.random((1, 209)) < 0.34).astype(float)
        source = "random X (cat data not found: set DLCORE_DATA_DIR)"
    val = (X[:, m:m + m_val], Y[:, m:m + m_val]) if m_val else (None, None)
    return X[:, :m], Y[:, :m], *val, source


def time_dlcore(dims, X, Y, X_val, Y_val, iterations, form):
    """Seconds per iteration between the first and the last report of one training run."""
    arch = nn.Architecture(dims, "relu", "sigmoid", relu_grad_at_zero=0)
    W, b = nn.initialize(dims, "fan_in", 1.0, np.random.RandomState(1))
    stamps = []
    result = nn.gradient_descent(X, Y, W, b, arch, 0.0075, iterations, every=EVERY, form=form,
                                 X_val=X_val, Y_val=Y_val, on_step=lambda i, c, v: stamps.append(CLOCK()))
    assert result.status == "completed", result.reason
    return (stamps[-1] - stamps[0]) / (iterations - EVERY)


def floor_products(dims, m, m_val, form, rng):
    """The matrix products of one iteration as (left, right, out) triples, and those of a validation
    forward pass, with operands of the right shapes (the values do not matter to BLAS's time)."""
    n, L = dims, len(dims) - 1
    A = [rng.standard_normal((n[l], m)) for l in range(L + 1)]        # A[0] = X
    dZ = [None] + [rng.standard_normal((n[l], m)) for l in range(1, L + 1)]
    W = [None] + [rng.standard_normal((n[l], n[l - 1])) for l in range(1, L + 1)]
    prods = []
    if form == "dual":  # Z[1] = W[1](0) X + C K + b[1]: C K alone each iteration
        prods.append((dZ[1].copy(), rng.standard_normal((m, m))))
    else:               # Z[1] = W[1] X, and dW[1] = dZ[1] X^T
        prods += [(W[1], A[0]), (dZ[1], A[0].T)]
    for l in range(2, L + 1):
        prods += [(W[l], A[l - 1]),        # forward
                  (dZ[l], A[l - 1].T),     # dW[l]
                  (W[l].T, dZ[l])]         # dA[l-1]
    val = []
    if m_val:
        Av = [rng.standard_normal((n[l], m_val)) for l in range(L)]
        val.append((dZ[1], rng.standard_normal((m, m_val))) if form == "dual" else (W[1], rng.standard_normal((n[0], m_val))))
        val += [(W[l], Av[l - 1]) for l in range(2, L + 1)]
    with_out = lambda ps: [(a, c, np.empty((a.shape[0], c.shape[1]))) for a, c in ps]
    return with_out(prods), with_out(val)


def cat_folds():
    """The cat training set's 5 stratified folds as ``nn.Fold``s (random X of the same shape without the data)."""
    from dlcore.data import kfold_indices

    X, Y, *_ = cat_arrays(209, 0)
    return [nn.Fold(X[:, tr], Y[:, tr], X[:, va], Y[:, va]) for tr, va in kfold_indices(Y, FOLDS, 0)]


def time_stacked(dims, stack, iterations, form):
    """Seconds per fold-iteration between the first and the last report of one stacked training."""
    arch = nn.Architecture(dims, "relu", "sigmoid", relu_grad_at_zero=0)
    starts = [nn.initialize(dims, "fan_in", 1.0, np.random.RandomState(s)) for s in range(stack.k)]
    stamps = []
    results = nn.gradient_descent_stacked(stack, [W for W, _ in starts], [b for _, b in starts], arch, 0.0075,
                                          iterations, every=EVERY, form=form,
                                          on_step=lambda i, c, v: stamps.append(CLOCK()))
    assert all(r.status == "completed" for r in results), [r.reason for r in results]
    return (stamps[-1] - stamps[0]) / (iterations - EVERY) / stack.k


def stacked_floor(dims, stack, form, rng):
    """The products of one stacked iteration and of its validation pass, group by group: each of
    ``floor_products``'s with a leading axis of the group's folds."""
    prods, val = [], []
    for g in stack.groups:
        k = len(g.index)
        p, v = floor_products(dims, g.m, g.m_val, form, rng)
        stack3 = lambda ps: [(np.stack([a] * k), np.stack([c] * k), np.empty((k, *o.shape))) for a, c, o in ps]
        prods += stack3(p)
        val += stack3(v)
    return prods, val


def time_floor(prods, val, iterations):
    """Seconds per iteration of the products alone, the validation ones every EVERY iterations."""
    matmul = np.matmul
    t0 = CLOCK()
    for i in range(iterations):
        for a, c, out in prods:
            matmul(a, c, out=out)
        if (i + 1) % EVERY == 0:
            for a, c, out in val:
                matmul(a, c, out=out)
    return (CLOCK() - t0) / iterations


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=2500, help="iterations per run (default 2500, >= 300)")
    p.add_argument("--repeats", type=int, default=3, help="round-robin (dlcore, floor) pairs; medians shown")
    p.add_argument("--form", choices=("dual", "direct"), default="dual", help="dlcore's first-layer form")
    p.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (default 1)")
    args = p.parse_args(argv)
    if args.iterations < 3 * EVERY or args.repeats < 1 or args.blas_threads < 1:
        p.error(f"--iterations must be >= {3 * EVERY}, --repeats and --blas-threads >= 1")
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        run(args)


def run(args):
    print(f"inner loop vs floor: form {args.form}, {args.iterations} iterations, repeats {args.repeats} (median), "
          f"numpy {np.__version__}, {args.blas_threads} BLAS thread(s), CPU time")
    print("rerun:", " ".join([sys.executable, *sys.argv]))
    rng = np.random.default_rng(0)
    for name, (dims, m, m_val) in SHAPES.items():
        X, Y, X_val, Y_val, source = cat_arrays(m, m_val)
        prods, val = floor_products(dims, m, m_val, args.form, rng)
        time_dlcore(dims, X, Y, X_val, Y_val, 3 * EVERY, args.form)  # warm-up: threads, first touch
        time_floor(prods, val, EVERY)
        ours, floor = [], []
        for _ in range(args.repeats):
            ours.append(time_dlcore(dims, X, Y, X_val, Y_val, args.iterations, args.form))
            floor.append(time_floor(prods, val, args.iterations - EVERY))
        t, f = statistics.median(ours), statistics.median(floor)
        print(f"  {name:<9} {'-'.join(map(str, dims))}, m={m}, val {m_val} ({source}): "
              f"dlcore {1e6 * t:7.1f} us/iter, floor ({len(prods)} products) {1e6 * f:6.1f} us/iter, "
              f"ratio {t / f:.2f}x")
    dims = SHAPES["cat fold"][0]
    stack = nn.FoldStack(cat_folds())
    prods, val = stacked_floor(dims, stack, args.form, rng)
    time_stacked(dims, stack, 3 * EVERY, args.form)
    ours, floor = [], []
    for _ in range(args.repeats):
        ours.append(time_stacked(dims, stack, args.iterations, args.form))
        floor.append(time_floor(prods, val, args.iterations - EVERY) / stack.k)
    t, f = statistics.median(ours), statistics.median(floor)
    print(f"  cat trial {'-'.join(map(str, dims))}, {stack.k} folds together ({' + '.join(str(len(g.index)) for g in stack.groups)}"
          f" stacked): dlcore {1e6 * t:7.1f} us per fold-iteration, floor ({len(prods)} stacked products) "
          f"{1e6 * f:6.1f} us, ratio {t / f:.2f}x")


if __name__ == "__main__":
    main()
