"""The scripting face, on a real store: every public function, end to end, through ``import dlcore`` only.

search -> continue -> best -> trials -> reproduce (identical, logged and not) -> train; the errors are
the family's; the README's "From a script" block runs as written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import FrozenInstanceError, replace

import numpy as np
import pytest

import dlcore
from tests.conftest import ROOT

TINY = """
[study]
name = "api"
trials = 3
seed = 11
report_every = 25
[data]
name = "moons"
n_samples = 120
validation_fraction = 0.25
test_fraction = 0.2
[model]
hidden_activation = "tanh"
init = "he"
[train]
iterations = 120
[space]
learning_rate = { low = 0.05, high = 1.0, log = true }
n_layers = { low = 1, high = 3 }
n_units = { low = 2, high = 6 }
"""


@pytest.fixture
def space(tmp_path):
    f = tmp_path / "api.toml"
    f.write_text(TINY)
    return dlcore.load_space(f)


def test_search_continue_best_trials_reproduce_train(tmp_path, space):
    store = dlcore.Store(tmp_path / "runs")
    first = dlcore.search(space, trials=3, store=store, progress=False)
    assert isinstance(first, dlcore.SearchResult) and first.study_name == "api"
    assert sum(first.counts.values()) == 3 and first.parent_run_id
    again = dlcore.search(space, trials=2, store=store, progress=False)   # continues: 2 more
    assert sum(again.counts.values()) == 5 and again.parent_run_id != first.parent_run_id
    assert len(again.study.trials) == 5

    best = dlcore.best("api", store=store)
    assert isinstance(best, dlcore.BestRun) and best.run_id and best.config is not None
    assert best.value == min(t.value for t in again.study.trials if t.state.name == "COMPLETE")
    assert best.layer_dims[0] == 2 and best.layer_dims[-1] == 1
    assert best.config.model.seed == best.seed
    with pytest.raises(FrozenInstanceError):
        best.value = 0.0

    table = dlcore.trials("api", store=store)
    assert len(table) == 5 and table["value"].iloc[0] == best.value
    assert list(again.trials()["number"]) == list(table["number"])

    rep = dlcore.reproduce(best, store=store, log=False)
    assert rep.identical and rep.ok and rep.max_abs_diff == 0.0 and rep.first_difference is None
    assert rep.run_id is None and rep.model_uri is None
    logged = dlcore.reproduce(best.run_id, store=store, evaluate_test=True, seeds=2)
    assert logged.identical and logged.run_id and logged.model_uri.startswith("models:/")
    assert {"refit_test_cost", "seeds_val_cost_mean", "seeds_val_cost_std"} <= set(logged.metrics)

    cfg = replace(best.config, data=replace(best.config.data, validation_fraction=0.0))
    run = dlcore.train(cfg, store=store)
    assert isinstance(run, dlcore.TrainedRun) and run.run_id and run.status == "completed"
    assert run.costs.shape == (cfg.train.iterations,) and len(run.W) == len(best.layer_dims) - 1
    again_untracked = dlcore.train(cfg, track=False)
    assert again_untracked.run_id is None
    np.testing.assert_array_equal(again_untracked.costs, run.costs)   # same seed, same curve, bit for bit


def test_errors_are_one_family(tmp_path, space):
    store = dlcore.Store(tmp_path / "empty")
    with pytest.raises(dlcore.StoreError, match="no dlcore store"):
        dlcore.best("api", store=store)
    with pytest.raises(dlcore.ConfigError, match="is in memory"):
        dlcore.Store(storage="sqlite:///:memory:")
    with pytest.raises(dlcore.ConfigError, match="trials must be >= 1"):
        dlcore.search(space, trials=0, store=store)
    with pytest.raises(dlcore.ConfigError):
        dlcore.load_space(tmp_path / "missing.toml")
    with pytest.raises(dlcore.ReproduceError):
        dlcore.reproduce(None, store=store)
    for cls in (dlcore.ConfigError, dlcore.DataError, dlcore.StoreError, dlcore.ReproduceError):
        assert issubclass(cls, dlcore.DlcoreError)
    assert not store.root.exists()  # refusals create nothing


def test_the_public_names():
    assert set(dlcore.__all__) <= set(dir(dlcore))
    for name in ("Store", "search", "best", "trials", "reproduce", "train", "load_space", "load_run_config",
                 "SearchSpace", "DlcoreError", "SearchResult", "BestRun", "Reproduction", "TrainedRun"):
        assert name in dlcore.__all__


def readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"From a script:\n\n```python\n(.*?)```", text, re.S)
    assert block, "README has no 'From a script:' python block"
    return block.group(1)


def test_the_readme_script_runs_as_written(tmp_path):
    code = readme_script()
    lines = [l for l in code.splitlines() if l.strip()]
    assert len(lines) <= 12, f"the README's script is {len(lines)} lines"
    assert all(not re.match(r"\s*(from|import) dlcore\.", l) for l in lines), "the README imports dlcore's insides"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DLCORE_STORE", None)
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (tmp_path / "mlruns" / "optuna.db").is_file()     # the embedded default, where the script ran
