"""dlcore as a user installs it: the wheel, in a fresh venv that cannot see this checkout.

The wheel is built from a copy of the source tree (so a build/ folder here is neither used nor left
behind), with pip's build isolation (setuptools comes from the configured index or wheel folder). The
venv is made without pip, the wheel installed into it by this interpreter's pip (``--python``), and the
dependencies come from this interpreter's site-packages through a ``.pth`` line: a directory added that
way has its own ``.pth`` files ignored, so the editable install of the checkout there stays inactive.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

RESOURCES = ROOT / "dlcore" / "resources"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "mlruns", "__pycache__", ".pytest_cache", "test-artifacts"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(tmp / "dist"), "-q"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    (whl,) = (tmp / "dist").glob("dlcore-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=300)
    py = env_dir / "bin" / "python"
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def run(venv: Path, *args, cwd: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run([str(venv / "bin" / args[0]), *map(str, args[1:])], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def test_the_wheel_holds_the_shipped_files_and_the_checkout_holds_one_copy(wheel):
    shipped = sorted(RESOURCES.rglob("*.toml"))
    assert {p.parent.name for p in shipped} == {"search_spaces", "course"} and len(shipped) >= 9
    with zipfile.ZipFile(wheel) as z:
        for p in shipped:
            assert z.read(f"dlcore/{p.relative_to(ROOT / 'dlcore').as_posix()}") == p.read_bytes()
    # the folders users browse are the package's, not copies that could drift
    assert (ROOT / "search_spaces").resolve() == (RESOURCES / "search_spaces").resolve()
    assert (ROOT / "experiments" / "course").resolve() == (RESOURCES / "course").resolve()


def test_the_venv_imports_the_installed_wheel_not_the_checkout(venv, tmp_path):
    p = run(venv, "python", "-c", "import dlcore, numpy, optuna, mlflow; print(dlcore.__file__)", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert Path(p.stdout.strip()).resolve().is_relative_to(venv.resolve())


def test_search_and_train_the_shipped_files_from_an_empty_directory(venv, tmp_path):
    store = tmp_path / "store"
    p = run(venv, "dlcore", "search", "planar", "--trials", "2", "--store", store, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["study"] == "planar" and out["counts"].get("COMPLETE", 0) + out["counts"].get("PRUNED", 0) == 2
    assert out["best_run_id"] and (store / "optuna.db").is_file()

    p = run(venv, "dlcore", "train", "experiments/course/planar.toml", "--set", "train.iterations=300",
            "--store", store, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["layer_dims"] == [2, 4, 1] and out["run_id"]
    assert len(out["costs"]) == 300 and out["costs"][0] == pytest.approx(0.6930480201239823, abs=1e-12)

    p = run(venv, "dlcore", "train", "course/deep_init_x0.01", "--set", "data.name='planar'", "--set",
            "train.iterations=3", "--no-track", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["config"]["model"]["init_scale"] == 0.01

    p = run(venv, "dlcore", "search", "nope", cwd=tmp_path)
    assert p.returncode == 2 and "shipped: cat, cat_logistic, moons, planar" in p.stderr, p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["store"]  # nothing else written here
