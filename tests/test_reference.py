"""Every run in the course's reference file, reproduced in float64 through the shipped run configs."""
import numpy as np
import pytest

from dlcore.config import load_run_config
from dlcore.runner import train_run
from tests.conftest import ROOT

COURSE = ROOT / "experiments" / "course"
ACC_ATOL = 1e-12


def run(name, *overrides):
    return train_run(load_run_config(COURSE / f"{name}.toml", overrides), evaluate_test=True)


def assert_costs(costs, table, atol):
    for i, expected in table.items():
        assert costs[int(i)] == pytest.approx(expected, abs=atol, rel=0), f"iteration {i}"


@pytest.mark.parametrize("config,key", [
    ("deep", "deep_cat"),
    ("deep_init_x0.01", "deep_cat_init_x0.01"),
    ("two_layer", "two_layer_cat"),
])
def test_cat_nets(cat_data, reference, config, key):
    ref = reference["runs"][key]
    out = run(config)
    assert out.result.iterations_run == ref["iterations"]
    assert_costs(out.result.costs, ref["costs"], 1e-12)
    assert out.metrics["train_accuracy"] == pytest.approx(ref["train_accuracy"], abs=ACC_ATOL)
    assert out.metrics["test_accuracy"] == pytest.approx(ref["test_accuracy"], abs=ACC_ATOL)


def test_deep_cat_needs_relu_grad_zero_at_zero(cat_data, reference):
    out = run("deep", "model.relu_grad_at_zero=1")
    note = reference["runs"]["deep_cat"]["note"]
    assert "0.06894506597228424" in note
    assert out.result.costs[-1] == pytest.approx(0.06894506597228424, abs=1e-12)


def test_deep_cat_direct_form_agrees_with_dual_over_2500_iterations(cat_data, reference):
    direct = run("deep", "train.form='direct'")
    dual = run("deep", "train.form='dual'")
    assert (direct.result.form, dual.result.form) == ("direct", "dual")
    np.testing.assert_allclose(dual.result.costs, direct.result.costs, rtol=1e-10, atol=0)
    assert_costs(direct.result.costs, reference["runs"]["deep_cat"]["costs"], 1e-12)
    assert direct.metrics["test_accuracy"] == dual.metrics["test_accuracy"] == 0.8


def test_logistic_regression(cat_data, reference):
    ref = reference["runs"]["logistic_regression_cat"]
    out = run("logistic_regression")
    assert_costs(out.result.costs, ref["costs_every_100"], ref["costs_atol"])
    assert out.metrics["train_accuracy"] == pytest.approx(ref["train_accuracy"], abs=ACC_ATOL)
    assert out.metrics["test_accuracy"] == pytest.approx(ref["test_accuracy"], abs=ACC_ATOL)


@pytest.mark.parametrize("lr", ["0.01", "0.001", "0.0001"])
def test_logistic_regression_learning_rates(cat_data, reference, lr):
    table = reference["runs"]["logistic_regression_cat_learning_rates"]
    out = run("logistic_regression", f"train.learning_rate={lr}", f"train.iterations={table['iterations']}")
    assert out.metrics["train_accuracy"] == pytest.approx(table["results"][lr]["train_accuracy"], abs=ACC_ATOL)
    assert out.metrics["test_accuracy"] == pytest.approx(table["results"][lr]["test_accuracy"], abs=ACC_ATOL)


@pytest.mark.parametrize("variant,seed", [("seed2_x0.01", 2), ("seed3_x0.01", 3)])
def test_planar_flower(reference, variant, seed):
    ref = reference["runs"]["planar_flower_nh4"]
    out = run("planar", f"model.seed={seed}")
    costs = out.result.costs
    assert out.result.iterations_run == ref["iterations"]
    for i, expected in ref["variants"][variant]["costs_every_1000"].items():
        atol = ref["costs_atol"]["up_to_6000" if int(i) <= 6000 else "from_7000"]
        assert costs[int(i)] == pytest.approx(expected, abs=atol, rel=0), f"iteration {i}"
    if seed == 2:
        assert 100 * out.metrics["train_accuracy"] == pytest.approx(ref["accuracy_percent"], abs=1e-9)


@pytest.mark.parametrize("n_h", [1, 2, 3, 4, 5, 20, 50])
def test_planar_hidden_sizes(reference, n_h):
    table = reference["runs"]["planar_hidden_sizes"]
    out = run("planar", f"model.hidden_units=[{n_h}]", f"train.iterations={table['iterations']}")
    tol = table["tolerance_percent"]["n_h<=5" if n_h <= 5 else "n_h>=20"]
    assert 100 * out.metrics["train_accuracy"] == pytest.approx(table["accuracy_percent"][str(n_h)], abs=tol + 1e-9)
