"""All of dlcore's MLflow calls: experiments, parent and child runs, batched metrics and artifacts.

Every write for a finished run goes through one ``log_batch`` (MLflow splits it into chunks of 1000),
never one call per step. Runs are created with ``MlflowClient`` and an explicit parent tag, so nothing
depends on MLflow's per-thread active run.
"""
from __future__ import annotations

import json
import math
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from ..disk import retry_when_full
from ..quiet import mlflow_env

with mlflow_env():  # importing mlflow starts its telemetry client unless this says no (and leaves no variable)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

from .store import prepare_tracking_db  # noqa: E402

PARENT_TAG = "mlflow.parentRunId"


class Tracker:
    """A thin wrapper around one MlflowClient; ``artifact_root`` is set for the embedded store."""

    def __init__(self, tracking_uri: str, artifact_root: Path | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        prepare_tracking_db(tracking_uri, artifact_root)  # built whole, never half-built, re-rooted if moved
        self.client = MlflowClient(tracking_uri)

    def experiment_id(self, name: str, create: bool = True) -> str | None:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        if not create:
            return None
        location = None
        if self.artifact_root is not None:
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
            location = (self.artifact_root / f"{safe}-{int(time.time() * 1000)}").as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException as e:  # another process created it first: use theirs
            exp = self.client.get_experiment_by_name(name)
            if e.error_code != "RESOURCE_ALREADY_EXISTS" or exp is None:
                raise
            return exp.experiment_id

    def start_run(self, experiment_id: str, name: str, tags: dict, parent_id: str | None = None) -> str:
        tags = {k: str(v) for k, v in tags.items()}
        if parent_id:
            tags[PARENT_TAG] = parent_id
        return self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id

    def log(self, run_id: str, params: dict | None = None, metrics: dict | None = None,
            curves: dict | None = None, tags: dict | None = None):
        """One batch: params, final metrics (step 0), curves {key: (steps, values)}, tags.
        Non-finite values are left out (a diverged run's reason is in its tags)."""
        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if _finite(v)]
        for key, (steps, values) in (curves or {}).items():
            ms += [Metric(key, float(v), now, int(s)) for s, v in zip(steps, values) if _finite(v)]
        ps = [Param(k, _text(v)) for k, v in (params or {}).items()]
        ts = [RunTag(k, _text(v)) for k, v in (tags or {}).items()]
        if ms or ps or ts:
            self.client.log_batch(run_id, metrics=ms, params=ps, tags=ts)

    def log_arrays(self, run_id: str, file_name: str, **arrays):
        """A compressed .npz of named arrays (plain .npy inside; load with allow_pickle=False)."""
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / file_name
            np.savez_compressed(path, **arrays)
            self.client.log_artifact(run_id, str(path))

    def log_dict(self, run_id: str, obj: dict, file_name: str):
        self.client.log_dict(run_id, obj, file_name)

    def log_text(self, run_id: str, text: str, file_name: str):
        self.client.log_text(run_id, text, file_name)

    def log_figure(self, run_id: str, figure, file_name: str):
        self.client.log_figure(run_id, figure, file_name, save_kwargs={"dpi": 90})

    def find_run(self, run_id: str):
        """The run ``run_id``, or None when the store has no such run (or the id is malformed)."""
        try:
            return self.client.get_run(run_id)
        except MlflowException:
            return None

    def end(self, run_id: str, status: str = "FINISHED"):
        self.client.set_terminated(run_id, status=status)

    def load_arrays(self, run_id: str, file_name: str) -> dict:
        with tempfile.TemporaryDirectory() as d:
            path = self.client.download_artifacts(run_id, file_name, d)
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}


# Every write: on a full disk, tried once more in the room the store's reserve made (dlcore/disk.py).
for _name in ("experiment_id", "start_run", "log", "log_arrays", "log_dict", "log_text", "log_figure", "end"):
    setattr(Tracker, _name, retry_when_full(getattr(Tracker, _name)))


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _text(v) -> str:
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return str(v)


__all__ = ["PARENT_TAG", "Tracker"]
