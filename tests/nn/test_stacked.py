"""Stacked folds: k trainings advanced together give each fold its own training, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from dlcore import nn
from dlcore.nn import Fold, FoldStack, gradient_descent_stacked


def folds_of(rng, n_x, sizes, out="sigmoid", dtype=np.float64):
    """Random folds: (m, m_val) per fold; labels 0/1 for a sigmoid output, reals for a linear one."""
    folds = []
    for m, m_val in sizes:
        X, X_val = rng.standard_normal((n_x, m)), rng.standard_normal((n_x, m_val))
        if out == "sigmoid":
            Y, Y_val = (rng.random((1, m)) < 0.4) * 1.0, (rng.random((1, m_val)) < 0.4) * 1.0
        else:
            Y, Y_val = rng.standard_normal((1, m)), rng.standard_normal((1, m_val))
        folds.append(Fold(*(a.astype(dtype) for a in (X, Y, X_val, Y_val))))
    return folds


def inits(arch, k, dtype=np.float64, init="fan_in", scale=1.0):
    return [nn.initialize(arch.layer_dims, init, scale, np.random.RandomState(s), dtype=dtype) for s in range(k)]


def alone(folds, starts, arch, lr, iterations, form, every=7, explode_factor=1e3):
    """Each fold trained by itself with gradient_descent, with its validation costs."""
    out = []
    for fold, (W, b) in zip(folds, starts):
        W, b = [w.copy() for w in W], [x.copy() for x in b]
        out.append(nn.gradient_descent(fold.X, fold.Y, W, b, arch, lr, iterations, on_step=lambda *a: None,
                                       every=every, X_val=fold.X_val, Y_val=fold.Y_val, form=form,
                                       explode_factor=explode_factor))
    return out


def together(folds, starts, arch, lr, iterations, form, **kw):
    return gradient_descent_stacked(FoldStack(folds, folds[0].X.dtype), [W for W, _ in starts],
                                    [b for _, b in starts], arch, lr, iterations, form=form, **kw)


def assert_same(a: nn.TrainResult, b: nn.TrainResult):
    assert (a.status, a.reason, a.form) == (b.status, b.reason, b.form)
    np.testing.assert_array_equal(a.costs, b.costs)  # equal, not close
    assert a.val_iterations == b.val_iterations
    np.testing.assert_array_equal(a.val_costs, b.val_costs)
    for P, Q in zip(a.W + a.b, b.W + b.b):
        assert P.dtype == Q.dtype
        np.testing.assert_array_equal(P, Q)


def scaled_folds(scale: float):
    """Three folds of a small regression, fold 1's targets scaled by ``scale``: a step size that suits the
    others is too large for it."""
    folds = folds_of(np.random.default_rng(3), 4, [(30, 8)] * 3, "linear")
    folds[1].Y *= scale
    arch = nn.Architecture((4, 5, 1), "tanh", "linear")
    return folds, arch, inits(arch, 3)


CASES = [  # n_x, hidden units, hidden activation, ReLU'(0), output, form, dtype, learning rate
    (300, (7, 5), "relu", 0, "sigmoid", "dual", np.float64, 0.05),
    (300, (7, 5), "relu", 1, "sigmoid", "dual", np.float64, 0.05),
    (300, (6,), "tanh", 1, "sigmoid", "dual", np.float32, 0.1),
    (5, (7, 5), "leaky_relu", 0, "sigmoid", "direct", np.float64, 0.2),
    (5, (), "relu", 1, "sigmoid", "direct", np.float64, 0.5),      # logistic regression
    (5, (6,), "sigmoid", 1, "linear", "direct", np.float64, 0.1),
    (200, (6, 3), "relu", 0, "linear", "dual", np.float32, 0.01),
]


@pytest.mark.parametrize("n_x,hidden,act,at_zero,out,form,dtype,lr", CASES)
def test_each_fold_is_its_own_training_bit_for_bit(n_x, hidden, act, at_zero, out, form, dtype, lr):
    rng = np.random.default_rng(n_x + len(hidden))
    folds = folds_of(rng, n_x, [(40, 10), (41, 9), (40, 10), (39, 11)], out, dtype)  # three sizes
    arch = nn.Architecture((n_x, *hidden, 1), act, out, at_zero)
    starts = inits(arch, len(folds), dtype)
    before = [[P.copy() for P in W + b] for W, b in starts]
    stack = FoldStack(folds, dtype)
    assert [g.index for g in stack.groups] == [[0, 2], [1], [3]]
    seen = []
    got = gradient_descent_stacked(stack, [W for W, _ in starts], [b for _, b in starts], arch, lr, 60, every=7,
                                   form=form, on_step=lambda i, costs, vals: seen.append((i, costs.shape, len(vals))))
    for a, b in zip(alone(folds, starts, arch, lr, 60, form), got):
        assert_same(a, b)
    assert seen == [(i, (4, i + 1), 4) for i in [*range(6, 60, 7), 59]]
    for (W, b), old in zip(starts, before):  # the initial weights given are left as they were
        for P, Q in zip(W + b, old):
            np.testing.assert_array_equal(P, Q)


def test_a_fold_that_diverges_stops_there_and_the_others_go_on():
    folds, arch, starts = scaled_folds(1e3)
    got = gradient_descent_stacked(FoldStack(folds), [W for W, _ in starts], [b for _, b in starts], arch, 0.9, 80,
                                   form="direct", on_step=lambda *a: None, every=7)
    want = alone(folds, starts, arch, 0.9, 80, "direct")
    assert [r.status for r in want] == ["completed", "diverged", "completed"]
    for a, b in zip(want, got):
        assert_same(a, b)


@pytest.mark.parametrize("lr", [0.9, 2.0, 20.0])
def test_folds_that_overflow_end_as_alone_and_the_others_are_not_disturbed(lr):
    """Only non-finite costs count as divergence (explode_factor = inf): a fold's parameters overflow,
    its last step is inf * 0 for a frozen row, and the stack must still go on as each fold alone."""
    folds, arch, starts = scaled_folds(1e3)
    got = together(folds, starts, arch, lr, 400, "direct", on_step=lambda *a: None, every=7, explode_factor=np.inf)
    want = alone(folds, starts, arch, lr, 400, "direct", explode_factor=np.inf)
    assert want[1].status == "diverged"
    for a, b in zip(want, got):
        assert_same(a, b)


def test_a_cost_infinite_from_the_first_iteration_ends_that_fold_at_once():
    folds, arch, starts = scaled_folds(1e200)
    got = together(folds, starts, arch, 0.1, 30, "direct", on_step=lambda *a: None, every=7)
    assert (got[1].status, got[1].reason, got[1].iterations_run) == ("diverged", "cost inf at iteration 0", 1)
    for a, b in zip(alone(folds, starts, arch, 0.1, 30, "direct"), got):
        assert_same(a, b)


def test_auto_picks_each_size_of_fold_its_own_form():
    """Folds of 197 and 198 examples fall on either side of choose_form's switch for this net: each
    trains in the form it would have alone."""
    rng = np.random.default_rng(0)
    folds = folds_of(rng, 100, [(197, 50), (198, 49)])
    arch = nn.Architecture((100, 8, 1), "relu", "sigmoid")
    assert [nn.resolve_form("auto", 100, m, 8, 1000) for m in (197, 198)] == ["dual", "direct"]
    starts = inits(arch, 2)
    got = together(folds, starts, arch, 0.05, 1000, "auto", on_step=lambda *a: None, every=100)
    for a, b in zip(alone(folds, starts, arch, 0.05, 1000, "auto", every=100), got):
        assert_same(a, b)


def test_stop_together_ends_every_fold_where_one_diverges():
    folds, arch, starts = scaled_folds(1e3)
    got = gradient_descent_stacked(FoldStack(folds), [W for W, _ in starts], [b for _, b in starts], arch, 0.9, 80,
                                   form="direct", stop_together=True)
    diverged = alone(folds[1:2], starts[1:2], arch, 0.9, 80, "direct")[0]
    n = diverged.iterations_run
    assert got[1].status == "diverged" and n < 80
    np.testing.assert_array_equal(got[1].costs, diverged.costs)
    for f in (0, 2):
        own = alone(folds[f:f + 1], starts[f:f + 1], arch, 0.9, n, "direct")[0]
        assert got[f].status == "stopped" and got[f].reason == f"fold 1 diverged at iteration {n - 1}"
        np.testing.assert_array_equal(got[f].costs, own.costs)  # its curve as far as it went


def test_the_callback_stops_every_fold():
    rng = np.random.default_rng(4)
    folds = folds_of(rng, 6, [(20, 5), (21, 4)])
    arch = nn.Architecture((6, 3, 1), "relu", "sigmoid")
    starts = inits(arch, 2)
    got = gradient_descent_stacked(FoldStack(folds), [W for W, _ in starts], [b for _, b in starts], arch, 0.1, 100,
                                   form="direct", every=10, on_step=lambda i, c, v: i < 29)
    assert [(r.status, r.iterations_run) for r in got] == [("stopped", 30)] * 2
    assert got[0].reason == "stopped by callback at iteration 29"


def test_bad_inputs_are_refused_with_the_fold_named():
    rng = np.random.default_rng(5)
    folds = folds_of(rng, 6, [(20, 5), (21, 4)])
    arch = nn.Architecture((6, 3, 1), "relu", "sigmoid")
    starts = inits(arch, 2)
    with pytest.raises(ValueError, match="initial weights of 2 folds"):
        gradient_descent_stacked(FoldStack(folds), [starts[0][0]], [starts[0][1]], arch, 0.1, 10, form="direct")
    with pytest.raises(ValueError, match="form must be one of"):
        gradient_descent_stacked(FoldStack(folds), [W for W, _ in starts], [b for _, b in starts], arch, 0.1, 10,
                                 form="primal")
    with pytest.raises(ValueError, match="fold 1's X is float32, the stack float64"):
        FoldStack([folds[0], Fold(folds[1].X.astype(np.float32), folds[1].Y, folds[1].X_val, folds[1].Y_val)])
    with pytest.raises(ValueError, match="initial weights must be float32"):
        gradient_descent_stacked(FoldStack([Fold(*(a.astype(np.float32) for a in (f.X, f.Y, f.X_val, f.Y_val)))
                                            for f in folds]), [W for W, _ in starts], [b for _, b in starts],
                                 arch, 0.1, 10)
    folds[1].Y[0, 0] = 2.0
    with pytest.raises(ValueError, match="labels 0 or 1"):
        gradient_descent_stacked(FoldStack(folds), [W for W, _ in starts], [b for _, b in starts], arch, 0.1, 10,
                                 form="direct")
    with pytest.raises(ValueError, match="validation examples or none"):
        FoldStack([folds[0], Fold(folds[1].X, folds[1].Y)])


def test_the_cat_folds_of_a_search_trial_train_together_as_each_alone(cat_data):
    """Five stratified folds of the 209 cat images (two sizes), the dual form with the K blocks of one Gram
    matrix, as a cat.toml trial trains them."""
    from dlcore.data import kfold_indices, load

    data = load("cat")
    X, Y = data.X, data.Y
    G = X.T @ X
    pairs = kfold_indices(Y, 5, 0)
    folds = [Fold(X[:, tr], Y[:, tr], X[:, va], Y[:, va]) for tr, va in pairs]
    grams = [(G[np.ix_(tr, tr)], G[np.ix_(tr, va)]) for tr, va in pairs]
    arch = nn.Architecture((12288, 20, 7, 5, 1), "relu", "sigmoid", relu_grad_at_zero=0)
    starts = inits(arch, 5)
    stack = FoldStack(folds, gram=lambda f: grams[f])
    assert sorted(len(g.index) for g in stack.groups) == [1, 4]
    got = gradient_descent_stacked(stack, [W for W, _ in starts], [b for _, b in starts], arch, 0.0075, 150,
                                   form="dual", every=50, on_step=lambda *a: None)
    for fold, gram, (W, b), r in zip(folds, grams, starts, got):
        W, b = [w.copy() for w in W], [x.copy() for x in b]
        own = nn.gradient_descent(fold.X, fold.Y, W, b, arch, 0.0075, 150, on_step=lambda *a: None, every=50,
                                  X_val=fold.X_val, Y_val=fold.Y_val, form="dual", gram=gram)
        assert_same(own, r)
