"""The command line's grammar: one subcommand per public function, each with --help and an example."""
from __future__ import annotations

import argparse

from .. import __version__
from . import commands
from .ui import _port, cmd_dashboard, cmd_ui


def _add_store_options(p, remote: bool = True):
    p.add_argument("--store", metavar="DIR", help="the embedded store (default $DLCORE_STORE, else ./mlruns)")
    if remote:
        p.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: sqlite in the store)")
        p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: sqlite in the store)")


def build_parser(description: str = "") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dlcore", description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"dlcore {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_writers(sub)
    _add_readers(sub)
    u = sub.add_parser("ui", help="start the MLflow UI on the store", description="Start the MLflow UI on the "
                       "store's runs, bound to 127.0.0.1 unless --host says otherwise. Example: dlcore ui --port 5000")
    u.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others warn)")
    u.add_argument("--port", type=_port, default=5000, help="port to listen on, 1..65535 (default 5000)")
    u.add_argument("--allowed-hosts", metavar="HOSTS", help="Host headers the server accepts, e.g. "
                   "'mlflow.example.org:5000' (default, MLflow's: localhost and private addresses)")
    _add_store_options(u, remote=False)
    u.set_defaults(func=cmd_ui)

    d = sub.add_parser("dashboard", help="start optuna-dashboard on the store's studies",
                       description="Start optuna-dashboard (pip install 'dlcore[dashboard]') on the store's Optuna "
                       "storage, bound to 127.0.0.1 unless --host says otherwise. Example: dlcore dashboard --port 8080")
    d.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others warn)")
    d.add_argument("--port", type=_port, default=8080, help="port to listen on, 1..65535 (default 8080)")
    _add_store_options(d, remote=False)
    d.set_defaults(func=cmd_dashboard)
    return p


def _add_writers(sub):
    """The commands that train and search: train, search, worker."""
    t = sub.add_parser("train", help="train one run from a run config (TOML)",
                       description="Train one run from a run config, log it to MLflow and print a summary. "
                                   "Example: dlcore train experiments/course/planar.toml --set train.iterations=2000")
    t.add_argument("config", help="run config file (TOML with [data], [model], [train])")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set model.hidden_units=[5,3]")
    t.add_argument("--json", action="store_true", help="print one JSON object (costs at every iteration, accuracies)")
    t.add_argument("--experiment", default="dlcore-train", help="MLflow experiment (default: dlcore-train)")
    t.add_argument("--no-track", action="store_true", help="do not log the run to MLflow")
    _add_store_options(t)
    t.set_defaults(func=commands.cmd_train)

    s = sub.add_parser("search", help="run (or continue) an Optuna search from a space file",
                       description="Search a space with Optuna and log every trial to MLflow. Running it again "
                                   "on the same study adds --trials more. Example: dlcore search search_spaces/planar.toml --trials 20")
    s.add_argument("space", help="search space file (TOML), e.g. search_spaces/planar.toml")
    s.add_argument("--trials", type=int, help="trials to add in this run (default: the space's study.trials)")
    s.add_argument("--study", help="study name (default: the space's study.name); also the MLflow experiment")
    s.add_argument("--seed", type=int, help="study seed (default: the space's study.seed)")
    s.add_argument("--json", action="store_true", help="print one JSON summary object")
    s.add_argument("--no-track", action="store_true", help="do not log to MLflow (Optuna only)")
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes sharing the study (default 1); BLAS threads per worker = cores // N")
    _add_store_options(s)
    s.set_defaults(func=commands.cmd_search)

    w = sub.add_parser("worker", help="join a running study (from any machine) until its budget is spent",
                       description="Join a study created by 'dlcore search' and run its trials until the study "
                                   "holds its trial budget. Example: dlcore worker --study cat --storage "
                                   "postgresql://dlcore@db/optuna --tracking-uri http://tracking:5000")
    w.add_argument("--study", help="the study to join (required)")
    w.add_argument("--await-go", action="store_true", help=argparse.SUPPRESS)  # from `search --workers N`
    w.add_argument("--parent-run-id", help="MLflow parent run of the trials (default: the latest search's)")
    w.add_argument("--blas-threads", type=int, help="BLAS threads for training (default: the space's)")
    w.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    w.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # from `search --workers N`: stop when it is gone
    w.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    _add_store_options(w)
    w.set_defaults(func=commands.cmd_worker)


def _add_readers(sub):
    """The commands that read a store: best, report, reproduce."""
    b = sub.add_parser("best", help="show a study's best trial", description="Show a study's best trial: value, "
                       "parameters, seed and MLflow run id. Example: dlcore best --study planar --json")
    b.add_argument("--study", required=True)
    b.add_argument("--json", action="store_true")
    _add_store_options(b)
    b.set_defaults(func=commands.cmd_best)

    r = sub.add_parser("report", help="a table of a study's trials", description="A table of the study's trials, "
                       "best first: params, values, states, seeds, run ids. Example: dlcore report --study planar --top 10")
    r.add_argument("--study", required=True)
    r.add_argument("--top", type=int, metavar="K", help="only the K best trials")
    r.add_argument("--csv", metavar="FILE", help="also write the table to FILE (never over an existing one)")
    r.add_argument("--force", action="store_true", help="with --csv: overwrite FILE if it exists")
    _add_store_options(r)
    r.set_defaults(func=commands.cmd_report)

    rp = sub.add_parser("reproduce", help="train a logged run again and compare its curve bit for bit",
                        description="Train a logged run again from what the store holds and compare the new cost "
                                    "curve with the logged one, step by step. Exit 0 when identical (or within --rtol). "
                                    "Example: dlcore reproduce --study planar --evaluate-test --seeds 5")
    rp.add_argument("--run-id", help="the MLflow run to reproduce")
    rp.add_argument("--study", help="reproduce this study's best trial (or --trial N)")
    rp.add_argument("--trial", type=int, help="with --study: this trial number instead of the best")
    rp.add_argument("--rtol", type=float, help="accept curves equal within this relative tolerance (>= 0)")
    rp.add_argument("--allow-incomplete", action="store_true", help="also reproduce pruned or diverged runs")
    rp.add_argument("--evaluate-test", action="store_true",
                    help="evaluate the refit model on the locked test split (the only place a search's pick meets it)")
    rp.add_argument("--seeds", type=int, default=0, metavar="K", help="train again with K fresh seeds: mean and spread")
    rp.add_argument("--register", metavar="NAME", help="register the model in the MLflow model registry")
    rp.add_argument("--json", action="store_true")
    _add_store_options(rp)
    rp.set_defaults(func=commands.cmd_reproduce)
