"""dlcore: train the course's NumPy nets, search them with Optuna, track them in MLflow, reproduce them.

Examples:
    dlcore train experiments/course/planar.toml --set train.iterations=2000
    dlcore search search_spaces/planar.toml --trials 20
    dlcore search search_spaces/moons.toml --trials 40 --workers 2
    dlcore best --study planar
    dlcore report --study planar --top 10 --csv planar.csv
    dlcore reproduce --study planar --evaluate-test --seeds 5
    dlcore ui

The store (Optuna's and MLflow's databases and the artifacts) is ./mlruns unless --store DIR or
$DLCORE_STORE says otherwise.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import subprocess
import sys
import time

from . import __version__
from . import interrupt
from .config import ConfigError, load_run_config
from .progress import Progress


class CliError(Exception):
    """An error to print as one line, with exit status 2."""


def _clean(x):
    """JSON-safe: non-finite floats become null, numpy scalars plain numbers."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item"):
        x = x.item()
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _store(args):
    from .tracking.store import resolve_store

    return resolve_store(args.store)


def _backends(args):
    from .launch import Backends

    _check_urls(args)
    return Backends.resolve(_store(args), args.storage, args.tracking_uri)


TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql")


def _check_urls(args):
    """Refuse a storage or tracking URI dlcore cannot use, before anything is created or trained."""
    if getattr(args, "storage", None):
        from .search.study import check_storage_url

        check_storage_url(args.storage)
    uri = getattr(args, "tracking_uri", None)
    if uri:
        scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
        if scheme == "file" or not scheme:
            raise CliError(f"--tracking-uri {uri}: MLflow's file store is not supported (MLflow 3 refuses it); "
                           "use sqlite:///PATH/mlflow.db or http://HOST:PORT, or --store DIR")
        if scheme == "sqlite":
            from .search.study import in_memory_sqlite

            if in_memory_sqlite(uri):
                raise CliError(f"--tracking-uri {uri} is in memory, which lives and dies with one process: "
                               "workers and later commands could never see its runs; use sqlite:///PATH")
        if scheme not in TRACKING_SCHEMES:
            raise CliError(f"--tracking-uri {uri}: unsupported scheme {scheme!r}; use http://HOST:PORT, "
                           "sqlite:///PATH/mlflow.db or a database URI (postgresql://, mysql://, mssql://)")


def experiment_name_problem(name: str) -> str | None:
    """Why MLflow would refuse ``name`` as an experiment name (asked before training, not after)."""
    return "an MLflow experiment name cannot be empty" if name == "" else None


def _sqlite_file(url: str):
    """The database file of a sqlite:/// URL, None for other URLs (an in-memory one has none: '')."""
    if not url.startswith("sqlite:"):
        return None
    path = url.split("://", 1)[1][1:] if "://" in url else ""
    path = path.split("?", 1)[0]
    return "" if path in ("", ":memory:") else os.path.expanduser(path)


def _existing_sqlite(url: str, option: str):
    """A read-only command never creates a database: refuse a sqlite URL whose file does not exist."""
    path = _sqlite_file(url)
    if path is not None and not os.path.isfile(path):
        raise CliError(f"{option} {url}: no such database file" + (f" {path}" if path else "")
                       + " (read-only commands never create one)")


def _read_storage(args):
    """The Optuna storage to read a study from; refuses to create an empty store."""
    from .search.study import make_storage

    if args.storage:
        _check_urls(args)
        _existing_sqlite(args.storage, "--storage")
        return make_storage(args.storage, read_only=True)
    store = _store(args)
    if not (store.root / "optuna.db").is_file():
        raise CliError(f"no dlcore store at {store.root} (no optuna.db): run 'dlcore search' first, "
                       "or point --store / $DLCORE_STORE / --storage at one")
    return make_storage(store.optuna_url, read_only=True)


