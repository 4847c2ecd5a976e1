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

# The names below are imported when first used (PEP 562): `import dlcore`, and `python -m dlcore` before
# its interrupt handler is in place, stay as light as the version string.
# The subpackage dlcore.search is imported now (it imports nothing itself), so that Python's binding of it
# as ``dlcore.search`` happens here, once, and is taken back: ``dlcore.search`` is the function.
from . import search as _search_package  # noqa: E402,F401

del search  # noqa: F821 -- bound by the import above

_HOMES = {
    "api": ("best", "data_available", "evaluate_seeds", "load_study", "reproduce", "run_of_trial", "search", "train",
            "trials", "worker"),
    "config": ("DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "load_run_config"),
    "errors": ("ConfigError", "DataError", "DlcoreError", "ReproduceError", "StoreError"),
    "results": ("BestRun", "Reproduction", "SearchResult", "TrainedRun"),
    "search.space": ("MAX_TRIALS", "Range", "SearchSpace", "Space", "StudySettings", "load_space"),
    "store": ("Store",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name):
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'dlcore' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "BestRun", "ConfigError", "DataConfig", "DataError", "DlcoreError", "MAX_TRIALS", "ModelConfig", "Range",
    "Reproduction", "ReproduceError", "RunConfig", "SearchResult", "SearchSpace", "Space", "Store", "StoreError",
    "StudySettings", "TrainConfig", "TrainedRun", "__version__", "best", "data_available", "evaluate_seeds",
    "load_run_config", "load_space", "load_study", "reproduce", "run_of_trial", "search", "train", "trials", "worker",
]
