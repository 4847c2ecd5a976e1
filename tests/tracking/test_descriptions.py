"""The runs' markdown descriptions and dataset inputs, as text and dicts (pure: no store)."""
from __future__ import annotations

import json
import math

from dlcore.config import DataConfig
from dlcore.tracking.datasets import dataset_inputs, dataset_name, dataset_source, split_digest, split_protocol
from dlcore.tracking.descriptions import (architecture, fmt, fold_table, search_description, train_description,
                                          trial_description)

FOLDS = [{"fold": f, "n_train": 64, "n_val": 32, "val_balanced_accuracy": v, "val_cost": 0.5, "train_cost": 0.4}
         for f, v in enumerate([0.75, 0.875, 1.0])]


def test_numbers_read_as_people_read_them():
    assert [fmt(v) for v in (None, math.nan, 3, 0.123456789, True, "relu")] == ["-", "-", "3", "0.1235", "True", "relu"]
    assert architecture((12288, 21, 22, 1)) == "12288-21-22-1"


def test_a_kfold_trial_says_its_architecture_params_state_objective_and_folds():
    note = trial_description("cat", 7, (12288, 21, 22, 1), {"learning_rate": 0.0075, "n_layers": 3}, "PRUNED",
                             "pruned by median pruner after fold 1", "val_balanced_accuracy", None, FOLDS[:2])
    assert note.startswith("Trial **7** of study `cat`: **PRUNED**: pruned by median pruner after fold 1\n")
    assert "`12288-21-22-1`" in note and "| learning_rate | 0.0075 |" in note and "| n_layers | 3 |" in note
    assert "val_balanced_accuracy = **-** (mean over 2 folds)" in note
    assert "| 1 | 64 | 32 | 0.875 | 0.5 | 0.4 |" in note


def test_the_fold_summary_is_the_mean_and_spread_of_the_metric():
    lines = fold_table(FOLDS, "val_balanced_accuracy")
    assert lines[0] == "| fold | n_train | n_val | val_balanced_accuracy | val_cost | train_cost |"
    assert lines[-1] == "val_balanced_accuracy over 3 folds: mean 0.875, std 0.1021, min 0.75, max 1"
    assert fold_table(FOLDS, "val_cost")[0] == "| fold | n_train | n_val | val_cost | train_cost |"  # no column twice


def test_a_holdout_trial_has_no_fold_table():
    note = trial_description("p", 0, (2, 4, 1), {}, "COMPLETE", "", "val_cost", 0.25, [FOLDS[0]])
    assert "val_cost = **0.25**\n" in note and "| fold |" not in note and "Searched" not in note


def test_the_parent_says_the_search_then_its_best_and_how_to_reproduce_it():
    facts = dict(study="my cat", sampler="tpe", pruner="median", metric="val_accuracy", direction="maximize",
                 dataset="cat", folds=4, requested=100)
    running = search_description(**facts)
    assert "Search of study **`my cat`** on **cat**" in running and "4-fold cross-validation" in running
    assert "budget: 100 more trial(s)" in running and "Running" in running
    done = search_description(**facts, summary={"counts": {"COMPLETE": 90, "PRUNED": 10, "FAIL": 0},
                                                "best_trial": 42, "best_value": 0.8, "best_params": {"n_layers": 3}})
    assert "trials in the study: 90 COMPLETE, 10 PRUNED\n" in done and "Running" not in done
    assert "Best trial: **42** (run `trial-42`), val_accuracy = **0.8**" in done
    assert "dlcore reproduce --study 'my cat'" in done and "| n_layers | 3 |" in done
    none = search_description(**facts, summary={"counts": {"FAIL": 2}, "best_trial": None})
    assert "No trial has completed yet." in none and "reproduce" not in none


def test_a_training_run_lists_its_finals():
    note = train_description("planar", (2, 4, 1), "COMPLETE", "", {"train_cost": 0.25})
    assert note.startswith("`dlcore train` on **planar**: **COMPLETE**") and "| train_cost | 0.25 |" in note


def test_dataset_inputs_name_digest_source_and_context():
    fp = "6db178f7" + "0" * 56
    cat = DataConfig(name="cat", path="/data/catvnoncat")
    ins = dataset_inputs(cat, fp, {"training": 209, "validation": 0, "test": 50}, split_protocol(cat))
    assert [(d["name"], d["context"]) for d in ins] == [("cat", "training"), ("cat", "test")]
    assert ins[0]["digest"] == "6db178f7" and ins[1]["digest"] != "6db178f7" and len(ins[1]["digest"]) == 8
    assert ins[0]["source"] == "/data/catvnoncat" and ins[0]["source_type"] == "local"
    assert json.loads(ins[1]["profile"]) == {"num_examples": 50, "fingerprint": fp, "split": "the dataset's own test files"}
    assert dataset_name(DataConfig(name="csv", path="some/dir/heart.csv")) == "heart.csv"
    kind, source = dataset_source(DataConfig(name="planar"))
    assert kind == "code" and json.loads(source) == {"generator": "planar", "m": 400, "noise": 0.2, "seed": 1}


def test_equal_splits_share_a_digest_and_other_splits_do_not():
    fp = "ab" * 32
    a = split_protocol(DataConfig(name="moons", split_seed=0), folds=3)
    b = split_protocol(DataConfig(name="moons", split_seed=1), folds=3)
    assert split_digest(fp, "validation", a["validation"]) == split_digest(fp, "validation", a["validation"])
    assert split_digest(fp, "validation", a["validation"]) != split_digest(fp, "validation", b["validation"])
    assert split_digest(fp, "training", a["training"]) == split_digest(fp, "training", b["training"]) == fp[:8]
