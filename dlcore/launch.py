"""Glue between the Optuna side (dlcore.search) and the MLflow side (dlcore.tracking).

``run_search`` opens (or continues) a study, opens one parent run for this invocation, raises the
study's trial budget by the trials asked for, and works through them in this process or in N worker
processes (``dlcore worker``, which can also join from other machines; see ``workers.py``), each trial
with its child run; then it logs the study summary to the parent run. What dead processes left
RUNNING is closed by ``reaper.py``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from . import interrupt
from .config import ConfigError
from .reaper import close_run, close_stale_runs, reap, study_lock
from .search.budget import (BudgetExhausted, close_dead_trials, enforce_budget, leave, raise_budget, started_trials,
                            this_process)
from .quiet import quiet
from .search.objective import Objective, TrialRecord
from .search.space import NAME_RE, SearchSpace, space_to_doc
from .preflight import check_backends
from .states import STATE_OF_TRAINING
from .search.study import (check_optuna_db, check_study, load_study, make_pruner, make_sampler, make_storage,
                           open_study, redact, space_of, warmup_steps)
from .sqlite_files import sqlite_path
from .tracking.mlflow_runs import Tracker
from .tracking.provenance import provenance_tags
from .tracking.store import Store, check_mlflow_db
from .summary import study_summary, summarize
from .tracking.trials import SearchTracker, log_run, run_params
from .workers import STORAGE_ENV, parent_gone, run_workers  # noqa: F401 -- STORAGE_ENV: cmd_worker reads it here


@dataclass
class Backends:
    storage: object          # Optuna storage URL or object
    tracking_uri: str
    artifact_root: object    # Path for the embedded store, None for a tracking server
    store: Store | None = None  # the embedded store, when anything lives in it

    @classmethod
    def resolve(cls, store: Store, storage: str | None = None, tracking_uri: str | None = None) -> "Backends":
        uri = tracking_uri or store.tracking_uri
        remote = uri.startswith(("http://", "https://"))
        uses_store = storage is None or not remote
        return cls(storage or store.optuna_url, uri, None if remote else store.artifact_root,
                   store if uses_store else None)

    def prepare(self) -> "Backends":
        """Check that a tracking server answers, that each SQLite database is intact and writable, and
        that none is half-built, before anything is written to either (a corrupt mlflow.db found later
        left a raised budget behind); then create the embedded store's directory and marker (re-rooting
        a moved store). Called only once the inputs have been checked. The databases themselves are
        built, whole, by their first user (``make_storage``, ``Tracker``), so ``--no-track`` creates no
        mlflow.db."""
        if self.tracking_uri.startswith(("http://", "https://")):
            check_server(self.tracking_uri)
        check_backends(self.storage, self.tracking_uri, write=True)
        for path, check in ((_sqlite_file(self.storage), check_optuna_db),
                            (_sqlite_file(self.tracking_uri), check_mlflow_db)):
            if path is not None and path.is_file():
                check(path)
        if self.store is not None:
            self.store.create()
        return self


def _sqlite_file(url):
    return sqlite_path(url) if isinstance(url, str) else None


def check_server(uri: str, timeout: float = 5.0):
    """A one-line error, not minutes of MLflow's retries, when the tracking server does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as r:
            if r.status == 200:
                return
            problem = f"HTTP {r.status}"
    except OSError as e:
        problem = str(getattr(e, "reason", e))
    raise ConfigError(f"cannot reach the MLflow tracking server at {uri} ({problem})")


def with_overrides(space: SearchSpace, study: str | None = None, seed: int | None = None) -> SearchSpace:
    st = space.study
    if study is not None:
        if not NAME_RE.match(study):
            raise ConfigError(f"--study {study!r}: a study name must start with a letter or digit, not end with a "
                              "space, and hold only letters, digits, '_', '-', '.' and spaces")
        st = replace(st, name=study)
    if seed is not None:
        if not 0 <= seed < 2**32:
            raise ConfigError(f"--seed must be in [0, 2**32) (got {seed})")
        st = replace(st, seed=seed)
    return replace(space, study=st)


