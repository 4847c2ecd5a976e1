"""Run configuration: frozen dataclasses built from TOML, validated with errors that name the key.

A run config file has three sections:

    [data]   name, path, validation_fraction, test_fraction, split_seed, n_samples, noise, seed, label_column,
             standardize
    [model]  hidden_units, hidden_activation, output_activation, init, init_scale, relu_grad_at_zero, seed
    [train]  learning_rate, iterations, dtype, form, blas_threads

``RunConfig.to_dict()`` is what gets logged and what reproduces a run.
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .data import DATASETS
from .errors import ConfigError
from .nn import FORMS, HIDDEN_ACTIVATIONS, INIT_SCHEMES, OUTPUT_ACTIVATIONS
GRAMS = ("dataset", "run")  # how the dual form forms K (TrainConfig.gram)


def spec(default=MISSING, *, kind, check=None, rule="", choices=None, doc=""):
    """A config field: ``kind`` is int, float, str, bool, "int_list" or "str_list"; ``check(value)`` a
    predicate described by ``rule``; ``choices`` the allowed values."""
    meta = {"kind": kind, "check": check, "rule": rule, "choices": choices, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def positive(v):
    return math.isfinite(v) and v > 0


def non_negative(v):
    return math.isfinite(v) and v >= 0


def seed_range(v):
    return 0 <= v < 2**32


def fraction(v):
    return 0 <= v < 1


STANDARDIZED_BY_DEFAULT = ("csv", "npz")


@dataclass(frozen=True)
class DataConfig:
    name: str = spec("planar", kind=str, choices=DATASETS, doc="dataset")
    path: str | None = spec(None, kind=str, doc="file (csv, npz) or directory (cat); cat: else $DLCORE_DATA_DIR/catvnoncat")
    validation_fraction: float = spec(0.0, kind=float, check=fraction, rule="must be in [0, 1)",
                                      doc="held out of the training set, stratified")
    test_fraction: float = spec(0.0, kind=float, check=fraction, rule="must be in [0, 1)",
                                doc="test split carved out for datasets that have none")
    split_seed: int = spec(0, kind=int, check=seed_range, rule="must be in [0, 2**32)",
                           doc="seed of the validation and test splits")
    n_samples: int | None = spec(None, kind=int, check=lambda v: v >= 4, rule="must be >= 4", doc="generated sets")
    noise: float | None = spec(None, kind=float, check=non_negative, rule="must be finite and >= 0",
                                doc="generated sets")
    seed: int | None = spec(None, kind=int, check=seed_range, rule="must be in [0, 2**32)",
                            doc="seed of a generated set (planar: 1, the course's)")
    label_column: str | None = spec(None, kind=str, doc="csv: the label column (default 'label' or the last)")
    standardize: bool | None = spec(None, kind=bool, doc="scale each feature by the training part's mean and "
                                    "std; default: true for csv and npz, false for the course's datasets")

    @property
    def standardized(self) -> bool:
        """Whether inputs are standardized: as set, else by dataset. The course's datasets default to
        false so that every published course number reproduces as it was; a user's own tabular data
        (csv, npz) to true, since a net fed unscaled features mostly saturates."""
        return self.standardize if self.standardize is not None else self.name in STANDARDIZED_BY_DEFAULT


@dataclass(frozen=True)
class ModelConfig:
    hidden_units: list = spec([], kind="int_list", check=lambda v: all(n >= 1 for n in v),
                              rule="must hold whole numbers >= 1", doc="n[1..L-1]; empty: logistic regression")
    hidden_activation: str = spec("relu", kind=str, choices=HIDDEN_ACTIVATIONS)
    output_activation: str = spec("sigmoid", kind=str, choices=OUTPUT_ACTIVATIONS)
    init: str = spec("constant", kind=str, choices=tuple(INIT_SCHEMES), doc="W[l] = randn * factor")
    init_scale: float = spec(0.01, kind=float, check=positive, rule="must be finite and > 0")
    relu_grad_at_zero: int = spec(1, kind=int, choices=(0, 1), doc="ReLU'(0): notes 1, course code 0")
    seed: int = spec(1, kind=int, check=seed_range, rule="must be in [0, 2**32)",
                     doc="RandomState seed of the initial weights")


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = spec(0.0075, kind=float, check=positive, rule="must be finite and > 0", doc="alpha")
    iterations: int = spec(2500, kind=int, check=positive, rule="must be >= 1")
    dtype: str = spec("float64", kind=str, choices=("float64", "float32"))
    form: str = spec("auto", kind=str, choices=FORMS, doc="first layer: direct, dual, or the cheaper")
    gram: str = spec("dataset", kind=str, choices=GRAMS,
                     doc="the dual form's K = X^T X: blocks of one Gram matrix of the training split, computed "
                         "once per process (dataset), or each run's own (run)")
    blas_threads: int = spec(0, kind=int, check=lambda v: v >= 0, rule="must be >= 0",
                             doc="BLAS threads while training (0: one per core); logged and restored")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def blas_threads(self) -> int:
        """The BLAS thread count training uses: the configured one, else one per core."""
        return self.train.blas_threads or os.cpu_count() or 1

    def to_dict(self) -> dict:
        """The resolved config, as logged: defaults that depend on other keys (data.standardize) are
        written out, so a logged config means the same whatever later versions default to."""
        d = asdict(self)
        d["data"]["standardize"] = self.data.standardized
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "<dict>") -> "RunConfig":
        check_keys(d, {"data", "model", "train"}, where, "")
        return cls(**{name: parse_section(sec_cls, d.get(name, {}), where, name)
                      for name, sec_cls in SECTIONS.items()})

    def resolved(self) -> "RunConfig":
        """This config with its dataset-dependent defaults (data.standardize) written out."""
        return replace(self, data=replace(self.data, standardize=self.data.standardized))

    @classmethod
    def from_logged(cls, d: dict, where: str = "<logged>") -> "RunConfig":
        """A config as a run logged it (``to_dict``). Since data.standardize exists every logged config
        holds its resolved value, so a logged config without it predates input scaling: its run fed the
        data unscaled, and it is read as standardize = false. (A user's file without the key instead
        means the dataset's default: that is ``from_dict``.)"""
        data = d.get("data")
        if isinstance(data, dict) and "standardize" not in data:
            d = {**d, "data": {**data, "standardize": False}}
        train = d.get("train")  # likewise train.gram: a config without it formed each run's own K
        if isinstance(train, dict) and "gram" not in train:
            d = {**d, "train": {**train, "gram": "run"}}
        return cls.from_dict(d, where)

    def with_overrides(self, assignments, where: str = "--set") -> "RunConfig":
        """Apply ``section.key=value`` strings; the value is read as TOML (else as a string)."""
        d = asdict(self)  # not to_dict: an unset data.standardize must follow an overridden data.name
        for item in assignments:
            section, key, value = parse_assignment(item, where)
            if section not in d:
                raise ConfigError(f"{where}: unknown section {section!r} in {item!r} (sections: data, model, train)")
            if (section, key) == ("data", "path") and isinstance(value, str):
                value = str(Path(value).expanduser().absolute())  # logged as absolute: reproducible from anywhere
            d[section][key] = value
        return RunConfig.from_dict(d, where)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def load_run_config(path, overrides=()) -> RunConfig:
    """A run config file, with ``--set`` overrides; a relative data.path is taken from the file's folder.
    A path that does not exist may name a shipped config: ``planar``, ``course/deep``,
    ``experiments/course/deep.toml`` (see ``dlcore.shipped``)."""
    from .shipped import resolve  # here: dlcore.shipped imports ConfigError from this module

    path = resolve(path, "config")
    doc = read_toml(path)
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str):
        data["path"] = absolute_from(path, data["path"])
    cfg = RunConfig.from_dict(doc, str(path))
    return (cfg.with_overrides(overrides) if overrides else cfg).resolved()  # defaults after --set data.name


