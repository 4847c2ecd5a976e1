import numpy as np
import pytest

from dlcore.nn import Architecture, check_xy, gradient_check, gradient_descent, initialize, predict


@pytest.mark.parametrize("X,Y,kw,message", [
    (np.zeros(5), np.zeros((1, 5)), {}, r"X must be 2-D"),
    (np.zeros((2, 5)), np.zeros(5), {}, r"Y must be 2-D"),
    (np.zeros((2, 0)), np.zeros((1, 0)), {}, r"no examples"),
    (np.zeros((2, 5)), np.zeros((1, 4)), {}, r"5 examples .* Y has 4"),
    (np.zeros((3, 5)), np.zeros((1, 5)), {"n_x": 2}, r"3 features .* n_x = 2"),
    (np.array([[0.0, np.nan]]), np.zeros((1, 2)), {}, r"NaN or infinite .* at \(0, 1\)"),
    (np.array([[0.0, np.inf]]), np.zeros((1, 2)), {}, r"NaN or infinite"),
    (np.zeros((1, 3)), np.array([[0, 1, 2]]), {}, r"labels 0 or 1 .* found 2"),
    (np.array([["a", "b"]]), np.zeros((1, 2)), {}, r"must be numeric"),
])
def test_bad_input_raises_a_clear_value_error(X, Y, kw, message):
    with pytest.raises(ValueError, match=message):
        check_xy(X, Y, **kw)


def test_linear_output_accepts_any_real_target():
    check_xy(np.zeros((2, 3)), np.array([[0.5, -2.0, 7.0]]), "linear")


ARCH = Architecture((2, 3, 1), "tanh")


def _net():
    return initialize(ARCH.layer_dims, "constant", 0.01, np.random.RandomState(1))


GOOD_X, GOOD_Y = np.random.RandomState(0).randn(2, 6), np.array([[0, 1, 0, 1, 1, 0]])


@pytest.mark.parametrize("X,Y,message", [
    (GOOD_X, np.array([[0, 2, 0, 1, 1, 0]]), r"labels 0 or 1 .* found 2"),
    (np.where(np.eye(2, 6) > 0, np.nan, GOOD_X), GOOD_Y, r"X holds 2 NaN"),
    (GOOD_X[:, :0], GOOD_Y[:, :0], r"no examples"),
    (GOOD_X, GOOD_Y.ravel(), r"Y must be 2-D"),
    (np.vstack([GOOD_X, GOOD_X]), GOOD_Y, r"4 features .* n_x = 2"),
    (GOOD_X, np.vstack([GOOD_Y, GOOD_Y]), r"2 rows; the net has n\[L\] = 1"),
])
@pytest.mark.parametrize("call", ["gradient_descent", "gradient_check"])
def test_the_training_entry_points_refuse_bad_data(X, Y, message, call):
    W, b = _net()
    with pytest.raises(ValueError, match=message):
        if call == "gradient_descent":
            gradient_descent(X, Y, W, b, ARCH, 0.1, 10)
        else:
            gradient_check(W, b, X, Y, ARCH)


def test_validation_data_is_checked_too():
    W, b = _net()
    with pytest.raises(ValueError, match=r"validation Y must hold labels 0 or 1"):
        gradient_descent(GOOD_X, GOOD_Y, W, b, ARCH, 0.1, 10, X_val=GOOD_X, Y_val=GOOD_Y * 3)
    with pytest.raises(ValueError, match=r"give both or neither"):
        gradient_descent(GOOD_X, GOOD_Y, W, b, ARCH, 0.1, 10, X_val=GOOD_X)


@pytest.mark.parametrize("lr,iterations,message", [
    (float("inf"), 10, r"learning_rate must be a positive finite"), (0.0, 10, r"learning_rate"),
    (0.1, 0, r"iterations and every must be integers >= 1"),
])
def test_bad_settings_are_refused(lr, iterations, message):
    W, b = _net()
    with pytest.raises(ValueError, match=message):
        gradient_descent(GOOD_X, GOOD_Y, W, b, ARCH, lr, iterations)


def test_parameters_of_the_wrong_shape_are_refused():
    W, b = _net()
    with pytest.raises(ValueError, match=r"W\[1\] has shape \(3, 3\); .* needs \(3, 2\)"):
        predict(([np.zeros((3, 3))] + W[1:]), b, GOOD_X, ARCH)
    with pytest.raises(ValueError, match=r"expected 2 weight matrices"):
        gradient_descent(GOOD_X, GOOD_Y, W[:1], b, ARCH, 0.1, 10)
    with pytest.raises(ValueError, match=r"X has 3 features .* n_x = 2"):
        predict(W, b, np.zeros((3, 4)), ARCH)
