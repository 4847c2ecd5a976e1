"""Bad input across the command line: a one-line error naming the problem, a non-zero exit, no
traceback, and the existing studies and runs untouched."""
import json
import sqlite3

import numpy as np
import pytest

from dlcore.session import run_search
from dlcore.store import Store as Backends  # the public Store: Optuna storage and MLflow tracking
from dlcore.tracking.store import Store
from tests.conftest import ROOT, run_dlcore
from tests.search.test_search import tiny_space

PLANAR = ROOT / "experiments" / "course" / "planar.toml"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    store = Store(d / "store")
    run_search(tiny_space(d, name="keep"), Backends(store.root), 2)
    (d / "broken.toml").write_text("[study\nname = 'x'")
    (d / "badkey.toml").write_text("[study]\nname = 'x'\n[space]\nlr = { low = 0.1, high = 1 }\n")
    (d / "neglr.toml").write_text("[study]\nname = 'x'\n[data]\nvalidation_fraction = 0.2\n"
                                  "[space]\nlearning_rate = { low = -0.1, high = 1 }\n")
    (d / "metric.toml").write_text("[study]\nname = 'x'\nmetric = 'val_r2'\n[data]\nvalidation_fraction = 0.2\n"
                                   "[space]\nlearning_rate = { low = 0.1, high = 1 }\n")
    (d / "badrun.toml").write_text("[train]\niterations = -1\n")
    (d / "section.toml").write_text("[optimizer]\nname = 'adam'\n")
    (d / "text.csv").write_text("a,b,label\n1,x,0\n2,y,1\n")
    (d / "labels.csv").write_text("a,label\n1,0\n2,2\n3,1\n")
    (d / "nan.csv").write_text("a,label\n1,0\n,1\n3,1\n")
    np.savez(d / "noy.npz", X=np.zeros((3, 2)))
    (d / "header.csv").write_text("a,label\n")
    (d / "one.csv").write_text("a,label\n1,0\n")
    (d / "few.csv").write_text("a,label\n" + "".join(f"{i},{int(i >= 6)}\n" for i in range(8)))
    space = "[study]\nname = 'x'\nfolds = {folds}\n[data]\nname = 'csv'\npath = '{path}'\n" \
            "validation_fraction = 0.2\n[space]\nlearning_rate = {{ low = 0.1, high = 1 }}\n"
    (d / "header.toml").write_text(space.format(folds=0, path="header.csv"))
    (d / "twofold.toml").write_text(space.format(folds=3, path="few.csv"))
    (d / "garbage.npz").write_bytes(b"this is not a zip archive\n" * 20)
    np.savez(d / "complex.npz", X=np.ones((6, 2)) * (1 + 2j), Y=np.array([0, 1] * 3))
    (d / "dup.csv").write_text("a,b,a,label\n1,2,3,0\n4,5,6,1\n")
    (d / "flat.csv").write_text("a,y\n" + "".join(f"{i},3.5\n" for i in range(12)))
    (d / "oneclass.csv").write_text("a,label\n" + "".join(f"{i},{int(i == 9)}\n" for i in range(10)))
    metric_space = "[study]\nname = 'x'\nmetric = '{metric}'\n[data]\nname = 'csv'\npath = '{path}'\n" \
                   "validation_fraction = 0.25\n[model]\noutput_activation = '{out}'\n" \
                   "[space]\nlearning_rate = {{ low = 0.1, high = 1 }}\n"
    (d / "flat.toml").write_text(metric_space.format(metric="val_r2", path="flat.csv", out="linear"))
    (d / "oneclass.toml").write_text(metric_space.format(metric="val_balanced_accuracy", path="oneclass.csv",
                                                         out="sigmoid"))
    (d / "exists.csv").write_text("keep me\n")
    (d / "wilcoxon.toml").write_text(space.format(folds=0, path="few.csv").replace("folds = 0", "folds = 0\npruner = 'wilcoxon'"))
    (d / "repeats.toml").write_text(space.format(folds=0, path="few.csv").replace("folds = 0", "folds = 0\nrepeats = 3"))
    (d / "scaled.toml").write_text(space.format(folds=0, path="few.csv").replace("[data]", "[data]\nstandardize = 'yes'"))
    return d, store


def listing(d):
    """Every path under the files folder: a refusal creates none."""
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def counts(store):
    """Trials in Optuna's database and runs in MLflow's: what must stay untouched."""
    with sqlite3.connect(store.root / "optuna.db") as o, sqlite3.connect(store.root / "mlflow.db") as m:
        return (o.execute("select count(*) from trials").fetchone()[0], o.execute("select count(*) from studies").fetchone()[0],
                m.execute("select count(*) from runs").fetchone()[0], m.execute("select count(*) from experiments").fetchone()[0])


