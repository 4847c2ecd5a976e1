"""What the public API returns: typed, documented, frozen results (no dicts to dig in)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import RunConfig


@dataclass(frozen=True)
class BestRun:
    """A study's best COMPLETE trial and the MLflow run that holds its curves.

    ``config`` is the trial's resolved run config (what ``dlcore.train`` would run again) and
    ``layer_dims`` its net (n_x, n[1], ..., n[L]), both read from its run; None and () when the study
    was searched without tracking."""
    study: str
    trial: int
    value: float
    params: dict
    run_id: str | None
    seed: int | None
    metric: str
    config: RunConfig | None = None
    layer_dims: tuple = ()
    direction: str = "minimize"
    counts: dict = field(default_factory=dict)     # the study's trials by state

    def __str__(self) -> str:
        params = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items())
        return f"study {self.study!r}: best {self.metric} = {self.value:.6g} at trial {self.trial} ({params})"


@dataclass(frozen=True)
class SearchResult:
    """One ``dlcore.search`` call: the study's counts by state after it, its best trial (None when no
    trial completed), the MLflow parent run of this call and the Optuna study itself."""
    study_name: str
    counts: dict
    best: BestRun | None
    parent_run_id: str | None
    budget: int
    study: Any = field(repr=False)
    experiment_id: str | None = None
    failed_workers: tuple = ()
    summary: dict = field(default_factory=dict, repr=False)  # what ``dlcore search --json`` prints

    @property
    def shortfall(self) -> int:
        """Trials the study still lacks to hold its budget (after workers failed, say)."""
        return self.budget - sum(v for k, v in self.counts.items() if k != "WAITING")

    def trials(self):
        """The study's trials as a pandas DataFrame, best first (``dlcore.trials``)."""
        from .search.report import trials_table

        return _best_first(trials_table(self.study), self.study)


@dataclass(frozen=True)
class Reproduction:
    """A logged run trained again and compared with its logged curves, step by step.

    ``identical``: every cost of every fold equal to the bit. ``first_difference``: (fold, iteration) of
    the first that is not, else None. ``metrics``: the refit's (``refit_*``) and the fresh seeds' means
    and spreads (``seeds_*_mean``/``_std``). ``run_id``/``model_uri``: the reproduction's run and model,
    None when called with ``log=False``. ``environment``: facts of this machine that differ from the
    logged run's (BLAS kernel, versions), which explain a curve that differs."""
    reproduces: str
    verdict: str
    identical: bool
    ok: bool
    max_abs_diff: float
    first_difference: tuple | None
    metrics: dict
    run_id: str | None = None
    model_uri: str | None = None
    seeds: dict | None = field(default=None, repr=False)
    environment: tuple = ()            # facts of this machine that differ from the logged run's
    read_only: str | None = None       # the store's read-only database, when nothing could be logged
    summary: dict = field(default_factory=dict, repr=False)  # what ``dlcore reproduce --json`` prints

    def __str__(self) -> str:
        from .comparison import verdict_line

        return verdict_line(self.summary)


@dataclass(frozen=True)
class TrainedRun:
    """One ``dlcore.train``: the cost at every iteration, the final metrics, the trained parameters
    W[l] (n[l], n[l-1]) and b[l] (n[l], 1), and the MLflow run (None with ``track=False``)."""
    config: RunConfig
    layer_dims: tuple
    costs: np.ndarray = field(repr=False)
    metrics: dict
    W: list = field(repr=False)
    b: list = field(repr=False)
    status: str
    reason: str
    form: str
    run_id: str | None = None
    dataset: str = ""
    fingerprint: str = ""
    iterations_run: int = 0
    seconds: float = 0.0
    hidden_activation: str = ""
    output_activation: str = ""


def _best_first(df, study):
    if df.empty:
        return df
    return df.sort_values("value", ascending=study.direction.name == "MINIMIZE", na_position="last",
                          kind="stable").reset_index(drop=True)


__all__ = ["BestRun", "Reproduction", "SearchResult", "TrainedRun"]
