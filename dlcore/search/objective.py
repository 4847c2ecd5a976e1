"""The Optuna objective: a callable class that trains one run config per trial.

It builds the trial's run config from the space, trains on the training split (a hold-out or each of
k stratified folds), reports to Optuna and honours pruning, and returns the metric the space names.
The test split is never touched. Divergence ends a trial as PRUNED with its reason stored, so the
sampler learns to avoid the region (a FAIL would be ignored by every built-in sampler).
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import optuna

from .. import interrupt, nn
from ..config import ConfigError, RunConfig
from ..errors import describe
from ..runner import (check_fits, check_labels, derive_seed, fold_seeds, fold_stack, folds_for, load_dataset,
                      make_split, train_folds, train_run)
from ..tracking.schema import TrialRecord
from .space import Range, SearchSpace



def metric_of(metric: str, AL, Y, cost: float) -> float:
    """The value of ``metric`` for validation outputs A[L] against Y."""
    if metric == "val_cost":
        return cost
    if metric in ("val_accuracy", "val_balanced_accuracy"):
        Y_hat = (AL > 0.5).astype(np.int64)
        return nn.accuracy(Y_hat, Y) if metric == "val_accuracy" else nn.balanced_accuracy(Y_hat, Y)
    return nn.mean_squared_error(AL, Y) if metric == "val_mse" else nn.r2_score(AL, Y)


def metric_problem(metric: str, Y_val) -> str | None:
    """Why ``metric`` cannot be computed on these validation targets (None when it can): R^2 divides by
    the targets' variance, and a balanced accuracy over one class measures nothing."""
    y = np.asarray(Y_val).ravel()
    if y.size == 0:
        return None
    if metric == "val_r2" and np.all(y == y[0]):
        return "the validation targets are constant"
    if metric == "val_balanced_accuracy" and np.unique(y).size < 2:
        return f"the validation targets hold one class only ({y[0]:g})"
    return None


