"""Glue between the Optuna side (dlcore.search) and the MLflow side (dlcore.tracking).

``run_search`` opens (or continues) a study, opens one parent run for this invocation, raises the
study's trial budget by the trials asked for, and works through them in this process or in N worker
processes (``dlcore worker``, which can also join from other machines), each trial with its child run;
then it logs the study summary to the parent run.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from . import interrupt
from .config import ConfigError
from .quiet import quiet
from .search import report
from .search.budget import BudgetExhausted, enforce_budget, lock_for, started_trials
from .search.objective import Objective, TrialRecord
from .search.space import NAME_RE, SearchSpace, space_to_doc
from .search.study import (best_trial, counts_by_state, load_study, make_pruner, make_sampler, make_storage,
                           open_study, redact, space_of, warmup_steps)
from .tracking.mlflow_runs import Tracker
from .tracking.provenance import provenance_tags
from .tracking.store import Store
from .tracking.trials import SearchTracker, log_run, run_params


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
        """Check that a tracking server answers, and create the embedded store's directory; called only
        once the inputs have been checked."""
        if self.tracking_uri.startswith(("http://", "https://")):
            check_server(self.tracking_uri)
        if self.store is not None:
            self.store.create()
        return self


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
            raise ConfigError(f"--study {study!r}: a study name must start with a letter or digit and hold only "
                              "letters, digits, '_', '-', '.' and spaces")
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

    With ``workers > 1`` the trials run in that many ``dlcore worker`` processes sharing the study, each
    with cores // workers BLAS threads. ``track=False`` logs nothing to MLflow (the overhead benchmark)."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {workers})")
    objective = Objective(space)                         # loads and checks the data before anything is created
    backends.prepare()
    # Everything is imported in this thread: importing MLflow or the plotting stack in a background
    # thread while this one imported SQLAlchemy or SciPy failed, now and then, as a circular import.
    study = open_study(space, make_storage(backends.storage))
    n = n_trials or space.study.trials
    budget = started_trials(study) + n  # enqueued configurations are among the n
    study.set_user_attr("budget", budget)
    tracker = parent = exp_id = None
    if track:
        tracker = _open_tracker(backends)
        exp_id = tracker.experiment_id(space.study.name)
        close_stale_runs(study, tracker, exp_id)
        parent = tracker.start_run(exp_id, f"search-{len(study.trials)}+{n}", {
            "dlcore.kind": "search", "optuna.study_name": space.study.name, "dlcore.space_source": space.source,
            "dlcore.process": f"{socket.gethostname()}:{os.getpid()}",
            "dlcore.optuna_storage": redact(backends.storage), "dlcore.workers": workers, **provenance_tags()})
        tracker.log(parent, params={
            "trials_requested": n, "sampler": space.study.sampler, "pruner": space.study.pruner,
            "metric": space.study.metric, "direction": space.direction, "study_seed": space.study.seed,
            "folds": space.study.folds, "dataset": objective.dataset.name,
            "data_fingerprint": objective.dataset.fingerprint, "workers": workers})
        tracker.log_dict(parent, space_to_doc(space), "search_space.json")  # the whole space: ranges, fixed settings
        study.set_user_attr("parent_run_id", parent)
    for params in space.enqueue:
        study.enqueue_trial(params, skip_if_exists=True)
    status, failed_workers = "FINISHED", []
    with interrupt.interruptible():  # Ctrl-C and SIGTERM end the search cleanly, never lost
        try:
            if workers == 1:
                work(space, backends, parent, budget, objective=objective, on_trial=on_trial, track=track, tracker=tracker)
            else:
                failed_workers = run_workers(space, backends, parent, workers, budget, on_trial, track)
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            if track:
                objective.tracker and objective.tracker.flush()
                summary = summarize(study, tracker, parent, top_k)
                tracker.end(parent, status)
    if not track:
        summary = study_summary(study)
    summary.update(storage=redact(backends.storage), tracking_uri=backends.tracking_uri if track else None,
                   parent_run_id=parent, experiment_id=exp_id, workers=workers, budget=budget,
                   failed_workers=failed_workers)
    return summary


@quiet()
def work(space: SearchSpace, backends: Backends, parent: str | None, budget: int, objective=None,
         on_trial=None, track: bool = True, worker_index: int = 0, tracker: Tracker | None = None) -> int:
    """Run trials of the study until it holds ``budget`` trials; returns how many this process ran."""
    objective = objective or Objective(space)
    if track and tracker is None:
        tracker = _open_tracker(backends)
    if tracker is not None:
        exp_id = tracker.experiment_id(space.study.name)
        objective.tracker = SearchTracker(tracker, exp_id, parent, space.study.name, objective)
    st = space.study
    storage = make_storage(backends.storage, on_stale=_close_stale_run(tracker))
    study = load_study(st.name, storage, pruner=make_pruner(st.pruner, warmup_steps(space)))
    study.sampler = make_sampler(st.sampler, sampler_seed(st, worker_index, started_trials(study)))
    enforce_budget(study, budget, lock_for(backends.storage, st.name) if isinstance(backends.storage, str)
                   else lock_for("", st.name))
    objective.worker = f"{socket.gethostname()}:{os.getpid()}"
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


STORAGE_ENV = "DLCORE_WORKER_STORAGE"  # how run_workers hands the storage URL to ``dlcore worker``


def sampler_seed(st, worker_index: int, n_trials: int) -> int:
    """The sampler's seed for a process joining a study in which ``n_trials`` have started (enqueued
    ones still waiting do not count): the study seed for the first search's own process; otherwise one
    derived from the worker and the history, so that running a search again, or a second worker, does
    not propose the same configurations again. QMC keeps the study seed: its scrambled sequence is the
    study's, and Optuna continues it where it stopped."""
    if st.sampler == "qmc" or (worker_index == 0 and n_trials == 0):
        return st.seed
    return int(np.random.SeedSequence([st.seed, worker_index, n_trials]).generate_state(1)[0])


