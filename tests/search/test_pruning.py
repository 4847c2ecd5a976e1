"""dlcore's median pruner (``search/pruning.py``): Optuna's decisions, one read of the study per trial."""
from __future__ import annotations

import importlib

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from dlcore.search.pruning import CompletedOnce
from dlcore.search.study import make_pruner
from dlcore.session import run_search
from dlcore.store import Store

from .test_search import tiny_space


def _states(tmp_path, name, plain: bool, monkeypatch):
    """The trials of a 16-trial untracked search, with dlcore's pruner or (``plain``) Optuna's own."""
    space = tiny_space(tmp_path, name=name, lr_low=1e-3, lr_high=3.0, sampler="random")
    made = []

    def pruner(kind, warmup):
        p = make_pruner(kind, warmup)
        made.append(p)
        return p.inner if plain else p

    monkeypatch.setattr(importlib.import_module("dlcore.search.workers"), "make_pruner", pruner)
    store = Store(tmp_path / name)
    run_search(space, store, 16, track=False)
    study = optuna.load_study(study_name=name, storage=store.storage)
    return [(t.state.name, t.value, t.intermediate_values, t.user_attrs.get("state_reason")) for t in study.trials], made


def test_its_decisions_are_optunas_trial_by_trial_with_one_read_per_trial(tmp_path, monkeypatch):
    ours, made = _states(tmp_path, "ours", False, monkeypatch)
    theirs, _ = _states(tmp_path, "theirs", True, monkeypatch)
    assert ours == theirs
    assert sum(s == "PRUNED" for s, *_ in ours) >= 2  # the comparison covers decisions to prune
    reports = sum(len(iv) for _, _, iv, _ in ours)
    assert made[0].reads <= len(ours) < reports  # at most one read per trial, not one per report


class _Study:
    """A study of which another process completes trials: its completed list is read live."""
    _study_id = 0
    direction = optuna.study.StudyDirection.MINIMIZE

    def __init__(self):
        self.trials = []

    def get_trials(self, deepcopy=False, states=None):
        return [t for t in self.trials if states is None or t.state in states]


def _done(value, step=10):
    return create_trial(state=TrialState.COMPLETE, value=value, intermediate_values={step: value})


def _running(number, value, step=10):
    t = create_trial(state=TrialState.RUNNING, intermediate_values={step: value})
    t.number = number
    return t


def test_trials_completed_elsewhere_count_from_the_next_trial_or_after_the_refresh():
    now = [0.0]
    pruner = CompletedOnce(optuna.pruners.MedianPruner(n_startup_trials=1), refresh=1.0, clock=lambda: now[0])
    study = _Study()
    study.trials = [_done(1.0)]
    assert pruner.prune(study, _running(5, 1.5))                      # read: 1.5 > the median 1.0
    study.trials += [_done(2.0), _done(3.0)]                          # another worker completes two
    assert pruner.prune(study, _running(5, 1.5))                      # same trial, within 1 s: as read
    now[0] = 1.0
    assert not pruner.prune(study, _running(5, 1.5))                  # refreshed: median 2.0
    study.trials += [_done(0.1), _done(0.1)]
    assert not pruner.prune(study, _running(5, 1.5))                  # not yet seen: still 2.0
    assert pruner.prune(study, _running(6, 1.5))                      # a new trial reads again: median 1.0
    assert pruner.reads == 3


def test_it_wraps_only_what_reads_a_study_the_same_way():
    with pytest.raises(TypeError, match="HyperbandPruner"):
        CompletedOnce(optuna.pruners.HyperbandPruner())
    assert isinstance(make_pruner("median", 3).inner, optuna.pruners.MedianPruner)
    assert make_pruner("median", 3).inner._n_warmup_steps == 3
