from dataclasses import replace

import pytest

from dlcore.config import ConfigError, RunConfig
from dlcore.search.space import Range, SearchSpace, Space, StudySettings, load_space
from tests.conftest import ROOT

GOOD = """
[study]
name = "t"
[data]
name = "moons"
validation_fraction = 0.25
[space]
learning_rate = { low = 0.01, high = 1.0, log = true }
n_layers = { low = 1, high = 3 }
n_units = { low = 2, high = 8 }
"""


def test_shipped_spaces_load():
    names = {p.stem for p in (ROOT / "search_spaces").glob("*.toml")}
    assert {"planar", "moons", "cat", "cat_logistic"} <= names
    for p in (ROOT / "search_spaces").glob("*.toml"):
        s = load_space(p)
        assert s.study.name and s.direction in ("minimize", "maximize")
    cat = load_space(ROOT / "search_spaces" / "cat.toml")
    assert cat.study.folds == 5 and cat.study.metric == "val_balanced_accuracy" and cat.direction == "maximize"


def test_shipped_spaces_are_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_space("search_spaces/planar.toml").study.name == "planar"
    assert load_space("moons").study.name == "moons"
    (tmp_path / "search_spaces").mkdir()
    (tmp_path / "search_spaces" / "planar.toml").write_text(GOOD)  # a file here wins over the shipped one
    assert load_space("search_spaces/planar.toml").study.name == "t"
    with pytest.raises(ConfigError, match="nope.toml: no such file"):
        load_space("nope.toml")


def test_space_can_be_built_in_python():
    s = SearchSpace(StudySettings(name="py", metric="val_accuracy"),
                    RunConfig().with_overrides(["data.validation_fraction=0.2"]),
                    Space(learning_rate=Range(0.01, 1.0, True), n_layers=Range(1, 3), n_units=Range(2, 8, True)))
    assert s.direction == "maximize"
    assert s.param_names() == ["learning_rate", "n_layers", "n_units_l1", "n_units_l2"]
    assert s.param_names(2) == ["learning_rate", "n_layers", "n_units_l1"]
    with pytest.raises(ConfigError, match="validation_fraction must be > 0"):
        replace(s, base=RunConfig())


def test_good_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(GOOD)
    s = load_space(f)
    assert s.space.n_units == Range(2, 8, False) and s.study.metric == "val_cost"


BAD = [
    ("", "missing section \\[study\\]"),
    ("[study]\ntrials = 3", "missing key study.name"),
    (GOOD.replace('name = "t"', 'name = "a/b"'), "study.name must start with a letter or digit"),
    (GOOD.replace('name = "t"', 'name = "it\'s"'), "study.name must start"),
    (GOOD.replace("low = 0.01", "low = -0.1"), r"space.learning_rate.low must be > 0 \(got -0.1\)"),
    (GOOD.replace("low = 1, high = 3", "low = 3, high = 1"), r"space.n_layers.low must be <= high"),
    (GOOD.replace("[space]", "[space]\ndropout = { low = 0.1, high = 0.5 }"), "unknown key space.dropout"),
    (GOOD + "[optimizer]\nname = 'adam'\n", "unknown key optimizer"),
    (GOOD.replace('[study]\nname = "t"', '[study]\nname = "t"\nmetric = "val_r2"'), "needs model.output_activation 'linear'"),
    (GOOD.replace("validation_fraction = 0.25", "validation_fraction = 0.0"), "validation_fraction must be > 0"),
    (GOOD.replace("n_units = { low = 2, high = 8 }\n", ""), "space.n_units is needed"),
    (GOOD + "init = ['constant', 'xavier']\n", "space.init holds 'xavier'"),
    (GOOD.replace('name = "t"', 'name = "t"\nsampler = "grid"'), "study.sampler must be one of"),
    (GOOD.replace('name = "t"', 'name = "t"\nfolds = 1'), r"study.folds must be 0 \(hold-out\) or >= 2"),
    (GOOD.replace('name = "t"', 'name = "t"\nfolds = 3\nrepeats = 0'), r"study.repeats must be in \[1, 100\] \(got 0\)"),
    (GOOD.replace('name = "t"', 'name = "t"\nrepeats = 2'), r"study.repeats = 2 repeats k-fold assignments: it needs"),
    (GOOD + "[[enqueue]]\nlearning_rate = 5.0\n", r"enqueue\[0\].learning_rate must be a number in \[0.01, 1.0\]"),
    (GOOD + "[[enqueue]]\nn_layers = 2\nn_units_l2 = 4\n", r"enqueue\[0\].n_units_l2 is not a searched parameter"),
    (GOOD.replace("n_units = { low = 2, high = 8 }", "n_units = [2, 8]"), "space.n_units must be a range"),
    (GOOD.replace("n_units = { low = 2, high = 8 }", "n_units = { low = 2 }"), "space.n_units.high is missing"),
    (GOOD.replace("[space]", "[space]\niterations = 0"), r"space.iterations must be >= 1"),
    ("[study\nname='x'", "not valid TOML"),
    (GOOD.replace('[study]\nname = "t"', '[study]\nname = "t"\ntrials = 0'), r"study.trials must be >= 1 \(got 0\)"),
    (GOOD.replace("high = 1.0", "high = inf"), r"space.learning_rate must have finite bounds \(got low = 0.01, high = inf\)"),
    (GOOD.replace("low = 1, high = 3", "low = 1, high = 1000000"), r"space.n_layers.high must be <= 50 \(got 1000000\)"),
    (GOOD.split("[space]")[0] + "[space]\n", r"\[space\] searches nothing"),
    (GOOD.split("[space]")[0] + "[space]\niterations = 500\n", r"\[space\] searches nothing"),
    (GOOD.replace("n_layers = { low = 1, high = 3 }\n", ""), r"space.n_units searches nothing: model.hidden_units is empty"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_malformed_space_files(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        load_space(f)
    assert str(e.value).startswith(str(f)) and "\n" not in str(e.value)
