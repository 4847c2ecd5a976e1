"""Shared fixtures: the course's reference numbers and the cat data directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).parent / "reference" / "course_results.json"  # copy of shared/reference


def cat_root() -> Path | None:
    """The directory holding catvnoncat/: $DLCORE_DATA_DIR, else ../shared/data beside the checkout."""
    for root in (os.environ.get("DLCORE_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if root and (Path(root) / "catvnoncat" / "train_catvnoncat.h5").is_file():
            return Path(root)
    return None


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


@pytest.fixture
def cat_data(monkeypatch) -> Path:
    """Points DLCORE_DATA_DIR at the cat data, or skips the test saying where it looked."""
    root = cat_root()
    if root is None:
        pytest.skip("cat data absent: set DLCORE_DATA_DIR to a directory holding catvnoncat/ "
                    f"(looked in $DLCORE_DATA_DIR and {ROOT.parent / 'shared' / 'data'})")
    monkeypatch.setenv("DLCORE_DATA_DIR", str(root))
    return root


def run_dlcore(*args, cwd=None, env=None, timeout=600):
    """``python -m dlcore ARGS`` in a real subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "dlcore", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="session")
def template_cache(tmp_path_factory) -> Path:
    """The suite's own cache of MLflow's empty database (dlcore/tracking/store.py, ``template``), shared by
    every test and its subprocesses: nothing is written to the user's ~/.cache."""
    return tmp_path_factory.mktemp("dlcore-cache")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch, template_cache):
    """Every test gets its own store: nothing is written to ./mlruns of the checkout."""
    monkeypatch.setenv("DLCORE_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(template_cache))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
