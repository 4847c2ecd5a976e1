import warnings

import numpy as np
import pytest

from dlcore.nn import ACTIVATIONS
from dlcore.nn.activations import LEAK

Z = np.array([[-1e4, -745.0, -30.0, -1.5, -1e-3, 0.0, 1e-3, 1.5, 30.0, 745.0, 1e4]])

EXPECTED_AT_ZERO = {  # g(0), g'(0) with relu_grad_at_zero = 1, g'(0) with 0
    "sigmoid": (0.5, 0.25, 0.25),
    "tanh": (0.0, 1.0, 1.0),
    "relu": (0.0, 1.0, 0.0),
    "leaky_relu": (0.0, 1.0, 0.0),
    "linear": (0.0, 1.0, 1.0),
}


EXPECTED_AT_EXTREMES = {  # g(-1e4), g(1e4), g'(-1e4), g'(1e4)
    "sigmoid": (0.0, 1.0, 0.0, 0.0),
    "tanh": (-1.0, 1.0, 0.0, 0.0),
    "relu": (0.0, 1e4, 0.0, 1.0),
    "leaky_relu": (-100.0, 1e4, LEAK, 1.0),
    "linear": (-1e4, 1e4, 1.0, 1.0),
}


def test_every_activation_has_expectations():
    assert set(ACTIVATIONS) == set(EXPECTED_AT_ZERO) == set(EXPECTED_AT_EXTREMES)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_value_and_derivative_at_zero(name):
    g = ACTIVATIONS[name]
    z = np.zeros((1, 1))
    value, grad1, grad0 = EXPECTED_AT_ZERO[name]
    a = g.value(z)
    assert a[0, 0] == value
    assert g.grad(z, a, 1)[0, 0] == grad1
    assert g.grad(z, a, 0)[0, 0] == grad0


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    g = ACTIVATIONS[name]
    z = np.array([[-3.0, -0.7, -0.01, 0.02, 0.4, 2.5]])  # away from the kink at 0
    h = 1e-6
    numeric = (g.value(z + h) - g.value(z - h)) / (2 * h)
    np.testing.assert_allclose(g.grad(z, g.value(z)), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_extreme_inputs_give_the_limits_silently(name):
    g = ACTIVATIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            a = g.value(Z)
            d = g.grad(Z, a)
    assert np.isfinite(a).all() and np.isfinite(d).all()
    low, high, d_low, d_high = EXPECTED_AT_EXTREMES[name]
    assert (a[0, 0], a[0, -1]) == (low, high)
    assert (d[0, 0], d[0, -1]) == (d_low, d_high)


def test_sigmoid_limits_and_symmetry():
    s = ACTIVATIONS["sigmoid"].value
    a = s(Z)
    assert a[0, 0] == 0.0 and a[0, -1] == 1.0
    assert np.all(np.diff(a) >= 0)
    np.testing.assert_allclose(s(-Z[:, 2:-2]), 1 - s(Z[:, 2:-2]), atol=1e-15)


def test_sigmoid_is_the_course_formula_bit_for_bit():
    z = np.linspace(-50, 50, 1001).reshape(1, -1)
    assert np.array_equal(ACTIVATIONS["sigmoid"].value(z), 1 / (1 + np.exp(-z)))


def test_relu_family_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ACTIVATIONS["relu"].value(z), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ACTIVATIONS["leaky_relu"].value(z), [[-2.0 * LEAK, 0.0, 3.0]])
    a = ACTIVATIONS["leaky_relu"].value(z)
    np.testing.assert_array_equal(ACTIVATIONS["leaky_relu"].grad(z, a, 1), [[LEAK, 1.0, 1.0]])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_float32_stays_float32_and_silent(name):
    g = ACTIVATIONS[name]
    z = Z.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            a = g.value(z)
    assert np.isfinite(a).all()
    assert a.dtype == np.float32 and g.grad(z, a).dtype == np.float32
