"""Where a run came from: git commit and dirtiness, library and BLAS versions. Computed once."""
from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _git(*args) -> str | None:
    try:
        p = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def blas_info() -> dict:
    """BLAS library, version and thread count, as threadpoolctl (or numpy's build config) reports."""
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return {"blas": f"{pool.get('internal_api')} {pool.get('version')}",
                        "blas_threads": str(pool.get("num_threads"))}
    except ImportError:
        pass
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {"blas": f"{blas.get('name')} {blas.get('version')}", "blas_threads": "unknown"}


@functools.lru_cache(maxsize=1)
def provenance_tags() -> dict:
    import mlflow
    import optuna

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "dlcore.git_commit": commit or "unknown",
        "dlcore.git_dirty": "unknown" if status is None else str(bool(status)).lower(),
        "dlcore.numpy_version": np.__version__,
        "dlcore.blas": blas_info()["blas"],
        "dlcore.optuna_version": optuna.__version__,
        "dlcore.mlflow_version": mlflow.__version__,
        "dlcore.python_version": platform.python_version(),
    }
