import hashlib
import re

import h5py
import numpy as np
import pytest

from dlcore.data import DataError, fingerprint, load


def test_planar_flower_is_the_course_array(reference):
    checks = reference["data"]["planar_flower"]["checks"]
    d = load("planar")
    assert d.X.shape == (2, 400) and d.Y.shape == (1, 400)
    assert hashlib.sha256(np.ascontiguousarray(d.X).tobytes()).hexdigest() == checks["sha256_X_float64_C_order"]
    # The reference file labels these "X[:,0]" and "X[:,200]", but its own hash fixes the array, whose
    # values they are at X[0, 0:2] and X[0, 200:202] (a mislabel in the reference file).
    np.testing.assert_array_equal(d.X[0, 0:2], checks["X[:,0]"])
    np.testing.assert_array_equal(d.X[0, 200:202], checks["X[:,200]"])
    assert d.Y[0, :200].sum() == 0 and d.Y[0, 200:].sum() == 200
    assert not d.has_test


def test_cat_data(cat_data, reference):
    ref = reference["data"]["catvnoncat"]
    d = load("cat")
    assert d.X.shape == (12288, 209) and d.X_test.shape == (12288, 50)
    assert d.X.sum() == ref["normalized_sums"]["train_X"]
    assert d.X_test.sum() == ref["normalized_sums"]["test_X"]
    assert d.Y.sum() == 72 and d.Y_test.sum() == 33


