"""k-fold trials score the configuration: each fold from its own seed, fold assignments repeated."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from dlcore.config import ConfigError
from dlcore.data import kfold_indices
from dlcore.runner import derive_seed, fold_seeds
from dlcore.search import Objective
from dlcore.search.study import open_study, space_of
from dlcore.store import Store as Backends
from dlcore.tracking.trials import fold_rows
from tests.conftest import run_dlcore
from tests.search.test_search import search, tiny_space


def repeated(tmp_path, name, folds=3, repeats=2):
    space = tiny_space(tmp_path, name=name, metric="val_balanced_accuracy", folds=folds)
    return replace(space, study=replace(space.study, repeats=repeats))


def test_repeats_are_new_stratified_assignments_the_first_being_the_unrepeated_one(tmp_path):
    obj = Objective(repeated(tmp_path, "r", folds=3, repeats=3))
    ds, split_seed = obj.dataset, obj.space.base.data.split_seed
    assert len(obj.folds) == 9
    once = kfold_indices(ds.Y, 3, split_seed)
    for (tr, va), (tr0, va0) in zip(obj.folds[:3], once):  # repeats = 1 is exactly today's folds
        np.testing.assert_array_equal(tr, tr0)
        np.testing.assert_array_equal(va, va0)
    for j in range(3):
        vals = np.concatenate([va for _, va in obj.folds[3 * j:3 * j + 3]])
        assert sorted(vals) == list(range(ds.Y.shape[1]))           # each repeat partitions the examples
    assert not np.array_equal(obj.folds[0][1], obj.folds[3][1])      # and the repeats differ
    np.testing.assert_array_equal(obj.folds[3][1], kfold_indices(ds.Y, 3, derive_seed(split_seed, 1))[0][1])


def test_each_fold_trains_from_its_own_logged_seed_and_the_objective_is_the_mean_of_r_k(tmp_path):
    summary, client, study, store = search(tmp_path, repeated(tmp_path, "seeds"), 2)
    tracker = Backends(store.root).tracker()
    for t in study.trials:
        assert t.state.name == "COMPLETE"
        p = client.get_run(t.user_attrs["mlflow_run_id"]).data
        seeds = json.loads(p.params["fold_seeds"])
        assert seeds == [derive_seed(t.user_attrs["seed"], f) for f in range(6)] and len(set(seeds)) == 6
        assert (p.params["folds"], p.params["repeats"]) == ("3", "2")
        assert len(json.loads(p.params["n_val"])) == 6
        rows = fold_rows(tracker, t.user_attrs["mlflow_run_id"])  # the folds.json table, one row per training
        assert [(r["fold"], r["repeat"], r["seed"]) for r in rows] == [(f, f // 3, seeds[f]) for f in range(6)]
        values = [r["val_balanced_accuracy"] for r in rows]
        assert t.value == pytest.approx(np.mean(values))
    assert fold_seeds(5, 1) == [5]  # a hold-out keeps the trial's own seed: hold-out searches are unchanged


def test_a_repeated_kfold_trial_reproduces_identically_with_its_seeds(tmp_path):
    summary, _, _, store = search(tmp_path, repeated(tmp_path, "again"), 2)
    p = run_dlcore("reproduce", "--store", store.root, "--run-id", summary["best_run_id"], "--seeds", "2", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"] == "identical" and out["folds"] == 6
    assert len(out["seeds"]["runs"]) == 2 and out["seeds"]["summary"]["val_balanced_accuracy"]["std"] >= 0


def test_an_older_kfold_study_is_not_continued_with_the_new_protocol(tmp_path):
    space = repeated(tmp_path, "old", repeats=1)
    summary, _, study, store = search(tmp_path, space, 1)
    doc = study.user_attrs["space"]
    del doc["study"]["repeats"]                  # as a study stored its space before per-fold seeds
    study.set_user_attr("space", doc)
    with pytest.raises(ConfigError, match="was created before each fold trained from its own seed"):
        open_study(space, store.optuna_url)
    with pytest.raises(ConfigError, match="was created before each fold"):  # nor does a `dlcore worker` join it
        space_of(study)


def test_repeats_without_folds_are_refused(tmp_path):
    space = tiny_space(tmp_path, name="nofolds")
    with pytest.raises(ConfigError, match=r"study.repeats = 2 repeats k-fold assignments: it needs study.folds >= 2"):
        replace(space, study=replace(space.study, repeats=2))


def test_folds_trained_together_give_the_trial_of_folds_trained_one_by_one(tmp_path):
    """The median pruner's trials train their folds together (stacked), Wilcoxon's one after another:
    the same enqueued configurations get the same curves, finals and values, bit for bit."""
    trials = {}
    for pruner in ("median", "wilcoxon"):
        space = repeated(tmp_path, f"together-{pruner}", folds=3, repeats=2)
        space = replace(space, study=replace(space.study, pruner=pruner))
        assert space.stack_folds == (pruner == "median")
        _, _, study, store = search(tmp_path, space, 2)
        tracker = Backends(store.root).tracker()
        trials[pruner] = [(t.value, fold_rows(tracker, t.user_attrs["mlflow_run_id"]),
                           tracker.load_arrays(t.user_attrs["mlflow_run_id"], "curves.npz")) for t in study.trials]
    for (v1, rows1, curves1), (v2, rows2, curves2) in zip(trials["median"], trials["wilcoxon"]):
        assert v1 == v2 and rows1 == rows2
        assert sorted(curves1) == sorted(curves2) == [f"cost_fold{f}" for f in range(6)]
        for key in curves1:
            np.testing.assert_array_equal(curves1[key], curves2[key])


def test_a_study_that_reported_fold_by_fold_is_not_continued_by_folds_trained_together(tmp_path):
    """A k-fold study made before folds trained together reported the running mean after each fold
    (steps 0..k-1); the median pruner would compare those with means at iterations."""
    space = repeated(tmp_path, "steps", repeats=1)
    _, _, study, store = search(tmp_path, space, 1)
    assert study.user_attrs["report_steps"] == "iterations"
    study.set_user_attr("report_steps", "folds")
    with pytest.raises(ConfigError, match="reported its trials to the pruner by fold, this space reports by iteration"):
        open_study(space, store.optuna_url)
    wilcoxon = replace(space, study=replace(space.study, pruner="wilcoxon"))  # which does train fold by fold
    assert open_study(wilcoxon, store.optuna_url).user_attrs["report_steps"] == "folds"
