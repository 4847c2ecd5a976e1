"""The ``dlcore`` command line: parse arguments, build configs, call the library.

Examples:
    dlcore train experiments/course/planar.toml
    dlcore train experiments/course/deep.toml --set train.iterations=500 --json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

from . import __version__
from .config import ConfigError, load_run_config
from .progress import Progress


class CliError(Exception):
    """An error to print as one line, with exit status 2."""


def _finite_or_none(x):
    return x if isinstance(x, (int, str)) or (isinstance(x, float) and math.isfinite(x)) else None


def cmd_train(args) -> int:
    from .runner import train_run

    cfg = load_run_config(args.config, args.set)
    bar = Progress(cfg.train.iterations, "train", enabled=None if not args.json else False)
    every = max(1, cfg.train.iterations // 200)

    def on_step(i, costs, val_cost):
        bar.update(i + 1, f"cost {costs[-1]:.4f}")

    start = time.perf_counter()
    out = train_run(cfg, on_step=on_step, every=every, evaluate_test=True)
    seconds = time.perf_counter() - start
    bar.close()
    r = out.result
    summary = {
        "config": cfg.to_dict(),
        "dataset": out.split.dataset.name,
        "fingerprint": out.split.dataset.fingerprint,
        "layer_dims": list(out.arch.layer_dims),
        "form": r.form,
        "status": r.status,
        "reason": r.reason,
        "iterations_run": r.iterations_run,
        "seconds": round(seconds, 3),
        **{k: _finite_or_none(v) for k, v in out.metrics.items()},
        "costs": [_finite_or_none(float(c)) for c in r.costs],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        dims = "-".join(map(str, out.arch.layer_dims))
        print(f"{summary['dataset']}: net {dims} ({out.arch.hidden_activation}/{out.arch.output_activation}), "
              f"{r.iterations_run} iterations in {seconds:.2f}s ({r.form} form), status {r.status}"
              + (f" ({r.reason})" if r.reason else ""))
        print(f"cost {r.costs[0]:.6f} -> {r.costs[-1]:.6f}")
        for k, v in out.metrics.items():
            print(f"  {k:24s} {v:.6g}")
    return 0 if r.status != "diverged" else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dlcore", description=__doc__.split("\n\n")[0],
                                epilog="Run 'dlcore COMMAND --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"dlcore {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser("train", help="train one run from a run config (TOML)",
                       description="Train one run from a run config and print a summary. "
                                   "Example: dlcore train experiments/course/planar.toml --set train.iterations=2000")
    t.add_argument("config", help="run config file (TOML with [data], [model], [train])")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set model.hidden_units=[5,3]")
    t.add_argument("--json", action="store_true", help="print one JSON object (costs at every iteration, accuracies)")
    t.set_defaults(func=cmd_train)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ConfigError, ValueError, OSError) as e:
        print(f"dlcore: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlcore: interrupted", file=sys.stderr)
        return 130
