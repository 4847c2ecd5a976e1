"""Benchmark: search throughput with N worker processes against one, measured side by side.

Runs `dlcore search SPACE --trials T --workers W` as a user would (a fresh embedded store each time)
for W = 1 and each W asked for, alternating, and prints the wall times, trials per second and the
throughput ratio against W = 1. BLAS threads per worker are cores // W, so W = 1 uses all cores.

    .venv/bin/python benchmarks/bench_workers.py                                # moons.toml, 40 trials, W = 2
    .venv/bin/python benchmarks/bench_workers.py search_spaces/moons.toml --trials 40 --workers 2 --repeats 3
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(space: str, trials: int, workers: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "dlcore", "search", space, "--trials", str(trials), "--workers",
                            str(workers), "--json", "--store", d], cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if p.returncode != 0:
            raise SystemExit(f"search failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
        return elapsed, sum(json.loads(p.stdout)["counts"].values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("space", nargs="?", default=str(ROOT / "search_spaces" / "moons.toml"))
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--workers", type=int, nargs="+", default=[2])
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)
    print(f"workers benchmark: {datetime.datetime.now().isoformat(timespec='seconds')} {platform.machine()} "
          f"{os.cpu_count()} cores, python {platform.python_version()}")
    print(f"rerun: {shlex.join([sys.executable, *sys.argv])}")
    counts = [1, *[w for w in args.workers if w != 1]]
    times = {w: [] for w in counts}
    for r in range(args.repeats):
        for w in counts:
            t, n = one(args.space, args.trials, w)
            assert n == args.trials, f"{n} trials instead of {args.trials}"
            times[w].append(t)
            print(f"  repeat {r + 1}: --workers {w}: {t:6.1f} s for {n} trials")
    base = statistics.median(times[1])
    for w in counts:
        m = statistics.median(times[w])
        print(f"--workers {w}: median {m:6.1f} s, {args.trials / m:5.2f} trials/s, throughput x{base / m:.2f} vs --workers 1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
