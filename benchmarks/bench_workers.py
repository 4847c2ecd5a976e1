"""Benchmark: search throughput with N worker processes against one, measured side by side.

Runs `dlcore search SPACE --trials T --workers W` as a user would (a fresh embedded store each time)
for W = 1 and each W asked for, alternating, and prints the wall times, trials per second and the
throughput ratio against W = 1. BLAS threads per worker are cores // W, so W = 1 uses all cores.

Searches with different worker counts run different trials (the sampler sees other histories, the pruner
other medians). ``--same-trials N`` compares identical work instead: N configurations drawn once from the
space by a seeded random sampler are enqueued, the pruner is off, and each arm runs exactly those N
trials through ``dlcore.search`` in a fresh process (as a script would).

    .venv/bin/python benchmarks/bench_workers.py                                # moons.toml, 40 trials, W = 2
    .venv/bin/python benchmarks/bench_workers.py search_spaces/moons.toml --trials 40 --workers 2 --repeats 3
    DLCORE_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_workers.py search_spaces/cat.toml --same-trials 30
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


SAME_TRIALS_CHILD = """
import json, sys
import dlcore
from dlcore.search.space import space_from_doc
doc = json.load(open(sys.argv[1]))
r = dlcore.search(space_from_doc(doc, sys.argv[1]), trials=len(doc["enqueue"]), workers=int(sys.argv[2]),
                  store=sys.argv[3], progress=False)
print(json.dumps({"counts": r.counts}))
"""


def same_trials_doc(space: str, n: int, seed: int = 12345) -> dict:
    """The space as a document with ``n`` configurations drawn by a seeded random sampler enqueued and
    the pruner off, so that every arm trains exactly the same trials."""
    import optuna

    from dlcore.search.objective import Objective
    from dlcore.search.space import load_space, space_to_doc

    s = load_space(space)
    obj = Objective(s)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(n):
        t = study.ask()
        configs.append(obj.suggest(t))
        study.tell(t, 0.0)
    doc = space_to_doc(s)
    doc["study"]["pruner"] = "none"
    doc["enqueue"] = configs
    return doc


def one_same(doc_path: str, trials: int, workers: int) -> tuple[float, int]:
    """One arm; also prints where its wall time went: before the first trial began, the span from then
    to the last trial's end, after it, and how busy the workers were in that span (the trials' summed
    durations over workers x span)."""
    import optuna

    with tempfile.TemporaryDirectory() as d:
        wall0, start = time.time(), time.perf_counter()
        p = subprocess.run([sys.executable, "-c", SAME_TRIALS_CHILD, doc_path, str(workers), d], cwd=ROOT,
                           capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if p.returncode != 0:
            raise SystemExit(f"search failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
        name = json.load(open(doc_path))["study"]["name"]
        ts = optuna.load_study(study_name=name, storage=f"sqlite:///{d}/optuna.db").get_trials(deepcopy=False)
        first = min(t.datetime_start for t in ts).timestamp() - wall0
        last = max(t.datetime_complete for t in ts).timestamp() - wall0
        busy = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in ts)
        print(f"    --workers {workers}: before the first trial {first:5.1f} s | trials {last - first:5.1f} s "
              f"(sum of trial durations {busy:5.1f} s, workers busy {busy / (workers * (last - first)):4.0%}) | "
              f"after the last {elapsed - last:4.1f} s")
        return elapsed, len(ts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("space", nargs="?", default=str(ROOT / "search_spaces" / "moons.toml"))
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--workers", type=int, nargs="+", default=[2])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--same-trials", type=int, metavar="N",
                   help="run N identical enqueued configurations in every arm, pruner off")
    args = p.parse_args(argv)
    print(f"workers benchmark: {datetime.datetime.now().isoformat(timespec='seconds')} {platform.machine()} "
          f"{os.cpu_count()} cores, python {platform.python_version()}")
    print(f"rerun: {shlex.join([sys.executable, *sys.argv])}")
    counts = [1, *[w for w in args.workers if w != 1]]
    run = lambda w: one(args.space, args.trials, w)  # noqa: E731
    if args.same_trials:
        args.trials = args.same_trials
        doc_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(same_trials_doc(args.space, args.same_trials), doc_file)
        doc_file.close()
        print(f"same {args.same_trials} enqueued configurations in every arm, pruner off ({doc_file.name})")
        run = lambda w: one_same(doc_file.name, args.same_trials, w)  # noqa: E731
    times = {w: [] for w in counts}
    for r in range(args.repeats):
        for w in counts:
            t, n = run(w)
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
