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

import time

from .config import RunConfig, load_run_config
from .errors import ConfigError, ReproduceError
from .results import BestRun, Reproduction, SearchResult, TrainedRun, _best_first
from .search.space import MAX_TRIALS, SearchSpace, load_space

from .store import Store, as_store


def _space(space) -> SearchSpace:
    return space if isinstance(space, SearchSpace) else load_space(space)


def check_trials(trials: int | None, option: str = "trials") -> None:
    """One rule for a search's trial count, from the CLI (``--trials``) and from Python (``trials=``)."""
    if trials is not None and trials < 1:
        raise ConfigError(f"{option} must be >= 1 (got {trials})")
    if trials is not None and trials > MAX_TRIALS:
        raise ConfigError(f"{option} {trials}: at most {MAX_TRIALS} trials per search (run it again to add more)")


def search(space, trials: int | None = None, *, store=None, workers: int = 1, study: str | None = None,
           seed: int | None = None, progress: bool = True, track: bool = True) -> SearchResult:
    """Run ``trials`` more trials of ``space`` (a SearchSpace, a shipped space's name or a TOML path;
    default: the space's ``study.trials``), in this process or ``workers`` processes. Running it again on
    the same study continues it. Every trial has its MLflow run (``track=False``: Optuna only)."""
    from .search.spawn import Workers

    check_trials(trials, "--trials")
    # the worker processes import while this one does and sets up; they wait for the study (search/spawn.py)
    started = Workers(workers) if isinstance(workers, int) and workers > 1 else None
    try:
        from .progress import trial_progress
        from .session import run_search, with_overrides

        space = with_overrides(_space(space), study, seed)
        store = as_store(store)
        n = trials or space.study.trials
        with trial_progress(n, f"search {space.study.name}", enabled=None if progress else False) as on_trial:
            summary = run_search(space, store, n, on_trial=on_trial, track=track, workers=workers, started=started)
    finally:
        if started is not None:
            started.cancel()  # the search stopped before its trials: they end, having joined nothing
    return _result(summary, store, space)


def _result(summary: dict, store: Store, space: SearchSpace) -> SearchResult:
    from .search.study import load_study

    study = load_study(space.study.name, store.read_storage())
    best = None
    if summary["best_trial"] is not None:
        best = _best_of(study, store if summary.get("tracking_uri") else None)
    return SearchResult(space.study.name, dict(summary["counts"]), best, summary["parent_run_id"],
                        summary["budget"], study, summary.get("experiment_id"), tuple(summary["failed_workers"]),
                        summary)


def load_study(name: str, *, store=None):
    """The Optuna study ``name`` of the store (a ConfigError naming the studies there when it has none)."""
    from .search.study import load_study as _load

    return _load(name, as_store(store).read_storage())


def best(study: str, *, store=None, with_run: bool = True) -> BestRun:
    """The best COMPLETE trial of ``study``, with its run id and (``with_run``: read from its MLflow run)
    its resolved run config and layer dims."""
    store = as_store(store)
    s = load_study(study, store=store)
    return _best_of(s, store if with_run else None)


def _best_of(study, store: Store | None) -> BestRun:
    from .search.study import best_trial, counts_by_state

    t = best_trial(study)
    if t is None:
        raise ConfigError(f"study {study.study_name!r} has no complete trial yet ({counts_by_state(study)})")
    run_id = t.user_attrs.get("mlflow_run_id")
    config, dims = None, ()
    if run_id and store is not None:
        config, dims = _logged_run(store.read_tracker()[0], run_id)
    return BestRun(study.study_name, t.number, t.value, dict(t.params), run_id, t.user_attrs.get("seed"),
                   study.user_attrs.get("metric", "value"), config, dims, study.direction.name.lower(),
                   counts_by_state(study))