class Objective:
    """``Objective(space)(trial) -> value``. ``hooks`` (optional, e.g. the MLflow side's ``SearchTracker``)
    get ``start(trial, record)`` when a trial starts and ``finish(trial, record)`` when it ends (always, once
    ``start`` was called, even if an interrupt cut ``start`` short); the record
    carries everything they need (its ``context``: the dataset, the folds, the space). ``worker``
    ("host:pid" of the process running the trials) is stored on each trial. The dataset is loaded
    once, here (or given, to share one between objectives)."""

    def __init__(self, space: SearchSpace, hooks=None, dataset=None, worker: str | None = None):
        self.space, self.hooks, self.worker = space, hooks, worker
        it = space.space.iterations
        check_fits(int(it.high) if isinstance(it, Range) else (it or space.base.train.iterations),
                   "space.iterations.high" if isinstance(it, Range) else
                   ("space.iterations" if it else "train.iterations"))
        self.dataset = dataset if dataset is not None else load_dataset(space.base)
        check_labels(space.base, self.dataset)
        self.folds = folds_for(space.base, self.dataset, space.study.folds, space.study.repeats)
        self._splits: dict = {}  # each fold's arrays, made for the first trial and read by every later one
        self._check_metric()

    def _check_metric(self):
        """Refuse, before any trial, a space whose metric cannot be computed on its folds or hold-out:
        every trial would end with a NaN objective."""
        metric, k = self.space.study.metric, len(self.folds)
        for f, (_, va) in enumerate(self.folds):
            why = None if va is None else metric_problem(metric, self.dataset.Y[:, va])
            if why:
                where = f"fold {f} of {k}" if k > 1 else "the hold-out"
                raise ConfigError(f"{self.space.source}: study.metric = {metric!r} cannot be computed on {where} "
                                  f"of {self.dataset.source}: {why}")

    def suggest(self, trial) -> dict:
        """The trial's parameters, named as Optuna stores them."""
        s, p = self.space.space, {}
        if s.learning_rate:
            p["learning_rate"] = trial.suggest_float("learning_rate", s.learning_rate.low, s.learning_rate.high,
                                                     log=s.learning_rate.log)
        if s.n_layers:
            p["n_layers"] = trial.suggest_int("n_layers", int(s.n_layers.low), int(s.n_layers.high))
        if s.n_units:
            n_hidden = p["n_layers"] - 1 if "n_layers" in p else len(self.space.base.model.hidden_units)
            for l in range(1, n_hidden + 1):  # sampled after L, only up to the trial's L - 1
                p[f"n_units_l{l}"] = trial.suggest_int(f"n_units_l{l}", int(s.n_units.low), int(s.n_units.high),
                                                       log=s.n_units.log)
        if s.init_scale:
            p["init_scale"] = trial.suggest_float("init_scale", s.init_scale.low, s.init_scale.high,
                                                  log=s.init_scale.log)
        if s.init:
            p["init"] = trial.suggest_categorical("init", list(s.init))
        if s.hidden_activation:
            p["hidden_activation"] = trial.suggest_categorical("hidden_activation", list(s.hidden_activation))
        if isinstance(s.iterations, Range):
            p["iterations"] = trial.suggest_int("iterations", int(s.iterations.low), int(s.iterations.high),
                                                log=s.iterations.log)
        return p

    def config_for(self, params: dict, seed: int) -> RunConfig:
        """The fixed settings of the space with the trial's parameters and seed applied."""
        base, s = self.space.base, self.space.space
        model = replace(base.model, seed=seed)
        train = base.train
        if "n_layers" in params or "n_units_l1" in params:
            L = params.get("n_layers", len(base.model.hidden_units) + 1)
            model = replace(model, hidden_units=[params[f"n_units_l{l}"] for l in range(1, L)])
        for key in ("init_scale", "init", "hidden_activation"):
            if key in params:
                model = replace(model, **{key: params[key]})
        if "learning_rate" in params:
            train = replace(train, learning_rate=params["learning_rate"])
        if "iterations" in params or isinstance(s.iterations, int):
            train = replace(train, iterations=params.get("iterations", s.iterations))
        return replace(base, model=model, train=train)

    def __call__(self, trial) -> float:
        record = None
        try:
            with interrupt.held():  # a Ctrl-C now is raised by check(), below: the trial's end closes its run
                seed = derive_seed(self.space.study.seed, trial.number)
                cfg = self.config_for({}, seed)
                record = TrialRecord(trial.number, {}, cfg, self._layer_dims(cfg),
                                     context={"dataset": self.dataset, "folds": self.folds, "space": self.space})
                if self.hooks is not None:  # the run exists from the start: even a trial that fails to sample has one
                    self.hooks.start(trial, record)
            interrupt.check()
            trial.set_user_attr("seed", seed)
            if self.worker:
                trial.set_user_attr("worker", self.worker)
            record.params = self.suggest(trial)
            record.config = cfg = self.config_for(record.params, seed)
            record.layer_dims = self._layer_dims(cfg)
            record.value = self._train(trial, cfg, record)
            if not np.isfinite(record.value):  # Optuna fails a NaN but keeps an infinity: both FAIL here
                record.state, record.reason = "FAIL", self._nonfinite_reason(record.value)
                trial.set_user_attr("state_reason", record.reason)
                print(f"dlcore: warning: trial {trial.number} failed: {record.reason}", file=sys.stderr)
                return float("nan")
            record.state = "COMPLETE"
            return record.value
        except optuna.TrialPruned as e:
            record.state, record.reason = "PRUNED", str(e)
            trial.set_user_attr("state_reason", record.reason)
            raise
        except BaseException as e:  # noqa: BLE001 -- recorded, then re-raised for Optuna to mark FAIL
            if record is None:  # raised before the trial had a record (outside dlcore's interrupt handling)
                raise
            record.state, record.reason = "FAIL", describe(e)
            trial.set_user_attr("state_reason", record.reason)
            if isinstance(e, KeyboardInterrupt):
                interrupt.hold()  # a second Ctrl-C must not leave this trial or its run RUNNING
            else:
                print(f"dlcore: warning: trial {trial.number} failed: {record.reason}", file=sys.stderr)
            raise
        finally:
            if self.hooks is not None and record is not None:  # a Ctrl-C now is raised between trials
                with interrupt.held():
                    self.hooks.finish(trial, record)

    def _nonfinite_reason(self, value: float) -> str:
        metric = self.space.study.metric
        reason = f"objective {metric} is {'NaN' if np.isnan(value) else value}"
        for f, (_, va) in enumerate(self.folds):
            why = None if va is None else metric_problem(metric, self.dataset.Y[:, va])
            if why:
                return f"{reason}: {why}" + (f" (fold {f})" if len(self.folds) > 1 else "")
        return f"{reason}: the net's validation outputs are not finite"

    def _split(self, f: int, cfg: RunConfig, tr, va):
        """Fold ``f``'s arrays (copied out of the dataset, cast, scaled): the same for every trial that
        shares the data config and dtype, so made once."""
        key = (f, cfg.data, cfg.train.dtype)
        if key not in self._splits:
            self._splits[key] = make_split(cfg, self.dataset, tr, va)
        return self._splits[key]

    def _layer_dims(self, cfg: RunConfig) -> tuple:
        return (self.dataset.X.shape[0], *cfg.model.hidden_units, self.dataset.Y.shape[0])

    def _stack(self, cfg: RunConfig, splits):
        """The folds' stacked arrays (``runner.fold_stack``), made once like the folds' own."""
        key = ("stack", cfg.data, cfg.train.dtype, cfg.train.gram)
        if key not in self._splits:
            self._splits[key] = fold_stack(cfg, splits)
        return self._splits[key]

    def _train(self, trial, cfg: RunConfig, record: TrialRecord) -> float:
        st = self.space.study
        metric, k = st.metric, len(self.folds)
        if self.space.stack_folds:
            return self._train_stacked(trial, cfg, record)
        fold_values, fold_curves, fold_metrics = [], [], []
        for f, ((tr, va), seed) in enumerate(zip(self.folds, fold_seeds(cfg.model.seed, k))):
            fold_cfg = replace(cfg, model=replace(cfg.model, seed=seed))
            split = self._split(f, fold_cfg, tr, va)
            curve = {"steps": [], "val_cost": []}
            pruned = []

            def on_step(i, costs, val, Y_val=split.Y_val):
                curve["steps"].append(i)
                curve["val_cost"].append(val.cost)
                if k == 1:  # hold-out: report the objective's metric every report_every iterations
                    trial.report(metric_of(metric, val.AL, Y_val, val.cost), i)
                    if trial.should_prune():
                        pruned.append(i)
                        return False
                return True

            out = train_run(fold_cfg, split, on_step=on_step, every=st.report_every)
            r = out.result
            record.form = r.form
            record.full_costs.append(r.costs)
            fold_curves.append((curve["steps"], [float(r.costs[i]) for i in curve["steps"]], curve["val_cost"]))
            fold_metrics.append(out.metrics)
            record.folds.append({"fold": f, "repeat": f // max(st.folds, 1), "seed": seed, "n_train": len(tr),
                                 "n_val": 0 if va is None else len(va), **out.metrics})  # the folds.json table
            if k == 1:
                record.metrics.update(out.metrics)
            if r.status == "diverged":
                self._set_curves(record, fold_curves)
                raise optuna.TrialPruned(f"diverged: {r.reason}" + (f" (fold {f})" if k > 1 else ""))
            if pruned:
                self._set_curves(record, fold_curves)
                raise optuna.TrialPruned(f"pruned by {st.pruner} pruner at iteration {pruned[0]}")
            fold_values.append(out.metrics[metric])
            if k > 1:  # k folds: after each fold the running mean; Wilcoxon pairs each fold's own value
                trial.report(float(fold_values[-1] if st.pruner == "wilcoxon" else np.mean(fold_values)), f)
                if f < k - 1 and trial.should_prune():
                    self._set_curves(record, fold_curves)
                    raise optuna.TrialPruned(f"pruned by {st.pruner} pruner after fold {f}")
        self._set_curves(record, fold_curves)
        if k > 1:
            for key in fold_metrics[0]:
                record.metrics[key] = float(np.mean([m[key] for m in fold_metrics]))
        return float(np.mean(fold_values))

    def _train_stacked(self, trial, cfg: RunConfig, record: TrialRecord) -> float:
        """The k folds trained together: every ``report_every`` iterations the mean over the folds of the
        metric is reported at that iteration (as a hold-out reports its own), so the pruner judges all
        folds at once, after the warm-up that a hold-out gets; a fold that diverges ends the trial."""
        st, k = self.space.study, len(self.folds)
        cfgs = [replace(cfg, model=replace(cfg.model, seed=s)) for s in fold_seeds(cfg.model.seed, k)]
        splits = [self._split(f, c, tr, va) for f, (c, (tr, va)) in enumerate(zip(cfgs, self.folds))]
        steps, val_costs, pruned = [], [[] for _ in range(k)], []

        def on_step(i, costs, vals):
            steps.append(i)
            for f, v in enumerate(vals):
                val_costs[f].append(v.cost)
            trial.report(float(np.mean([metric_of(st.metric, v.AL, s.Y_val, v.cost) for v, s in zip(vals, splits)])), i)
            if trial.should_prune():
                pruned.append(i)
                return False
            return True

        outs = train_folds(cfgs, splits, on_step, every=st.report_every, stack=self._stack(cfg, splits),
                           stop_together=True)
        record.form = outs[0].result.form
        for f, (out, (tr, va)) in enumerate(zip(outs, self.folds)):
            record.full_costs.append(out.result.costs)
            record.folds.append({"fold": f, "repeat": f // st.folds, "seed": out.config.model.seed, "n_train": len(tr),
                                 "n_val": len(va), **out.metrics})
        self._set_curves(record, [(steps, [float(o.result.costs[i]) for i in steps], val_costs[f])
                                  for f, o in enumerate(outs)])
        for f, out in enumerate(outs):
            if out.result.status == "diverged":
                raise optuna.TrialPruned(f"diverged: {out.result.reason} (fold {f})")
        if pruned:
            raise optuna.TrialPruned(f"pruned by {st.pruner} pruner at iteration {pruned[0]}")
        for key in outs[0].metrics:
            record.metrics[key] = float(np.mean([o.metrics[key] for o in outs]))
        return float(np.mean([o.metrics[st.metric] for o in outs]))

    @staticmethod
    def _set_curves(record: TrialRecord, fold_curves):
        """Curve points as the mean over the folds that reached each step."""
        n = min(len(c[0]) for c in fold_curves)
        record.steps = list(fold_curves[0][0][:n])
        record.cost = [float(np.mean([c[1][j] for c in fold_curves])) for j in range(n)]
        record.val_cost = [float(np.mean([c[2][j] for c in fold_curves])) for j in range(n)]
