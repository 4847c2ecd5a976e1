"""Search spaces: a TOML file (or Python code) turned into a validated, frozen ``SearchSpace``.

    [study]   name, metric, direction, trials, seed, sampler, pruner, report_every, folds, repeats
    [data]    as in a run config (validation_fraction is the hold-out when folds < 2; standardize)
    [model]   fixed model settings, as in a run config
    [train]   fixed training settings, as in a run config
    [space]   learning_rate, n_layers, n_units, init_scale  ({ low, high, log } ranges),
              init, hidden_activation (lists of choices), iterations (a number or a range)
    [[enqueue]]  known configurations tried first, in Optuna's parameter names

``n_layers`` is the notes' L: the layers with weights, output included, so a trial with L layers
samples ``n_units_l1 .. n_units_l{L-1}`` for its hidden layers (L = 1 is logistic regression).
"""
from __future__ import annotations

import math

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..config import (ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, absolute_from, check_keys,
                      check_value, parse_section, positive, read_toml, seed_range, spec)
from ..nn import HIDDEN_ACTIVATIONS, INIT_SCHEMES

METRICS = {  # metric -> its natural direction
    "val_cost": "minimize", "val_accuracy": "maximize", "val_balanced_accuracy": "maximize",
    "val_mse": "minimize", "val_r2": "maximize",
}
SAMPLERS = ("tpe", "random", "qmc", "cmaes")
PRUNERS = ("median", "hyperband", "wilcoxon", "none")
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.\- ]{0,98}[A-Za-z0-9_.\-])?$")  # no space at either end
MAX_TRIALS = 10**6  # a budget beyond this is a typo, not a search (a study of 10^6 trials is already huge)


@dataclass(frozen=True)
class StudySettings:
    name: str = spec(kind=str, check=NAME_RE.match,
                     rule="must start with a letter or digit, not end with a space, and hold only letters, digits, "
                          "'_', '-', '.' and spaces (100 at most)")
    metric: str = spec("val_cost", kind=str, choices=tuple(METRICS))
    direction: str | None = spec(None, kind=str, choices=("minimize", "maximize"), doc="default: the metric's")
    trials: int = spec(20, kind=int, check=positive, rule="must be >= 1")  # and at most MAX_TRIALS (validate)
    seed: int = spec(0, kind=int, check=seed_range, rule="must be in [0, 2**32)")
    sampler: str = spec("tpe", kind=str, choices=SAMPLERS)
    pruner: str = spec("median", kind=str, choices=PRUNERS)
    report_every: int = spec(100, kind=int, check=positive, rule="must be >= 1",
                             doc="iterations between reports to Optuna and logged curve points")
    folds: int = spec(0, kind=int, check=lambda v: v == 0 or v >= 2, rule="must be 0 (hold-out) or >= 2",
                      doc="k-fold cross-validation when >= 2, each fold from its own seed")
    repeats: int = spec(1, kind=int, check=lambda v: 1 <= v <= 100, rule="must be in [1, 100]",
                        doc="k-fold assignments (seeded from data.split_seed); the objective is the mean of r*k")


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Space:
    learning_rate: Range | None = None
    n_layers: Range | None = None          # L, output layer included
    n_units: Range | None = None           # for every hidden layer l: n_units_l{l}
    init_scale: Range | None = None
    init: tuple | None = None              # choices
    hidden_activation: tuple | None = None
    iterations: Range | int | None = None  # a searched count is early stopping


@dataclass(frozen=True)
class SearchSpace:
    study: StudySettings
    base: RunConfig                        # fixed settings; searched ones override them
    space: Space = field(default_factory=Space)
    enqueue: tuple = ()                    # dicts of Optuna parameter values, tried first
    source: str = "<code>"

    def __post_init__(self):
        validate(self)

    @property
    def direction(self) -> str:
        return self.study.direction or METRICS[self.study.metric]

    @property
    def stack_folds(self) -> bool:
        """Whether a trial's k folds train together (``runner.train_folds``) and report the mean over the
        folds every report_every iterations: with folds, unless the pruner is Wilcoxon, which pairs each
        fold's final value with the best trial's and so needs the folds to end one after another."""
        return self.study.folds >= 2 and self.study.pruner != "wilcoxon"

    def param_names(self, n_layers: int | None = None) -> list[str]:
        """Optuna parameter names of a trial with ``n_layers`` layers (all, when None)."""
        s, names = self.space, []
        for key in ("learning_rate", "n_layers", "init_scale", "init", "hidden_activation"):
            if getattr(s, key) is not None:
                names.append(key)
        if isinstance(s.iterations, Range):
            names.append("iterations")
        if s.n_units is not None:
            top = n_layers if n_layers is not None else (int(s.n_layers.high) if s.n_layers else
                                                         len(self.base.model.hidden_units) + 1)
            names += [f"n_units_l{l}" for l in range(1, top)]
        return names


