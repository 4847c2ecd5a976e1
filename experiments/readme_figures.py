"""The README's figures, made again: the main job (the seeded planar search, as ``make demo`` runs it)
in a fresh store, and two of the plots its parent run carries; and the MLflow UI screenshot that the
browser test keeps (``tests/test_ui_browser.py`` writes ``test-artifacts/ui-*.png``).

    .venv/bin/python experiments/readme_figures.py                 # the two plots
    .venv/bin/python experiments/readme_figures.py --screenshot    # and runs the browser test for the UI's
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dlcore

ROOT = Path(__file__).resolve().parents[1]
PLOTS = ("parallel_coordinate", "top_cost_curves")
SCREENSHOT = "ui-experiment.png"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="planar", help="a shipped space's name or a TOML path (default planar)")
    p.add_argument("--out", default=str(ROOT / "docs" / "figures"), help="where to write the PNGs")
    p.add_argument("--screenshot", action="store_true", help="also run the browser test and copy its screenshot")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as tmp:
        store = dlcore.Store(Path(tmp) / "store")
        result = dlcore.search(args.space, store=store)
        print(result.best)
        local = mlflow.artifacts.download_artifacts(run_id=result.parent_run_id, artifact_path="plots",
                                                    dst_path=tmp, tracking_uri=store.tracking_uri)
        for name in PLOTS:
            target = out / f"{result.study_name}_{name}.png"
            shutil.copyfile(Path(local) / f"{name}.png", target)
            print("wrote", target)
    if args.screenshot:
        subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_ui_browser.py"], cwd=ROOT, check=True)
        shutil.copyfile(ROOT / "test-artifacts" / SCREENSHOT, out / SCREENSHOT)
        print("wrote", out / SCREENSHOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
