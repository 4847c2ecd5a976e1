"""Reproduce a logged run bit for bit, and keep model selection honest.

Everything comes from the tracking store: the resolved run config (seed, dtype, data and split),
the first-layer form and BLAS thread count the run used, the dataset fingerprint and the logged
per-iteration cost curves. The run is trained again through the same code path and the new curves
are compared with the logged ones step by step.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import numpy as np

from .comparison import compare, environment_facts, verdict_line
from .config import RunConfig
from .errors import ReproduceError
from .quiet import quiet
from .runner import check_labels, fold_seeds, folds_for, load_dataset, make_split, train_folds, train_run
from .search.objective import derive_seed
from .tracking.schema import CURVES, TRIAL_OF_STATUS, curves_from_arrays, curves_to_arrays
from .tracking.descriptions import reproduction_description
from .tracking.mlflow_runs import Tracker
from .tracking.trials import inputs_of
from .tracking.provenance import provenance_tags


@dataclass
class Logged:
    run_id: str
    experiment_id: str
    config: RunConfig          # as logged; form and BLAS threads pinned to what the run used
    fingerprint: str
    folds: int
    curves: list               # per fold, J at every iteration run
    complete: bool
    state: str
    tags: dict = None          # the run's tags: its provenance (library versions, BLAS kernel)
    repeats: int = 1           # k-fold assignments
    seeds: list | None = None  # each training's initial-weight seed (None: logged before per-fold seeds)


@quiet()
def read_run(tracker: Tracker, run_id: str, allow_incomplete: bool = False) -> Logged:
    run = tracker.find_run(run_id)
    if run is None:
        raise ReproduceError(f"no MLflow run {run_id!r} in {tracker.tracking_uri}") from None
    tags, params = run.data.tags, run.data.params
    missing = [k for k in ("dlcore.run_config",) if k not in tags] + \
              [k for k in ("data_fingerprint", "form", "blas_threads") if k not in params]
    status = run.info.status
    if missing and tags.get("dlcore.kind") == "trial":  # created when its trial started, never written
        reason = tags.get("dlcore.state_reason")
        raise ReproduceError(f"run {run_id} is the run of trial {tags.get('optuna.trial_number', '?')} of study "
                             f"{tags.get('optuna.study_name', '?')!r}, whose process died before logging it "
                             f"(status {status}" + (f": {reason}" if reason else "") + "): nothing to reproduce")
    if missing:
        raise ReproduceError(f"run {run_id} lacks what reproduction needs ({', '.join(missing)}): "
                             "it was not logged by dlcore's train or search")
    # a trial's state is tagged; a `dlcore train` run's follows its status (KILLED: diverged)
    state = tags.get("optuna.trial_state") or TRIAL_OF_STATUS.get(status, "COMPLETE")
    if status == "RUNNING":
        raise ReproduceError(f"run {run_id} is still RUNNING (or its process died): nothing final to compare")
    complete = status == "FINISHED" and state == "COMPLETE"
    if not complete and not allow_incomplete:
        reason = tags.get("dlcore.state_reason") or status.lower()
        raise ReproduceError(f"run {run_id} did not complete ({state}, {reason}); pass --allow-incomplete "
                             "to reproduce its curve as far as it went")
    cfg = RunConfig.from_logged(json.loads(tags["dlcore.run_config"]), f"run {run_id} tag dlcore.run_config")
    cfg = replace(cfg, train=replace(cfg.train, form=params["form"], blas_threads=int(params["blas_threads"])))
    try:
        arrays = tracker.load_arrays(run_id, CURVES)
    except Exception:  # noqa: BLE001 -- any download failure means the same thing here
        raise ReproduceError(f"run {run_id} lacks what reproduction needs (its curves.npz artifact)") from None
    folds, repeats = int(params.get("folds", 1)), int(params.get("repeats", 1))
    seeds = json.loads(params["fold_seeds"]) if "fold_seeds" in params else None
    curves = curves_from_arrays(arrays)
    return Logged(run_id, run.info.experiment_id, cfg, params["data_fingerprint"], folds, curves,
                  complete, state, dict(tags), repeats, seeds)


def seeds_of(logged: Logged, seed: int, n: int) -> list:
    """The seeds of the ``n`` trainings of a run with model seed ``seed``, by the run's protocol: one per
    fold derived from it (runs logged with fold_seeds), else ``seed`` for every fold, as dlcore did."""
    return fold_seeds(seed, n) if logged.seeds is not None else [seed] * n


def check_options(seeds: int, rtol: float | None, register: str | None, log: bool = True) -> None:
    """The rules for reproduce's options, checked before any work (the CLI and the API call this)."""
    from .tracking.models import model_name_problem

    if seeds < 0:
        raise ReproduceError(f"--seeds must be >= 0 (got {seeds})")
    if rtol is not None and not (math.isfinite(rtol) and rtol >= 0):
        raise ReproduceError(f"--rtol must be a finite number >= 0 (got {rtol})")
    if register is not None and (problem := model_name_problem(register)):
        raise ReproduceError(f"--register {register!r}: {problem}")
    if register is not None and not log:
        raise ReproduceError(f"--register {register}: the store is read-only, so no model can be registered")