def _logged_run(tracker, run_id: str) -> tuple:
    """The resolved run config and layer dims a run logged (None and () when it logged none)."""
    import json

    run = tracker.find_run(run_id)
    if run is None:
        return None, ()
    data = run.data
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
    seeds say how much of its score was luck. ``log=False`` logs no run and no model; a read-only store
    is reproduced all the same, logging nothing (``Reproduction.read_only``)."""
    from .reproduction import check_options, read_run
    from .reproduction import reproduce as _reproduce

    check_options(seeds, rtol, register)
    run_id = _run_id(run)
    tracker, read_only = as_store(store).read_tracker()
    logged = read_run(tracker, run_id, allow_incomplete)
    out = _reproduce(tracker, logged, rtol, evaluate_test, seeds, register, log=log and read_only is None)
    fd = out["first_diff"]
    metrics = {f"refit_{k}": v for k, v in out["refit"].items()}
    for name, s in out.get("seeds", {}).get("summary", {}).items():
        metrics[f"seeds_{name}_mean"], metrics[f"seeds_{name}_std"] = s["mean"], s["std"]
    return Reproduction(run_id, out["verdict"], out["verdict"] == "identical", out["ok"], out["max_abs_diff"],
                        None if fd is None else (fd["fold"], fd["iteration"]), metrics,
                        out.get("reproduction_run_id"), out.get("model_uri"), out.get("seeds"),
                        tuple(out.get("environment", ())), None if read_only is None else str(read_only), out)


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


def run_of_trial(study: str, trial: int | None = None, *, store=None) -> str:
    """The MLflow run of trial ``trial`` of ``study`` (default: its best trial)."""
    s = load_study(study, store=store)
    if trial is None:
        from .search.study import best_trial

        t = best_trial(s)
        if t is None:
            raise ReproduceError(f"study {study!r} has no complete trial to reproduce")
    else:
        trials = {t.number: t for t in s.get_trials(deepcopy=False)}
        if trial not in trials:
            raise ReproduceError(f"study {study!r} has no trial {trial} (trials 0..{len(trials) - 1})")
        t = trials[trial]
    run_id = t.user_attrs.get("mlflow_run_id")
    if not run_id:
        raise ReproduceError(f"trial {t.number} of study {study!r} has no MLflow run (searched with --no-track?)")
    return run_id


def evaluate_seeds(config, seeds, *, folds: int = 0, repeats: int = 1, evaluate_test: bool = False) -> dict:
    """A configuration (a RunConfig or a TOML path) trained again with each of ``seeds``, by a search's
    protocol: ``folds`` >= 2 stratified folds (``repeats`` assignments of them, each fold's training
    from its own seed derived from the seed), else the config's hold-out; with ``evaluate_test`` the test
    metrics of the refit on the whole training split. Returns each seed's row (``runs``) and their mean
    and spread (``summary``): how much of a score is the seed's luck."""
    from .reproduction import seed_study
    from .runner import check_labels, fold_seeds, folds_for, load_dataset

    cfg = config if isinstance(config, RunConfig) else load_run_config(config)
    dataset = load_dataset(cfg)
    check_labels(cfg, dataset)
    splits = folds_for(cfg, dataset, folds, repeats)
    return seed_study(cfg, dataset, splits, [int(s) for s in seeds], evaluate_test,
                      lambda s: fold_seeds(s, len(splits)))


def train(config, *, store=None, track: bool = True, experiment: str = "dlcore-train",
          overrides=(), progress: bool = False) -> TrainedRun:
    """Train one run config (a RunConfig, or a TOML path or shipped name with ``section.key=value``
    overrides), evaluate it (on the test split too, when the dataset has one) and log it to MLflow unless
    ``track=False``. Every check (the config, the memory its curve needs, the store) comes before training."""
    from .progress import iteration_progress
    from .runner import check_fits, train_run
    from .tracking.trials import log_train_run

    cfg = config if isinstance(config, RunConfig) else load_run_config(config, overrides)
    if isinstance(config, RunConfig) and overrides:
        cfg = cfg.with_overrides(overrides)
    check_fits(cfg.train.iterations, "train.iterations")
    store = as_store(store)
    if track:
        if experiment == "":
            raise ConfigError(f"--experiment {experiment!r}: an MLflow experiment name cannot be empty")
        store.prepare(optuna=False)
    steps, val_costs = [], []
    start = time.perf_counter()
    with iteration_progress(cfg.train.iterations, "train", enabled=None if progress else False) as bar:
        def on_step(i, costs, val):
            steps.append(i)
            if val is not None:
                val_costs.append(val.cost)
            bar(i + 1, costs[-1])

        out = train_run(cfg, on_step=on_step, every=max(1, cfg.train.iterations // 200), evaluate_test=True)
    seconds = time.perf_counter() - start
    run_id = log_train_run(store.tracker(), out, steps, val_costs, experiment) if track else None
    r, ds = out.result, out.split.dataset
    return TrainedRun(cfg, tuple(out.arch.layer_dims), r.costs, dict(out.metrics), r.W, r.b, r.status, r.reason,
                      r.form, run_id, ds.name, ds.fingerprint, r.iterations_run, seconds,
                      out.arch.hidden_activation, out.arch.output_activation)


def worker(study: str, *, store=None, parent_run_id: str | None = None, blas_threads: int | None = None,
           track: bool = True, worker_index: int = 0, parent_pid: int | None = None) -> int:
    """Join a running study (from this machine or another) and run its trials until the study holds its
    budget; returns how many this process ran (``dlcore worker``)."""
    from .search.workers import join_study

    if blas_threads is not None and blas_threads < 1:
        raise ConfigError(f"--blas-threads must be >= 1 (got {blas_threads})")
    store = as_store(store)
    store.read_storage()  # the store or SQLite file must exist: a worker joins, it never creates
    return join_study(study, store, parent_run_id, blas_threads, worker_index, track=track, parent_pid=parent_pid)


__all__ = ["Store", "best", "data_available", "evaluate_seeds", "load_study", "reproduce", "run_of_trial", "search",
           "train", "trials", "worker"]
