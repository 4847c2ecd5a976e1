"""What a trial, a training run and a reproduction write to MLflow, read back from a real store: few metric
keys, the per-fold table, dataset inputs from the fingerprint, descriptions; and a run written the old way
(per-fold metric keys, no folds.json) still read and reproduced."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import dlcore
from dlcore.reproduction import read_run, reproduce
from dlcore.runner import load_dataset
from dlcore.tracking.schema import CURVES, FOLDS
from dlcore.tracking.trials import fold_rows
from tests.search.test_search import child_runs, search, tiny_space

MAX_KEYS = 12


def contexts(run) -> dict:
    """{context: (name, digest)} of a run's dataset inputs."""
    return {t.value: (d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs for t in d.tags
            if t.key == "mlflow.data.context"}


@pytest.fixture(scope="module")
def kfold(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kfold")
    space = tiny_space(tmp, name="kf", metric="val_balanced_accuracy", folds=3)
    summary, client, study, store = search(tmp, space, 3)
    return space, summary, client, study, store


def test_a_kfold_trial_logs_few_keys_the_objective_by_name_and_a_fold_table(kfold, tmp_path):
    space, summary, client, study, store = kfold
    tracker = dlcore.Store(store.root).tracker()
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete
    for t in complete:
        run = client.get_run(t.user_attrs["mlflow_run_id"])
        m = run.data.metrics
        assert len(m) <= MAX_KEYS and not any("fold" in k for k in m), sorted(m)
        assert {"cost", "val_cost", "objective"} <= set(m)
        assert m["val_balanced_accuracy"] == pytest.approx(t.value) == m["objective"]
        rows = fold_rows(tracker, run.info.run_id)
        assert [r["fold"] for r in rows] == [0, 1, 2] and all(r["n_val"] == 32 for r in rows)
        path = client.download_artifacts(run.info.run_id, FOLDS, str(tmp_path))
        shown = pd.read_json(path, orient="split")  # as MLflow's load_table reads a table
        assert list(shown["val_cost"]) == pytest.approx([r["val_cost"] for r in rows], rel=1e-14)  # pandas' parser
        assert float(np.mean([r["val_balanced_accuracy"] for r in rows])) == t.value  # exact in the file
        assert {"path": FOLDS, "type": "table"} in json.loads(run.data.tags["mlflow.loggedArtifacts"])
        assert json.loads(run.data.params["fold_seeds"]) == [r["seed"] for r in rows]
        for key in ("train_cost", "val_cost", "val_accuracy", "val_balanced_accuracy"):
            assert np.mean([r[key] for r in rows]) == pytest.approx(m[f"final_{key}"])
        steps = [h.step for h in client.get_metric_history(run.info.run_id, "val_cost")]
        assert sorted(t.intermediate_values) == steps  # the folds' mean reported where the curve has a point
        assert t.user_attrs["mlflow_run_path"] == f"#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    assert study.metric_names == ["val_balanced_accuracy"]  # optuna-dashboard names the objective so


def test_every_trial_has_dataset_inputs_from_the_fingerprint_and_a_description(kfold):
    space, summary, client, study, store = kfold
    fp = load_dataset(space.base).fingerprint
    for run in child_runs(client, summary):
        ctx = contexts(run)
        assert set(ctx) == {"training", "validation"}       # no test: a search never touches it
        assert ctx["training"] == ("moons", fp[:8]) and ctx["validation"][0] == "moons"
        assert ctx["validation"][1] != fp[:8]
        t = study.trials[int(run.data.tags["optuna.trial_number"])]
        note = run.data.tags["mlflow.note.content"]
        dims = "-".join(map(str, json.loads(run.data.params["layer_dims"])))
        assert f"Trial **{t.number}** of study `kf`: **{t.state.name}**" in note and f"`{dims}`" in note
        assert all(f"| {k} |" in note for k in t.params)
        if t.state.name == "COMPLETE":
            assert "val_balanced_accuracy over 3 folds: mean" in note and "| 2 | 64 | 32 |" in note


def test_the_parent_run_says_the_search_and_how_to_reproduce_its_best(kfold):
    space, summary, client, study, store = kfold
    parent = client.get_run(summary["parent_run_id"])
    note = parent.data.tags["mlflow.note.content"]
    best = summary["best_trial"]
    assert "Search of study **`kf`** on **moons**" in note and "sampler: tpe, pruner: median" in note
    assert "3-fold cross-validation" in note and "3 more trial(s)" in note
    assert f"Best trial: **{best}** (run `trial-{best}`)" in note and "dlcore reproduce --study kf" in note
    assert client.get_run(summary["best_run_id"]).info.run_name == f"trial-{best}"


def test_a_reproduction_logs_its_inputs_and_description_and_report_reads_the_new_store(kfold):
    space, summary, client, study, store = kfold
    rep = dlcore.reproduce(summary["best_run_id"], store=store.root, evaluate_test=True)
    assert rep.identical
    assert rep.reproduces == summary["best_run_id"]
    run = client.get_run(rep.run_id)
    ctx = contexts(run)
    assert set(ctx) == {"training", "validation", "test"}
    assert ctx["training"] == contexts(client.get_run(summary["best_run_id"]))["training"]
    assert run.data.tags["mlflow.note.content"].startswith(f"Reproduction of run `{summary['best_run_id']}`")
    table = dlcore.trials("kf", store=store.root)
    assert len(table) == 3 and table.iloc[0]["number"] == summary["best_trial"]
    assert dlcore.best("kf", store=store.root).run_id == summary["best_run_id"]


def test_a_run_logged_before_folds_json_is_still_read_and_reproduced(kfold, tmp_path):
    """The old layout: every final per fold as a metric key, no folds.json."""
    space, summary, client, study, store = kfold
    tracker = dlcore.Store(store.root).tracker()
    new = client.get_run(summary["best_run_id"])
    rows = fold_rows(tracker, new.info.run_id)
    old_id = tracker.start_run(new.info.experiment_id, "old-trial", {
        k: v for k, v in new.data.tags.items() if not k.startswith("mlflow.")})
    metrics = {k: v for k, v in new.data.metrics.items() if k not in ("cost", "val_cost")}
    metrics |= {f"final_fold{r['fold']}_{k}": r[k] for r in rows for k in ("val_cost", "val_balanced_accuracy")}
    tracker.log(old_id, params=dict(new.data.params), metrics=metrics)
    tracker.log_arrays(old_id, CURVES, **tracker.load_arrays(new.info.run_id, CURVES))
    tracker.end(old_id, "FINISHED")
    assert FOLDS not in {f.path for f in client.list_artifacts(old_id)}
    old_rows = fold_rows(tracker, old_id)
    assert [r["fold"] for r in old_rows] == [0, 1, 2]
    assert [r["val_balanced_accuracy"] for r in old_rows] == pytest.approx([r["val_balanced_accuracy"] for r in rows])
    logged = read_run(tracker, old_id)
    assert logged.folds == 3 and reproduce(tracker, logged, log=False)["verdict"] == "identical"


def test_a_holdout_trial_and_a_training_run(tmp_path):
    space = tiny_space(tmp_path, name="ho", metric="val_cost")
    summary, client, study, store = search(tmp_path, space, 2)
    tracker = dlcore.Store(store.root).tracker()
    for run in child_runs(client, summary):
        m = run.data.metrics
        assert len(m) <= MAX_KEYS and "objective" in m       # val_cost is the curve's key: not logged twice
        assert FOLDS not in {f.path for f in client.list_artifacts(run.info.run_id)}
        assert fold_rows(tracker, run.info.run_id) == []
        assert set(contexts(run)) == {"training", "validation"}
    trained = dlcore.train(space.base, store=store.root, experiment="t")
    run = client.get_run(trained.run_id)
    assert len(run.data.metrics) <= MAX_KEYS and "final_test_accuracy" in run.data.metrics
    fp = load_dataset(space.base).fingerprint
    assert contexts(run)["training"] == ("moons", fp[:8]) and set(contexts(run)) == {"training", "validation", "test"}
    assert run.data.tags["mlflow.note.content"].startswith("`dlcore train` on **moons**: **COMPLETE**")


def test_the_parent_has_an_interactive_report_and_legible_plots(kfold, tmp_path):
    space, summary, client, study, store = kfold
    parent = summary["parent_run_id"]
    page = open(client.download_artifacts(parent, "report.html", str(tmp_path)), encoding="utf-8").read()
    assert page.count("Plotly.newPlot") >= 3 and page.count("<h2>") >= 3  # one page, a figure per plot
    assert page.count("plotly.js v") == 1                                # the library embedded once: no CDN
    for title in ("Optimisation history", "Intermediate values", "Top trials&#x27; cost curves"):
        assert title in page, title
    assert "val_balanced_accuracy" in page
    from PIL import Image
    png = Image.open(client.download_artifacts(parent, "plots/parallel_coordinate.png", str(tmp_path)))
    n_axes = 1 + len({k for t in study.trials if t.state.name == "COMPLETE" for k in t.params})
    assert n_axes >= 5 and abs(png.size[0] - 1.4 * n_axes * 90) <= 2  # 1.4 inch per axis, at 90 dpi