def absolute_from(file, path: str) -> str:
    """``path`` as written in ``file``: relative paths are relative to the file's folder."""
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (Path(file).resolve().parent / p))


def read_toml(path) -> dict:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None


def parse_assignment(item: str, where: str):
    """'section.key=value' -> (section, key, value), the value read as TOML or kept as a string."""
    lhs, eq, rhs = item.partition("=")
    section, dot, key = lhs.strip().partition(".")
    if not eq or not dot or not section or not key:
        raise ConfigError(f"{where}: expected section.key=value (got {item!r})")
    try:
        value = tomllib.loads(f"v = {rhs.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()
    return section, key.strip(), value


def check_keys(table, allowed, where: str, prefix: str):
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'file'} must be a table (got {table!r})")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(allowed))})")


def parse_section(cls, table: dict, where: str, section: str):
    """Build the frozen dataclass ``cls`` from a TOML table, checking every key against its spec."""
    prefix = f"{section}." if section else ""
    known = {f.name: f for f in fields(cls)}
    check_keys(table, known, where, prefix)
    values = {name: check_value(v, known[name].metadata, f"{where}: {prefix}{name}")
              for name, v in table.items() if not (v is None and known[name].default is None)}
    return cls(**values)


def check_value(value: Any, meta: dict, what: str):
    """``value`` converted to the field's kind, or a ConfigError naming ``what`` and the value."""
    kind = meta["kind"]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = {
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, float),
        str: lambda v: isinstance(v, str),
        bool: lambda v: isinstance(v, bool),
        "int_list": lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
        "str_list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    }[kind](value)
    if not ok:
        names = {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
                 "int_list": "a list of whole numbers", "str_list": "a list of strings"}
        raise ConfigError(f"{what} must be {names[kind]} (got {value!r})")
    if kind is float and value != value:
        raise ConfigError(f"{what} must be a number (got nan)")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ConfigError(f"{what} must be one of {', '.join(map(repr, meta['choices']))} (got {value!r})")
    if meta["check"] is not None and not meta["check"](value):
        raise ConfigError(f"{what} {meta['rule']} (got {value!r})")
    return value


__all__ = ["ConfigError", "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "load_run_config",
           "parse_section", "read_toml", "replace"]
