"""The embedded default store: one directory holding Optuna's and MLflow's databases and the artifacts.

    <store>/optuna.db     Optuna's RDB storage (SQLite)
    <store>/mlflow.db     MLflow's tracking store (SQLite) -- a separate database from Optuna's
    <store>/artifacts/    MLflow artifacts, one folder per experiment

The store is ``--store DIR``, else ``$DLCORE_STORE``, else ``./mlruns``; paths are made absolute so
that the working directory of later commands does not matter.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Store:
    root: Path

    @property
    def optuna_url(self) -> str:
        return f"sqlite:///{self.root / 'optuna.db'}"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.root / "artifacts"

    def exists(self) -> bool:
        return (self.root / "optuna.db").is_file() or (self.root / "mlflow.db").is_file()

    def create(self) -> "Store":
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return self


def resolve_store(option: str | None = None) -> Store:
    return Store(Path(option or os.environ.get("DLCORE_STORE") or "mlruns").expanduser().resolve())
