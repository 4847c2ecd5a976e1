"""The samplers and pruners dlcore builds: grouped TPE for the conditional layer sizes, Wilcoxon for folds."""
from __future__ import annotations

import warnings
from dataclasses import replace

import optuna
import pytest

from dlcore.config import ConfigError
from dlcore.search import Objective
from dlcore.search.study import make_pruner, make_sampler
from dlcore.store import Store as Backends
from dlcore.tracking.trials import fold_rows
from tests.search.test_search import search, tiny_space


def test_tpe_is_multivariate_and_grouped_and_seeded_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the experimental group option must not warn the user each search
        sampler = make_sampler("tpe", 3)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._group is True and sampler._multivariate is True and sampler._constant_liar is True
    # seeded: two samplers with one seed propose the same first configurations in a conditional space
    def proposals(seed):
        study = optuna.create_study(sampler=make_sampler("tpe", seed))
        study.optimize(lambda t: sum(t.suggest_int(f"n{l}", 1, 9) for l in range(t.suggest_int("L", 1, 3))), 14)
        return [t.params for t in study.trials]
    assert proposals(5) == proposals(5) != proposals(6)


def test_grouped_tpe_decomposes_the_space_by_the_parameters_that_occur_together(tmp_path):
    """Grouped TPE splits the trials' parameters into the groups that always occur together. In dlcore's
    layer space n_units_l1 occurs without n_units_l2 (L = 2) and neither occurs for L = 1, so each layer
    size is its own group beside the always-present ones: the same factorisation as group=False's
    intersection space plus independent sampling (what this test pins down; see the README)."""
    obj = Objective(tiny_space(tmp_path, name="grouped"))
    sampler = make_sampler("tpe", 7)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: float(len(obj.suggest(t))), 14)  # sampling only: no training needed here
    assert {t.params["n_layers"] for t in study.trials} == {1, 2, 3}
    sampler.infer_relative_search_space(study, study.trials[-1])  # the groups, from the history
    groups = sorted(sorted(g) for g in sampler._search_space_group.search_spaces)
    assert groups == [["init_scale", "learning_rate", "n_layers"], ["n_units_l1"], ["n_units_l2"]]


def wilcoxon_space(tmp_path, name):
    tmp_path.mkdir(exist_ok=True)
    good = [{"learning_rate": 1.0, "n_layers": 2, "n_units_l1": n, "init_scale": 1.0} for n in range(3, 6)]
    hopeless = {**good[0], "learning_rate": 1e-4}
    space = tiny_space(tmp_path, name=name, metric="val_balanced_accuracy", folds=5, lr_low=1e-4)
    return replace(space, study=replace(space.study, pruner="wilcoxon", trials=6), enqueue=(*good, hopeless))


def test_wilcoxon_prunes_a_hopeless_trial_on_its_per_fold_values_and_replays(tmp_path):
    summary, client, study, store = search(tmp_path / "a", wilcoxon_space(tmp_path / "a", "wx"), 6)
    tracker = Backends(store.root).tracker()
    states = [t.state.name for t in study.trials]
    assert states[:3] == ["COMPLETE"] * 3 and states[3] == "PRUNED", states
    hopeless = study.trials[3]
    # judged after its fourth fold (four pairs: the smallest p-value below 0.1), before its last
    assert sorted(hopeless.intermediate_values) == [0, 1, 2, 3]
    assert hopeless.user_attrs["state_reason"] == "pruned by wilcoxon pruner after fold 3"
    for t in study.trials:  # each step holds that fold's own value, not a running mean
        if t.state.name != "COMPLETE":
            continue
        rows = fold_rows(tracker, t.user_attrs["mlflow_run_id"])  # the folds.json table
        assert [t.intermediate_values[f] for f in range(5)] == [rows[f]["val_balanced_accuracy"] for f in range(5)]
    # replayable: the same space and seed in another store gives the same trials, states and values
    _, _, again, _ = search(tmp_path / "b", wilcoxon_space(tmp_path / "b", "wx"), 6)
    assert [(t.params, t.state, t.value, t.intermediate_values) for t in again.trials] == \
        [(t.params, t.state, t.value, t.intermediate_values) for t in study.trials]


def test_wilcoxon_is_built_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(make_pruner("wilcoxon", 1), optuna.pruners.WilcoxonPruner)


def test_wilcoxon_without_folds_is_refused(tmp_path):
    space = tiny_space(tmp_path, name="nofolds", folds=0)
    with pytest.raises(ConfigError, match=r"study.pruner 'wilcoxon' compares per-fold values: it needs "
                                          r"study.folds >= 2 \(got 0\)"):
        replace(space, study=replace(space.study, pruner="wilcoxon"))
