import numpy as np
import pytest

from dlcore.nn import initialize


@pytest.mark.parametrize("key,dims,seed", [
    ("seed1_x0.01_dims_3_2_1", (3, 2, 1), 1),
    ("planar_seed2_x0.01_dims_2_4_1", (2, 4, 1), 2),
])
def test_initial_weights_match_the_course(reference, key, dims, seed):
    ref = reference["init"][key]
    W, b = initialize(dims, "constant", 0.01, np.random.RandomState(seed))
    np.testing.assert_allclose(W[0], ref["W1"], atol=reference["init"]["atol"], rtol=0)
    np.testing.assert_allclose(W[1], ref["W2"], atol=reference["init"]["atol"], rtol=0)
    assert all(np.array_equal(bl, np.zeros((n, 1))) for bl, n in zip(b, dims[1:]))


def test_step_by_step_weights(reference):
    ref = reference["init"]["step_by_step_seed3_x0.01_dims_5_4_3"]
    W, _ = initialize((5, 4, 3), "constant", 0.01, np.random.RandomState(3))
    np.testing.assert_allclose(W[0][0], ref["W1_row0"], atol=1e-8, rtol=0)
    np.testing.assert_allclose(W[1], ref["W2"], atol=1e-8, rtol=0)


def test_schemes_show_their_factor():
    dims = (50, 8, 1)
    draws = np.random.RandomState(0)
    G1, G2 = draws.randn(8, 50), draws.randn(1, 8)
    for scheme, f1 in [("constant", 0.3), ("fan_in", 0.3 / np.sqrt(50)), ("he", 0.3 * np.sqrt(2 / 50))]:
        W, _ = initialize(dims, scheme, 0.3, np.random.RandomState(0))
        np.testing.assert_allclose(W[0], G1 * f1, rtol=1e-15)
    W, b = initialize(dims, "zeros")
    assert not any(w.any() for w in W) and not any(x.any() for x in b)


def test_fan_in_matches_the_course_deep_initialiser_bit_for_bit():
    rng = np.random.RandomState(1)
    expected = [rng.randn(20, 100) / np.sqrt(100), rng.randn(7, 20) / np.sqrt(20)]
    W, _ = initialize((100, 20, 7), "fan_in", 1.0, np.random.RandomState(1))
    assert all(np.array_equal(a, e) for a, e in zip(W, expected))


def test_same_seed_same_weights_and_no_global_state():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    W1, _ = initialize((6, 4, 1), "he", 1.0, np.random.RandomState(7))
    W2, _ = initialize((6, 4, 1), "he", 1.0, np.random.RandomState(7))
    assert all(np.array_equal(a, c) for a, c in zip(W1, W2))
    assert np.array_equal(np.random.get_state()[1], before)


def test_float32_and_errors():
    W, b = initialize((3, 2, 1), "constant", 0.01, np.random.RandomState(1), dtype=np.float32)
    assert W[0].dtype == np.float32 and b[1].dtype == np.float32
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'"):
        initialize((3, 1), "xavier", 1.0, np.random.RandomState(1))
    with pytest.raises(ValueError, match="rng"):
        initialize((3, 1), "he", 1.0)
