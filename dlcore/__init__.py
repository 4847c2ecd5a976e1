"""dlcore: the Deep Learning course's NumPy nets, searched with Optuna and tracked with MLflow.

    import dlcore
    store = dlcore.Store("runs/")
    result = dlcore.search("planar", trials=20, store=store)     # every trial tracked with its curve
    best = dlcore.best("planar", store=store)
    rep = dlcore.reproduce(best, store=store, evaluate_test=True, seeds=5)   # bit for bit, then test

Everything a script needs is here; the submodules are the library's insides. Importing dlcore imports
neither Optuna nor MLflow and changes no global state (matplotlib backend, environment, loggers).
"""
__version__ = "0.1.0"

from .api import (best, data_available, evaluate_seeds, load_study, reproduce, run_of_trial, search, train, trials,
                  worker)
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig, load_run_config
from .errors import ConfigError, DataError, DlcoreError, ReproduceError, StoreError
from .results import BestRun, Reproduction, SearchResult, TrainedRun
from .search.space import MAX_TRIALS, Range, SearchSpace, Space, StudySettings, load_space
from .store import Store

__all__ = [
    "BestRun", "ConfigError", "DataConfig", "DataError", "DlcoreError", "MAX_TRIALS", "ModelConfig", "Range",
    "Reproduction", "ReproduceError", "RunConfig", "SearchResult", "SearchSpace", "Space", "Store", "StoreError",
    "StudySettings", "TrainConfig", "TrainedRun", "__version__", "best", "data_available", "evaluate_seeds",
    "load_run_config", "load_space", "load_study", "reproduce", "run_of_trial", "search", "train", "trials", "worker",
]