def _dataset_of(logged: Logged, evaluate_test: bool):
    """The run's dataset, loaded again and refused unless it is the one logged (by fingerprint)."""
    cfg = logged.config
    dataset = load_dataset(cfg)
    if dataset.fingerprint != logged.fingerprint:
        raise ReproduceError(f"dataset fingerprint differs from the logged one ({dataset.name}: now "
                             f"{dataset.fingerprint[:16]}..., logged {logged.fingerprint[:16]}...): the data changed")
    check_labels(cfg, dataset)
    if evaluate_test and not dataset.has_test:
        raise ReproduceError(f"dataset {dataset.name!r} has no test split (set data.test_fraction when searching)")
    return dataset


def replay(logged: Logged, dataset, folds: list, run_seeds: list) -> list:
    """Each fold's cost curve trained again from its logged seed (as far as the logged one went, for an
    incomplete run): the same code path as the original. Folds whose curves have one length (a stacked
    trial's, which end together) train together (``train_folds``, each fold's own curve bit for bit, and
    a fold that diverges ends them all there, as in the trial); folds trained one by one (Wilcoxon's)
    that ended at different iterations, one by one."""
    cfg, new = logged.config, []
    lengths = {len(c) for c in logged.curves}
    if len(logged.curves) >= 2 and len(lengths) == 1:  # a stacked trial's folds end together, pruned or not
        n = len(logged.curves)
        if not logged.complete:
            cfg = replace(cfg, train=replace(cfg.train, iterations=lengths.pop()))
        return [o.result.costs for o in _folds_together(cfg, dataset, folds[:n], run_seeds[:n], stop_together=True)]
    for (tr, va), old, seed in zip(folds, logged.curves, run_seeds):
        fold_cfg = replace(cfg, model=replace(cfg.model, seed=seed))
        if not logged.complete:
            fold_cfg = replace(fold_cfg, train=replace(cfg.train, iterations=len(old)))
        new.append(train_run(fold_cfg, make_split(fold_cfg, dataset, tr, va)).result.costs)
    return new