def test_cat_path_from_config_beats_environment(cat_data, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", "/nonexistent")
    assert load("cat", path=str(cat_data / "catvnoncat")).X.shape[1] == 209


def test_cat_missing_and_corrupt_files(tmp_path, monkeypatch):
    monkeypatch.delenv("DLCORE_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="DLCORE_DATA_DIR"):
        load("cat")
    with pytest.raises(DataError, match=r"train_catvnoncat.h5: no such file"):
        load("cat", path=str(tmp_path))
    (tmp_path / "train_catvnoncat.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(DataError, match=r"train_catvnoncat.h5: not a readable HDF5 file"):
        load("cat", path=str(tmp_path))
    with h5py.File(tmp_path / "train_catvnoncat.h5", "w") as f:
        f["train_set_x"] = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="missing key.*train_set_y"):
        load("cat", path=str(tmp_path))
    with h5py.File(tmp_path / "train_catvnoncat.h5", "w") as f:
        f["train_set_x"] = np.zeros((3, 32, 32, 3), dtype=np.uint8)
        f["train_set_y"] = np.zeros(3, dtype=np.int64)
    with pytest.raises(DataError, match=r"expected train_set_x \(m, 64, 64, 3\)"):
        load("cat", path=str(tmp_path))


@pytest.mark.parametrize("name", ["moons", "circles", "blobs"])
def test_generated_sets_are_seeded_and_balanced(name):
    a, b, c = load(name, seed=3), load(name, seed=3), load(name, seed=4)
    assert a.X.shape == (2, 400) and set(np.unique(a.Y)) == {0.0, 1.0} and a.Y.sum() == 200
    assert np.array_equal(a.X, b.X) and a.fingerprint == b.fingerprint
    assert not np.array_equal(a.X, c.X) and a.fingerprint != c.fingerprint
    assert load(name, n_samples=101).X.shape == (2, 101)


def course_planar(m, noise, seed):
    """planar_utils.load_planar_dataset of the course, with m, noise and seed as arguments."""
    np.random.seed(seed)
    N, D, a = int(m / 2), 2, 4
    X, Y = np.zeros((m, D)), np.zeros((m, 1), dtype="uint8")
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * noise
        r = a * np.sin(4 * t) + np.random.randn(N) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


@pytest.mark.parametrize("m,noise,seed", [(400, 0.2, 1), (4, 0.2, 1), (10, 0.5, 3), (1000, 0.1, 7)])
def test_planar_even_sizes_are_the_course_formula_bit_for_bit(m, noise, seed):
    X, Y = course_planar(m, noise, seed)
    d = load("planar", n_samples=m, noise=noise, seed=seed)
    assert d.X.tobytes() == X.tobytes() and np.array_equal(d.Y, Y)


@pytest.mark.parametrize("m", [5, 7, 401])
def test_planar_odd_sizes_give_class_1_the_extra_point(m):
    d = load("planar", n_samples=m)
    assert d.X.shape == (2, m) and d.Y.sum() == m // 2 + 1  # class 1 has (m + 1) / 2 points
    assert np.all(d.Y[0, : m // 2] == 0) and np.all(d.Y[0, m // 2:] == 1)
    assert not np.any(np.all(d.X == 0, axis=0))  # no made-up (0, 0) point
    # class 0 is the even size's class 0; class 1 is drawn on its petal like the others
    np.testing.assert_array_equal(d.X[:, : m // 2], load("planar", n_samples=m - 1).X[:, : m // 2])


@pytest.mark.parametrize("rows,fraction,message", [
    ("1,0\n2,1\n", 0.2, "data.test_fraction = 0.2 of 2 example(s) leaves the test split empty"),
    ("1,0\n2,1\n", 0.6, "data.test_fraction = 0.6 of 2 example(s) leaves no training example"),
    ("1,0\n2,0\n3,1\n", 0.6, "data.test_fraction = 0.6 of 3 example(s) leaves no training example of class 1"),
])
def test_a_test_fraction_that_leaves_a_part_empty_is_refused(tmp_path, rows, fraction, message):
    f = tmp_path / "small.csv"
    f.write_text("a,label\n" + rows)
    with pytest.raises(DataError, match="^" + re.escape(f"{f}: {message}")):
        load("csv", path=str(f), test_fraction=fraction)


def test_test_fraction_carves_a_stratified_test_split():
    d = load("moons", test_fraction=0.25, split_seed=5)
    assert d.X.shape[1] == 300 and d.X_test.shape[1] == 100 and d.Y_test.sum() == 50
    full = load("moons")
    assert d.fingerprint == full.fingerprint  # the fingerprint is of the data loaded, before splits


def test_csv_and_npz(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    d = load("csv", path=str(csv))
    np.testing.assert_array_equal(d.X, [[1, 3, 5], [2, 4, 6]])
    np.testing.assert_array_equal(d.Y, [[0, 1, 1]])
    csv.write_text("y,a\n1,2\n0,4\n")
    d = load("csv", path=str(csv), label_column="y")
    np.testing.assert_array_equal(d.X, [[2, 4]])
    npz = tmp_path / "d.npz"
    np.savez(npz, X=np.arange(6.0).reshape(3, 2), Y=np.array([0, 1, 0]))
    d = load("npz", path=str(npz))
    np.testing.assert_array_equal(d.X, [[0, 2, 4], [1, 3, 5]])


@pytest.mark.parametrize("content,kind,message", [
    ("a,label\nx,0\ny,1\n", "csv", r"column 'a' is not numeric"),
    ("a,label\n1,0\nnan,1\n", "csv", r"NaN or infinite"),
    ("a\n1\n2\n", "csv", r"at least one feature column"),
    ("a,b\n1,0\n", "csv_label_missing", r"no label column 'z'"),
    ("", "csv", r"not a readable CSV"),
    ("a,label\n", "csv", r"bad.csv: no data rows"),
])
def test_bad_csv(tmp_path, content, kind, message):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(DataError, match=message) as e:
        load("csv", path=str(f), label_column="z" if kind == "csv_label_missing" else None)
    assert str(f) in str(e.value)


def test_bad_npz_and_missing_files(tmp_path):
    f = tmp_path / "bad.npz"
    np.savez(f, X=np.zeros((3, 2)))
    with pytest.raises(DataError, match="missing array.*Y"):
        load("npz", path=str(f))
    np.savez(f, X=np.array([{"a": 1}], dtype=object), Y=np.zeros(1))
    with pytest.raises(DataError, match="without pickles"):
        load("npz", path=str(f))
    with pytest.raises(DataError, match="no such file"):
        load("npz", path=str(tmp_path / "nope.npz"))
    with pytest.raises(DataError, match="needs data.path"):
        load("csv")
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        load("mnist")


def test_fingerprint_sees_one_changed_value():
    X = np.arange(12.0).reshape(3, 4)
    Y = np.array([[0.0, 1, 0, 1]])
    before = fingerprint(X, Y)
    X[2, 3] += 1e-12
    assert fingerprint(X, Y) != before
    assert fingerprint(X, Y) == fingerprint(X.copy(), Y.copy())
    assert fingerprint(X, Y, None) != fingerprint(X, Y)