def run_workers(space, backends: Backends, parent, workers: int, budget: int, on_trial=None, track=True) -> list:
    """Start ``workers`` processes of ``dlcore worker`` and wait for them, showing progress; returns the
    exit codes of those that failed. A worker that dies leaves its trial RUNNING, which is failed here
    (and its run closed) once all have ended.

    The workers run in their own session, so a Ctrl-C in the terminal reaches this process only, which
    forwards exactly one SIGINT to each worker: each ends its trial as FAIL and closes its run. (A second
    SIGINT while a worker is saving its trial would interrupt the save.) The storage URL, which may hold a
    password, goes to the workers in their environment, not on their command line, where ``ps`` shows it."""
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    if workers * threads > cores:
        print(f"dlcore: warning: {workers} workers on {cores} cores: one BLAS thread each still oversubscribes",
              file=sys.stderr)
    cmd = [sys.executable, "-m", "dlcore", "worker", "--study", space.study.name,
           "--tracking-uri", backends.tracking_uri, "--blas-threads", str(threads)]
    if parent:
        cmd += ["--parent-run-id", parent]
    if not track:
        cmd += ["--no-track"]
    env = {**os.environ, STORAGE_ENV: str(backends.storage)}
    procs = [subprocess.Popen(cmd + ["--worker-index", str(i + 1)], env=env, start_new_session=True)
             for i in range(workers)]
    study = load_study(space.study.name, make_storage(backends.storage))
    seen, interrupted = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False)), False
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(0.5)
            seen = _progress(study, seen, on_trial)
            interrupt.check()
    except KeyboardInterrupt:
        interrupted = True
        _stop(procs)
    finally:
        if not interrupted and any(p.poll() is None for p in procs):  # another error: do not leave workers behind
            _stop(procs)
        _progress(study, seen, on_trial)
        codes = {f"{socket.gethostname()}:{p.pid}": p.returncode for p in procs}
        fail_orphans(study, codes, Tracker(backends.tracking_uri, backends.artifact_root) if track else None)
    if interrupted:
        raise KeyboardInterrupt
    failed = [p.returncode for p in procs if p.returncode != 0]
    if failed:
        print(f"dlcore: warning: {len(failed)} of {workers} workers ended abnormally (exit {failed})", file=sys.stderr)
    return failed


def _stop(procs, grace: float = 60.0):
    """One SIGINT to each live worker, then wait; a further Ctrl-C, or ``grace`` seconds, kills the rest
    (their trials are then failed by ``fail_orphans``)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    try:
        deadline = time.monotonic() + grace
        for p in procs:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()


def fail_orphans(study, exit_codes: dict, tracker: Tracker | None):
    """Trials still RUNNING whose worker process (``host:pid`` -> exit code) has ended: FAIL them and
    close their runs."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if exit_codes.get(worker) is not None:
            reason = f"worker {worker} ended (exit {exit_codes[worker]}) during the trial"
            study._storage.set_trial_user_attr(t._trial_id, "state_reason", reason)
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            _close_stale_run(tracker, reason)(study, t)


