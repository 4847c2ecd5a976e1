"""dlcore.search: the Optuna side (search spaces, the objective, studies, reports).

Only the space is imported eagerly: ``import dlcore`` must not pay for importing Optuna."""
from .space import SearchSpace, load_space


def __getattr__(name):
    if name in ("Objective", "derive_seed"):
        from . import objective

        return getattr(objective, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Objective", "SearchSpace", "derive_seed", "load_space"]
