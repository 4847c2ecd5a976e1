"""Workers that log a new dataset at the same moment: MLflow looks a dataset up, then inserts it, so the
second insert breaks the unique key (seen in a two-worker search: a trial's run ended "logging failed").
Real processes on one real store, released together by a barrier."""
from __future__ import annotations

import multiprocessing as mp

from dlcore.store import Store

WORKERS = 6


def log_one(root, experiment_id, barrier, results):
    tracker = Store(root).tracker()
    run_id = tracker.start_run(experiment_id, "trial", {})
    inputs = [{"name": "planar", "digest": "6db178f7", "source_type": "code", "source": "planar(seed=1)",
               "context": "training"}]
    barrier.wait()
    try:
        tracker.log_inputs(run_id, inputs)
        results.put("ok")
    except Exception as e:  # noqa: BLE001 -- reported to the test
        results.put(f"{type(e).__name__}: {e}"[:300])


def test_workers_logging_one_new_dataset_at_once_all_succeed(tmp_path):
    root = tmp_path / "store"
    store = Store(root).prepare()
    tracker = store.tracker()
    experiment_id = tracker.experiment_id("race")
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=log_one, args=(root, experiment_id, barrier, results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert outcomes == ["ok"] * WORKERS, outcomes
    runs = tracker.client.search_runs([experiment_id])
    digests = {(i.dataset.name, i.dataset.digest) for r in runs for i in r.inputs.dataset_inputs}
    assert len(runs) == WORKERS and digests == {("planar", "6db178f7")}
    assert all(len(r.inputs.dataset_inputs) == 1 for r in runs)