def close_stale_runs(study, tracker: Tracker, experiment_id: str):
    """Close the runs a killed process left RUNNING: a trial's run whose trial has ended (the process
    died before it finished writing) or belongs to another run, and a search's parent run whose process,
    on this host, is gone. Runs of live trials and of other hosts' searches are left alone."""
    try:
        runs = tracker.client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=5000)
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        host = socket.gethostname()
        for r in runs:
            tags, run_id = r.data.tags, r.info.run_id
            if tags.get("dlcore.kind") == "trial":
                t = trials.get(int(tags.get("optuna.trial_number", -1)))
                owner = t and t.user_attrs.get("mlflow_run_id")
                if t is not None and (t.state.is_finished() or (owner and owner != run_id)):
                    tracker.log(run_id, tags={"dlcore.state_reason": f"closed by a later search: its process ended "
                                              f"before the run was (trial {t.state.name})"})
                    tracker.end(run_id, "FAILED")
            elif tags.get("dlcore.kind") == "search":
                where, _, pid = tags.get("dlcore.process", "").rpartition(":")
                if where == host and pid.isdigit() and not _alive(int(pid)):
                    tracker.end(run_id, "KILLED")
    except Exception as e:  # noqa: BLE001 -- housekeeping must never stop a search
        print(f"dlcore: warning: could not close stale runs: {e}", file=sys.stderr)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        pass
    return True


def _open_tracker(backends: Backends) -> Tracker:
    return Tracker(backends.tracking_uri, backends.artifact_root)


def _close_stale_run(tracker: Tracker | None, reason: str | None = None):
    """``on_stale(study, trial)``: close a failed trial's run; by default the reason is Optuna's heartbeat."""
    def close(study, trial):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if tracker is not None and run_id:
            why = reason or f"worker {trial.user_attrs.get('worker', '?')} stopped beating (failed by Optuna's heartbeat)"
            tracker.log(run_id, tags={"optuna.trial_state": "FAIL", "dlcore.state_reason": why})
            tracker.end(run_id, "FAILED")
    return close


def _progress(study, seen: int, on_trial) -> int:
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.is_finished()]
    for t in finished[seen:] if on_trial else []:
        on_trial(study, t)
    return max(seen, len(finished))


def study_summary(study) -> dict:
    best = best_trial(study)
    out = {"study": study.study_name, "direction": study.direction.name.lower(), "counts": counts_by_state(study),
           "best_value": None, "best_params": None, "best_trial": None, "best_run_id": None}
    if best is not None:
        out.update(best_value=best.value, best_params=best.params, best_trial=best.number,
                   best_run_id=best.user_attrs.get("mlflow_run_id"))
    return out


def summarize(study, tracker: Tracker, parent: str, top_k: int = 5) -> dict:
    """Best trial, the trials table as CSV and the plots, logged to the parent run."""
    out = study_summary(study)
    best = best_trial(study)
    try:
        table = report.trials_table(study)
        tags = {f"dlcore.trials_{k.lower()}": v for k, v in out["counts"].items()}
        if best is not None:
            tags.update({"dlcore.best_trial": best.number, "dlcore.best_run_id": out["best_run_id"],
                         "dlcore.best_params": json.dumps(best.params)})
        tracker.log(parent, metrics={"best_value": out["best_value"]} if best else None, tags=tags)
        tracker.log_text(parent, table.to_csv(index=False), "trials.csv")
        figures = report.study_figures(study)
        curves = {}
        for t in report.top_trials(study, top_k):
            rid = t.user_attrs.get("mlflow_run_id")
            if rid:
                arrays = tracker.load_arrays(rid, "curves.npz")
                curves[f"trial {t.number}: {t.value:.4g}"] = arrays.get("cost", next(iter(arrays.values())))
        if curves:
            figures["top_cost_curves"] = report.curves_figure(curves, study.user_attrs.get("metric", "value"))
        for name, fig in figures.items():
            tracker.log_figure(parent, fig, f"plots/{name}.png")
        report.close(figures.values())
    except Exception as e:  # noqa: BLE001 -- the trials are safe in Optuna; say what the summary lacks
        print(f"dlcore: warning: study summary incomplete: {e}", file=sys.stderr)
    return out


@quiet()
def join_study(name: str, backends: Backends, parent: str | None = None, blas_threads: int | None = None,
               worker_index: int = 0, track: bool = True) -> int:
    """``dlcore worker``: join a running study from any machine, until its budget is spent."""
    backends.prepare()
    study = load_study(name, make_storage(backends.storage))
    space = space_of(study)
    if blas_threads:
        space = replace(space, base=replace(space.base, train=replace(space.base.train, blas_threads=blas_threads)))
    budget = study.user_attrs.get("budget", started_trials(study))
    return work(space, backends, parent or study.user_attrs.get("parent_run_id"), budget, track=track,
                worker_index=worker_index)


@quiet()
def track_train(outcome, steps, val_costs, backends: Backends, experiment: str) -> str:
    """Log one ``dlcore train`` run the way a trial is logged; returns its run id."""
    r = outcome.result
    record = TrialRecord(0, {}, outcome.config, outcome.arch.layer_dims, state=_STATE_OF_STATUS[r.status],
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


_STATE_OF_STATUS = {"completed": "COMPLETE", "stopped": "COMPLETE", "diverged": "PRUNED"}


__all__ = ["Backends", "join_study", "run_search", "summarize", "track_train", "with_overrides", "work"]
