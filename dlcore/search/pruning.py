"""The median pruner without its database read on every report.

Optuna's ``MedianPruner.prune`` asks the study for its completed trials each time a trial reports.
With an RDB storage that call re-reads from SQLite every unfinished trial (Optuna's cache keeps only
finished ones), the reporting trial included with all its intermediate values: on a small dataset
(moons, 1000 iterations reported every 50) those reads are a quarter of the search's time
(benchmarks/bench_pruning.py).

:class:`CompletedOnce` gives the pruner the study's completed trials as read at most once per trial
and once per ``refresh`` seconds. A trial's completed peers can only change while it trains when other
processes share the study; one process's trials run one after another, so its pruning decisions are
exactly Optuna's (tests/search/test_pruning.py compares them trial by trial). With workers the list is
at most ``refresh`` seconds old, as any read racing the other workers' commits may be.
"""
from __future__ import annotations

import copy
import time

import optuna
from optuna.trial import TrialState

REFRESH = 1.0  # seconds: how old the completed trials may be when other processes add to them


class _Completed:
    """What ``PercentilePruner.prune`` reads of a study, from a list read earlier."""

    def __init__(self, direction, trials: list):
        self.direction, self._trials = direction, trials

    def get_trials(self, deepcopy: bool = True, states=None) -> list:
        trials = [t for t in self._trials if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials


class CompletedOnce(optuna.pruners.BasePruner):
    """``inner`` (a ``PercentilePruner``, e.g. ``MedianPruner``) judging each report against the study's
    completed trials read once per trial (and again after ``refresh`` seconds)."""

    def __init__(self, inner: optuna.pruners.PercentilePruner, refresh: float = REFRESH, clock=time.monotonic):
        if not isinstance(inner, optuna.pruners.PercentilePruner):
            raise TypeError(f"CompletedOnce reads only what a PercentilePruner reads, not {type(inner).__name__}")
        self.inner, self.refresh, self._clock = inner, refresh, clock
        self._key = self._read_at = self._view = None
        self.reads = 0  # how many times the completed trials were read (tests, benchmarks)

    def prune(self, study, trial) -> bool:
        key, now = (study._study_id, trial.number), self._clock()
        if self._view is None or key != self._key or now - self._read_at >= self.refresh:
            completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            self._view, self._key, self._read_at = _Completed(study.direction, completed), key, now
            self.reads += 1
        return self.inner.prune(self._view, trial)


__all__ = ["CompletedOnce", "REFRESH"]
