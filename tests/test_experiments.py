"""The experiments/ scripts, as a user runs them, on a tiny budget: each searches through the public API,
logs to its store, prints its finding and (depth, init scale) saves its plot. Run without the cat data,
so they take the embedded planar fallback the scripts promise."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SCRIPTS = {
    "depth_study.py": ["--trials", "2", "--depths", "1", "2", "--out", "depth.png"],
    "init_scale_study.py": ["--trials", "2", "--iterations", "150", "--out", "init.png"],
    "cat_loop.py": ["--trials", "3", "--seeds", "2"],
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_experiment_runs_on_the_embedded_default(script, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DLCORE_DATA_DIR": str(tmp_path / "no-data"),
           "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, str(ROOT / "experiments" / script), "--store", str(tmp_path / "store"),
                        *SCRIPTS[script]], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    assert (tmp_path / "store" / "optuna.db").is_file() and (tmp_path / "store" / "mlflow.db").is_file()
    if script == "cat_loop.py":
        assert "identical" in p.stdout and "test_accuracy" in p.stdout
    else:
        assert "finding:" in p.stdout
        png = tmp_path / SCRIPTS[script][-1]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