RANGE_KINDS = {"learning_rate": float, "n_layers": int, "n_units": int, "init_scale": float, "iterations": int}
CHOICES = {"init": tuple(INIT_SCHEMES), "hidden_activation": HIDDEN_ACTIVATIONS}


def resolve_space_path(path) -> Path:
    """``path`` if it exists; else the space shipped with dlcore that it names (``planar``, or
    ``search_spaces/planar.toml`` as the checkout spells it), from any directory: see ``dlcore.shipped``."""
    from ..shipped import resolve

    return resolve(path, "space")


def load_space(path) -> SearchSpace:
    """Read and validate a space file (see ``resolve_space_path``); raises ConfigError naming the file,
    key and value."""
    path = resolve_space_path(path)
    doc = read_toml(path)
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str):
        data["path"] = absolute_from(path, data["path"])
    return space_from_doc(doc, str(path))


def space_to_doc(s: SearchSpace) -> dict:
    """The space as a TOML-shaped dict (what a study stores, so that any worker can rebuild it)."""
    doc = {"study": {k: v for k, v in asdict(s.study).items() if v is not None}}
    for name, section in s.base.to_dict().items():
        doc[name] = {k: v for k, v in section.items() if v is not None}
    doc["space"] = {}
    for f in fields(Space):
        v = getattr(s.space, f.name)
        if isinstance(v, Range):
            doc["space"][f.name] = {"low": v.low, "high": v.high, "log": v.log}
        elif v is not None:
            doc["space"][f.name] = list(v) if isinstance(v, tuple) else v
    doc["enqueue"] = [dict(e) for e in s.enqueue]
    return doc


def space_from_doc(doc: dict, where: str) -> SearchSpace:
    check_keys(doc, {"study", "data", "model", "train", "space", "enqueue"}, where, "")
    if "study" not in doc:
        raise ConfigError(f"{where}: missing section [study] (it needs at least name)")
    study_table = doc["study"]
    check_keys(study_table, {f.name for f in fields(StudySettings)}, where, "study.")
    if "name" not in study_table:
        raise ConfigError(f"{where}: missing key study.name")
    study = parse_section(StudySettings, study_table, where, "study")
    base = RunConfig(**{s: parse_section(cls, doc.get(s, {}), where, s)
                        for s, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))}).resolved()
    space = parse_space(doc.get("space", {}), where)
    enqueue = doc.get("enqueue", [])
    if not isinstance(enqueue, list) or not all(isinstance(e, dict) for e in enqueue):
        raise ConfigError(f"{where}: enqueue must be an array of tables ([[enqueue]])")
    try:
        return SearchSpace(study, base, space, tuple(enqueue), where)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def parse_space(table: dict, where: str) -> Space:
    check_keys(table, {f.name for f in fields(Space)}, where, "space.")
    values = {}
    for key, value in table.items():
        what = f"{where}: space.{key}"
        if key in CHOICES:
            choices = check_value(value, {"kind": "str_list", "check": lambda v: len(v) >= 1,
                                          "rule": "must list at least one choice", "choices": None}, what)
            bad = [c for c in choices if c not in CHOICES[key]]
            if bad:
                raise ConfigError(f"{what} holds {bad[0]!r}; choices are {', '.join(CHOICES[key])}")
            values[key] = tuple(choices)
        elif key == "iterations" and isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ConfigError(f"{what} must be >= 1 (got {value})")
            values[key] = value
        else:
            values[key] = parse_range(value, RANGE_KINDS[key], what)
    return Space(**values)


def parse_range(value, kind, what: str) -> Range:
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a range {{ low = ..., high = ..., log = true|false }} (got {value!r})")
    unknown = sorted(set(value) - {"low", "high", "log"})
    if unknown:
        raise ConfigError(f"{what}: unknown key {unknown[0]!r} (known: low, high, log)")
    for k in ("low", "high"):
        if k not in value:
            raise ConfigError(f"{what}.{k} is missing")
    meta = {"kind": kind, "check": None, "rule": "", "choices": None}
    low = check_value(value["low"], meta, f"{what}.low")
    high = check_value(value["high"], meta, f"{what}.high")
    log = check_value(value.get("log", False), {**meta, "kind": bool}, f"{what}.log")
    return Range(low, high, log)


