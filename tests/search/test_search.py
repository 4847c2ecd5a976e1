"""A real small search in a temporary store: Optuna's SQLite storage and MLflow's SQLite store."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient

from dlcore.session import run_search
from dlcore.store import Store as Backends  # the public Store: Optuna storage and MLflow tracking
from dlcore.search import Objective, derive_seed, load_space
from dlcore.tracking.store import Store
from dlcore.tracking.trials import fold_rows

TINY = """
[study]
name = "{name}"
metric = "{metric}"
sampler = "{sampler}"
trials = 4
seed = 7
report_every = 25
folds = {folds}
[data]
name = "moons"
n_samples = 120
validation_fraction = 0.25
test_fraction = 0.2
[model]
hidden_activation = "tanh"
init = "he"
[train]
iterations = 100
[space]
learning_rate = {{ low = {lr_low}, high = {lr_high}, log = true }}
n_layers = {{ low = 1, high = 3 }}
n_units = {{ low = 2, high = 6 }}
init_scale = {{ low = 0.1, high = 2.0, log = true }}
[[enqueue]]
learning_rate = {lr_low}
n_layers = 2
n_units_l1 = 3
init_scale = 1.0
"""


def tiny_space(tmp_path, name="tiny", metric="val_cost", folds=0, lr_low=0.05, lr_high=2.0, sampler="tpe"):
    f = tmp_path / f"{name}.toml"
    f.write_text(TINY.format(name=name, metric=metric, folds=folds, lr_low=lr_low, lr_high=lr_high, sampler=sampler))
    return load_space(f)


def search(tmp_path, space, n=None):
    store = Store(tmp_path / "store")
    summary = run_search(space, Backends(store.root), n)
    client = MlflowClient(store.tracking_uri)
    study = optuna.load_study(study_name=space.study.name, storage=store.optuna_url)
    return summary, client, study, store


def child_runs(client, summary, parent=None):
    runs = client.search_runs([summary["experiment_id"]], max_results=1000)
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == (parent or summary["parent_run_id"])]


def test_every_trial_has_one_linked_child_run(tmp_path):
    space = tiny_space(tmp_path)
    summary, client, study, store = search(tmp_path, space)
    trials = study.trials
    children = child_runs(client, summary)
    assert len(trials) == 4 and len(children) == 4
    by_id = {r.info.run_id: r for r in children}
    for t in trials:
        run = by_id[t.user_attrs["mlflow_run_id"]]                       # trial -> run
        assert run.data.tags["optuna.trial_number"] == str(t.number)     # run -> trial
        assert run.data.tags["optuna.trial_state"] == t.state.name
        assert run.info.status == {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}[t.state.name]
        assert run.data.params["seed"] == str(derive_seed(7, t.number)) == str(t.user_attrs["seed"])
        for key in ("learning_rate", "init_scale", "layer_dims", "dataset", "data_fingerprint", "dtype",
                    "iterations", "n_train", "n_val", "form"):
            assert key in run.data.params, key
        for name, value in t.params.items():
            assert float(run.data.params[name]) == pytest.approx(value)
        assert json.loads(run.data.params["layer_dims"])[0] == 2
        for tag in ("dlcore.git_commit", "dlcore.git_dirty", "dlcore.numpy_version", "dlcore.blas",
                    "dlcore.optuna_version", "dlcore.mlflow_version"):
            assert run.data.tags[tag]
        if t.state.name == "COMPLETE":
            cost = client.get_metric_history(run.info.run_id, "cost")
            val = client.get_metric_history(run.info.run_id, "val_cost")
            assert [m.step for m in cost] == [24, 49, 74, 99] and len(val) == 4
            assert run.data.metrics["objective"] == pytest.approx(t.value)
            assert run.data.metrics["final_val_cost"] == pytest.approx(t.value)
            assert {"final_train_cost", "final_train_accuracy", "final_val_accuracy"} <= set(run.data.metrics)
            arrays = np.load(client.download_artifacts(run.info.run_id, "curves.npz", str(tmp_path)))
            assert arrays["cost"].shape == (100,)
            assert arrays["cost"][99] == pytest.approx(cost[-1].value, rel=1e-12)
    # the enqueued configuration ran first
    assert trials[0].params == {"learning_rate": 0.05, "n_layers": 2, "n_units_l1": 3, "init_scale": 1.0}
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["dlcore.kind"] == "search"
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)} | {
        a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"trials.csv", "plots/optimization_history.png", "plots/top_cost_curves.png"} <= arts
    assert parent.data.tags["dlcore.best_run_id"] == summary["best_run_id"]
    assert summary["best_value"] == pytest.approx(study.best_value)
    # experiments keep their artifacts in the store, whatever the working directory
    assert client.get_experiment(summary["experiment_id"]).artifact_location.startswith(
        (tmp_path / "store" / "artifacts").as_uri())


def test_running_again_adds_trials_to_the_same_study_and_experiment(tmp_path):
    space = tiny_space(tmp_path)
    first, client, _, _ = search(tmp_path, space, 3)
    with open(client.download_artifacts(first["parent_run_id"], "search_space.json", str(tmp_path))) as f:
        logged = json.load(f)  # the parent run holds the whole space
    assert logged["space"]["learning_rate"] == {"low": 0.05, "high": 2.0, "log": True}
    second, client, study, _ = search(tmp_path, space, 2)
    assert len(study.trials) == 5
    assert first["experiment_id"] == second["experiment_id"] and first["parent_run_id"] != second["parent_run_id"]
    assert len(child_runs(client, first)) == 3 and len(child_runs(client, second)) == 2
    assert sum(second["counts"].values()) == 5


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_running_again_proposes_new_configurations(tmp_path, sampler):
    """The sampler of a continued search is seeded from the study seed and the history, not the study
    seed alone, which would propose the first search's configurations again."""
    space = tiny_space(tmp_path, name=f"again-{sampler}", sampler=sampler)
    search(tmp_path, space, 3)
    _, _, study, _ = search(tmp_path, space, 3)
    first, second = [[t.params for t in study.trials[i:i + 3]] for i in (0, 3)]
    assert not [p for p in second if p in first]


