"""dlcore.nn: the course's L-layer network in pure NumPy (imports numpy only; no I/O)."""
from .activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .checks import check_params, check_x, check_xy
from .gradcheck import gradient_check
from .init import SCHEMES as INIT_SCHEMES, initialize
from .metrics import accuracy, balanced_accuracy, mean_squared_error, r2_score
from .model import Architecture, backward, cost, forward, predict, predict_proba
from .train import FORMS, TrainResult, Validation, choose_form, gradient_descent, resolve_form
from .fold_stack import Fold, FoldStack
from .stacked import gradient_descent_stacked

__all__ = [
    "ACTIVATIONS", "HIDDEN_ACTIVATIONS", "OUTPUT_ACTIVATIONS", "INIT_SCHEMES", "FORMS",
    "Architecture", "TrainResult", "Validation", "accuracy", "backward", "balanced_accuracy", "check_params",
    "check_x", "check_xy",
    "choose_form", "resolve_form", "cost", "forward", "gradient_check", "gradient_descent", "initialize",
    "Fold", "FoldStack", "gradient_descent_stacked",
    "mean_squared_error", "predict", "predict_proba", "r2_score",
]
