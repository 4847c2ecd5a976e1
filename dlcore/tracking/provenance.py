"""Where a run came from: git commit and dirtiness, library and BLAS versions, the BLAS kernel. Computed once."""
from __future__ import annotations

import functools
import os
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
    """BLAS library, version, thread count and kernel, as threadpoolctl (or numpy's build config)
    reports. The kernel (threadpoolctl's ``architecture``: Haswell, SkylakeX, Zen...) is the code path
    OpenBLAS chose for this CPU (``OPENBLAS_CORETYPE`` pins it); sums may round differently across
    kernels, so it is part of what a bit-for-bit reproduction depends on. NumPy's own BLAS: with SciPy
    loaded a process holds two (SciPy ships its own OpenBLAS), listed in the order they were loaded."""
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        numpy_dir = os.path.dirname(os.path.dirname(np.__file__))  # site-packages: numpy/ and numpy.libs/
        ours = [p for p in pools if os.path.relpath(str(p.get("filepath", "")), numpy_dir).startswith("numpy")]
        for pool in ours + pools:
            return {"blas": f"{pool.get('internal_api')} {pool.get('version')}",
                    "blas_threads": str(pool.get("num_threads")),
                    "blas_kernel": str(pool.get("architecture") or "unknown")}
    except ImportError:
        pass
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {"blas": f"{blas.get('name')} {blas.get('version')}", "blas_threads": "unknown", "blas_kernel": "unknown"}


# The facts of the environment a run's float sums depend on: provenance tag -> how a message names it.
ENVIRONMENT_FACTS = {"dlcore.blas_kernel": "BLAS kernel", "dlcore.blas": "BLAS", "dlcore.numpy_version": "numpy",
                     "dlcore.python_version": "Python"}


def environment_differences(logged: dict, here: dict | None = None) -> list:
    """Which of ``ENVIRONMENT_FACTS`` differ between a run's logged tags and this process, as phrases
    ("BLAS kernel SkylakeX here, Haswell when logged"); a fact the run did not log is said so."""
    here = provenance_tags() if here is None else here
    out = []
    for tag, label in ENVIRONMENT_FACTS.items():
        now, then = here.get(tag), logged.get(tag)
        if then is None:
            out.append(f"{label} {now} here, not logged")
        elif now != then:
            out.append(f"{label} {now} here, {then} when logged")
    return out


@functools.lru_cache(maxsize=1)
def provenance_tags() -> dict:
    import mlflow
    import optuna

    blas = blas_info()
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "dlcore.git_commit": commit or "unknown",
        "dlcore.git_dirty": "unknown" if status is None else str(bool(status)).lower(),
        "dlcore.numpy_version": np.__version__,
        "dlcore.blas": blas["blas"],
        "dlcore.blas_kernel": blas["blas_kernel"],
        "dlcore.optuna_version": optuna.__version__,
        "dlcore.mlflow_version": mlflow.__version__,
        "dlcore.python_version": platform.python_version(),
    }
