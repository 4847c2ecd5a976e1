"""dlcore's public face: search, continue, compare, reproduce and train in a few lines.

    import dlcore
    store = dlcore.Store("runs/")                          # default: $DLCORE_STORE, else ./mlruns
    result = dlcore.search("planar", trials=20, store=store)
    result = dlcore.search("planar", trials=10, store=store)   # 10 more trials of the same study
    best = dlcore.best("planar", store=store)
    rep = dlcore.reproduce(best, store=store, evaluate_test=True, seeds=5)
    assert rep.identical

Every function here is one call into the same library path the command line uses (``dlcore.cli`` only
parses arguments and prints what these return). Errors are ``dlcore.DlcoreError``s whose message is the
CLI's one-line error.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig, load_run_config
from .errors import ConfigError, ReproduceError, StoreError
from .results import BestRun, Reproduction, SearchResult, TrainedRun, _best_first
from .search.space import SearchSpace, load_space

MAX_TRIALS = 10**6  # one call's --trials: beyond this a typo, not a plan


@dataclass(frozen=True, init=False)
class Store:
    """Where studies and runs live. ``Store(path)``: the embedded store, one directory holding Optuna's
    ``optuna.db``, MLflow's ``mlflow.db`` and ``artifacts/`` (default ``$DLCORE_STORE``, else
    ``./mlruns``, made absolute). ``Store(storage=URL, tracking_uri=URI)``: an Optuna database
    (``postgresql://...``) and an MLflow tracking server (``http://...``) instead; either may be given
    alone, the other part staying in the directory."""
    root: Path
    storage: str
    tracking_uri: str

    def __init__(self, path: str | os.PathLike | None = None, *, storage: str | None = None,
                 tracking_uri: str | None = None):
        from .tracking.store import resolve_store
        from .urls import check_storage, check_tracking_uri

        if storage is not None:
            check_storage(storage)
        if tracking_uri is not None:
            check_tracking_uri(tracking_uri)
        root = resolve_store(None if path is None else str(path)).root
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "storage", storage or f"sqlite:///{root / 'optuna.db'}")
        object.__setattr__(self, "tracking_uri", tracking_uri or f"sqlite:///{root / 'mlflow.db'}")

    @property
    def remote_tracking(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    def backends(self):
        """The internal pair of backends (Optuna storage, MLflow tracking) of this store."""
        from .launch import Backends
        from .tracking.store import Store as Directory

        storage = None if self.storage == f"sqlite:///{self.root / 'optuna.db'}" else self.storage
        uri = None if self.tracking_uri == f"sqlite:///{self.root / 'mlflow.db'}" else self.tracking_uri
        return Backends.resolve(Directory(self.root), storage, uri)

    def optuna_storage(self):
        """Optuna's storage, for reading: refuses (StoreError) a store that does not exist yet."""
        from .search.study import make_storage

        if self.storage.startswith("sqlite:///") and not Path(self.storage[len("sqlite:///"):]).is_file():
            where = self.storage[len("sqlite:///"):]
            raise StoreError(f"no dlcore store at {Path(where).parent} (no {Path(where).name}): run 'dlcore search' "
                             "first, or point --store / $DLCORE_STORE / --storage at one")
        return make_storage(self.storage)

    def tracker(self):
        """The MLflow side, for reading and logging runs of an existing store."""
        from .tracking.mlflow_runs import Tracker

        if self.tracking_uri.startswith("sqlite:///") and not Path(self.tracking_uri[len("sqlite:///"):]).is_file():
            raise StoreError(f"no MLflow store at {self.root} (no mlflow.db); pass --store or --tracking-uri")
        if self.remote_tracking:
            from .launch import check_server

            check_server(self.tracking_uri)
        return Tracker(self.tracking_uri, None if self.remote_tracking else self.root / "artifacts")


def _store(store) -> Store:
    return store if isinstance(store, Store) else Store(store)


def _space(space) -> SearchSpace:
    return space if isinstance(space, SearchSpace) else load_space(space)


def check_trials(trials: int | None, option: str = "trials") -> None:
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(f"{option} must be in 1..{MAX_TRIALS:,} (got {trials})")


def search(space, trials: int | None = None, *, store=None, workers: int = 1, study: str | None = None,
           seed: int | None = None, progress: bool = True, track: bool = True) -> SearchResult:
    """Run ``trials`` more trials of ``space`` (a SearchSpace, a shipped space's name or a TOML path;
    default: the space's ``study.trials``), in this process or ``workers`` processes. Running it again on
    the same study continues it. Every trial has its MLflow run (``track=False``: Optuna only)."""
    from .launch import run_search, with_overrides
    from .progress import trial_progress

    space = with_overrides(_space(space), study, seed)
    check_trials(trials)
    store = _store(store)
    n = trials or space.study.trials
    with trial_progress(n, f"search {space.study.name}", enabled=progress) as on_trial:
        summary = run_search(space, store.backends(), n, on_trial=on_trial, track=track, workers=workers)
    return _result(summary, store, space)


def _result(summary: dict, store: Store, space: SearchSpace) -> SearchResult:
    from .search.study import load_study

    study = load_study(space.study.name, store.optuna_storage())
    best = None
    if summary["best_trial"] is not None:
        best = _best_of(study, store if summary.get("tracking_uri") else None)
    return SearchResult(space.study.name, dict(summary["counts"]), best, summary["parent_run_id"],
                        summary["budget"], study, summary.get("experiment_id"), tuple(summary["failed_workers"]))


def load_study(name: str, *, store=None):
    """The Optuna study ``name`` of the store (a ConfigError naming the studies there when it has none)."""
    from .search.study import load_study as _load

    return _load(name, _store(store).optuna_storage())


def best(study: str, *, store=None) -> BestRun:
    """The best COMPLETE trial of ``study``, with its run id and resolved run config."""
    store = _store(store)
    s = load_study(study, store=store)
    return _best_of(s, store)


def _best_of(study, store: Store | None) -> BestRun:
    from .search.study import best_trial, counts_by_state

    t = best_trial(study)
    if t is None:
        raise ConfigError(f"study {study.study_name!r} has no complete trial yet ({counts_by_state(study)})")
    run_id = t.user_attrs.get("mlflow_run_id")
    config, dims = None, ()
    if run_id and store is not None:
        config, dims = _logged_run(store.tracker(), run_id)
    return BestRun(study.study_name, t.number, t.value, dict(t.params), run_id, t.user_attrs.get("seed"),
                   study.user_attrs.get("metric", "value"), config, dims)


def _logged_run(tracker, run_id: str) -> tuple:
    """The resolved run config and layer dims a run logged (None and () when it logged none)."""
    import json

    data = tracker.client.get_run(run_id).data
    tag, dims = data.tags.get("dlcore.run_config"), data.params.get("layer_dims")
    config = RunConfig.from_dict(json.loads(tag), f"run {run_id}") if tag else None
    return config, tuple(json.loads(dims)) if dims else ()


def data_available(name: str, path: str | None = None) -> bool:
    """Whether dataset ``name`` can be loaded here (the cat images need their files; generated ones
    always can): lets a script fall back to the embedded planar data."""
    from .config import DataConfig
    from .runner import load_dataset

    try:
        load_dataset(RunConfig(data=DataConfig(name=name, path=path)))
    except (OSError, ValueError):
        return False
    return True


def trials(study: str, *, store=None):
    """The study's trials as a pandas DataFrame (the report's table), best first."""
    from .search.report import trials_table

    s = load_study(study, store=store)
    return _best_first(trials_table(s), s)


def reproduce(run, *, store=None, evaluate_test: bool = False, seeds: int = 0, register: str | None = None,
              log: bool = True, rtol: float | None = None, allow_incomplete: bool = False) -> Reproduction:
    """Train a logged run again (``run``: a run id, a BestRun or a SearchResult) and compare its curves
    bit for bit; with ``evaluate_test`` the refit meets the locked test split, with ``seeds`` K fresh
    seeds say how much of its score was luck. ``log=False`` logs no run and no model."""
    from .reproduce import read_run
    from .reproduce import reproduce as _reproduce

    run_id = _run_id(run)
    store = _store(store)
    tracker = store.tracker()
    logged = read_run(tracker, run_id, allow_incomplete)
    out = _reproduce(tracker, logged, rtol, evaluate_test, seeds, register, log=log)
    fd = out["first_diff"]
    metrics = {f"refit_{k}": v for k, v in out["refit"].items()}
    for name, s in out.get("seeds", {}).get("summary", {}).items():
        metrics[f"seeds_{name}_mean"], metrics[f"seeds_{name}_std"] = s["mean"], s["std"]
    return Reproduction(run_id, out["verdict"], out["verdict"] == "identical", out["ok"], out["max_abs_diff"],
                        None if fd is None else (fd["fold"], fd["iteration"]), metrics,
                        out.get("reproduction_run_id"), out.get("model_uri"), out.get("seeds"),
                        out.get("environment", {}))


def _run_id(run) -> str:
    if isinstance(run, SearchResult):
        run = run.best
    if isinstance(run, BestRun):
        if not run.run_id:
            raise ReproduceError(f"trial {run.trial} of study {run.study!r} has no MLflow run (searched with track=False?)")
        return run.run_id
    if isinstance(run, str) and run:
        return run
    raise ReproduceError(f"expected a run id, a BestRun or a SearchResult, got {run!r}")


def evaluate_seeds(config, seeds, *, folds: int = 0, repeats: int = 1, evaluate_test: bool = False) -> dict:
    """A configuration (a RunConfig or a TOML path) trained again with each of ``seeds``, by a search's
    protocol: ``folds`` >= 2 stratified folds (``repeats`` assignments of them, each fold's training
    from its own seed derived from the seed), else the config's hold-out; with ``evaluate_test`` the test
    metrics of the refit on the whole training split. Returns each seed's row (``runs``) and their mean
    and spread (``summary``): how much of a score is the seed's luck."""
    from .reproduce import seed_study
    from .runner import check_labels, fold_seeds, folds_for, load_dataset

    cfg = config if isinstance(config, RunConfig) else load_run_config(config)
    dataset = load_dataset(cfg)
    check_labels(cfg, dataset)
    splits = folds_for(cfg, dataset, folds, repeats)
    return seed_study(cfg, dataset, splits, [int(s) for s in seeds], evaluate_test,
                      lambda s: fold_seeds(s, len(splits)))


def train(config, *, store=None, track: bool = True, experiment: str = "dlcore-train",
          overrides=(), progress: bool = False) -> TrainedRun:
    """Train one run config (a RunConfig or a TOML path, with ``section.key=value`` overrides), evaluate
    it (on the test split too, when the dataset has one) and log it to MLflow unless ``track=False``."""
    from .launch import track_train
    from .progress import iteration_progress
    from .runner import train_run

    cfg = config if isinstance(config, RunConfig) else load_run_config(config, overrides)
    if isinstance(config, RunConfig) and overrides:
        cfg = cfg.with_overrides(overrides)
    if track and not experiment.strip():
        raise ConfigError("experiment name must not be empty")
    store = _store(store)
    every = max(1, cfg.train.iterations // 200)
    steps, val_costs = [], []
    with iteration_progress(cfg.train.iterations, "train", enabled=progress) as bar:
        def on_step(i, costs, val):
            steps.append(i)
            if val is not None:
                val_costs.append(val.cost)
            bar(i + 1, costs[-1])

        out = train_run(cfg, on_step=on_step, every=every, evaluate_test=True)
    run_id = track_train(out, steps, val_costs, store.backends(), experiment) if track else None
    r = out.result
    return TrainedRun(cfg, tuple(out.arch.layer_dims), r.costs, dict(out.metrics), r.W, r.b, r.status, r.reason,
                      r.form, run_id)


__all__ = ["MAX_TRIALS", "Store", "best", "data_available", "evaluate_seeds", "load_study", "reproduce", "search", "train", "trials"]
