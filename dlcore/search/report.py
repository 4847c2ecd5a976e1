"""A study read back: the trials table and the summary plots (matplotlib figures, no I/O here).

The caller's matplotlib is left as it was: no backend is chosen here, dlcore's own figures are
``matplotlib.figure.Figure`` objects (no pyplot), and Optuna's plots, which go through pyplot and set
the ggplot style globally, are drawn inside ``rc_context`` and taken off pyplot's list of figures.
"""
from __future__ import annotations

import sys
import warnings
from functools import partial

import matplotlib
import optuna
import pandas as pd
from matplotlib.figure import Figure

from ..errors import describe


def trials_table(study) -> pd.DataFrame:
    """One row per trial: number, state, value, params (missing where a trial did not sample one), seed,
    MLflow run id and the pruning or divergence reason. Integer params stay integers (pandas' nullable
    Int64), not floats as a column with missing values would otherwise become."""
    rows = []
    trials = study.get_trials(deepcopy=False)
    kinds = {}  # param name -> whether every trial that sampled it sampled an integer
    for t in trials:
        for k, d in t.distributions.items():
            kinds[k] = kinds.get(k, True) and isinstance(d, optuna.distributions.IntDistribution)
    for t in trials:
        rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                     **{f"params_{k}": v for k, v in sorted(t.params.items())},
                     "seed": t.user_attrs.get("seed"), "run_id": t.user_attrs.get("mlflow_run_id"),
                     "reason": t.user_attrs.get("state_reason", ""),
                     "duration_s": t.duration.total_seconds() if t.duration else None})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.astype({f"params_{k}": "Int64" for k, integer in kinds.items() if integer})
    lead = ["number", "state", "value"]
    params = sorted(c for c in df.columns if c.startswith("params_"))
    return df[lead + params + [c for c in df.columns if c not in lead and c not in params]]


def warm():
    """Import what the summary's plots import on first use (pyplot, Optuna's visualisations, plotly, and
    scikit-learn, which Optuna's fANOVA importances load): 2 s on a new process, which a search with
    workers spends while they train rather than after them (``workers.run_workers``)."""
    import matplotlib.pyplot  # noqa: F401
    import optuna.importance._fanova._evaluator  # noqa: F401
    import optuna.visualization.matplotlib  # noqa: F401
    import plotly.graph_objects  # noqa: F401


def top_trials(study, k: int):
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    reverse = study.direction.name == "MAXIMIZE"
    return sorted(complete, key=lambda t: t.value, reverse=reverse)[:k]


def study_figures(study) -> dict:
    """Optuna's optimisation history, parameter importances and parallel coordinates, as figures.
    Plots that need more trials than the study has are left out."""
    from optuna.visualization import matplotlib as ovm

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return {}
    named = {"target_name": study.user_attrs.get("metric", "Objective Value")}  # the axis says the metric
    plots = {"optimization_history": partial(ovm.plot_optimization_history, **named)}
    if len(complete) >= 2:
        plots["param_importances"] = partial(ovm.plot_param_importances, **named)
        plots["parallel_coordinate"] = partial(ovm.plot_parallel_coordinate, **named)
    figures = {}
    distributions = {k: d for t in complete for k, d in t.distributions.items()}
    for name, plot in plots.items():
        try:
            figures[name] = _legible(name, _off_pyplot(plot, study), distributions)
        except (ValueError, RuntimeError, ZeroDivisionError) as e:  # too few distinct trials
            optuna.logging.get_logger("dlcore").debug("skipped %s: %s", name, e)
        except Exception as e:  # noqa: BLE001 -- one plot that cannot be drawn must not cost the others
            # (Optuna's importances assert a canvas that measures text: the caller's pyplot backend may be svg or pdf)
            print(f"dlcore: warning: plot {name} left out ({describe(e)}; pyplot backend {matplotlib.get_backend()!r})",
                  file=sys.stderr)
    return figures


def _legible(name: str, fig: Figure, distributions: dict) -> Figure:
    """Sized to what it shows: parallel coordinates get ~1.4 inch per axis (Optuna's fixed size overlaps
    the tick labels of 9 axes), importances a bar height per parameter; axis names are turned to fit.
    (Optuna already draws a log-sampled parameter's axis on a log scale; its ticks are made plain.)"""
    n_params = len(distributions)
    if name == "parallel_coordinate":
        fig.set_size_inches(max(7.0, 1.4 * (n_params + 1)), 5.5)
        for ax in fig.axes[:1]:
            ax.tick_params(axis="x", labelrotation=25, labelsize=8)
        _plain_ticks(fig, distributions)
    elif name == "param_importances":
        fig.set_size_inches(7.5, max(3.5, 0.45 * n_params + 1.5))
    fig.tight_layout()
    return fig


def _plain_ticks(fig: Figure, distributions: dict) -> None:
    """The parallel coordinates' parameter axes with ticks a person reads: 0.02, 0.05, 0.1 on a log axis
    (not 2x10^-2 and crowded minor labels), whole numbers on an integer one (not 2.25 layers). An axis
    drawn with categories (a conditional parameter's "None") keeps Optuna's ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    names = [t.get_text() for t in fig.axes[0].get_xticklabels()][1:]  # the objective's axis first
    axes = [ax for ax in fig.axes[1:] if ax.get_label() != "<colorbar>"]
    for name, ax in zip(names, axes):
        if any(t.get_text() == "None" for t in ax.get_yticklabels()):
            continue
        if ax.get_yscale() == "log":
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        elif isinstance(distributions.get(name), optuna.distributions.IntDistribution):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _off_pyplot(plot, study) -> Figure:
    """An Optuna plot's figure, with pyplot's figure list and the rcParams as they were before it."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        with warnings.catch_warnings(), matplotlib.rc_context():
            warnings.simplefilter("ignore")
            fig = plot(study).figure
    finally:
        for n in set(plt.get_fignums()) - before:
            plt.close(n)  # the Figure stays usable (savefig), pyplot no longer holds or shows it
    return fig


def curves_figure(curves: dict, metric: str):
    """The per-iteration cost curves of the top trials overlaid: {label: cost array}."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for label, cost in curves.items():
        ax.plot(range(len(cost)), cost, label=label, linewidth=1.2)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training cost J")
    ax.set_yscale("log")
    ax.set_title(f"cost curves of the top trials (ranked by {metric})")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig


def close(figures):
    """Free the figures' artists (none of them is held by pyplot)."""
    for fig in figures:
        fig.clear()
