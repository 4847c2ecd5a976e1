"""One training run from a RunConfig: load and split the data, initialise, train, evaluate.

This is the single code path used by ``dlcore train``, by every search trial and by ``reproduce``,
so a reproduction runs exactly what the original did.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from . import interrupt, nn
from .config import RunConfig
from .data import (Dataset, apply_standardizer, check_holdout, check_kfold, fit_standardizer, kfold_indices, load,
                   split_indices)


@dataclass
class Split:
    """The arrays one run trains and validates on, cast to the run's dtype (and standardized, when the
    config says so, by ``scaler``: the (mean, scale) fitted on this split's training examples)."""
    dataset: Dataset
    X: np.ndarray
    Y: np.ndarray
    X_val: np.ndarray | None = None
    Y_val: np.ndarray | None = None
    scaler: tuple | None = None
    rows: tuple | None = None  # (training, validation) indices into dataset.X; validation None without one

    def inputs(self, X_raw, dtype) -> np.ndarray:
        """Raw examples (the test split, say) as this run sees them: scaled by its scaler, in ``dtype``."""
        return _as(X_raw if self.scaler is None else apply_standardizer(X_raw, *self.scaler), dtype)


@dataclass
class RunOutcome:
    config: RunConfig
    arch: nn.Architecture
    result: nn.TrainResult
    metrics: dict            # train_*, val_*, test_* (test only when asked)
    split: Split


def load_dataset(cfg: RunConfig) -> Dataset:
    d = cfg.data
    return load(d.name, path=d.path, n_samples=d.n_samples, noise=d.noise, seed=d.seed,
                test_fraction=d.test_fraction, split_seed=d.split_seed, label_column=d.label_column)


def derive_seed(seed: int, index: int) -> int:
    """A seed in [0, 2**32) for the ``index``-th child of ``seed``: a trial's from the study seed and the
    trial number, a fold's from the trial seed and the fold index, a repeat's split seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def fold_seeds(seed: int, n: int) -> list:
    """The initial-weight seed of each of a trial's ``n`` trainings: with one (a hold-out) the trial's
    own seed; with folds, one per fold derived from it and the fold index, so that the mean over the
    folds scores the configuration over several draws, not one lucky draw of initial weights."""
    return [seed] if n == 1 else [derive_seed(seed, f) for f in range(n)]


def folds_for(cfg: RunConfig, dataset: Dataset, k: int = 1, repeats: int = 1) -> list:
    """(train, validation) index pairs: k stratified folds when k >= 2 (``repeats`` assignments of them,
    the first seeded by ``data.split_seed``, repeat j by a seed derived from it and j: r*k pairs), else
    one hold-out of ``validation_fraction`` (validation None when it is 0), seeded by
    ``data.split_seed``. A split that would leave a validation part empty, or a training part without a
    class, is refused (DataError)."""
    if k >= 2:
        check_kfold(dataset.Y, k, f"{dataset.source}: study.folds = {k}")
        seed = cfg.data.split_seed
        return [pair for j in range(repeats)
                for pair in kfold_indices(dataset.Y, k, seed if j == 0 else derive_seed(seed, j))]
    fraction = cfg.data.validation_fraction
    if fraction > 0:
        train, val = split_indices(dataset.Y, fraction, cfg.data.split_seed)
        check_holdout(dataset.Y, train, val, f"{dataset.source}: data.validation_fraction = {fraction:g}")
        return [(train, val)]
    return [(np.arange(dataset.Y.shape[1]), None)]


def make_split(cfg: RunConfig, dataset: Dataset, train_idx=None, val_idx=None) -> Split:
    """The run's arrays in its dtype: the given indices, else the config's hold-out (if any). With
    data.standardize the scaler is fitted on the training indices alone (a fold's, the hold-out's
    training part, or the whole training split for a refit) and applied to the validation examples;
    scaling is done in float64 on the raw data, then cast to the run's dtype."""
    if train_idx is None:
        train_idx, val_idx = folds_for(cfg, dataset)[0]
    dtype = np.dtype(cfg.train.dtype)
    everything = val_idx is None and np.array_equal(train_idx, np.arange(dataset.Y.shape[1]))
    X_raw = dataset.X if everything else dataset.X[:, train_idx]   # all of it: no copy of X
    Y = _as(dataset.Y if everything else dataset.Y[:, train_idx], dtype)
    split = Split(dataset, X_raw, Y, scaler=fit_standardizer(X_raw) if cfg.data.standardized else None,
                  rows=(train_idx, val_idx))
    split.X = split.inputs(X_raw, dtype)
    if val_idx is not None:
        split.X_val, split.Y_val = split.inputs(dataset.X[:, val_idx], dtype), _as(dataset.Y[:, val_idx], dtype)
    return split


