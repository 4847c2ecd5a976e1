"""The MLflow UI as a person sees it: `dlcore ui` on a store with a finished search, the experiment
page in headless Chromium (Debian's package), the parent run and, expanded, its child runs. The
screenshot is kept in test-artifacts/ui-experiment.png."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from dlcore.runner import load_dataset
from dlcore.session import run_search
from dlcore.store import Store as Backends  # the public Store: Optuna storage and MLflow tracking
from dlcore.tracking.store import Store
from tests.conftest import ROOT
from tests.search.test_search import tiny_space
from tests.services import _apt_install, free_port, wait_http

pytestmark = pytest.mark.slow
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None and _apt_install("chromium"):
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed and could not be installed (apt-get install chromium)")
    return path


def test_experiment_page_shows_the_parent_and_child_runs(tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright").sync_playwright
    browser_path = chromium()
    store = Store(tmp_path / "store")
    summary = run_search(tiny_space(tmp_path, name="ui-check"), Backends(store.root), 4)
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "dlcore", "ui", "--port", str(port), "--store", str(store.root)],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", ui)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/#/experiments/{summary['experiment_id']}/runs")
            parent = page.get_by_text("search-0+4").first
            parent.wait_for(timeout=90_000)
            row = page.locator("[role=row]", has=parent)
            row.locator("button").first.click()                      # expand the parent run
            page.get_by_text("trial-3").first.wait_for(timeout=30_000)
            page.screenshot(path=str(artifacts / "ui-experiment.png"))
            names = page.locator("[role=gridcell]").all_inner_texts()
            browser.close()
        for n in range(4):
            assert any(f"trial-{n}" in text for text in names), names
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)


def test_a_kfold_search_is_compared_where_people_look(tmp_path):
    """Issue 11: the Dataset column filled from the fingerprint, a trial's description and dataset on its
    page, its chart view without per-fold charts, the parent's HTML report. Screenshots in test-artifacts/."""
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright").sync_playwright
    browser_path = chromium()
    store = Store(tmp_path / "store")
    space = tiny_space(tmp_path, name="ui-folds", metric="val_balanced_accuracy", folds=3)
    summary = run_search(space, Backends(store.root), 3)
    digest = load_dataset(space.base).fingerprint[:8]
    exp, best, parent = summary["experiment_id"], summary["best_run_id"], summary["parent_run_id"]
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "dlcore", "ui", "--port", str(port), "--store", str(store.root)],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{port}/#/experiments/{exp}"
    try:
        wait_http(f"http://127.0.0.1:{port}/health", ui)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/runs")
            first = page.get_by_text("search-0+3").first
            first.wait_for(timeout=90_000)
            page.locator("[role=row]", has=first).locator("button").first.click()  # expand the parent run
            page.get_by_text("trial-2").first.wait_for(timeout=30_000)
            page.get_by_text(digest).first.wait_for(timeout=30_000)            # the Dataset column
            page.screenshot(path=str(artifacts / "ui-datasets.png"))
            cells = page.locator("[role=gridcell]").all_inner_texts()

            page.goto(f"{base}/runs/{best}")
            page.get_by_text("of study").first.wait_for(timeout=60_000)        # the description box
            page.get_by_text(digest).first.wait_for(timeout=30_000)            # its dataset
            page.screenshot(path=str(artifacts / "ui-trial.png"), full_page=True)
            trial_page = page.inner_text("body")

            page.get_by_text("Model metrics", exact=True).first.click()          # the chart view
            page.get_by_text("cost", exact=True).first.wait_for(timeout=60_000)  # the first chart's title
            page.screenshot(path=str(artifacts / "ui-trial-charts.png"))
            charts = page.inner_text("body")
            n_charts = int(re.search(r"Model metrics\s*\((\d+)\)", charts).group(1))  # the section's count
            page.get_by_placeholder("Search metric charts").fill("val_cost")    # below the fold: find it
            page.get_by_text("val_cost", exact=True).first.wait_for(timeout=30_000)

            page.goto(f"{base}/runs/{parent}")
            page.get_by_text("Artifacts", exact=True).first.click()
            page.get_by_text("report.html", exact=True).first.click()
            page.locator("iframe").first.wait_for(timeout=60_000)              # rendered, not offered as a file
            page.frame_locator("iframe").first.get_by_text("Study ui-folds").first.wait_for(timeout=90_000)
            page.screenshot(path=str(artifacts / "ui-report.png"))
            browser.close()
        assert sum(digest in c for c in cells) >= 3, cells                   # every trial row names its data
        assert "Trial" in trial_page and "architecture" in trial_page and "val_balanced_accuracy over 3 folds" in trial_page
        assert n_charts <= 12 and "final_fold" not in charts, (n_charts, charts)
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