CASES = [  # (arguments, with {d} for the files folder, text the error must hold)
    (["search", "{d}/missing.toml"], "missing.toml: no such file"),
    (["search", "{d}/broken.toml"], "broken.toml: not valid TOML"),
    (["search", "{d}/badkey.toml"], "unknown key space.lr"),
    (["search", "{d}/neglr.toml"], "space.learning_rate.low must be > 0 (got -0.1)"),
    (["search", "{d}/metric.toml"], "needs model.output_activation 'linear'"),
    (["search", "search_spaces/planar.toml", "--study", "it's"], "--study \"it's\": a study name must"),
    (["search", "search_spaces/planar.toml", "--study", "a/b"], "--study 'a/b': a study name must"),
    (["search", "search_spaces/planar.toml", "--trials", "0"], "--trials must be >= 1"),
    (["search", "search_spaces/planar.toml", "--workers", "0"], "--workers must be >= 1"),
    (["search", "search_spaces/planar.toml", "--storage", "postgresql://nobody@127.0.0.1:1/optuna"],
     "cannot open Optuna storage postgresql://nobody@127.0.0.1:1/optuna"),
    (["search", "search_spaces/planar.toml", "--tracking-uri", "http://127.0.0.1:1"],
     "cannot reach the MLflow tracking server at http://127.0.0.1:1"),
    (["train", "{d}/nothere.toml"], "nothere.toml: no such file"),
    (["train", "{d}/badrun.toml"], "train.iterations must be >= 1 (got -1)"),
    (["train", "{d}/section.toml"], "unknown key optimizer"),
    (["train", str(PLANAR), "--set", "iterations=5"], "--set: expected section.key=value"),
    (["train", str(PLANAR), "--set", "data.name='csv'", "--set", "data.path='{d}/text.csv'"], "column 'b' is not numeric"),
    (["train", str(PLANAR), "--set", "data.name='csv'", "--set", "data.path='{d}/labels.csv'"], "labels 0 or 1"),
    (["train", str(PLANAR), "--set", "data.name='csv'", "--set", "data.path='{d}/nan.csv'"], "NaN or infinite"),
    (["train", str(PLANAR), "--set", "data.name='npz'", "--set", "data.path='{d}/noy.npz'"], "missing array(s) Y"),
    (["train", str(PLANAR), "--set", "data.name='cat'", "--set", "data.path='{d}/nocats'"], "train_catvnoncat.h5: no such file"),
    (["best", "--study", "nope"], "no study 'nope'"),
    (["report", "--study", "nope"], "no study 'nope'"),
    (["reproduce", "--run-id", "feedfacefeedface"], "no MLflow run 'feedfacefeedface'"),
    (["reproduce", "--run-id", "x", "--study", "keep"], "give exactly one of --run-id ID or --study NAME"),
    (["best", "--study", "keep", "--storage", "sqlite:////nonexistent/dir/optuna.db"],
     "--storage sqlite:////nonexistent/dir/optuna.db: no such database file /nonexistent/dir/optuna.db"),
    (["worker", "--study", "keep", "--storage", "sqlite:///{d}/absent.db"],
     "--storage sqlite:///{d}/absent.db: no such database file {d}/absent.db"),
    # data that leaves nothing to train or validate on
    (["train", str(PLANAR), "--set", "data.name='csv'", "--set", "data.path='{d}/header.csv'"], "header.csv: no data rows"),
    (["search", "{d}/header.toml"], "header.csv: no data rows"),
    (["train", str(PLANAR), "--set", "data.name='csv'", "--set", "data.path='{d}/one.csv'",
      "--set", "data.validation_fraction=0.2"],
     "one.csv: data.validation_fraction = 0.2 of 1 example(s) leaves the validation split empty"),
    (["train", str(PLANAR), "--set", "data.name='csv'", "--set", "data.path='{d}/one.csv'",
      "--set", "data.test_fraction=0.5"], "one.csv: data.test_fraction = 0.5 of 1 example(s) leaves the test split empty"),
    (["search", "{d}/twofold.toml"], "few.csv: study.folds = 3 needs at least 3 examples of each class; class 1 has 2 (of 8"),
    # storages and tracking URIs dlcore cannot use, refused before anything is created
    (["search", "search_spaces/planar.toml", "--storage", "foo://x"],
     "unsupported Optuna storage foo://x: use sqlite:///PATH or postgresql://USER@HOST/DB"),
    (["search", "search_spaces/planar.toml", "--storage", "mysql://me:secret@127.0.0.1:1/optuna"],
     "unsupported Optuna storage mysql://me:***@127.0.0.1:1/optuna"),
    (["search", "search_spaces/planar.toml", "--storage", "postgresql+psycopg2://me@127.0.0.1:1/optuna"],
     "its database driver is not installed (No module named 'psycopg2')"),
    (["best", "--study", "keep", "--storage", "sqlite:///{d}/new.db"], "no such database file {d}/new.db"),
    (["report", "--study", "keep", "--storage", "sqlite:///{d}/new.db"], "no such database file {d}/new.db"),
    (["reproduce", "--study", "keep", "--storage", "sqlite:///{d}/new.db"], "no such database file {d}/new.db"),
    (["reproduce", "--run-id", "abc", "--tracking-uri", "sqlite:///{d}/new2.db"], "no such database file {d}/new2.db"),
    (["search", "search_spaces/planar.toml", "--tracking-uri", "file://{d}/mlruns"],
     "--tracking-uri file://{d}/mlruns: MLflow's file store is not supported"),
    (["train", str(PLANAR), "--tracking-uri", "{d}/mlruns"], "--tracking-uri {d}/mlruns: MLflow's file store"),
    (["reproduce", "--run-id", "abc", "--tracking-uri", "file://{d}/mlruns"], "MLflow's file store is not supported"),
    (["search", "search_spaces/planar.toml", "--tracking-uri", "foo://bar"], "unsupported scheme 'foo'"),
    # an error MLflow raises itself is one line too
    (["train", str(PLANAR), "--set", "train.iterations=5", "--experiment", ""],
     "--experiment '': an MLflow experiment name cannot be empty"),  # refused before training now
    (["best", "--study", "nope"], "no study 'nope' in sqlite:///"),
    (["report", "--study", "keep", "--top", "-1"], "--top must be >= 1 (got -1)"),
    (["report", "--study", "keep", "--top", "0"], "--top must be >= 1 (got 0)"),
    (["reproduce", "--study", "keep", "--register", ""], "--register '': a registered model name cannot be empty"),
    (["reproduce", "--study", "keep", "--register", "bad/name"], "--register 'bad/name': a registered model name cannot"),
    (["reproduce", "--study", "keep", "--register", ".."], "--register '..': a registered model name must not"),
    (["reproduce", "--study", "keep", "--rtol", "-1"], "--rtol must be a finite number >= 0 (got -1.0)"),
    (["reproduce", "--study", "keep", "--rtol", "nan"], "--rtol must be a finite number >= 0 (got nan)"),
    # issue 9: files that are not what they claim, names and numbers out of bounds
    (["train", str(PLANAR), "--set", "data.name='npz'", "--set", "data.path='{d}/garbage.npz'"],
     "garbage.npz: not a valid .npz (a zip archive of .npy arrays"),
    (["train", str(PLANAR), "--set", "data.name='npz'", "--set", "data.path='{d}/complex.npz'"],
     "complex.npz: X and Y must hold real numbers (got complex128"),
    (["train", str(PLANAR), "--set", "data.name='csv'", "--set", "data.path='{d}/dup.csv'"],
     "dup.csv: column 'a' appears twice in the header"),
    (["search", "{d}/flat.toml"], "flat.toml: study.metric = 'val_r2' cannot be computed on the hold-out of "),
    (["search", "{d}/flat.toml"], "flat.csv: the validation targets are constant"),
    (["search", "{d}/oneclass.toml"], "oneclass.toml: study.metric = 'val_balanced_accuracy' cannot be computed on "
                                      "the hold-out of "),
    (["search", "search_spaces/planar.toml", "--study", "planar "], "--study 'planar ': a study name must start"),
    (["search", "search_spaces/planar.toml", "--trials", "1000001"], "--trials 1000001: at most 1000000 trials"),
    (["search", "search_spaces/planar.toml", "--storage", "sqlite:///:memory:"],
     "Optuna storage sqlite:///:memory: is in memory"),
    (["train", str(PLANAR), "--set", "train.iterations=1000000000000"],
     "train.iterations = 1000000000000: its cost curve alone needs 7.3 TiB"),
    (["report", "--study", "keep", "--csv", "{d}/exists.csv"], "--csv {d}/exists.csv: the file exists; pass --force"),
    # input scaling and the Wilcoxon pruner
    (["train", str(PLANAR), "--set", "data.standardize=1"], "--set: data.standardize must be true or false (got 1)"),
    (["train", str(PLANAR), "--set", "data.standardize=yes"], "data.standardize must be true or false (got 'yes')"),
    (["search", "{d}/scaled.toml"], "scaled.toml: data.standardize must be true or false (got 'yes')"),
    (["search", "{d}/repeats.toml"], "repeats.toml: study.repeats = 3 repeats k-fold assignments: it needs study.folds >= 2"),
    (["search", "{d}/wilcoxon.toml"],
     "wilcoxon.toml: study.pruner 'wilcoxon' compares per-fold values: it needs study.folds >= 2 (got 0)"),
]


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input(files, args, message):
    d, store = files
    before, paths = counts(store), listing(d)
    p = run_dlcore(*[a.format(d=d) for a in args], env={"DLCORE_STORE": str(store.root)}, timeout=120)
    assert p.returncode != 0
    assert message.format(d=d) in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert counts(store) == before
    assert listing(d) == paths


def test_at_least_twenty_cases():
    assert len(CASES) >= 20


def test_no_config_value_is_evaluated(tmp_path):
    """Values are data: an expression in a config is a string to validate, never code to run."""
    marker = tmp_path / "owned"
    p = run_dlcore("train", PLANAR, "--set", f"model.hidden_activation=__import__('os').system('touch {marker}')")
    assert p.returncode == 2 and "model.hidden_activation must be one of" in p.stderr
    assert not marker.exists()