def cmd_train(args) -> int:
    from .runner import train_run

    from .runner import check_fits

    cfg = load_run_config(args.config, args.set)
    check_fits(cfg.train.iterations, "train.iterations")
    if not args.no_track:
        _check_urls(args)
        if problem := experiment_name_problem(args.experiment):
            raise CliError(f"--experiment {args.experiment!r}: {problem}")
        from .preflight import check_backends

        check_backends(None, _backends(args).tracking_uri, write=True)  # before training, not after
    bar = Progress(cfg.train.iterations, "train", enabled=False if args.json else None)
    every = max(1, cfg.train.iterations // 200)
    steps, val_costs = [], []

    def on_step(i, costs, val):
        steps.append(i)
        if val is not None:
            val_costs.append(val.cost)
        bar.update(i + 1, f"cost {costs[-1]:.4f}")

    start = time.perf_counter()
    out = train_run(cfg, on_step=on_step, every=every, evaluate_test=True)
    seconds = time.perf_counter() - start
    bar.close()
    run_id = None
    if not args.no_track:
        from .launch import track_train

        run_id = track_train(out, steps, val_costs, _backends(args), args.experiment)
    r = out.result
    summary = {"config": cfg.to_dict(), "dataset": out.split.dataset.name, "fingerprint": out.split.dataset.fingerprint,
               "layer_dims": list(out.arch.layer_dims), "form": r.form, "status": r.status, "reason": r.reason,
               "iterations_run": r.iterations_run, "seconds": round(seconds, 3), "run_id": run_id,
               **out.metrics, "costs": r.costs.tolist()}
    if args.json:
        print(json.dumps(_clean(summary)))
    else:
        dims = "-".join(map(str, out.arch.layer_dims))
        print(f"{summary['dataset']}: net {dims} ({out.arch.hidden_activation}/{out.arch.output_activation}), "
              f"{r.iterations_run} iterations in {seconds:.2f}s ({r.form} form), status {r.status}"
              + (f" ({r.reason})" if r.reason else ""))
        print(f"cost {r.costs[0]:.6f} -> {r.costs[-1]:.6f}")
        for k, v in out.metrics.items():
            print(f"  {k:24s} {v:.6g}")
        if run_id:
            print(f"logged as MLflow run {run_id} in experiment {args.experiment!r}")
    return 0 if r.status != "diverged" else 1


def cmd_search(args) -> int:
    from .search.space import load_space

    space = load_space(args.space)  # checked before anything heavy is imported or created
    from .launch import run_search, with_overrides

    space = with_overrides(space, args.study, args.seed)
    from .search.space import MAX_TRIALS

    if args.trials is not None and not 1 <= args.trials <= MAX_TRIALS:
        raise CliError(f"--trials must be >= 1 (got {args.trials})" if args.trials < 1 else
                       f"--trials {args.trials}: at most {MAX_TRIALS} trials per search (run it again to add more)")
    n = args.trials or space.study.trials
    bar = Progress(n, f"search {space.study.name}", enabled=False if args.json else None)
    done = [0]

    def on_trial(study, trial):
        done[0] += 1
        from .search.study import best_trial

        best = best_trial(study)
        bar.update(done[0], f"best {best.value:.4g} (trial {best.number})" if best else "no complete trial yet",
                   force=True)

    summary = run_search(space, _backends(args), n, on_trial=on_trial, track=not args.no_track, workers=args.workers)
    bar.close()
    # the study's budget as it stands now, every concurrent search's trials included
    code, short = 0, summary["budget"] - sum(v for k, v in summary["counts"].items() if k != "WAITING")
    if summary["failed_workers"] and short > 0:
        print(f"dlcore: error: {len(summary['failed_workers'])} worker(s) failed (exit {summary['failed_workers']}) "
              f"and the study is {short} trial(s) short of its budget of {summary['budget']}", file=sys.stderr)
        code = 1
    if args.json:
        print(json.dumps(_clean(summary)))
        return code
    c = summary["counts"]
    print(f"study {summary['study']!r}: {sum(c.values())} trials ({', '.join(f'{v} {k.lower()}' for k, v in c.items())})")
    if summary["best_trial"] is not None:
        print(f"best {space.study.metric} = {summary['best_value']:.6g} (trial {summary['best_trial']}, "
              f"run {summary['best_run_id']})")
        print("best params: " + ", ".join(f"{k}={_fmt(v)}" for k, v in summary["best_params"].items()))
    store_opt = f" --store {args.store}" if args.store else ""
    print(f"browse the runs: dlcore ui{store_opt}   (MLflow UI, experiment {summary['study']!r})")
    return code


def cmd_worker(args) -> int:
    from .launch import STORAGE_ENV, join_study

    args.storage = args.storage or os.environ.get(STORAGE_ENV)  # from `search --workers N`: kept off the command line
    if args.blas_threads is not None and args.blas_threads < 1:
        raise CliError(f"--blas-threads must be >= 1 (got {args.blas_threads})")
    _read_storage(args)  # the store or SQLite file must exist: a worker joins, it never creates
    ran = join_study(args.study, _backends(args), args.parent_run_id, args.blas_threads, args.worker_index,
                     track=not args.no_track, parent_pid=args.parent_pid)
    print(f"worker {os.getpid()}: ran {ran} trials of study {args.study!r}", file=sys.stderr)
    return 0


def cmd_best(args) -> int:
    from .search.study import best_trial, counts_by_state, load_study

    study = load_study(args.study, _read_storage(args))
    best = best_trial(study)
    if best is None:
        raise CliError(f"study {args.study!r} has no complete trial yet ({counts_by_state(study)})")
    out = {"study": args.study, "direction": study.direction.name.lower(), "metric": study.user_attrs.get("metric"),
           "best_trial": best.number, "best_value": best.value, "best_params": best.params,
           "seed": best.user_attrs.get("seed"), "run_id": best.user_attrs.get("mlflow_run_id"),
           "counts": counts_by_state(study)}
    if args.json:
        print(json.dumps(_clean(out)))
    else:
        print(f"study {args.study!r}: best {out['metric']} = {best.value:.6g} at trial {best.number} "
              f"(seed {out['seed']}, MLflow run {out['run_id']})")
        for k, v in best.params.items():
            print(f"  {k:20s} {_fmt(v)}")
    return 0


def cmd_report(args) -> int:
    import pandas as pd

    from .search.report import trials_table
    from .search.study import load_study

    if args.top is not None and args.top < 1:
        raise CliError(f"--top must be >= 1 (got {args.top})")
    if args.csv and os.path.exists(args.csv) and not args.force:
        raise CliError(f"--csv {args.csv}: the file exists; pass --force to overwrite it")
    study = load_study(args.study, _read_storage(args))
    df = trials_table(study)
    if df.empty:
        raise CliError(f"study {args.study!r} has no trials")
    ascending = study.direction.name == "MINIMIZE"
    df = df.sort_values("value", ascending=ascending, na_position="last")
    if args.top is not None:
        df = df.head(args.top)
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {len(df)} trials to {args.csv}")
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
        print(df.drop(columns=["reason"]).to_string(index=False))
    return 0


def cmd_reproduce(args) -> int:
    from .reproduce import ReproduceError, read_run, reproduce, verdict_line
    from .tracking.mlflow_runs import Tracker
    from .tracking.models import model_name_problem

    if (args.run_id is None) == (args.study is None):
        raise CliError("give exactly one of --run-id ID or --study NAME")
    if args.trial is not None and args.study is None:
        raise CliError("--trial goes with --study")
    if args.seeds < 0:
        raise CliError(f"--seeds must be >= 0 (got {args.seeds})")
    if args.rtol is not None and not (math.isfinite(args.rtol) and args.rtol >= 0):
        raise CliError(f"--rtol must be a finite number >= 0 (got {args.rtol})")
    if args.register is not None and (problem := model_name_problem(args.register)):
        raise CliError(f"--register {args.register!r}: {problem}")
    _check_urls(args)
    if args.tracking_uri:
        _existing_sqlite(args.tracking_uri, "--tracking-uri")
    run_id = args.run_id or _run_of_trial(args)
    store = _store(args)
    uri = args.tracking_uri or store.tracking_uri
    if not args.tracking_uri and not (store.root / "mlflow.db").is_file():
        raise CliError(f"no MLflow store at {store.root} (no mlflow.db); pass --store or --tracking-uri")
    if uri.startswith(("http://", "https://")):
        from .launch import check_server

        check_server(uri)
    from .preflight import check_database, read_only_url, sqlite_path, writable

    db = sqlite_path(uri)
    log = db is None or writable(db)  # a read-only store is reproduced all the same, and nothing logged
    if db is not None:
        check_database(db, "MLflow's tracking store", write=False)
    tracker = Tracker(uri if log else read_only_url(db), None if uri.startswith("http") else store.artifact_root)
    try:
        logged = read_run(tracker, run_id, args.allow_incomplete)
        out = reproduce(tracker, logged, args.rtol, args.evaluate_test, args.seeds, args.register, log=log)
    except ReproduceError as e:
        raise CliError(str(e)) from None
    if args.json:
        print(json.dumps(_clean(out)))
    else:
        print(verdict_line(out))
        for k, v in out["refit"].items():
            if k.startswith("test_") or args.evaluate_test is False:
                print(f"  refit {k:24s} {v:.6g}")
        for name, s_ in out.get("seeds", {}).get("summary", {}).items():
            print(f"  {args.seeds} seeds {name:20s} {s_['mean']:.4f} +- {s_['std']:.4f}")
        if log:
            print(f"logged as run {out['reproduction_run_id']}; model {out['model_uri']}")
        else:
            print(f"not logged: {db} is read-only (nothing was written to the store)")
    return 0 if out["ok"] else 1


def _run_of_trial(args) -> str:
    from .search.study import best_trial, load_study

    study = load_study(args.study, _read_storage(args))
    if args.trial is None:
        trial = best_trial(study)
        if trial is None:
            raise CliError(f"study {args.study!r} has no complete trial to reproduce")
    else:
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        if args.trial not in trials:
            raise CliError(f"study {args.study!r} has no trial {args.trial} (trials 0..{len(trials) - 1})")
        trial = trials[args.trial]
    run_id = trial.user_attrs.get("mlflow_run_id")
    if not run_id:
        raise CliError(f"trial {trial.number} of study {args.study!r} has no MLflow run (searched with --no-track?)")
    return run_id


def cmd_ui(args) -> int:
    store = _store(args)
    if not (store.root / "mlflow.db").is_file():
        raise CliError(f"no MLflow store at {store.root} (no mlflow.db): run 'dlcore search' first or pass --store")
    store.open()  # refuses a half-built mlflow.db; re-roots a moved store, whose artifacts the UI serves
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"dlcore: warning: binding {args.host} exposes the UI (and its REST API, which can write) to "
              "the network; it has no authentication", file=sys.stderr)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store.tracking_uri,
           "--default-artifact-root", store.artifact_root.as_uri(), "--host", args.host, "--port", str(args.port),
           "--workers", "1"]
    if args.allowed_hosts:  # else MLflow's default: localhost and private addresses (DNS-rebinding check)
        cmd += ["--allowed-hosts", args.allowed_hosts]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    _check_can_listen(args.host, args.port)
    print(f"MLflow UI for {store.root}: http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    code = _serve(cmd, env)
    if code is None:  # stopped by Ctrl-C or SIGTERM
        return 0
    if code == 0:  # `mlflow server` exits 0 even when its server failed: it only ends by itself on failure
        print(f"dlcore: error: the MLflow server on {args.host}:{args.port} stopped (see its output above)",
              file=sys.stderr)
        return 1
    return code


def _serve(cmd, env, grace: float = 10.0):
    """Run the server in its own process group and wait; on Ctrl-C or SIGTERM stop the whole group
    (`mlflow server` starts uvicorn as a child of its own, which outlived a kill of its parent alone).
    Returns the server's exit code, or None when it was stopped here."""
    import signal

    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        with interrupt.deferred():
            _stop_group(proc, signal.SIGTERM, grace)
        return None
    finally:
        if proc.poll() is None:  # another error: never leave the server behind
            _stop_group(proc, signal.SIGKILL, grace)


def _stop_group(proc, sig, grace: float):
    """``sig`` to the server's process group, up to ``grace`` seconds for every member to leave, then
    SIGKILL to what is left."""
    import signal

    deadline = time.monotonic() + grace
    try:
        os.killpg(proc.pid, sig)
        while group_alive(proc.pid) and time.monotonic() < deadline:
            proc.poll()  # reap the leader as soon as it ends
            time.sleep(0.1)
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies, which nothing can stop, do not count)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for pid in filter(str.isdigit, entries):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def _check_can_listen(host: str, port: int):
    """A one-line error, not the server's traceback, when host:port cannot be bound (in use, not ours)."""
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise CliError(f"--host {host!r}: cannot resolve it ({e.strerror})") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            s.bind(addr)
        except OSError as e:
            raise CliError(f"cannot serve the UI on {host}:{port}: {e.strerror or e}") from None