@quiet()
def reproduce(tracker: Tracker, logged: Logged, rtol: float | None = None, evaluate_test: bool = False,
              seeds: int = 0, register: str | None = None, log: bool = True) -> dict:
    """Train the logged run again and compare; then log a reproduction run (refit model, seeds) that
    ends FINISHED, or FAILED on an error (KILLED on Ctrl-C). Bad arguments are refused before any work.
    ``log=False`` (a read-only store) does the same work and logs nothing: the verdict is the point."""
    check_options(seeds, rtol, register, log)
    cfg = logged.config
    dataset = _dataset_of(logged, evaluate_test)
    folds = folds_for(cfg, dataset, logged.folds, logged.repeats)
    run_seeds = logged.seeds if logged.seeds is not None else [cfg.model.seed] * len(folds)  # as logged
    new = replay(logged, dataset, folds, run_seeds)
    out = {"run_id": logged.run_id, **compare(new, logged.curves, rtol), "folds": len(new),
           "iterations": [len(c) for c in logged.curves],
           "environment": environment_facts(logged.tags or {}, cfg.blas_threads)}
    tracker = tracker if log else _NoLog()
    run_id = tracker.start_run(logged.experiment_id, f"reproduce-{logged.run_id[:8]}", {
        "dlcore.kind": "reproduction", "dlcore.reproduces": logged.run_id, "dlcore.verdict": out["verdict"],
        "dlcore.environment_differences": "; ".join(out["environment"]) or "none",
        "dlcore.run_config": json.dumps(cfg.to_dict()), **provenance_tags()})
    out["reproduction_run_id"] = run_id
    try:
        tracker.log_inputs(run_id, inputs_of(cfg.data, dataset, folds, logged.folds, logged.repeats, evaluate_test))
        tracker.describe(run_id, reproduction_description(logged.run_id, verdict_line(out)))
        tracker.log(run_id, params={"reproduces": logged.run_id, "data_fingerprint": dataset.fingerprint,
                                    "form": cfg.train.form, "blas_threads": cfg.blas_threads, "seed": cfg.model.seed,
                                    "fold_seeds": run_seeds},
                    metrics={"max_abs_diff": out["max_abs_diff"], "identical": float(out["verdict"] == "identical")})
        tracker.log_arrays(run_id, CURVES, **curves_to_arrays(new))
        _refit_and_seeds(tracker, run_id, logged, dataset, folds, out, evaluate_test, seeds, register, log)
    except BaseException as e:  # log_model closes the run when it succeeds; otherwise close it here
        _end_quietly(tracker, run_id, "KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    return out


def _refit_and_seeds(tracker, run_id, logged: Logged, dataset, folds, out: dict, evaluate_test: bool, seeds: int,
                     register: str | None, log: bool):
    """The final model (the configuration refit on the whole training split with the run's seed, the
    locked test split when asked), K fresh seeds by the run's protocol, and the model logged last."""
    from .tracking.models import log_model

    refit_cfg = replace(logged.config, train=replace(logged.config.train, form="auto"))
    final = train_run(refit_cfg, make_split(refit_cfg, dataset, np.arange(dataset.Y.shape[1]), None),
                      evaluate_test=evaluate_test)
    out["refit"] = dict(final.metrics)
    if seeds:
        seed_list = [derive_seed(logged.config.model.seed, j) for j in range(1, seeds + 1)]
        out["seeds"] = seed_study(logged.config, dataset, folds, seed_list, evaluate_test,
                                  lambda s: seeds_of(logged, s, len(folds)))
    metrics = {f"refit_{k}": v for k, v in final.metrics.items()}
    for name, s in out.get("seeds", {}).get("summary", {}).items():
        metrics[f"seeds_{name}_mean"], metrics[f"seeds_{name}_std"] = s["mean"], s["std"]
    tracker.log(run_id, metrics=metrics)
    if "seeds" in out:
        tracker.log_dict(run_id, out["seeds"], "seeds.json")
    out["model_uri"] = (log_model(tracker, run_id, final.result.W, final.result.b, final.arch, register,
                                  scaler=final.split.scaler) if log else None)


class _NoLog:
    """A tracker that writes nothing, for a reproduction on a read-only store (run id None)."""
    def start_run(self, *args, **kwargs):
        return None

    def log(self, *args, **kwargs):
        pass

    log_arrays = log_dict = log_inputs = describe = end = log


def _end_quietly(tracker: Tracker, run_id: str, status: str):
    """Close the run; a second failure (the store itself is gone, say) must not hide the first."""
    try:
        tracker.end(run_id, status)
    except Exception:  # noqa: BLE001
        pass


def seed_study(cfg: RunConfig, dataset, folds, seeds: list, evaluate_test: bool, per_fold=None) -> dict:
    """The configuration trained again with each of ``seeds``: validation metrics by the run's own
    protocol (hold-out or folds, means over folds) and, with ``evaluate_test``, the test metrics of
    the refit on the whole training split. A run without validation (``dlcore train`` with no
    validation_fraction) has no validation metrics: its seeds report the refit's training metrics.
    ``per_fold(seed)`` gives the fold trainings' seeds by the run's protocol (default: ``seed`` for every
    fold). Returns each seed's row and the mean and spread."""
    rows = []
    validated = any(va is not None for _, va in folds)
    for seed in seeds:
        cfg_j = replace(cfg, model=replace(cfg.model, seed=int(seed)), train=replace(cfg.train, form="auto"))
        row = {"seed": int(seed)}
        fold_cfgs = [replace(cfg_j, model=replace(cfg_j.model, seed=int(s)))
                     for s in (per_fold(int(seed)) if per_fold else [int(seed)] * len(folds))]
        if validated and len(folds) >= 2:
            per_fold_metrics = [o.metrics for o in _folds_together(cfg_j, dataset, folds, [c.model.seed for c in fold_cfgs])]
        else:
            per_fold_metrics = [train_run(c, make_split(c, dataset, tr, va)).metrics
                                for (tr, va), c in zip(folds, fold_cfgs) if va is not None]
        for key in [k for k in (per_fold_metrics[0] if per_fold_metrics else {}) if k.startswith("val_")]:
            row[key] = float(np.mean([f[key] for f in per_fold_metrics]))
        if evaluate_test or not validated:
            refit = train_run(cfg_j, make_split(cfg_j, dataset, np.arange(dataset.Y.shape[1]), None),
                              evaluate_test=evaluate_test)
            keep = ("test_",) if validated else ("train_", "test_")
            row.update({k: v for k, v in refit.metrics.items() if k.startswith(keep)})
        rows.append(row)
    names = [n for n in rows[0] if n != "seed"]
    summary = {n: {"mean": float(np.mean([r[n] for r in rows])), "std": float(np.std([r[n] for r in rows]))}
               for n in names}
    return {"runs": rows, "summary": summary}


def _folds_together(cfg: RunConfig, dataset, folds: list, seeds: list, stop_together: bool = False) -> list:
    """The run's k trainings, fold f from seeds[f], advanced together: one ``RunOutcome`` per fold."""
    cfgs = [replace(cfg, model=replace(cfg.model, seed=int(s))) for s in seeds]
    return train_folds(cfgs, [make_split(c, dataset, tr, va) for c, (tr, va) in zip(cfgs, folds)],
                       stop_together=stop_together)