def gram_blocks(cfg: RunConfig, split: Split, form: str):
    """(K, K_val) for the dual form with ``train.gram = "dataset"``: blocks of the Gram matrix of the
    dataset's whole training split, X^T X, computed once per dataset and dtype and kept with the dataset
    (every fold, repeat and trial of a search takes its blocks by index), else None: the run forms its own
    K (``train.gram = "run"``, the direct form, or standardized data, which differ from fold to fold).
    Blocks of one product equal each run's own product to rounding only, which is why the choice is part
    of the run's config and ``reproduce`` follows it."""
    if form != "dual" or cfg.train.gram != "dataset" or split.scaler is not None or split.rows is None:
        return None
    dataset, (tr, va) = split.dataset, split.rows
    key = ("gram", np.dtype(cfg.train.dtype).str)
    G = dataset.cache.get(key)
    if G is None:
        X = _as(dataset.X, cfg.train.dtype)
        G = dataset.cache[key] = X.T @ X            # (m, m), m the training split's examples
    if len(tr) == G.shape[0] and va is None and np.array_equal(tr, np.arange(G.shape[0])):
        return G, None                              # the whole training split (a refit)
    return G[np.ix_(tr, tr)], None if va is None else G[np.ix_(tr, va)]


def fold_stack(cfg: RunConfig, splits: list) -> nn.FoldStack:
    """The folds' arrays grouped by size and stacked for ``train_folds``: made once per search process
    and data config, like the folds' own arrays. A dual-form training takes its K blocks from the one
    Gram matrix (``gram_blocks``), made only if one needs them."""
    folds = [nn.Fold(s.X, s.Y, s.X_val, s.Y_val) for s in splits]
    return nn.FoldStack(folds, np.dtype(cfg.train.dtype), gram=lambda f: gram_blocks(cfg, splits[f], "dual"))


def train_folds(cfgs: list, splits: list, on_step=None, every: int = 100, stack: nn.FoldStack | None = None,
                stop_together: bool = False) -> list:
    """The k trainings of a k-fold run advanced together (``nn.gradient_descent_stacked``): one
    architecture, learning rate and iteration count (``cfgs[0]``'s), each fold from its own config's
    seed, on ``splits``. Every ``every`` iterations a pending Ctrl-C is raised, then ``on_step(i, costs,
    vals)`` gets every fold's costs (k, i + 1) and validations. One ``RunOutcome`` per fold, the one
    that fold's own ``train_run`` gives, bit for bit (``nn.stacked``): stacking changes the number of
    numpy calls, not the numbers. ``stop_together``: a fold that diverges ends every fold there."""
    cfg = cfgs[0]
    stack = stack if stack is not None else fold_stack(cfg, splits)
    arch = architecture(cfg, stack.folds[0].X.shape[0], stack.folds[0].Y.shape[0])
    dtype = np.dtype(cfg.train.dtype)
    inits = [nn.initialize(arch.layer_dims, c.model.init, c.model.init_scale, np.random.RandomState(c.model.seed),
                           dtype=dtype) for c in cfgs]

    def step(i, costs, vals):
        interrupt.check()
        return None if on_step is None else on_step(i, costs, vals)

    with threadpool_limits(limits=cfg.blas_threads, user_api="blas"):
        results = nn.gradient_descent_stacked(stack, [W for W, _ in inits], [b for _, b in inits], arch,
                                              cfg.train.learning_rate, cfg.train.iterations, on_step=step,
                                              every=every, form=cfg.train.form, stop_together=stop_together)
    outcomes = []
    for c, split, r in zip(cfgs, splits, results):
        metrics = evaluate(r.W, r.b, arch, split.X, split.Y, "train")
        if split.X_val is not None:
            metrics |= evaluate(r.W, r.b, arch, split.X_val, split.Y_val, "val")
        outcomes.append(RunOutcome(c, arch, r, metrics, split))
    return outcomes