def _port(text: str) -> int:
    """argparse type of --port: a whole number in 1..65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 1..65535 (got {port})")
    return port


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _add_store_options(p, remote: bool = True):
    p.add_argument("--store", metavar="DIR", help="the embedded store (default $DLCORE_STORE, else ./mlruns)")
    if remote:
        p.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: sqlite in the store)")
        p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: sqlite in the store)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dlcore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"dlcore {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    t.set_defaults(func=cmd_train)

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
    s.set_defaults(func=cmd_search)

    w = sub.add_parser("worker", help="join a running study (from any machine) until its budget is spent",
                       description="Join a study created by 'dlcore search' and run its trials until the study "
                                   "holds its trial budget. Example: dlcore worker --study cat --storage "
                                   "postgresql://dlcore@db/optuna --tracking-uri http://tracking:5000")
    w.add_argument("--study", required=True)
    w.add_argument("--parent-run-id", help="MLflow parent run of the trials (default: the latest search's)")
    w.add_argument("--blas-threads", type=int, help="BLAS threads for training (default: the space's)")
    w.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    w.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # from `search --workers N`: stop when it is gone
    w.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    _add_store_options(w)
    w.set_defaults(func=cmd_worker)

    b = sub.add_parser("best", help="show a study's best trial", description="Show a study's best trial: value, "
                       "parameters, seed and MLflow run id. Example: dlcore best --study planar --json")
    b.add_argument("--study", required=True)
    b.add_argument("--json", action="store_true")
    _add_store_options(b)
    b.set_defaults(func=cmd_best)

    r = sub.add_parser("report", help="a table of a study's trials", description="A table of the study's trials, "
                       "best first: params, values, states, seeds, run ids. Example: dlcore report --study planar --top 10")
    r.add_argument("--study", required=True)
    r.add_argument("--top", type=int, metavar="K", help="only the K best trials")
    r.add_argument("--csv", metavar="FILE", help="also write the table to FILE (never over an existing one)")
    r.add_argument("--force", action="store_true", help="with --csv: overwrite FILE if it exists")
    _add_store_options(r)
    r.set_defaults(func=cmd_report)

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
    rp.set_defaults(func=cmd_reproduce)

    u = sub.add_parser("ui", help="start the MLflow UI on the store", description="Start the MLflow UI on the "
                       "store's runs, bound to 127.0.0.1 unless --host says otherwise. Example: dlcore ui --port 5000")
    u.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others warn)")
    u.add_argument("--port", type=_port, default=5000, help="port to listen on, 1..65535 (default 5000)")
    u.add_argument("--allowed-hosts", metavar="HOSTS", help="Host headers the server accepts, e.g. "
                   "'mlflow.example.org:5000' (default, MLflow's: localhost and private addresses)")
    _add_store_options(u, remote=False)
    u.set_defaults(func=cmd_ui)
    return p


def main(argv=None) -> int:
    """The command line. Run as the program (``argv`` None), it first installs the interrupt handler, so
    that a Ctrl-C at any moment, imports included, ends in one line and exit 130."""
    if argv is None:
        interrupt.install()
    try:
        args = build_parser().parse_args(argv)
        interrupt.check()  # an interrupt swallowed while importing (reported as unraisable) is raised here
        with interrupt.interruptible():
            return args.func(args)
    except (CliError, ConfigError, ValueError, OSError) as e:
        print(f"dlcore: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlcore: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        mlflow_exceptions = sys.modules.get("mlflow.exceptions")  # never import mlflow here: it is slow
        sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(e, sqlite3.Error):
            print(f"dlcore: error: database: {_one_line(e)}", file=sys.stderr)
            return 2
        if sqlalchemy_exc is not None and isinstance(e, sqlalchemy_exc.SQLAlchemyError):
            print(f"dlcore: error: database: {_one_line(getattr(e, 'orig', None) or e)}", file=sys.stderr)
            return 2
        if mlflow_exceptions is None or not isinstance(e, mlflow_exceptions.MlflowException):
            raise
        message = str(getattr(e, "message", e)).strip().splitlines()
        if e.__cause__ is not None:  # a database error under MLflow's: say that one
            message = [_one_line(e)]
        print(f"dlcore: error: MLflow: {message[0] if message else type(e).__name__}", file=sys.stderr)
        return 2


def _one_line(e) -> str:
    """The first line of the innermost database or OS error behind ``e`` (what MLflow and SQLAlchemy
    wrap: "database or disk is full"), else of ``e`` itself."""
    inner, seen = e, set()
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if type(inner).__module__ == "sqlite3" or isinstance(inner, OSError):
            e = inner
        inner = inner.__cause__ or getattr(inner, "orig", None)
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
