"""Datasets read from files: the course's cat h5 files and the user's own CSV or NPZ."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError  # noqa: F401 -- importable from here, as before

CAT_FILES = {"train": ("train_catvnoncat.h5", "train_set_x", "train_set_y"),
             "test": ("test_catvnoncat.h5", "test_set_x", "test_set_y")}


def cat_directory(path: str | None) -> Path:
    """The cat data directory: ``path`` when given, else ``$DLCORE_DATA_DIR/catvnoncat``."""
    if path:
        return Path(path).expanduser()
    root = os.environ.get("DLCORE_DATA_DIR")
    if not root:
        raise DataError("cat data: no directory given; set data.path or DLCORE_DATA_DIR "
                        "(the directory that holds catvnoncat/)")
    return Path(root).expanduser() / "catvnoncat"


def load_cat(path: str | None = None):
    """The course's cat vs non-cat images: X (12288, m) in [0, 1], Y (1, m), for train and test.

    X = x.reshape(m, -1).T / 255 as in the course (row, column, channel flattening).
    Returns (X_train, Y_train, X_test, Y_test).
    """
    import h5py  # imported here: only this loader needs it

    directory = cat_directory(path)
    arrays = []
    for split, (fname, xkey, ykey) in CAT_FILES.items():
        file = directory / fname
        if not file.is_file():
            raise DataError(f"{file}: no such file (cat data directory {directory}; set data.path or DLCORE_DATA_DIR)")
        try:
            with h5py.File(file, "r") as f:
                missing = [k for k in (xkey, ykey) if k not in f]
                if missing:
                    raise DataError(f"{file}: missing key(s) {', '.join(missing)}")
                x, y = f[xkey][()], f[ykey][()]
        except OSError as e:
            raise DataError(f"{file}: not a readable HDF5 file ({e})") from None
        if x.ndim != 4 or x.shape[1:] != (64, 64, 3) or y.shape != (x.shape[0],):
            raise DataError(f"{file}: expected {xkey} (m, 64, 64, 3) and {ykey} (m,); "
                            f"got {x.shape} and {y.shape}")
        arrays += [x.reshape(x.shape[0], -1).T / 255.0, y.reshape(1, -1).astype(np.float64)]
    return tuple(arrays)


def load_csv(path: str, label_column: str | None = None):
    """A CSV with a header row, one example per row: the label column (``label_column``, else a
    column named "label", else the last one) becomes Y (1, m), the others X (n_x, m)."""
    import pandas as pd

    file = Path(path).expanduser()
    _check_header(file)
    try:
        df = pd.read_csv(file)
    except FileNotFoundError:
        raise DataError(f"{file}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{file}: not a readable CSV ({str(e).splitlines()[0]})") from None
    if len(df) == 0:
        raise DataError(f"{file}: no data rows")
    if df.shape[1] < 2:
        raise DataError(f"{file}: needs at least one feature column and one label column")
    if label_column is None:
        label_column = "label" if "label" in df.columns else df.columns[-1]
    if label_column not in df.columns:
        raise DataError(f"{file}: no label column {label_column!r} (columns: {', '.join(map(str, df.columns))})")
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise DataError(f"{file}: column {col!r} is not numeric (e.g. {df[col].iloc[0]!r})")
    Y = df[label_column].to_numpy(dtype=np.float64).reshape(1, -1)
    X = df.drop(columns=[label_column]).to_numpy(dtype=np.float64).T
    return np.ascontiguousarray(X), Y


def _check_header(file: Path):
    """Refuse a header naming a column twice: pandas would rename the second one ("a.1") silently."""
    import csv

    try:
        with open(file, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError, csv.Error):
        return  # pandas reads it and says what is wrong
    seen = set()
    for name in (h.strip() for h in header):
        if name in seen:
            raise DataError(f"{file}: column {name!r} appears twice in the header")
        seen.add(name)


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive of .npy files (or an empty one)


def load_npz(path: str):
    """An .npz holding ``X`` (m, n_x) (one example per row) and ``Y`` (m,) or (m, 1); no pickles."""
    file = Path(path).expanduser()
    try:
        with open(file, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise DataError(f"{file}: no such file") from None
    except OSError as e:
        raise DataError(f"{file}: cannot read it ({e.strerror or e})") from None
    if magic not in ZIP_MAGIC:  # np.load would try it as a pickle and blame "pickled data"
        raise DataError(f"{file}: not a valid .npz (a zip archive of .npy arrays, as numpy.savez writes)")
    try:
        with np.load(file, allow_pickle=False) as z:
            missing = [k for k in ("X", "Y") if k not in z.files]
            if missing:
                raise DataError(f"{file}: missing array(s) {', '.join(missing)} (has {', '.join(z.files) or 'none'})")
            x, y = z["X"], z["Y"]
    except FileNotFoundError:
        raise DataError(f"{file}: no such file") from None
    except (OSError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        if "allow_pickle" in str(e):
            raise DataError(f"{file}: holds pickled (object) data; dlcore reads .npz files without pickles") from None
        raise DataError(f"{file}: not a valid .npz ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if x.ndim != 2 or y.size != x.shape[0]:
        raise DataError(f"{file}: expected X (m, n_x) and Y (m,); got {x.shape} and {y.shape}")
    real = [np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating) for a in (x, y)]
    if not all(real):
        raise DataError(f"{file}: X and Y must hold real numbers (got {x.dtype} and {y.dtype})")
    return np.ascontiguousarray(x.T, dtype=np.float64), y.reshape(1, -1).astype(np.float64)
