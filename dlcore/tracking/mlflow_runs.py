"""All of dlcore's MLflow calls: experiments, parent and child runs, batched metrics and artifacts.

Every write for a finished run goes through one ``log_batch`` (MLflow splits it into chunks of 1000),
never one call per step. Runs are created with ``MlflowClient`` and an explicit parent tag, so nothing
depends on MLflow's per-thread active run.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

from ..disk import retry_when_full

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from .store import prepare_tracking_db  # noqa: E402

PARENT_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"     # the run's description, markdown, shown in the UI's description box
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"  # which artifacts the UI shows as tables
CONTEXT_TAG = "mlflow.data.context"  # a dataset input's split: training, validation, test


class Tracker:
    """A thin wrapper around one MlflowClient; ``artifact_root`` is set for the embedded store."""

    def __init__(self, tracking_uri: str, artifact_root: Path | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        prepare_tracking_db(tracking_uri, artifact_root)  # built whole, never half-built, re-rooted if moved
        self.client = MlflowClient(tracking_uri)
        self._local_dirs: dict[str, Path | None] = {}  # run id -> its local artifact folder (runs made here)

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
        info = self.client.create_run(experiment_id, run_name=name, tags=tags).info
        self._local_dirs[info.run_id] = _local_dir(info.artifact_uri)
        return info.run_id

    def _write_file(self, run_id: str, file_name: str, write) -> bool:
        """Write an artifact of a run made by this tracker straight into its local artifact folder:
        ``write(f)`` fills a temporary file beside it, renamed into place once whole. MLflow's local
        artifact store copies a file there and keeps no record of it, so this is what log_artifact does,
        without the temporary copy and MLflow's calls. False when the run's artifacts are not local files
        (a tracking server's) or the name is a path: then MLflow writes it."""
        folder = self._local_dirs.get(run_id)
        if folder is None or "/" in file_name:
            return False
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{file_name}.{os.getpid()}.{threading.get_ident()}.tmp"  # the umask's mode, as MLflow's
        try:
            with open(tmp, "xb") as f:
                write(f)
            os.replace(tmp, folder / file_name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return True

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
        """An .npz of named arrays (plain .npy inside; load with allow_pickle=False). Not compressed: cost
        curves barely compress (7% for a cat trial's) and zlib took 17 times as long as the write."""
        if self._write_file(run_id, file_name, lambda f: np.savez(f, **arrays)):
            return
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / file_name
            np.savez(path, **arrays)
            self.client.log_artifact(run_id, str(path))

    def log_inputs(self, run_id: str, inputs: list):
        """Dataset inputs as built by ``tracking.datasets.dataset_inputs`` (dicts), each with its context tag."""
        if not inputs:
            return
        datasets = [DatasetInput(Dataset(d["name"], d["digest"], d["source_type"], d["source"],
                                         profile=d.get("profile")), tags=[InputTag(CONTEXT_TAG, d["context"])])
                    for d in inputs]
        for attempt in range(INPUT_ATTEMPTS):
            try:
                self.client.log_inputs(run_id, datasets=datasets)
                return
            except Exception as e:  # noqa: BLE001 -- only the race below is retried
                # MLflow looks a dataset up, then inserts it: two workers logging a new dataset at once
                # both insert, and the second breaks the unique key. Again, it finds the first one's row.
                if attempt == INPUT_ATTEMPTS - 1 or not _integrity_error(e):
                    raise

    def describe(self, run_id: str, markdown: str):
        """The run's description (markdown)."""
        self.client.set_tag(run_id, NOTE_TAG, markdown)

    def log_table(self, run_id: str, rows: list, file_name: str, tagged: bool = False):
        """Rows (dicts) as a table artifact, in the layout of MLflow's ``log_table`` (JSON, orient "split")
        and with the same ``mlflow.loggedArtifacts`` tag, so the UI shows it as a table (``tagged``: the
        caller has already set that tag, see ``table_tag``). Written here rather than by ``log_table``,
        whose pandas ``to_json`` keeps 10 decimals: a fold's final is stored exactly (Python's repr),
        NaN and infinities as null."""
        columns = list(dict.fromkeys(k for r in rows for k in r))
        data = [[_json_value(r.get(c)) for c in columns] for r in rows]
        self.log_text(run_id, json.dumps({"columns": columns, "data": data}), file_name)
        if tagged:
            return
        tags = json.loads(self.client.get_run(run_id).data.tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
        if {"path": file_name, "type": "table"} not in tags:
            tags.append({"path": file_name, "type": "table"})
            self.client.set_tag(run_id, LOGGED_ARTIFACTS_TAG, json.dumps(tags))

    @staticmethod
    def table_tag(*file_names: str) -> dict:
        """The ``mlflow.loggedArtifacts`` tag of a new run whose tables are ``file_names``: set in the run's
        batch, it spares ``log_table`` reading the run back."""
        return {LOGGED_ARTIFACTS_TAG: json.dumps([{"path": f, "type": "table"} for f in file_names])}

    def load_table(self, run_id: str, file_name: str) -> list | None:
        """The rows (dicts) of a table artifact, or None when the run has none of that name."""
        if file_name not in {f.path for f in self.client.list_artifacts(run_id)}:
            return None
        with self._artifact(run_id, file_name) as path:
            doc = json.loads(path.read_text())
        return [dict(zip(doc["columns"], row)) for row in doc["data"]]

    def log_dict(self, run_id: str, obj: dict, file_name: str):
        self.client.log_dict(run_id, obj, file_name)

    def log_text(self, run_id: str, text: str, file_name: str):
        if not self._write_file(run_id, file_name, lambda f: f.write(text.encode("utf-8"))):
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
        with self._artifact(run_id, file_name) as path, np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    @contextlib.contextmanager
    def _artifact(self, run_id: str, file_name: str):
        """The path of a run's artifact to read: the file itself when the run's artifacts are local files
        (no copy, and none of MLflow's download progress bars), else a downloaded copy, removed after."""
        local = self._local_artifact(run_id, file_name)
        if local is not None:
            yield local
            return
        with tempfile.TemporaryDirectory() as d:
            yield Path(self.client.download_artifacts(run_id, file_name, d))

    def _local_artifact(self, run_id: str, file_name: str) -> Path | None:
        """The artifact's file when the run's artifact URI is a local one (``file:`` or a plain path). In a store that was moved but
        could not be re-rooted (it is read-only) the recorded URI still names the old place, which may be
        gone: the file is then the one inside this store."""
        from .store import moved_from

        uri = self.client.get_run(run_id).info.artifact_uri
        if urlparse(uri).scheme not in ("", "file"):
            return None
        old = moved_from(self.artifact_root.parent) if self.artifact_root is not None else None
        prefix = Path(old).as_uri() if old is not None else None
        if prefix is not None and uri.startswith(prefix + "/"):
            path = self.artifact_root.parent / url2pathname(uri[len(prefix) + 1:]) / file_name
        else:
            path = Path(url2pathname(urlparse(uri).path)) / file_name
        return path if path.is_file() else None


# Every write: on a full disk, tried once more in the room the store's reserve made (dlcore/disk.py).
for _name in ("experiment_id", "start_run", "log", "log_arrays", "log_dict", "log_text", "log_figure", "end"):
    setattr(Tracker, _name, retry_when_full(getattr(Tracker, _name)))


def _local_dir(uri: str) -> Path | None:
    """The folder of a local artifact URI (``file:`` or a plain path), None for any other scheme."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(url2pathname(parsed.path))


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _json_value(v):
    """A table cell as JSON: numbers exactly (NumPy's as Python's), non-finite ones as null."""
    if isinstance(v, (np.integer, np.bool_)):
        return v.item()
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def _text(v) -> str:
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return str(v)


INPUT_ATTEMPTS = 3


def _integrity_error(e: BaseException) -> bool:
    """Whether a database's unique-key violation (SQLAlchemy's IntegrityError) is in ``e``'s chain."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if type(e).__name__ == "IntegrityError" or "IntegrityError" in str(e):  # MLflow may wrap it as text
            return True
        e = e.__cause__ or e.__context__
    return False


__all__ = ["CONTEXT_TAG", "NOTE_TAG", "PARENT_TAG", "Tracker"]
