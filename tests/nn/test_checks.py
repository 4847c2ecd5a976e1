import numpy as np
import pytest

from dlcore.nn import check_xy


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
