"""The commands: each parses nothing more, calls one public function (``dlcore.api``) and prints what it
returns, as text or as one JSON object (``--json``). Every rule and every check lives in the library."""
from __future__ import annotations

import json
import math
import os
import sys

from ..errors import ConfigError


def _clean(x):
    """JSON-safe: non-finite floats become null, numpy scalars plain numbers."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item"):
        x = x.item()
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _store(args):
    from ..store import Store

    return Store(args.store, storage=getattr(args, "storage", None), tracking_uri=getattr(args, "tracking_uri", None))


def cmd_train(args) -> int:
    from ..api import train

    run = train(args.config, overrides=args.set, store=None if args.no_track else _store(args),
                track=not args.no_track, experiment=args.experiment, progress=not args.json)
    if args.json:
        print(json.dumps(_clean({
            "config": run.config.to_dict(), "dataset": run.dataset, "fingerprint": run.fingerprint,
            "layer_dims": list(run.layer_dims), "form": run.form, "status": run.status, "reason": run.reason,
            "iterations_run": run.iterations_run, "seconds": round(run.seconds, 3), "run_id": run.run_id,
            **run.metrics, "costs": run.costs.tolist()})))
    else:
        dims = "-".join(map(str, run.layer_dims))
        print(f"{run.dataset}: net {dims} ({run.hidden_activation}/{run.output_activation}), {run.iterations_run} "
              f"iterations in {run.seconds:.2f}s ({run.form} form), status {run.status}"
              + (f" ({run.reason})" if run.reason else ""))
        print(f"cost {run.costs[0]:.6f} -> {run.costs[-1]:.6f}")
        for k, v in run.metrics.items():
            print(f"  {k:24s} {v:.6g}")
        if run.run_id:
            print(f"logged as MLflow run {run.run_id} in experiment {args.experiment!r}")
    return 0 if run.status != "diverged" else 1


def cmd_search(args) -> int:
    from ..api import search

    result = search(args.space, args.trials, store=_store(args), workers=args.workers, study=args.study,
                    seed=args.seed, progress=not args.json, track=not args.no_track)
    code = 0
    if result.failed_workers and result.shortfall > 0:
        print(f"dlcore: error: {len(result.failed_workers)} worker(s) failed (exit {list(result.failed_workers)}) "
              f"and the study is {result.shortfall} trial(s) short of its budget of {result.budget}", file=sys.stderr)
        code = 1
    if args.json:
        print(json.dumps(_clean(result.summary)))
        return code
    c = result.counts
    print(f"study {result.study_name!r}: {sum(c.values())} trials ({', '.join(f'{v} {k.lower()}' for k, v in c.items())})")
    if result.best is not None:
        b = result.best
        print(f"best {b.metric} = {b.value:.6g} (trial {b.trial}, run {b.run_id})")
        print("best params: " + ", ".join(f"{k}={_fmt(v)}" for k, v in b.params.items()))
    store_opt = f" --store {args.store}" if args.store else ""
    print(f"browse the runs: dlcore ui{store_opt}   (MLflow UI, experiment {result.study_name!r})")
    return code


def cmd_worker(args) -> int:
    from ..api import worker
    from ..search import workers  # noqa: F401 -- imported before the wait: that is what it is for

    if args.await_go:  # started by `search --workers N` (search/spawn.py): wait for its study
        from ..search.spawn import await_go

        go = await_go()
        if go is None:  # the search stopped before its trials
            return 0
        args.study, args.storage, args.tracking_uri = go["study"], go["storage"], go["tracking_uri"]
        args.parent_run_id, args.no_track = go["parent_run_id"], not go["track"]
    elif not args.study:
        raise ConfigError("dlcore worker needs --study NAME")
    ran = worker(args.study, store=_store(args), parent_run_id=args.parent_run_id, blas_threads=args.blas_threads,
                 track=not args.no_track, worker_index=args.worker_index, parent_pid=args.parent_pid)
    print(f"worker {os.getpid()}: ran {ran} trials of study {args.study!r}", file=sys.stderr)
    if args.await_go:
        # A search's worker ends here: every trial and run it wrote is committed, its writer thread and
        # heartbeat have stopped. The interpreter's teardown of MLflow, SQLAlchemy and the rest takes
        # ~0.7 s that the search would wait for before its summary; the outcome is the same without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def cmd_best(args) -> int:
    from ..api import best

    b = best(args.study, store=_store(args), with_run=False)
    if args.json:
        print(json.dumps(_clean({"study": b.study, "direction": b.direction, "metric": b.metric,
                                 "best_trial": b.trial, "best_value": b.value, "best_params": b.params,
                                 "seed": b.seed, "run_id": b.run_id, "counts": b.counts})))
    else:
        print(f"study {b.study!r}: best {b.metric} = {b.value:.6g} at trial {b.trial} "
              f"(seed {b.seed}, MLflow run {b.run_id})")
        for k, v in b.params.items():
            print(f"  {k:20s} {_fmt(v)}")
    return 0


def cmd_report(args) -> int:
    import pandas as pd

    from ..api import trials

    if args.top is not None and args.top < 1:
        raise ConfigError(f"--top must be >= 1 (got {args.top})")
    if args.csv and os.path.exists(args.csv) and not args.force:
        raise ConfigError(f"--csv {args.csv}: the file exists; pass --force to overwrite it")
    df = trials(args.study, store=_store(args))
    if df.empty:
        raise ConfigError(f"study {args.study!r} has no trials")
    if args.top is not None:
        df = df.head(args.top)
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {len(df)} trials to {args.csv}")
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
        print(df.drop(columns=["reason"]).to_string(index=False))
    return 0


def cmd_reproduce(args) -> int:
    from ..api import reproduce, run_of_trial
    from ..reproduction import check_options

    if (args.run_id is None) == (args.study is None):
        raise ConfigError("give exactly one of --run-id ID or --study NAME")
    if args.trial is not None and args.study is None:
        raise ConfigError("--trial goes with --study")
    check_options(args.seeds, args.rtol, args.register)
    store = _store(args)
    run_id = args.run_id or run_of_trial(args.study, args.trial, store=store)
    rep = reproduce(run_id, store=store, evaluate_test=args.evaluate_test, seeds=args.seeds, register=args.register,
                    rtol=args.rtol, allow_incomplete=args.allow_incomplete)
    out = rep.summary
    if args.json:
        print(json.dumps(_clean(out)))
        return 0 if rep.ok else 1
    print(rep)
    for k, v in out["refit"].items():
        if k.startswith("test_") or args.evaluate_test is False:
            print(f"  refit {k:24s} {v:.6g}")
    for name, s_ in out.get("seeds", {}).get("summary", {}).items():
        print(f"  {args.seeds} seeds {name:20s} {s_['mean']:.4f} +- {s_['std']:.4f}")
    if rep.read_only is None:
        print(f"logged as run {rep.run_id}; model {rep.model_uri}")
    else:
        print(f"not logged: {rep.read_only} is read-only (nothing was written to the store)")
    return 0 if rep.ok else 1
