"""Benchmark: the course's deep cat model, course-style NumPy vs dlcore (direct, dual, float32).

Measured: wall time (time.perf_counter) of full-batch gradient descent on the cat training set, X (12288, 209):
dims [12288, 20, 7, 5, 1], ReLU hidden, sigmoid output, W = randn / sqrt(n[l-1]) from RandomState(1),
b = 0, ReLU'(0) = 0, learning rate 0.0075, 2500 iterations, float64, cost recorded every iteration.
Loading and initialisation are not timed. Variants, in one process on the same arrays:
  course-style           the week-4 notebook's functions, written out below (computes the unused dA0)
  dlcore direct          dlcore.nn.gradient_descent(form="direct")
  dlcore dual            form="dual": W1 = W1(0) + C X^T, exact algebra, O(n1 m^2) per iteration
  dlcore direct float32  form="direct" with X, Y, W, b in float32
  torch                  the same descent with torch.autograd, CPU, float64 (only if torch imports)
  sklearn MLPClassifier  solver "sgd", batch_size = m, momentum 0, alpha 0, no shuffling, constant learning
                         rate 0.0075, tol 0: the same full-batch descent, warm-started from the course's
                         weights (one untimed fit sets up its classes and layers, then coefs_/intercepts_
                         are set and a timed fit of N iterations runs); its loss_curve_[i] is the mean
                         cross-entropy before update i, as J[i]; its ReLU'(0) is 0. Skipped without sklearn.
Each variant first runs 2 untimed iterations (warm-up); times are medians of --repeats round-robin runs,
ratios are against the course-style time of the same run, and each cost curve is compared with the
course-style one (max |J - J_course| over all iterations).

Run from the repository root (add --iterations 100 --skip-course for a quick look, --json FILE to save):
    DLCORE_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_deep_cat.py
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time

import numpy as np

from dlcore import nn
from dlcore.data import DataError, load

LAYER_DIMS = [12288, 20, 7, 5, 1]
LEARNING_RATE = 0.0075
SEED = 1
REFERENCE_FINAL_COST = 0.088439943441702  # runs.deep_cat.costs["2499"] in course_results.json


# ---- course-style implementation (week-4 notebook style, deliberately unoptimised) ------------------

def initialize_parameters_deep(layer_dims, rng):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = rng.randn(layer_dims[l], layer_dims[l - 1]) / np.sqrt(layer_dims[l - 1])
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z)), Z


def relu(Z):
    return np.maximum(0, Z), Z


def linear_activation_forward(A_prev, W, b, activation):
    Z = W.dot(A_prev) + b
    linear_cache = (A_prev, W, b)
    A, activation_cache = sigmoid(Z) if activation == "sigmoid" else relu(Z)
    return A, (linear_cache, activation_cache)


def L_model_forward(X, parameters):
    caches, A, L = [], X, len(parameters) // 2
    for l in range(1, L):
        A, cache = linear_activation_forward(A, parameters["W" + str(l)], parameters["b" + str(l)], "relu")
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters["W" + str(L)], parameters["b" + str(L)], "sigmoid")
    caches.append(cache)
    return AL, caches


def compute_cost(AL, Y):
    m = Y.shape[1]
    cost = (1. / m) * (-np.dot(Y, np.log(AL).T) - np.dot(1 - Y, np.log(1 - AL).T))
    return np.squeeze(cost)


def relu_backward(dA, Z):
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, Z):
    s = 1 / (1 + np.exp(-Z))
    return dA * s * (1 - s)


def linear_backward(dZ, linear_cache):
    A_prev, W, b = linear_cache
    m = A_prev.shape[1]
    dW = 1. / m * np.dot(dZ, A_prev.T)
    db = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)  # for layer 1 this is dA0 = W1.T dZ1: computed, never used
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    linear_cache, Z = cache
    dZ = sigmoid_backward(dA, Z) if activation == "sigmoid" else relu_backward(dA, Z)
    return linear_backward(dZ, linear_cache)


def L_model_backward(AL, Y, caches):
    grads, L = {}, len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = \
        linear_activation_backward(dAL, caches[L - 1], "sigmoid")
    for l in reversed(range(L - 1)):
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(l + 1)], caches[l], "relu")
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
    return grads


def update_parameters(parameters, grads, learning_rate):
    for l in range(1, len(parameters) // 2 + 1):
        parameters["W" + str(l)] = parameters["W" + str(l)] - learning_rate * grads["dW" + str(l)]
        parameters["b" + str(l)] = parameters["b" + str(l)] - learning_rate * grads["db" + str(l)]
    return parameters


def run_course(X, Y, iterations):
    parameters = initialize_parameters_deep(LAYER_DIMS, np.random.RandomState(SEED))
    costs = np.empty(iterations)
    t0 = time.perf_counter()
    for i in range(iterations):
        AL, caches = L_model_forward(X, parameters)
        costs[i] = compute_cost(AL, Y)
        grads = L_model_backward(AL, Y, caches)
        parameters = update_parameters(parameters, grads, LEARNING_RATE)
    return time.perf_counter() - t0, costs


# ---- dlcore and torch ------------------------------------------------------------------------------

ARCH = nn.Architecture(tuple(LAYER_DIMS), "relu", "sigmoid", relu_grad_at_zero=0)


def run_dlcore(X, Y, iterations, form, dtype=np.float64):
    X, Y = X.astype(dtype), Y.astype(dtype)
    W, b = nn.initialize(LAYER_DIMS, "fan_in", 1.0, np.random.RandomState(SEED), dtype=dtype)
    t0 = time.perf_counter()
    result = nn.gradient_descent(X, Y, W, b, ARCH, LEARNING_RATE, iterations, form=form)
    seconds = time.perf_counter() - t0
    assert result.status == "completed", result.reason
    return seconds, result.costs


def run_torch(X, Y, iterations):
    import torch
    init = initialize_parameters_deep(LAYER_DIMS, np.random.RandomState(SEED))
    L, m = len(LAYER_DIMS) - 1, Y.shape[1]
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    params = [torch.from_numpy(init[k + str(l)]).requires_grad_() for l in range(1, L + 1) for k in "Wb"]
    costs = np.empty(iterations)
    t0 = time.perf_counter()
    for i in range(iterations):
        A = Xt
        for l in range(L):
            Z = params[2 * l] @ A + params[2 * l + 1]
            A = torch.sigmoid(Z) if l == L - 1 else torch.relu(Z)  # relu backward: 0 at z = 0
        cost = -(Yt * torch.log(A) + (1 - Yt) * torch.log(1 - A)).sum() / m
        cost.backward()
        with torch.no_grad():
            for P in params:
                P -= LEARNING_RATE * P.grad
                P.grad = None
        costs[i] = cost.item()
    return time.perf_counter() - t0, costs


def run_sklearn(X, Y, iterations):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    init = initialize_parameters_deep(LAYER_DIMS, np.random.RandomState(SEED))
    L = len(LAYER_DIMS) - 1
    clf = MLPClassifier(hidden_layer_sizes=LAYER_DIMS[1:-1], activation="relu", solver="sgd", alpha=0.0,
                        batch_size=X.shape[1], learning_rate="constant", learning_rate_init=LEARNING_RATE,
                        momentum=0.0, nesterovs_momentum=False, shuffle=False, tol=0.0,
                        n_iter_no_change=iterations + 1, max_iter=1, warm_start=True, random_state=0)
    Xs, y = X.T, Y.ravel().astype(int)  # sklearn: examples in rows, 1-D labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xs, y)  # untimed: one step from sklearn's own weights sets up classes and layer shapes
        clf.coefs_ = [init[f"W{l}"].T.copy() for l in range(1, L + 1)]
        clf.intercepts_ = [init[f"b{l}"].ravel().copy() for l in range(1, L + 1)]
        clf.set_params(max_iter=iterations)
        t0 = time.perf_counter()
        clf.fit(Xs, y)  # warm start from coefs_, intercepts_
        seconds = time.perf_counter() - t0
    assert clf.n_iter_ == iterations, clf.n_iter_
    return seconds, np.array(clf.loss_curve_[-iterations:])


# ---- report ----------------------------------------------------------------------------------------

def header():
    cpu = platform.processor()
    if not cpu and os.path.exists("/proc/cpuinfo"):  # Linux leaves processor() empty
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {cpu}".strip(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [f"{p.get('internal_api')} {p.get('version')} ({p.get('threading_layer')}, "
                        f"{p.get('num_threads')} threads, {p.get('architecture')})"
                        for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        info["blas"] = [f"{blas.get('name')} {blas.get('version')} (threadpoolctl not installed)"]
    env = f"DLCORE_DATA_DIR={shlex.quote(os.environ.get('DLCORE_DATA_DIR', ''))} "
    info["command"] = env + shlex.join([sys.executable, *sys.argv])
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=2500, help="iterations per run (default 2500)")
    p.add_argument("--repeats", type=int, default=1, help="runs per variant; the median time is shown")
    p.add_argument("--skip-course", action="store_true", help="skip the slow course-style run")
    p.add_argument("--skip-sklearn", action="store_true", help="skip the slow scikit-learn MLPClassifier run")
    p.add_argument("--json", metavar="FILE", help="also write the measured numbers to FILE")
    args = p.parse_args(argv)
    if args.iterations < 1 or args.repeats < 1:
        p.error("--iterations and --repeats must be >= 1")

    try:
        data = load("cat")
    except DataError as e:
        sys.exit(f"error: cat data not found ({e}); set DLCORE_DATA_DIR to the directory holding "
                 "catvnoncat/, e.g. DLCORE_DATA_DIR=../shared/data")
    X, Y = data.X, data.Y

    info = header()
    print("deep cat benchmark:", " ".join(f"{k}={v}" for k, v in info.items() if k not in ("blas", "command")))
    for line in info["blas"] or ["none found by threadpoolctl"]:
        print("BLAS:", line)
    print("rerun:", info["command"])
    print(f"model: dims {LAYER_DIMS}, relu/sigmoid, ReLU'(0)=0, lr {LEARNING_RATE}, {args.iterations} iterations, "
          f"X {X.shape}, repeats {args.repeats} (median)")
    init_course = initialize_parameters_deep(LAYER_DIMS, np.random.RandomState(SEED))
    W, b = nn.initialize(LAYER_DIMS, "fan_in", 1.0, np.random.RandomState(SEED))
    same = all(np.array_equal(init_course[f"W{l + 1}"], W[l]) for l in range(len(W)))
    print(f"initial weights identical (course-style vs dlcore): {'yes' if same else 'NO'}")

    variants = {}
    if not args.skip_course:
        variants["course-style"] = lambda n: run_course(X, Y, n)
    variants["dlcore direct"] = lambda n: run_dlcore(X, Y, n, "direct")
    variants["dlcore dual"] = lambda n: run_dlcore(X, Y, n, "dual")
    variants["dlcore direct float32"] = lambda n: run_dlcore(X, Y, n, "direct", np.float32)
    try:
        import torch
        variants[f"torch {torch.__version__} autograd"] = lambda n: run_torch(X, Y, n)
        torch_note = f"torch: CPU, float64, {torch.get_num_threads()} threads"
    except ImportError:
        torch_note = "torch: skipped (not installed; `pip install torch` to add a CPU autograd comparison)"

    if args.skip_sklearn:
        sklearn_note = "sklearn: skipped (--skip-sklearn)"
    else:
        try:
            import sklearn
            variants[f"sklearn {sklearn.__version__} MLP"] = lambda n: run_sklearn(X, Y, n)
            sklearn_note = "sklearn: MLPClassifier, sgd, batch_size = m, momentum 0, alpha 0, no shuffle, warm start"
        except ImportError:
            sklearn_note = "sklearn: skipped (not installed; `pip install scikit-learn` for the MLPClassifier arm)"

    for run in variants.values():  # warm-up: BLAS threads, first touch of memory
        run(2)
    times, curves = {name: [] for name in variants}, {}
    for _ in range(args.repeats):  # round-robin, so a busy spell hits every variant alike
        for name, run in variants.items():
            seconds, costs = run(args.iterations)
            times[name].append(seconds)
            curves[name] = costs
    median = {name: statistics.median(t) for name, t in times.items()}
    course_s = median.get("course-style")
    course = curves.get("course-style")

    print(f"\ntime for {args.iterations} iterations:")
    for name, s in median.items():
        r = course_s / s if course_s else None
        base = ("" if r is None else "  (baseline)" if name == "course-style" else
                f"  ({r:.1f}x faster than course-style)" if r >= 1 else f"  ({1 / r:.1f}x slower than course-style)")
        print(f"  {name + ':':<26}{s:8.2f} s  {1e3 * s / args.iterations:7.2f} ms/iter{base}")
    print(torch_note)
    print(sklearn_note)
    mlp = next((name for name in median if name.startswith("sklearn")), None)
    if mlp:
        for name in (n for n in median if n.startswith("dlcore")):
            print(f"  {name + ':':<26}{median[mlp] / median[name]:8.1f}x faster than MLPClassifier")

    print("\ncost curves:" + ("" if course is not None else " (no course-style curve: --skip-course)"))
    results = {}
    for name, costs in curves.items():
        diff = float(np.max(np.abs(costs - course))) if course is not None and name != "course-style" else None
        ref = float(costs[-1]) - REFERENCE_FINAL_COST if args.iterations == 2500 else None
        note = "" if ref is None else f"  ({ref:+.1e} vs reference)"
        note += "" if diff is None else f"   max |J - J_course| {diff:.2e}"
        note += "  (float32, for information)" if "float32" in name and diff is not None else ""
        if mlp and name != mlp:
            vs_mlp = float(np.max(np.abs(costs - curves[mlp])))
            note += f"   max |J - J_MLP| {vs_mlp:.2e}"
        print(f"  {name + ':':<26}final J {costs[-1]:.15f}{note}")
        results[name] = {"seconds_median": median[name], "seconds_all": times[name],
                         "speedup_vs_course": course_s / median[name] if course_s else None,
                         "final_cost": float(costs[-1]), "final_cost_minus_reference": ref,
                         "max_abs_cost_diff_vs_course": diff,
                         "max_abs_cost_diff_vs_mlp": float(np.max(np.abs(costs - curves[mlp]))) if mlp else None,
                         "speedup_vs_mlp": median[mlp] / median[name] if mlp else None}
    if args.iterations == 2500:
        print(f"  {'reference:':<26}final J {REFERENCE_FINAL_COST:.15f}  (runs.deep_cat, course_results.json)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "iterations": args.iterations, "repeats": args.repeats, "torch": torch_note,
                       "sklearn": sklearn_note,
                       "reference_final_cost": REFERENCE_FINAL_COST, "results": results}, f, indent=1)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
