"""A search's summary: the study's counts and best trial, and what the parent run holds (the trials
table, the best trial's tags, the plots)."""
from __future__ import annotations

import json
import sys

from ..errors import describe
from ..search import report
from ..search.html_report import study_html
from ..search.study import best_trial, counts_by_state
from .descriptions import search_description
from .mlflow_runs import Tracker
from .schema import CURVES, REPORT, curves_from_arrays


def study_summary(study) -> dict:
    best = best_trial(study)
    out = {"study": study.study_name, "direction": study.direction.name.lower(), "counts": counts_by_state(study),
           "best_value": None, "best_params": None, "best_trial": None, "best_run_id": None}
    if best is not None:
        out.update(best_value=best.value, best_params=best.params, best_trial=best.number,
                   best_run_id=best.user_attrs.get("mlflow_run_id"))
    return out


def summarize(study, tracker: Tracker, parent: str, top_k: int = 5, facts: dict | None = None) -> dict:
    """Best trial, the trials table as CSV and the plots, logged to the parent run; with ``facts`` (the
    search's, as ``descriptions.search_description`` takes them) its description, now with the best trial."""
    out = study_summary(study)
    best = best_trial(study)
    try:
        if facts is not None:
            tracker.describe(parent, search_description(**facts, summary=out))
        table = report.trials_table(study)
        tags = {f"dlcore.trials_{k.lower()}": v for k, v in out["counts"].items()}
        if best is not None:
            tags.update({"dlcore.best_trial": best.number, "dlcore.best_run_id": out["best_run_id"],
                         "dlcore.best_params": json.dumps(best.params)})
        tracker.log(parent, metrics={"best_value": out["best_value"]} if best else None, tags=tags)
        tracker.log_text(parent, table.to_csv(index=False), "trials.csv")
        figures = report.study_figures(study)
        curves = {}
        for t in report.top_trials(study, top_k):
            rid = t.user_attrs.get("mlflow_run_id")
            if rid:
                first_fold = curves_from_arrays(tracker.load_arrays(rid, CURVES))[0]
                curves[f"trial {t.number}: {t.value:.4g}"] = first_fold
        if curves:
            figures["top_cost_curves"] = report.curves_figure(curves, study.user_attrs.get("metric", "value"))
        for name, fig in figures.items():
            tracker.log_figure(parent, fig, f"plots/{name}.png")
        report.close(figures.values())
        # the interactive page MLflow's artifact viewer renders (plotly.js embedded: no network needed)
        tracker.log_text(parent, study_html(study, study.user_attrs.get("metric", "value"), curves), REPORT)
    except Exception as e:  # noqa: BLE001 -- the trials are safe in Optuna; say what the summary lacks
        print(f"dlcore: warning: study summary incomplete: {describe(e)}", file=sys.stderr)
    return out