@pytest.mark.parametrize("sampler", ["qmc", "random"])
def test_other_samplers_run_every_trial(tmp_path, sampler):
    """QMC once failed its second trial: it imports scipy lazily, while the report's warm-up thread did too."""
    from tests.conftest import run_dlcore

    space = tiny_space(tmp_path, name=f"s-{sampler}", sampler=sampler)
    store = Store(tmp_path / "store")  # a fresh process, as a user runs it: nothing imported yet
    p = run_dlcore("search", space.source, "--json", "--store", store.root)
    assert p.returncode == 0, p.stderr
    study = optuna.load_study(study_name=space.study.name, storage=store.optuna_url)
    assert len(study.trials) == 4 and not [t for t in study.trials if t.state.name == "FAIL"], p.stderr
    assert len(child_runs(MlflowClient(store.tracking_uri), json.loads(p.stdout))) == 4


def test_continuing_a_study_with_another_dataset_or_metric_is_refused(tmp_path):
    from dlcore.config import ConfigError

    search(tmp_path, tiny_space(tmp_path, name="same"), 2)
    other = tiny_space(tmp_path, name="same")
    other = replace(other, base=other.base.with_overrides(["data.n_samples=200"]))
    with pytest.raises(ConfigError, match=r"exists with data.n_samples = 120, this space has 200"):
        search(tmp_path, other, 2)
    folds = tiny_space(tmp_path, name="same", folds=3)
    with pytest.raises(ConfigError, match=r"exists with study.folds = 0, this space has 3"):
        search(tmp_path, folds, 2)


def test_a_trial_that_fails_before_training_still_has_its_run_and_reason(tmp_path):
    from dlcore.tracking.mlflow_runs import Tracker
    from dlcore.tracking.search_tracker import SearchTracker

    space = tiny_space(tmp_path)
    store = Store(tmp_path / "store").create()
    tracker = Tracker(store.tracking_uri, store.artifact_root)
    hooks = SearchTracker(tracker, tracker.experiment_id("tiny"), None, "tiny")
    obj = Objective(space, hooks)
    trial = optuna.trial.FixedTrial({"learning_rate": 0.3}, number=0)  # no n_layers: suggest fails
    with pytest.raises(ValueError):
        obj(trial)
    hooks.flush()
    run = tracker.client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and "n_layers" in run.data.tags["dlcore.state_reason"]


def tracked_trial(tmp_path, name="cut"):
    """A tracker, its SearchTracker and a trial of a real study in a temporary store."""
    from dlcore.tracking.mlflow_runs import Tracker
    from dlcore.tracking.search_tracker import SearchTracker

    store = Store(tmp_path / "store").create()
    tracker = Tracker(store.tracking_uri, store.artifact_root)
    hooks = SearchTracker(tracker, tracker.experiment_id(name), None, name)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    return tracker, hooks, study.ask()


