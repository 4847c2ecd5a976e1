"""dlcore.tracking: the MLflow side (store layout, runs, batched metrics, artifacts, summaries)."""
from .store import Store, resolve_store

__all__ = ["Store", "resolve_store"]
