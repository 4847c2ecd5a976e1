"""A study as one interactive HTML page: Optuna's plotly visualisations and the top trials' cost curves.

Why one self-contained file: MLflow's artifact viewer renders an HTML artifact in a sandboxed frame, and
a machine without network cannot fetch plotly.js from a CDN; the library is embedded once, in the first
figure, and every later figure uses it. No I/O here: the caller logs the text.
"""
from __future__ import annotations

import html
import warnings

import optuna


def _plots(study, metric: str) -> list:
    """(title, figure maker) for the plots this study has data for."""
    from optuna import visualization as ov

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if not complete:
        return []
    plots = [("Optimisation history", lambda: ov.plot_optimization_history(study, target_name=metric))]
    if len(complete) >= 2:
        plots += [("Parameter importances", lambda: ov.plot_param_importances(study, target_name=metric)),
                  ("Parallel coordinates", lambda: ov.plot_parallel_coordinate(study, target_name=metric)),
                  ("Slices", lambda: ov.plot_slice(study, target_name=metric))]
    if any(t.intermediate_values for t in trials):
        plots.append(("Intermediate values (what the pruner saw)", lambda: ov.plot_intermediate_values(study)))
    return plots


def curves_plot(curves: dict, metric: str):
    """The top trials' per-iteration cost curves, overlaid, on a log axis: {label: cost array}."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, cost in curves.items():
        fig.add_trace(go.Scatter(x=list(range(len(cost))), y=[float(c) for c in cost], mode="lines", name=label))
    fig.update_layout(title=f"Cost curves of the top trials (ranked by {metric})", xaxis_title="iteration",
                      yaxis_title="training cost J", yaxis_type="log")
    return fig


def study_html(study, metric: str, curves: dict | None = None) -> str:
    """The page: a heading, then each plot the study has data for (a plot that cannot be drawn, e.g.
    importances over identical trials, is left out and named at the end)."""
    figures, skipped = [], []
    for title, make in _plots(study, metric):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figures.append((title, make()))
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            skipped.append(f"{title}: {e}")
    if curves:
        figures.append(("Top trials' cost curves", curves_plot(curves, metric)))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(study.study_name)}</title>"
             "</head><body style='font-family:sans-serif'>",
             f"<h1>Study {html.escape(study.study_name)}: {html.escape(metric)} "
             f"({study.direction.name.lower()})</h1>"]
    for i, (title, fig) in enumerate(figures):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    if skipped:
        parts.append("<p>Left out: " + "; ".join(html.escape(s) for s in skipped) + "</p>")
    if not figures:
        parts.append("<p>No trial has completed yet.</p>")
    parts.append("</body></html>")
    optuna.logging.get_logger("dlcore").debug("study report: %d figures", len(figures))
    return "\n".join(parts)


__all__ = ["curves_plot", "study_html"]
