"""dlcore.data: datasets as (X (n_x, m), Y (1, m)), seeded stratified splits and fingerprints."""
from .datasets import DATASETS, DataError, Dataset, fingerprint, load
from .scaling import apply_standardizer, fit_standardizer
from .split import check_holdout, check_kfold, kfold_indices, split_indices

__all__ = ["DATASETS", "DataError", "Dataset", "apply_standardizer", "fit_standardizer", "check_holdout", "check_kfold", "fingerprint", "kfold_indices", "load",
           "split_indices"]
