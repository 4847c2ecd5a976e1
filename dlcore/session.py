"""One ``dlcore search``: open (or continue) the study, open this invocation's parent run, raise the
study's budget by the trials asked for, work through them here or in N worker processes
(``search.workers``), each trial with its child run, then log the study's summary to the parent run.
What dead processes left RUNNING is closed first (``reaper``).
"""
from __future__ import annotations

from dataclasses import replace

from . import disk, interrupt
from .config import ConfigError, seed_range
from .quiet import quiet
from .reaper import close_stale_runs, reap, study_lock
from .search.budget import leave, raise_budget, this_process
from .search.objective import Objective
from .search.space import NAME_RE, SearchSpace, space_to_doc
from .search.storage import checkpoint, make_storage, redact
from .search.study import check_study, open_study
from .search.workers import run_workers, work
from .store import Store
from .tracking.descriptions import search_description
from .tracking.mlflow_runs import Tracker
from .tracking.provenance import provenance_tags
from .tracking.summary import study_summary, summarize


def with_overrides(space: SearchSpace, study: str | None = None, seed: int | None = None) -> SearchSpace:
    st = space.study
    if study is not None:
        if not NAME_RE.match(study):
            raise ConfigError(f"--study {study!r}: a study name must start with a letter or digit, not end with a "
                              "space, and hold only letters, digits, '_', '-', '.' and spaces")
        st = replace(st, name=study)
    if seed is not None:
        if not seed_range(seed):
            raise ConfigError(f"--seed must be in [0, 2**32) (got {seed})")
        st = replace(st, seed=seed)
    return replace(space, study=st)


@quiet()  # Optuna's and MLflow's logging as the caller had it once this returns
def run_search(space: SearchSpace, store: Store, n_trials: int | None = None, on_trial=None,
               top_k: int = 5, track: bool = True, workers: int = 1, started=None) -> dict:
    """Run ``n_trials`` more trials (default: the space's) and return the summary as a dict.

    Every precondition is checked before either database is written: the data, the Optuna storage and
    the study's objective (read only), then the MLflow store. The budget is raised last, just before
    the trials run, and by ``n_trials`` whoever else searches the study. With ``workers > 1`` the
    trials run in that many ``dlcore worker`` processes sharing the study, each with cores // workers
    BLAS threads (``started``: those processes, started before this was called; see ``search.spawn``).
    ``track=False`` logs nothing to MLflow (the overhead benchmark)."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {workers})")
    objective = Objective(space)                         # loads and checks the data before anything is created
    disk.reset()
    store.prepare()                                      # with the store's reserve for a full disk (disk.py)
    # Everything is imported in this thread: importing MLflow or the plotting stack in a background
    # thread while this one imported SQLAlchemy or SciPy failed, now and then, as a circular import.
    storage = make_storage(store.storage)
    check_study(space, storage)
    n, name = n_trials or space.study.trials, space.study.name
    tracker = parent = exp_id = None
    if track:
        tracker = store.tracker()
        exp_id = _experiment(tracker, name)
    study = open_study(space, storage)
    lock = study_lock(store.storage, name)
    reap(study, lock, tracker)  # trials of dead processes, before they are counted
    if track:
        close_stale_runs(study, tracker, exp_id)
        parent = _start_parent(space, store, tracker, exp_id, study, objective, n, workers)
    status, failed_workers, me = "FINISHED", [], this_process()
    with interrupt.interruptible():  # Ctrl-C and SIGTERM end the search cleanly, never lost
        try:
            base = raise_budget(study, lock, n, space.enqueue, me)  # last: nothing above failed
            if workers == 1:
                work(space, store, parent, objective=objective, on_trial=on_trial, track=track, tracker=tracker,
                     history=base)
            else:
                failed_workers = run_workers(space, store, parent, workers, on_trial, track, started)
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
                    summary = _summary(study, tracker, parent, top_k, store.root, _facts(space, objective, n))
                finally:
                    with interrupt.deferred():
                        tracker.end(parent, status)
    checkpoint(store.storage)  # the whole study in optuna.db itself, for copies and read-only readers
    if not track:
        summary = study_summary(study)
    summary.update(storage=redact(store.storage), tracking_uri=store.tracking_uri if track else None,
                   parent_run_id=parent, experiment_id=exp_id, workers=workers, budget=budget,
                   failed_workers=failed_workers)
    return summary


def _summary(study, tracker, parent, top_k, root, facts) -> dict:
    """The study's summary logged to the parent run; on a full disk only the reason (no plots, no CSV:
    the room left is for closing the run)."""
    if not disk.is_full():
        return summarize(study, tracker, parent, top_k, facts)
    try:
        tracker.log(parent, tags={"dlcore.state_reason": str(disk.disk_full_error(root))})
    except Exception as e:  # noqa: BLE001 -- no room even for the tag: the run is still closed below
        if not disk.is_full_error(e):
            raise
    return study_summary(study)


@quiet()
def _start_parent(space, store, tracker, exp_id, study, objective, n, workers) -> str:
    """The search's parent run, with the whole space as an artifact."""
    parent = tracker.start_run(exp_id, f"search-{len(study.trials)}+{n}", {
        "dlcore.kind": "search", "optuna.study_name": space.study.name, "dlcore.space_source": space.source,
        "dlcore.process": this_process(), "dlcore.optuna_storage": redact(store.storage),
        "dlcore.workers": workers, **provenance_tags()})
    tracker.log(parent, params={
        "trials_requested": n, "sampler": space.study.sampler, "pruner": space.study.pruner,
        "metric": space.study.metric, "direction": space.direction, "study_seed": space.study.seed,
        "folds": space.study.folds, "dataset": objective.dataset.name,
        "data_fingerprint": objective.dataset.fingerprint, "workers": workers})
    tracker.log_dict(parent, space_to_doc(space), "search_space.json")  # the whole space: ranges, fixed settings
    tracker.describe(parent, search_description(**_facts(space, objective, n)))  # completed by the summary
    study.set_user_attr("parent_run_id", parent)
    return parent


def _facts(space, objective, n) -> dict:
    """What the parent run's description says of the search (``descriptions.search_description``)."""
    st = space.study
    return {"study": st.name, "sampler": st.sampler, "pruner": st.pruner, "metric": st.metric,
            "direction": space.direction, "dataset": objective.dataset.name, "folds": st.folds, "requested": n}


def _experiment(tracker: Tracker, name: str) -> str:
    """The study's experiment, created if missing; a search creating it at the same moment wins."""
    try:
        return tracker.experiment_id(name)
    except Exception:  # noqa: BLE001 -- MLflow's error for a name taken meanwhile varies by store
        exp_id = tracker.experiment_id(name, create=False)
        if exp_id is None:
            raise
        return exp_id


__all__ = ["run_search", "with_overrides"]