@quiet()  # Optuna's and MLflow's logging as the caller had it once this returns
def run_search(space: SearchSpace, backends: Backends, n_trials: int | None = None, on_trial=None,
               top_k: int = 5, track: bool = True, workers: int = 1) -> dict:
    """Run ``n_trials`` more trials (default: the space's) and return the summary as a dict.

    Every precondition is checked before either database is written: the data, the Optuna storage and
    the study's objective (read only), then the MLflow store. The budget is raised last, just before
    the trials run, and by ``n_trials`` whoever else searches the study. With ``workers > 1`` the
    trials run in that many ``dlcore worker`` processes sharing the study, each with cores // workers
    BLAS threads. ``track=False`` logs nothing to MLflow (the overhead benchmark)."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {workers})")
    objective = Objective(space)                         # loads and checks the data before anything is created
    backends.prepare()
    # Everything is imported in this thread: importing MLflow or the plotting stack in a background
    # thread while this one imported SQLAlchemy or SciPy failed, now and then, as a circular import.
    storage = make_storage(backends.storage)
    check_study(space, storage)
    n, name = n_trials or space.study.trials, space.study.name
    tracker = parent = exp_id = None
    if track:
        tracker = _open_tracker(backends)
        exp_id = _experiment(tracker, name)
    study = open_study(space, storage)
    lock = study_lock(backends.storage, name)
    reap(study, lock, tracker)  # trials of dead processes, before they are counted
    if track:
        close_stale_runs(study, tracker, exp_id)
        parent = _start_parent(space, backends, tracker, exp_id, study, objective, n, workers)
    status, failed_workers, me = "FINISHED", [], this_process()
    with interrupt.interruptible():  # Ctrl-C and SIGTERM end the search cleanly, never lost
        try:
            base = raise_budget(study, lock, n, space.enqueue, me)  # last: nothing above failed
            if workers == 1:
                work(space, backends, parent, objective=objective, on_trial=on_trial, track=track, tracker=tracker,
                     history=base)
            else:
                failed_workers = run_workers(space, backends, parent, workers, on_trial, track)
        except KeyboardInterrupt:
            status = "KILLED"
            interrupt.hold()  # a second Ctrl-C must not leave the parent run RUNNING
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            budget = leave(study, lock, me)
            if track:
                try:
                    objective.tracker and objective.tracker.flush()
                    summary = summarize(study, tracker, parent, top_k)
                finally:
                    with interrupt.deferred():
                        tracker.end(parent, status)
    if not track:
        summary = study_summary(study)
    summary.update(storage=redact(backends.storage), tracking_uri=backends.tracking_uri if track else None,
                   parent_run_id=parent, experiment_id=exp_id, workers=workers, budget=budget,
                   failed_workers=failed_workers)
    return summary


@quiet()
def _start_parent(space, backends, tracker, exp_id, study, objective, n, workers) -> str:
    """The search's parent run, with the whole space as an artifact."""
    parent = tracker.start_run(exp_id, f"search-{len(study.trials)}+{n}", {
        "dlcore.kind": "search", "optuna.study_name": space.study.name, "dlcore.space_source": space.source,
        "dlcore.process": this_process(), "dlcore.optuna_storage": redact(backends.storage),
        "dlcore.workers": workers, **provenance_tags()})
    tracker.log(parent, params={
        "trials_requested": n, "sampler": space.study.sampler, "pruner": space.study.pruner,
        "metric": space.study.metric, "direction": space.direction, "study_seed": space.study.seed,
        "folds": space.study.folds, "dataset": objective.dataset.name,
        "data_fingerprint": objective.dataset.fingerprint, "workers": workers})
    tracker.log_dict(parent, space_to_doc(space), "search_space.json")  # the whole space: ranges, fixed settings
    study.set_user_attr("parent_run_id", parent)
    return parent


