import warnings

import numpy as np
import pytest

from dlcore.nn import HIDDEN_ACTIVATIONS, Architecture, choose_form, gradient_descent, initialize


def problem(n_x, m, output, seed=0, n_val=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m + n_val))
    w = rng.standard_normal(n_x)
    t = w @ X / np.sqrt(n_x)
    Y = (t > 0).astype(float).reshape(1, -1) if output == "sigmoid" else (t + 0.1 * rng.standard_normal(t.size)).reshape(1, -1)
    return X[:, :m], Y[:, :m], X[:, m:], Y[:, m:]


def train(arch, X, Y, form, lr=0.05, iters=300, seed=1, **kw):
    W, b = initialize(arch.layer_dims, "fan_in", 1.0, np.random.RandomState(seed))
    return gradient_descent(X, Y, W, b, arch, lr, iters, form=form, **kw)


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("dims", [(60, 7, 1), (45, 6, 4, 1), (80, 1)])
def test_dual_form_equals_direct_form(hidden, output, dims):
    X, Y, Xv, Yv = problem(dims[0], 25, output, n_val=9)
    arch = Architecture(dims, hidden, output, relu_grad_at_zero=0)
    kw = dict(on_step=lambda i, c, v: None, every=50, X_val=Xv, Y_val=Yv)
    direct = train(arch, X, Y, "direct", **kw)
    dual = train(arch, X, Y, "dual", **kw)
    assert direct.status == dual.status == "completed"
    # relative 1e-10; the floor matters only where a linear fit interpolates and J falls to ~1e-20
    np.testing.assert_allclose(dual.costs, direct.costs, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dual.val_costs, direct.val_costs, rtol=1e-10, atol=1e-14)
    for a, c in zip(dual.W + dual.b, direct.W + direct.b):
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)


def test_cost_decreases_and_is_recorded_every_iteration():
    X, Y, _, _ = problem(3, 200, "sigmoid")
    r = train(Architecture((3, 5, 1), "tanh"), X, Y, "direct", lr=0.5, iters=400)
    assert r.costs.shape == (400,) and r.iterations_run == 400
    assert r.costs[-1] < 0.5 * r.costs[0]


def test_callback_schedule_and_stop():
    X, Y, Xv, Yv = problem(3, 50, "sigmoid", n_val=10)
    seen = []

    def on_step(i, costs, val):
        seen.append((i, len(costs), val))
        return i < 49

    r = train(Architecture((3, 4, 1), "relu"), X, Y, "auto", iters=100, on_step=on_step, every=25,
              X_val=Xv, Y_val=Yv)
    assert [(i, n) for i, n, _ in seen] == [(24, 25), (49, 50)]
    assert all(np.isfinite(v.cost) and v.AL.shape == (1, 10) for _, _, v in seen)
    assert r.status == "stopped" and r.iterations_run == 50 and r.val_iterations == [24, 49]


def test_last_iteration_always_reported():
    X, Y, _, _ = problem(3, 20, "sigmoid")
    seen = []
    train(Architecture((3, 1)), X, Y, "direct", iters=7, every=5, on_step=lambda i, c, v: seen.append(i))
    assert seen == [4, 6]


@pytest.mark.parametrize("form", ["direct", "dual"])
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_divergence_ends_with_a_status_and_no_warnings(form, output):
    X, Y, _, _ = problem(40, 20, output)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = train(Architecture((40, 6, 1), "relu", output), X * 50, Y, form, lr=1e4, iters=500)
    assert r.status == "diverged" and r.iterations_run < 500
    assert "iteration" in r.reason


def test_float32_end_to_end():
    X, Y, _, _ = problem(30, 40, "sigmoid")
    arch = Architecture((30, 5, 1), "relu")
    W, b = initialize(arch.layer_dims, "he", 1.0, np.random.RandomState(0), dtype=np.float32)
    r = gradient_descent(X.astype(np.float32), Y.astype(np.float32), W, b, arch, 0.1, 200)
    assert all(p.dtype == np.float32 for p in r.W + r.b)
    ref = train(arch, X, Y, "direct", lr=0.1, iters=200, seed=0)
    assert abs(r.costs[-1] - ref.costs[-1]) < 1e-2