def test_an_interrupt_that_cuts_the_start_of_a_trial_short_still_leaves_it_its_closed_run(tmp_path):
    """Ctrl-C as a worker's first trial begins (its first provenance read runs git) landed before the
    run's creation was queued: the trial ended FAIL with no run. The trial's end makes it instead."""
    from dlcore import interrupt
    from dlcore.tracking.search_tracker import SearchTracker

    class InterruptedAtStart(SearchTracker):
        def start(self, trial, record):
            raise KeyboardInterrupt  # where the signal lands: before anything is queued

    tracker, hooks, trial = tracked_trial(tmp_path)
    hooks.__class__ = InterruptedAtStart
    obj = Objective(tiny_space(tmp_path, name="cut"), hooks)
    with interrupt.interruptible(), pytest.raises(KeyboardInterrupt):  # the block puts the handlers back
        obj(trial)
    hooks.flush()
    runs = tracker.client.search_runs([tracker.experiment_id("cut")])
    assert [r.info.run_id for r in runs] == [trial.study.trials[0].user_attrs["mlflow_run_id"]]  # one, linked
    run = runs[0]
    assert run.info.status == "FAILED" and run.data.tags["dlcore.state_reason"] == "KeyboardInterrupt"
    assert run.data.tags["optuna.trial_number"] == "0" and run.data.tags["dlcore.kind"] == "trial"


def test_an_interrupted_trial_leaves_a_library_callers_sigint_handler_in_place(tmp_path):
    """Outside dlcore's own interrupt handling (a script driving Optuna with dlcore's objective), the
    trial's end must not swap the caller's handler for a remember-only one: its next Ctrl-C interrupts."""
    import signal

    from dlcore.tracking.search_tracker import SearchTracker

    class InterruptedAtStart(SearchTracker):
        def start(self, trial, record):
            raise KeyboardInterrupt

    tracker, hooks, trial = tracked_trial(tmp_path)
    hooks.__class__ = InterruptedAtStart
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        Objective(tiny_space(tmp_path, name="cut"), hooks)(trial)
    hooks.flush()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert tracker.client.get_run(trial.study.trials[0].user_attrs["mlflow_run_id"]).info.status == "FAILED"


def test_a_trial_that_ends_before_the_writer_begins_its_run_makes_the_run_itself(tmp_path):
    """The writer thread cannot take the creation (the tracker's lock is held here, as while it is
    handing out another job): the trial's end takes it back and makes the run in its own thread, once."""
    from dlcore.tracking.schema import TrialRecord

    tracker, hooks, trial = tracked_trial(tmp_path)
    record = TrialRecord(trial.number, {}, tiny_space(tmp_path, name="cut").base, (2, 1), state="FAIL",
                         reason="ValueError: no", context=None)
    with hooks._wake:  # a Condition's lock is re-entrant: start and finish still run in this thread
        hooks.start(trial, record)
        assert len(hooks._creates) == 1 and hooks._writer.is_alive()
        hooks.finish(trial, record)
        assert not hooks._creates
    hooks.flush()
    runs = tracker.client.search_runs([tracker.experiment_id("cut")])
    assert [r.info.run_id for r in runs] == [trial.study.trials[0].user_attrs["mlflow_run_id"]]
    assert runs[0].info.status == "FAILED" and runs[0].data.tags["dlcore.state_reason"] == "ValueError: no"


