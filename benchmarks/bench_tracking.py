"""Benchmark: what MLflow tracking costs a search, per trial, measured side by side in one process.

The same seeded search (same space, same trials: TPE is seeded and runs sequentially, so both runs
propose the same parameters) runs in a fresh temporary store with tracking on (a child run per trial
with params, tags, curves in one batch, the curve artifact, the run config; the parent run with the
summary table and plots) and with tracking off (Optuna only). Repeated, alternating the order; medians reported.

    .venv/bin/python benchmarks/bench_tracking.py                          # planar.toml, 20 trials, 3 repeats
    .venv/bin/python benchmarks/bench_tracking.py search_spaces/moons.toml --trials 40 --repeats 3
"""
from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlcore.launch import Backends, run_search  # noqa: E402
from dlcore.search import load_space  # noqa: E402
from dlcore.tracking.store import Store  # noqa: E402
from dlcore.tracking.provenance import blas_info  # noqa: E402


def one(space, trials: int, track: bool, callback: bool = False) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d))
        start = time.perf_counter()
        on_trial = None
        if callback:
            from optuna_integration.mlflow import MLflowCallback

            on_trial = MLflowCallback(tracking_uri=store.create().tracking_uri, metric_name=space.study.metric)
        summary = run_search(space, Backends.resolve(store), trials, track=track, on_trial=on_trial)
        return time.perf_counter() - start, summary


def has_callback() -> bool:
    try:
        import optuna_integration.mlflow  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("space", nargs="?", default=str(ROOT / "search_spaces" / "planar.toml"))
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    space = load_space(args.space)
    space = replace(space, study=replace(space.study, name=f"bench-{space.study.name}"))
    blas = blas_info()
    print(f"tracking benchmark: {datetime.datetime.now().isoformat(timespec='seconds')} {platform.machine()} "
          f"python {platform.python_version()} numpy {np.__version__} BLAS {blas['blas']} ({blas['blas_threads']} threads)")
    print(f"rerun: {shlex.join([sys.executable, *sys.argv])}")
    print(f"space {args.space}: {args.trials} trials, {args.repeats} repeats (alternating on/off)")
    one(space, 2, True)  # warm-up: imports, first database creation, matplotlib fonts
    with_cb = has_callback()
    if not with_cb:
        print("optuna-integration's MLflowCallback: skipped (pip install optuna-integration to compare)")
    on, off, cb = [], [], []
    for r in range(args.repeats):
        if r % 2 == 0:  # alternate which arm runs first, so drift on a shared machine hits both
            t_on, s_on = one(space, args.trials, True)
            t_off, s_off = one(space, args.trials, False)
        else:
            t_off, s_off = one(space, args.trials, False)
            t_on, s_on = one(space, args.trials, True)
        on.append(t_on)
        off.append(t_off)
        same = s_on["counts"] == s_off["counts"] and s_on["best_value"] == s_off["best_value"]
        line = f"  repeat {r + 1}: dlcore tracking {t_on:6.2f} s, off {t_off:6.2f} s"
        if with_cb:
            cb.append(one(space, args.trials, False, callback=True)[0])
            line += f", MLflowCallback {cb[-1]:6.2f} s"
        print(f"{line}; same trials and best value: {same}")
    m_on, m_off = statistics.median(on), statistics.median(off)
    print(f"median wall time: dlcore tracking on {m_on:.2f} s, off {m_off:.2f} s")
    print(f"dlcore tracking (full curves, artifacts, summary plots): {(m_on - m_off) / args.trials * 1000:.0f} ms "
          f"per trial, {100 * (m_on - m_off) / m_on:.1f}% of the tracked wall time (ratio on/off {m_on / m_off:.2f})")
    if with_cb:
        m_cb = statistics.median(cb)
        print(f"MLflowCallback (final values only): {(m_cb - m_off) / args.trials * 1000:.0f} ms per trial, "
              f"{100 * (m_cb - m_off) / m_cb:.1f}% of its wall time; dlcore/callback overhead ratio "
              f"{(m_on - m_off) / max(m_cb - m_off, 1e-9):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
