"""dlcore: the Deep Learning course's NumPy nets, searched with Optuna and tracked with MLflow."""
__version__ = "0.1.0"