def test_a_ctrl_c_while_a_trial_ends_is_raised_after_its_run_is_closed(tmp_path):
    """The signal lands as a completed trial hands over its run: the trial still returns its value and
    its run is written FINISHED; the interrupt is raised between trials (interrupt.check())."""
    import os
    import signal

    from dlcore import interrupt
    from dlcore.tracking.search_tracker import SearchTracker

    class CtrlCAtFinish(SearchTracker):
        def finish(self, trial, record):
            os.kill(os.getpid(), signal.SIGINT)
            super().finish(trial, record)

    tracker, hooks, trial = tracked_trial(tmp_path)
    hooks.__class__ = CtrlCAtFinish
    obj = Objective(tiny_space(tmp_path, name="cut"), hooks)
    with interrupt.interruptible():
        try:
            value = obj(trial)
        except KeyboardInterrupt:  # (not let through: pytest would end the whole session)
            pytest.fail("the Ctrl-C was raised inside the trial's end, before its run was handed over")
        hooks.flush()
        assert interrupt.requested()
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    run = tracker.client.get_run(trial.study.trials[0].user_attrs["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.metrics["objective"] == pytest.approx(value)


def test_a_ctrl_c_inside_ask_is_raised_once_the_new_trial_names_its_process(tmp_path):
    """Optuna's ask creates the trial, then calls the sampler: a Ctrl-C there left a RUNNING trial with no
    owner, which no reaper of a dead process could close. It is raised after the owner is stored."""
    import contextlib
    import os
    import signal

    from dlcore import interrupt
    from dlcore.search.budget import enforce_budget, this_process

    class CtrlCInAsk(optuna.samplers.RandomSampler):
        def before_trial(self, study, trial):  # inside ask, once the trial's row exists
            os.kill(os.getpid(), signal.SIGINT)

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}", sampler=CtrlCInAsk(seed=0))
    study.set_user_attr("budget", 1)
    enforce_budget(study, contextlib.nullcontext, owner=this_process())
    with interrupt.interruptible():
        try:
            study.ask()
        except KeyboardInterrupt:  # (not let through: pytest would end the whole session)
            pytest.fail("the Ctrl-C was raised inside ask, before the trial named its process")
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    assert [(t.state.name, t.user_attrs.get("worker")) for t in study.trials] == [("RUNNING", this_process())]


def test_diverging_learning_rates_are_pruned_with_the_reason(tmp_path):
    space = tiny_space(tmp_path, name="diverge", lr_low=1e5, lr_high=1e7)
    summary, client, study, _ = search(tmp_path, space)
    assert [t.state.name for t in study.trials] == ["PRUNED"] * 4
    assert all(t.user_attrs["state_reason"].startswith("diverged") for t in study.trials)
    runs = child_runs(client, summary)
    assert len(runs) == 4 and all(r.info.status == "KILLED" for r in runs)
    assert all(r.data.tags["dlcore.state_reason"].startswith("diverged: cost") for r in runs)
    assert summary["best_trial"] is None and client.get_run(summary["parent_run_id"]).info.status == "FINISHED"


def test_kfold_balanced_accuracy_reported_as_the_mean_over_the_folds_every_report_every(tmp_path):
    space = tiny_space(tmp_path, name="folds", metric="val_balanced_accuracy", folds=3)
    summary, client, study, store = search(tmp_path, space, 8)
    tracker = Backends(store.root).tracker()
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert study.direction.name == "MAXIMIZE" and complete
    for t in complete:  # the folds train together: the mean over them at iterations 24, 49, 74, 99
        assert sorted(t.intermediate_values) == [24, 49, 74, 99]
        assert all(0 <= v <= 1 for v in t.intermediate_values.values())
        run = client.get_run(t.user_attrs["mlflow_run_id"])
        rows = fold_rows(tracker, run.info.run_id)  # per-fold finals: the folds.json table
        folds = [rows[f]["val_balanced_accuracy"] for f in range(3)]
        assert np.mean(folds) == pytest.approx(t.value)
        for key in ("train_cost", "train_accuracy", "val_cost", "val_accuracy"):  # every final, per fold
            assert np.mean([rows[f][key] for f in range(3)]) == pytest.approx(run.data.metrics[f"final_{key}"])
        assert json.loads(run.data.params["n_val"]) == [32, 32, 32]  # 96 training examples in 3 folds


@pytest.mark.parametrize("folds", [0, 3])
def test_the_median_pruner_prunes_a_hopeless_trial_after_its_warm_up(tmp_path, folds):
    """Five good configurations, then one whose learning rate cannot learn in 100 iterations: pruned,
    but not before the warm-up (a quarter of the iterations; with folds too, which train together and
    report the mean over the folds)."""
    good = [{"learning_rate": 1.0, "n_layers": 2, "n_units_l1": n, "init_scale": 1.0} for n in range(2, 7)]
    hopeless = {**good[0], "learning_rate": 1e-4}
    space = tiny_space(tmp_path, name=f"prune{folds}", metric="val_balanced_accuracy", folds=folds, lr_low=1e-4)
    space = replace(space, enqueue=(*good, hopeless))
    _, client, study, _ = search(tmp_path, space, 6)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5 + ["PRUNED"]
    last = study.trials[-1]
    assert 25 <= max(last.intermediate_values) < 99
    assert last.user_attrs["state_reason"] == f"pruned by median pruner at iteration {max(last.intermediate_values)}"
    assert client.get_run(last.user_attrs["mlflow_run_id"]).info.status == "KILLED"


def test_the_objective_never_sees_the_test_split(tmp_path):
    space = tiny_space(tmp_path)
    obj = Objective(space)
    assert obj.dataset.X_test.shape[1] == 24 and obj.dataset.X.shape[1] == 96
    used = np.concatenate([np.concatenate([tr, va]) for tr, va in obj.folds])
    assert used.max() < obj.dataset.X.shape[1]


def test_trial_replays_from_its_params_and_seed(tmp_path):
    space = tiny_space(tmp_path)
    obj = Objective(space)
    params = {"learning_rate": 0.3, "n_layers": 3, "n_units_l1": 4, "n_units_l2": 2, "init_scale": 0.5}
    v1 = obj(optuna.trial.FixedTrial(params, number=5))
    v2 = obj(optuna.trial.FixedTrial(params, number=5))
    v3 = obj(optuna.trial.FixedTrial(params, number=6))
    assert v1 == v2 and v1 != v3
    cfg = obj.config_for(params, 123)
    assert cfg.model.hidden_units == [4, 2] and cfg.model.seed == 123 and cfg.train.learning_rate == 0.3
