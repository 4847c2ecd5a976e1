import pytest

from dlcore.config import ConfigError, RunConfig, load_run_config
from tests.conftest import ROOT


def write(tmp_path, text, name="run.toml"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_course_configs_load():
    for f in sorted((ROOT / "experiments" / "course").glob("*.toml")):
        cfg = load_run_config(f)
        assert cfg.train.dtype == "float64"
    deep = load_run_config(ROOT / "experiments" / "course" / "deep.toml")
    assert deep.model.hidden_units == [20, 7, 5] and deep.model.init == "fan_in"
    assert deep.model.relu_grad_at_zero == 0


def test_round_trip_through_dict():
    cfg = load_run_config(ROOT / "experiments" / "course" / "planar.toml", ["data.validation_fraction=0.2"])
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.data.validation_fraction == 0.2


def test_overrides_parse_toml_values():
    cfg = RunConfig().with_overrides(["model.hidden_units=[5, 3]", "train.learning_rate=1", "model.init=he"])
    assert cfg.model.hidden_units == [5, 3] and cfg.train.learning_rate == 1.0 and cfg.model.init == "he"


def test_a_relative_path_given_with_set_is_kept_absolute(tmp_path, monkeypatch):
    """Logged configs must reproduce from any directory: --set data.path=d.csv means ./d.csv now."""
    monkeypatch.chdir(tmp_path)
    cfg = RunConfig().with_overrides(["data.name=csv", "data.path=d.csv"])
    assert cfg.data.path == str(tmp_path / "d.csv")


@pytest.mark.parametrize("text,message", [
    ("[model]\nhidden_units = [4, 0]", r"model.hidden_units must hold whole numbers >= 1 \(got \[4, 0\]\)"),
    ("[model]\nhidden_units = 4", r"model.hidden_units must be a list of whole numbers \(got 4\)"),
    ("[train]\nlearning_rate = -0.1", r"train.learning_rate must be finite and > 0 \(got -0.1\)"),
    ("[train]\nlearning_rate = 'fast'", r"train.learning_rate must be a number \(got 'fast'\)"),
    ("[train]\niterations = 1.5", r"train.iterations must be a whole number \(got 1.5\)"),
    ("[train]\ndtype = 'float16'", r"train.dtype must be one of 'float64', 'float32' \(got 'float16'\)"),
    ("[model]\nhidden_activation = 'gelu'", r"model.hidden_activation must be one of"),
    ("[model]\nrelu_grad_at_zero = 0.5", r"model.relu_grad_at_zero must be a whole number"),
    ("[model]\ninit_scale = 0", r"model.init_scale must be finite and > 0"),
    ("[train]\nlearning_rate = inf", r"train.learning_rate must be finite and > 0 \(got inf\)"),
    ("[data]\nsplit_seed = -5", r"data.split_seed must be in \[0, 2\*\*32\) \(got -5\)"),
    ("[data]\nname = \"moons\"\nseed = 4294967296", r"data.seed must be in \[0, 2\*\*32\)"),
    ("[data]\nname = \"moons\"\nnoise = inf", r"data.noise must be finite and >= 0"),
    ("[data]\nname = 'mnist'", r"data.name must be one of"),
    ("[data]\nvalidation_fraction = 1.0", r"data.validation_fraction must be in \[0, 1\)"),
    ("[data]\nnmae = 'cat'", r"unknown key data.nmae"),
    ("[optimizer]\nname = 'adam'", r"unknown key optimizer"),
    ("model = 3", r"model must be a table"),
    ("[model\n", r"not valid TOML"),
])
def test_errors_name_file_key_and_value(tmp_path, text, message):
    f = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as e:
        load_run_config(f)
    assert str(e.value).startswith(str(f))


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_run_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"--set: expected section.key=value"):
        RunConfig().with_overrides(["learning_rate=0.1"])
    with pytest.raises(ConfigError, match=r"--set: unknown section 'optim'"):
        RunConfig().with_overrides(["optim.lr=0.1"])
    with pytest.raises(ConfigError, match=r"--set: train.iterations must be >= 1 \(got 0\)"):
        RunConfig().with_overrides(["train.iterations=0"])
