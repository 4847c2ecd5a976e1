"""The command line, run as a user runs it: a real subprocess."""
import json

import pytest

from tests.conftest import run_dlcore


dlcore = run_dlcore


def test_train_json_on_the_embedded_dataset():
    p = dlcore("train", "experiments/course/planar.toml", "--set", "train.iterations=300", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["costs"]) == 300 and out["costs"][0] == pytest.approx(0.6930480201239823, abs=1e-12)
    assert 0.5 < out["train_accuracy"] <= 1 and "test_accuracy" not in out
    assert out["status"] == "completed" and out["layer_dims"] == [2, 4, 1]


def test_train_json_reports_test_accuracy_when_there_is_a_test_split():
    p = dlcore("train", "experiments/course/planar.toml", "--set", "data.name='moons'",
               "--set", "data.test_fraction=0.25", "--set", "train.iterations=200", "--json")
    assert p.returncode == 0, p.stderr
    assert 0 <= json.loads(p.stdout)["test_accuracy"] <= 1


def test_a_tracked_train_run_has_no_optuna_tags(tmp_path):
    from mlflow.tracking import MlflowClient

    store = tmp_path / "s"
    p = dlcore("train", "experiments/course/planar.toml", "--set", "train.iterations=20", "--store", store, "--json")
    assert p.returncode == 0, p.stderr
    run = MlflowClient(f"sqlite:///{store / 'mlflow.db'}").get_run(json.loads(p.stdout)["run_id"])
    assert run.data.tags["dlcore.kind"] == "train" and run.info.status == "FINISHED"
    assert {"dlcore.run_config", "dlcore.state_reason"} <= set(run.data.tags)
    assert [k for k in run.data.tags if k.startswith("optuna.")] == []  # no trial, so no trial state


def test_deep_cat_from_the_command_line(cat_data, reference):
    p = dlcore("train", "experiments/course/deep.toml", "--json", env={"DLCORE_DATA_DIR": str(cat_data)})
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for i, c in reference["runs"]["deep_cat"]["costs"].items():
        assert out["costs"][int(i)] == pytest.approx(c, abs=1e-12)
    assert out["train_accuracy"] == pytest.approx(0.9856459330143539, abs=1e-15)
    assert out["test_accuracy"] == 0.8


def test_human_summary():
    p = dlcore("train", "experiments/course/planar.toml", "--set", "train.iterations=50")
    assert p.returncode == 0 and "net 2-4-1" in p.stdout and "train_accuracy" in p.stdout


@pytest.mark.parametrize("args,message", [
    (["train", "nope.toml"], "nope.toml: no such file"),
    (["train", "experiments/course/planar.toml", "--set", "train.iterations=-5"], "train.iterations must be >= 1"),
    (["train", "experiments/course/planar.toml", "--set", "data.name='csv'"], "needs data.path"),
])
def test_errors_are_one_line_with_nonzero_exit(args, message):
    p = dlcore(*args)
    assert p.returncode == 2
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_help_answers():
    p = dlcore("train", "--help")
    assert p.returncode == 0 and "--set" in p.stdout and "Example" in p.stdout


@pytest.mark.parametrize("port", ["0", "99999", "http"])
def test_ui_refuses_a_port_out_of_range(port):
    p = dlcore("ui", "--port", port)
    assert p.returncode == 2 and "argument --port:" in p.stderr and "Traceback" not in p.stderr


def test_ui_refuses_a_port_in_use_in_one_line(tmp_path):
    import socket

    store = tmp_path / "s"
    assert dlcore("train", "experiments/course/planar.toml", "--set", "train.iterations=5", "--store", store).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = dlcore("ui", "--store", store, "--port", port, timeout=120)
    assert p.returncode == 2 and f"cannot serve the UI on 127.0.0.1:{port}: Address already in use" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
