"""dlcore.search: the Optuna side (search spaces, the objective, studies, storage, workers, reports).

Nothing is imported eagerly: ``import dlcore`` imports this package first (see ``dlcore/__init__``), and
must not pay for NumPy or Optuna before ``python -m dlcore`` has its interrupt handler in place."""


def __getattr__(name):
    if name in ("Objective", "derive_seed"):
        from . import objective

        return getattr(objective, name)
    if name in ("SearchSpace", "load_space"):
        from . import space

        return getattr(space, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Objective", "SearchSpace", "derive_seed", "load_space"]