def test_choose_form_prefers_dual_only_when_n_x_exceeds_m():
    assert choose_form(12288, 209, 20, 2500) == "dual"
    assert choose_form(2, 400, 4, 10000) == "direct"
    with pytest.raises(ValueError, match="form must be one of"):
        train(Architecture((3, 1)), *problem(3, 5, "sigmoid")[:2], form="fast")


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("at_zero", [0, 1])
def test_training_steps_equal_the_table_forward_and_backward_bit_for_bit(hidden, at_zero):
    """The training loop's own passes (buffers, ReLU's g' kept from the forward pass) against
    ``forward``/``backward`` without a workspace (the activation table's g and g'), three steps, on
    integer inputs and weights so that exact zeros occur in Z, where ReLU'(0) matters."""
    from dlcore.nn import backward, cost, forward

    arch = Architecture((4, 5, 3, 1), hidden, "sigmoid", relu_grad_at_zero=at_zero)
    rng = np.random.default_rng(7)
    X = rng.integers(-2, 3, size=(4, 12)).astype(float)
    Y = (rng.random((1, 12)) > 0.5).astype(float)
    W = [rng.integers(-1, 2, size=(n, p)).astype(float) for n, p in [(5, 4), (3, 5), (1, 3)]]
    b = [np.zeros((5, 1)), np.zeros((3, 1)), np.zeros((1, 1))]
    Wm, bm = [w.copy() for w in W], [v.copy() for v in b]
    Zs, _ = forward(Wm, bm, X, arch)
    assert (Zs[0] == 0).any() and (Zs[0] < 0).any() and (Zs[0] > 0).any()
    costs = []
    for _ in range(3):
        Zs, As = forward(Wm, bm, X, arch)
        costs.append(cost(Zs[-1], As[-1], Y))
        dW, db, _ = backward(Wm, Zs, As, X, Y, arch)
        for l in range(3):
            Wm[l] = Wm[l] - 0.1 * dW[l]
            bm[l] = bm[l] - 0.1 * db[l]
    result = gradient_descent(X, Y, W, b, arch, 0.1, 3, form="direct")
    assert result.costs.tolist() == costs
    for got, want in zip(W + b, Wm + bm):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("alpha", [0.3, np.float64(0.3), np.float32(0.3), np.array(0.3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [7, np.int64(7)])
def test_dual_update_is_the_written_step_in_numpy_s_dtypes(alpha, dtype, m):
    """C -= alpha (1/m dZ[1]) with numpy's own promotions, buffer or not (a float64 alpha or a numpy
    integer m widens a float32 step before it is subtracted)."""
    from dlcore.nn.train import DualFirstLayer

    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 7)).astype(dtype)
    first = DualFirstLayer(rng.standard_normal((4, 9)).astype(dtype), X)
    C = rng.standard_normal((4, 7)).astype(dtype)
    first.C = C.copy()
    for _ in range(2):
        dZ1 = rng.standard_normal((4, 7)).astype(dtype)
        first.update(dZ1, alpha, m)
        C -= alpha * (1.0 / m * dZ1)
        np.testing.assert_array_equal(first.C, C)


def test_cost_takes_numpy_s_dtype_of_its_terms():
    """A float32 Z[L] with float64 labels: the cost in float64, as numpy computes the formula."""
    from dlcore.nn import cost

    rng = np.random.default_rng(5)
    Z = (rng.standard_normal((1, 31)) * 4).astype(np.float32)
    for Y in ((rng.random((1, 31)) > 0.5).astype(np.float64), (rng.random((1, 31)) > 0.5).astype(np.float32)):
        want = (np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z))) - Y * Z).sum() / 31
        assert cost(Z, None, Y) == float(want)
