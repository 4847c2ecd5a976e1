import numpy as np
import pytest

from dlcore.nn import HIDDEN_ACTIVATIONS, Architecture, backward, forward, gradient_check, initialize


def tiny_problem(output, seed=0, dims=(4, 5, 3, 1), m=7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random((dims[-1], m)) > 0.5).astype(float) if output == "sigmoid" else rng.standard_normal((dims[-1], m))
    return X, Y


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("at_zero", [0, 1])
def test_backward_matches_centred_differences(hidden, output, at_zero):
    arch = Architecture((4, 5, 3, 1), hidden, output, at_zero)
    X, Y = tiny_problem(output)
    W, b = initialize(arch.layer_dims, "constant", 0.5, np.random.RandomState(3))
    for l in range(arch.L):  # non-zero biases so that every gradient is exercised
        b[l] += 0.1 * (l + 1)
    assert gradient_check(W, b, X, Y, arch) < 1e-7


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_logistic_and_linear_regression_gradients(output):
    arch = Architecture((3, 1), "relu", output)
    X, Y = tiny_problem(output, dims=(3, 1))
    W, b = initialize(arch.layer_dims, "constant", 0.3, np.random.RandomState(1))
    assert gradient_check(W, b, X, Y, arch) < 1e-7


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    """The check must be able to fail: break db and see the error jump."""
    import dlcore.nn.gradcheck as gc

    def bad_backward(*args, **kwargs):
        dW, db, dZ1 = backward(*args, **kwargs)
        db[0] = db[0] * 2 + 0.1
        return dW, db, dZ1

    monkeypatch.setattr(gc, "backward", bad_backward)
    arch = Architecture((4, 5, 3, 1), "tanh", "sigmoid")
    X, Y = tiny_problem("sigmoid")
    W, b = initialize(arch.layer_dims, "constant", 0.5, np.random.RandomState(3))
    assert gradient_check(W, b, X, Y, arch) > 1e-3


def test_backward_skips_dW1_when_asked():
    arch = Architecture((4, 5, 1), "relu", "sigmoid")
    X, Y = tiny_problem("sigmoid", dims=(4, 5, 1))
    W, b = initialize(arch.layer_dims, "constant", 0.5, np.random.RandomState(3))
    Zs, As = forward(W, b, X, arch)
    full = backward(W, Zs, As, X, Y, arch)
    lean = backward(W, Zs, As, X, Y, arch, need_dW1=False)
    assert lean[0][0] is None
    np.testing.assert_array_equal(full[0][0], 1.0 / X.shape[1] * (full[2] @ X.T))
