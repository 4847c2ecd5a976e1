"""scikit-learn's MLPClassifier as an oracle nobody here wrote: full-batch gradient descent from the
same initial weights must give dlcore's cost curve.

MLPClassifier with solver "sgd", batch_size = m, no momentum, alpha = 0, no shuffling and a constant
learning rate is the course's batch gradient descent: its loss_curve_[i] is the mean cross-entropy
of the parameters after i updates (sklearn computes the loss before each update), as dlcore's
costs[i]; its ReLU'(0) is 0 (``delta[A == 0] = 0``), as ``relu_grad_at_zero=0``. The curves differ
only by rounding (sklearn divides by m where the course multiplies by 1/m, and clips probabilities
to [eps, 1 - eps] in the loss, which these runs never reach).
"""
import warnings

import numpy as np
import pytest

from dlcore import nn
from dlcore.data import load

sklearn_nn = pytest.importorskip("sklearn.neural_network", reason="scikit-learn is not installed (test extra)")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

ITERATIONS = 40


def sklearn_curve(X, Y, W, b, learning_rate, iterations):
    """MLPClassifier's loss curve over ``iterations`` full-batch steps from W, b (course layout)."""
    clf = sklearn_nn.MLPClassifier(
        hidden_layer_sizes=[w.shape[0] for w in W[:-1]], activation="relu", solver="sgd", alpha=0.0,
        batch_size=X.shape[1], learning_rate="constant", learning_rate_init=learning_rate, momentum=0.0,
        nesterovs_momentum=False, shuffle=False, tol=0.0, n_iter_no_change=iterations + 1, max_iter=1,
        warm_start=True, random_state=0)
    y = Y.ravel().astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X.T, y)  # one step from sklearn's own weights: sets up the classes and layer shapes
        clf.coefs_ = [w.T.copy() for w in W]  # sklearn's layers are (n[l-1], n[l]) and b[l] is 1-D
        clf.intercepts_ = [v.ravel().copy() for v in b]
        clf.set_params(max_iter=iterations)
        clf.fit(X.T, y)  # warm start: continues from coefs_ and intercepts_
    assert clf.n_iter_ == iterations
    return np.array(clf.loss_curve_[-iterations:])


def dlcore_curve(X, Y, dims, learning_rate, iterations, form, seed=1):
    arch = nn.Architecture(dims, "relu", "sigmoid", relu_grad_at_zero=0)
    W, b = nn.initialize(dims, "fan_in", 1.0, np.random.RandomState(seed))
    init = [w.copy() for w in W], [v.copy() for v in b]
    result = nn.gradient_descent(X, Y, W, b, arch, learning_rate, iterations, form=form)
    assert result.status == "completed"
    return result.costs, init


def generated(n_x=50, m=120, seed=7):
    """A small problem with no files: labels of a random teacher net on Gaussian inputs."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    t = np.tanh(rng.standard_normal((5, n_x)) @ X / np.sqrt(n_x))
    Y = (rng.standard_normal(5) @ t > 0).astype(float).reshape(1, -1)
    return X, Y


@pytest.mark.parametrize("form", ["direct", "dual"])
def test_generated_data_curve_equals_mlpclassifier(form):
    X, Y = generated()
    dims = (X.shape[0], 8, 4, 1)
    costs, (W, b) = dlcore_curve(X, Y, dims, 0.3, ITERATIONS, form)
    theirs = sklearn_curve(X, Y, W, b, 0.3, ITERATIONS)
    assert costs[-1] < 0.9 * costs[0]  # the run learns: the curves are not flat
    np.testing.assert_allclose(costs, theirs, rtol=0, atol=1e-12)


def test_generated_data_oracle_sees_a_different_net():
    """The comparison can fail: sklearn stepping at 0.31 instead of 0.3 is far off dlcore's curve."""
    X, Y = generated()
    dims = (X.shape[0], 8, 4, 1)
    costs, (W, b) = dlcore_curve(X, Y, dims, 0.3, ITERATIONS, "direct")
    theirs = sklearn_curve(X, Y, W, b, 0.31, ITERATIONS)
    assert np.max(np.abs(costs - theirs)) > 1e-6


def test_deep_cat_curve_equals_mlpclassifier(cat_data):
    data = load("cat")
    dims = (12288, 20, 7, 5, 1)
    costs, (W, b) = dlcore_curve(data.X, data.Y, dims, 0.0075, ITERATIONS, "dual")
    theirs = sklearn_curve(data.X, data.Y, W, b, 0.0075, ITERATIONS)
    np.testing.assert_allclose(costs, theirs, rtol=0, atol=1e-12)