def architecture(cfg: RunConfig, n_x: int, n_y: int = 1) -> nn.Architecture:
    m = cfg.model
    return nn.Architecture((n_x, *m.hidden_units, n_y), m.hidden_activation, m.output_activation,
                           m.relu_grad_at_zero)


COST_BYTES = 8  # the cost curve keeps J (float64) at every iteration


def check_fits(iterations: int, key: str):
    """Refuse, before anything is allocated, a run whose cost curve alone would not fit in this
    machine's memory: NumPy would otherwise fail deep in training with an allocation error. A
    ConfigError names the key and the estimated size."""
    from .config import ConfigError

    need = int(iterations) * COST_BYTES
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not reported on this system: nothing to compare with
        return
    if need > have // 2:
        raise ConfigError(f"{key} = {iterations}: its cost curve alone needs {_size(need)} ({COST_BYTES} bytes per "
                          f"iteration), more than half of this machine's {_size(have)} of memory")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024


def check_labels(cfg: RunConfig, dataset: Dataset):
    """Labels must be 0/1 for a sigmoid output; a ValueError naming the data source otherwise."""
    try:
        nn.check_xy(dataset.X, dataset.Y, cfg.model.output_activation)
        if dataset.has_test:
            nn.check_xy(dataset.X_test, dataset.Y_test, cfg.model.output_activation, name="test X")
    except ValueError as e:
        raise ValueError(f"{dataset.source}: {e}") from None


def train_run(cfg: RunConfig, split: Split | None = None, on_step=None, every: int = 100,
              evaluate_test: bool = False) -> RunOutcome:
    """Train one run; ``split`` may be given (folds, or data already loaded) to skip loading. Every
    ``every`` iterations a pending Ctrl-C is raised (``dlcore.interrupt``), then ``on_step`` is called."""
    if split is None:
        dataset = load_dataset(cfg)
        check_labels(cfg, dataset)
        split = make_split(cfg, dataset)
    arch = architecture(cfg, split.X.shape[0], split.Y.shape[0])
    dtype = np.dtype(cfg.train.dtype)
    W, b = nn.initialize(arch.layer_dims, cfg.model.init, cfg.model.init_scale,
                         np.random.RandomState(cfg.model.seed), dtype=dtype)

    def step(i, costs, val):
        interrupt.check()
        return None if on_step is None else on_step(i, costs, val)

    form = nn.resolve_form(cfg.train.form, split.X.shape[0], split.X.shape[1], arch.layer_dims[1],
                           cfg.train.iterations)
    with threadpool_limits(limits=cfg.blas_threads, user_api="blas"):  # the thread count is part of the run
        result = nn.gradient_descent(split.X, split.Y, W, b, arch, cfg.train.learning_rate, cfg.train.iterations,
                                     on_step=step, every=every, X_val=split.X_val, Y_val=split.Y_val,
                                     form=form, gram=gram_blocks(cfg, split, form))
    metrics = evaluate(result.W, result.b, arch, split.X, split.Y, "train")
    if split.X_val is not None:
        metrics |= evaluate(result.W, result.b, arch, split.X_val, split.Y_val, "val")
    if evaluate_test and split.dataset.has_test:
        ds = split.dataset
        metrics |= evaluate(result.W, result.b, arch, split.inputs(ds.X_test, dtype), _as(ds.Y_test, dtype), "test")
    return RunOutcome(cfg, arch, result, metrics, split)


def evaluate(W, b, arch: nn.Architecture, X, Y, prefix: str) -> dict:
    """``{prefix}_cost`` and, for a sigmoid output, accuracy and balanced accuracy; for a linear one
    the mean squared error and R^2. Non-finite parameters give NaN metrics, not warnings."""
    with np.errstate(all="ignore"):
        Zs, As = nn.forward(W, b, X, arch)
        out = {f"{prefix}_cost": nn.cost(Zs[-1], As[-1], Y, arch.output_activation)}
        if arch.output_activation == "sigmoid":
            Y_hat = (As[-1] > 0.5).astype(np.int64)
            out[f"{prefix}_accuracy"] = nn.accuracy(Y_hat, Y)
            out[f"{prefix}_balanced_accuracy"] = nn.balanced_accuracy(Y_hat, Y)
        else:
            out[f"{prefix}_mse"] = nn.mean_squared_error(As[-1], Y)
            out[f"{prefix}_r2"] = nn.r2_score(As[-1], Y)
    return out


def _as(a, dtype):
    return np.asarray(a, dtype=dtype)
