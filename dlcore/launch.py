"""Glue between the Optuna side (dlcore.search) and the MLflow side (dlcore.tracking).

``run_search`` opens (or continues) a study, opens one parent run for this invocation, optimises with
a child run per trial, and logs the study summary to the parent run.
"""
from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass, replace

from .config import ConfigError
from .search import report
from .search.objective import Objective, TrialRecord
from .search.space import NAME_RE, SearchSpace
from .search.study import best_trial, counts_by_state, open_study
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
        """Create the embedded store's directory; called only once the inputs have been checked."""
        if self.store is not None:
            self.store.create()
        return self


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


def run_search(space: SearchSpace, backends: Backends, n_trials: int | None = None, on_trial=None,
               top_k: int = 5, track: bool = True) -> dict:
    """Run ``n_trials`` more trials (default: the space's) and return the summary as a dict.
    With ``track=False`` nothing is logged to MLflow (the benchmark of tracking overhead uses it)."""
    objective = Objective(space)                         # loads and checks the data before anything is created
    backends.prepare()
    study = open_study(space, backends.storage)
    n = n_trials or space.study.trials
    tracker = parent = exp_id = None
    if track:
        tracker = Tracker(backends.tracking_uri, backends.artifact_root)
        exp_id = tracker.experiment_id(space.study.name)
        parent = tracker.start_run(exp_id, f"search-{len(study.trials)}+{n}", {
            "dlcore.kind": "search", "optuna.study_name": space.study.name, "dlcore.space_source": space.source,
            "dlcore.optuna_storage": _redact(backends.storage), **provenance_tags()})
        tracker.log(parent, params={
            "trials_requested": n, "sampler": space.study.sampler, "pruner": space.study.pruner,
            "metric": space.study.metric, "direction": space.direction, "study_seed": space.study.seed,
            "folds": space.study.folds, "dataset": objective.dataset.name,
            "data_fingerprint": objective.dataset.fingerprint})
        objective.tracker = SearchTracker(tracker, exp_id, parent, space.study.name, objective)
    for params in space.enqueue:
        study.enqueue_trial(params, skip_if_exists=True)
    status = "FINISHED"
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        study.optimize(objective, n_trials=n, catch=(Exception,),
                       callbacks=[lambda s, t: on_trial(s, t)] if on_trial else None)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if track:
            summary = summarize(study, tracker, parent, top_k)
            tracker.end(parent, status)
    if not track:
        summary = study_summary(study)
    summary.update(storage=_redact(backends.storage), tracking_uri=backends.tracking_uri if track else None,
                   parent_run_id=parent, experiment_id=exp_id)
    return summary


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


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _redact(storage) -> str:
    """A storage URL without its password."""
    s = storage if isinstance(storage, str) else type(storage).__name__
    if "://" in s and "@" in s:
        scheme, rest = s.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':')[0]}:***@{host}"
    return s


__all__ = ["Backends", "run_search", "summarize", "track_train", "with_overrides"]