# Upper bounds that keep a typo from building an absurd net (L = 500000 hangs, it does not fail).
LIMITS = {"n_layers": 50, "n_units": 100_000}


def validate(s: SearchSpace):
    """Cross-field rules; raises ConfigError (without the file name: callers add it)."""
    sp, out = s.space, s.base.model.output_activation
    if s.study.trials > MAX_TRIALS:
        raise ConfigError(f"study.trials = {s.study.trials}: at most {MAX_TRIALS} trials per search (run it again "
                          "to add more)")
    for key in RANGE_KINDS:
        r = getattr(sp, key)
        if not isinstance(r, Range):
            continue
        if not (math.isfinite(r.low) and math.isfinite(r.high)):
            raise ConfigError(f"space.{key} must have finite bounds (got low = {r.low}, high = {r.high})")
        if r.low > r.high:
            raise ConfigError(f"space.{key}.low must be <= high (got {r.low} > {r.high})")
        if key in LIMITS and r.high > LIMITS[key]:
            raise ConfigError(f"space.{key}.high must be <= {LIMITS[key]} (got {r.high})")
        if (r.log or key in ("learning_rate", "init_scale")) and r.low <= 0:
            raise ConfigError(f"space.{key}.low must be > 0 (got {r.low})")
        if key in ("n_layers", "n_units", "iterations") and r.low < 1:
            raise ConfigError(f"space.{key}.low must be >= 1 (got {r.low})")
    if sp.n_layers is not None and sp.n_layers.high > 1 and sp.n_units is None:
        raise ConfigError("space.n_units is needed when space.n_layers allows hidden layers")
    if sp.n_units is not None and sp.n_layers is None and not s.base.model.hidden_units:
        raise ConfigError("space.n_units searches nothing: model.hidden_units is empty and space.n_layers is "
                          "not searched (search n_layers, or give model.hidden_units to fix L)")
    if not s.param_names(None):
        raise ConfigError("[space] searches nothing: give at least one of "
                          + ", ".join(f.name for f in fields(Space)) + " as a range or choices")
    classification = s.study.metric in ("val_accuracy", "val_balanced_accuracy")
    if classification and out != "sigmoid":
        raise ConfigError(f"study.metric {s.study.metric!r} needs model.output_activation 'sigmoid' (got {out!r})")
    if s.study.metric in ("val_mse", "val_r2") and out != "linear":
        raise ConfigError(f"study.metric {s.study.metric!r} needs model.output_activation 'linear' (got {out!r})")
    if s.study.repeats > 1 and s.study.folds < 2:
        raise ConfigError(f"study.repeats = {s.study.repeats} repeats k-fold assignments: it needs study.folds >= 2 "
                          f"(got {s.study.folds})")
    if s.study.pruner == "wilcoxon" and s.study.folds < 2:
        raise ConfigError(f"study.pruner 'wilcoxon' compares per-fold values: it needs study.folds >= 2 "
                          f"(got {s.study.folds})")
    if s.study.folds < 2 and s.base.data.validation_fraction <= 0:
        raise ConfigError("data.validation_fraction must be > 0 when study.folds < 2: a search validates on "
                          "held-out training data and never sees the test split")
    for i, params in enumerate(s.enqueue):
        check_enqueued(s, params, f"enqueue[{i}]")


def check_enqueued(s: SearchSpace, params: dict, what: str):
    L = params.get("n_layers")
    allowed = s.param_names(L if isinstance(L, int) else None)
    for key, value in params.items():
        if key not in allowed:
            raise ConfigError(f"{what}.{key} is not a searched parameter (searched: {', '.join(allowed) or 'none'})")
        if key in CHOICES:
            choices = getattr(s.space, key)
            if value not in choices:
                raise ConfigError(f"{what}.{key} must be one of {', '.join(map(repr, choices))} (got {value!r})")
            continue
        r = getattr(s.space, "n_units" if key.startswith("n_units_l") else key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (r.low <= value <= r.high):
            raise ConfigError(f"{what}.{key} must be a number in [{r.low}, {r.high}] (got {value!r})")