def work(space: SearchSpace, backends: Backends, parent: str | None, objective=None, on_trial=None,
         track: bool = True, worker_index: int = 0, tracker: Tracker | None = None, history: int | None = None,
         stop=None) -> int:
    """Run trials of the study until it holds its budget (re-read before every trial), or ``stop()``;
    returns how many this process ran. ``history``: the trials the sampler's seed counts as before."""
    objective = objective or Objective(space)
    if track and tracker is None:
        tracker = _open_tracker(backends)
    if tracker is not None:
        exp_id = tracker.experiment_id(space.study.name)
        objective.tracker = SearchTracker(tracker, exp_id, parent, space.study.name, objective)
    st = space.study
    study = load_study(st.name, make_storage(backends.storage), pruner=make_pruner(st.pruner, warmup_steps(space)))
    study.sampler = make_sampler(st.sampler, sampler_seed(st, worker_index, started_trials(study)
                                                          if history is None else history))
    lock = study_lock(backends.storage, st.name)
    on_failed = close_run(tracker)
    enforce_budget(study, lock, before_ask=lambda: close_dead_trials(study, on_failed), stop=stop)
    objective.worker = this_process()
    ran = [0]

    def counted(s, t):
        ran[0] += 1
        if on_trial:
            on_trial(s, t)
        interrupt.check()

    try:
        study.optimize(objective, catch=(Exception,), callbacks=[counted])
    except BudgetExhausted:
        pass
    finally:
        if objective.tracker is not None:
            objective.tracker.flush()
    return ran[0]


def sampler_seed(st, worker_index: int, n_trials: int) -> int:
    """The sampler's seed for a process joining a study in which ``n_trials`` have started (enqueued
    ones still waiting do not count; for a search, the level its budget went on from, which differs
    between concurrent searches): the study seed for the first search's own process; otherwise one
    derived from the worker and the history, so that running a search again, or a second worker, does
    not propose the same configurations again. QMC keeps the study seed: its scrambled sequence is the
    study's, and Optuna continues it where it stopped."""
    if st.sampler == "qmc" or (worker_index == 0 and n_trials == 0):
        return st.seed
    return int(np.random.SeedSequence([st.seed, worker_index, n_trials]).generate_state(1)[0])


def _experiment(tracker: Tracker, name: str) -> str:
    """The study's experiment, created if missing; a search creating it at the same moment wins."""
    try:
        return tracker.experiment_id(name)
    except Exception:  # noqa: BLE001 -- MLflow's error for a name taken meanwhile varies by store
        exp_id = tracker.experiment_id(name, create=False)
        if exp_id is None:
            raise
        return exp_id


def _open_tracker(backends: Backends) -> Tracker:
    return Tracker(backends.tracking_uri, backends.artifact_root)


@quiet()
def join_study(name: str, backends: Backends, parent: str | None = None, blas_threads: int | None = None,
               worker_index: int = 0, track: bool = True, parent_pid: int | None = None) -> int:
    """``dlcore worker``: join a running study from any machine, until its budget is spent (a worker
    adds nothing to it). Started by a search (``parent_pid``), it also stops once that search is gone."""
    backends.prepare()
    study = load_study(name, make_storage(backends.storage))
    space = space_of(study)
    if blas_threads:
        space = replace(space, base=replace(space.base, train=replace(space.base.train, blas_threads=blas_threads)))
    stop = parent_gone(parent_pid)
    ran = work(space, backends, parent or study.user_attrs.get("parent_run_id"), track=track,
               worker_index=worker_index, stop=stop)
    if stop is not None and stop():
        print(f"dlcore: warning: worker {this_process()}: its search (pid {parent_pid}) is gone; stopped",
              file=sys.stderr)
    return ran


@quiet()
def track_train(outcome, steps, val_costs, backends: Backends, experiment: str) -> str:
    """Log one ``dlcore train`` run the way a trial is logged; returns its run id."""
    r = outcome.result
    record = TrialRecord(0, {}, outcome.config, outcome.arch.layer_dims, state=STATE_OF_TRAINING[r.status],
                         reason=r.reason, metrics=dict(outcome.metrics), steps=list(steps),
                         cost=[float(r.costs[i]) for i in steps], val_cost=list(val_costs) or [None] * len(steps),
                         full_costs=[r.costs], form=r.form)
    split = outcome.split
    n_val = 0 if split.X_val is None else split.X_val.shape[1]
    folds = [(range(split.X.shape[1]), range(n_val))]
    tracker = Tracker(backends.prepare().tracking_uri, backends.artifact_root)
    run_id = tracker.start_run(tracker.experiment_id(experiment), "train", {"dlcore.kind": "train", **provenance_tags()})
    log_run(tracker, run_id, record, run_params(record, split.dataset, folds))
    return run_id


__all__ = ["Backends", "join_study", "run_search", "summarize", "track_train", "with_overrides", "work"]
