"""dlcore.search: the Optuna side (search spaces, the objective, studies, reports)."""
from .objective import Objective, derive_seed
from .space import SearchSpace, load_space

__all__ = ["Objective", "SearchSpace", "derive_seed", "load_space"]
