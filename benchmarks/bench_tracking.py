"""Benchmark: what MLflow tracking costs a search, per trial, measured side by side in one process.

The same seeded search (same space, same trials: TPE is seeded and runs sequentially, so both runs
propose the same parameters) runs in a fresh temporary store with tracking on (a child run per trial
with params, tags, curves in one batch, the curve artifact, the run config; the parent run with the
summary table and plots) and with tracking off (Optuna only). Repeated, alternating; medians reported.

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


def one(space, trials: int, track: bool) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        summary = run_search(space, Backends.resolve(Store(Path(d))), trials, track=track)
        return time.perf_counter() - start, summary


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
    on, off = [], []
    for r in range(args.repeats):
        t_on, s_on = one(space, args.trials, True)
        t_off, s_off = one(space, args.trials, False)
        on.append(t_on)
        off.append(t_off)
        same = s_on["counts"] == s_off["counts"] and s_on["best_value"] == s_off["best_value"]
        print(f"  repeat {r + 1}: tracking on {t_on:6.2f} s, off {t_off:6.2f} s, same trials and best value: {same}")
    m_on, m_off = statistics.median(on), statistics.median(off)
    per_trial = (m_on - m_off) / args.trials
    print(f"median wall time: tracking on {m_on:.2f} s, off {m_off:.2f} s")
    print(f"tracking overhead: {per_trial * 1000:.0f} ms per trial, {100 * (m_on - m_off) / m_on:.1f}% of the "
          f"tracked wall time (ratio on/off {m_on / m_off:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
