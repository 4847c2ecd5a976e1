"""Runs' descriptions: the markdown MLflow's UI shows in a run's description box (``mlflow.note.content``).

Pure functions of what a run already holds (no MLflow, no Optuna), so that what a user reads first on a
run's page -- what it trained, what it searched, how it ended, what it scored -- is tested as text.
"""
from __future__ import annotations

import math

import numpy as np


def fmt(v) -> str:
    """A number as a person reads it: 4 significant digits, integers as integers, NaN and None as '-'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return str(v)


def architecture(layer_dims) -> str:
    """12288-21-22-1."""
    return "-".join(str(int(n)) for n in layer_dims)


def _state_line(state: str, reason: str) -> str:
    return f"**{state}**" + (f": {reason}" if reason else "")


def fold_table(folds: list, metric: str) -> list[str]:
    """Markdown lines: one row per fold (its sizes, the objective's metric, val_cost, train_cost), then the
    mean and standard deviation of the metric over the folds."""
    cols = [c for c in dict.fromkeys([metric, "val_cost", "train_cost"]) if any(c in f for f in folds)]
    lines = ["| fold | n_train | n_val | " + " | ".join(cols) + " |", "|" + "---|" * (3 + len(cols))]
    for f in folds:
        lines.append(f"| {f.get('fold', '?')} | {fmt(f.get('n_train'))} | {fmt(f.get('n_val'))} | "
                     + " | ".join(fmt(f.get(c)) for c in cols) + " |")
    values = [f[metric] for f in folds if metric in f and f[metric] is not None]
    if len(values) > 1:
        lines.append("")
        lines.append(f"{metric} over {len(values)} folds: mean {fmt(float(np.mean(values)))}, "
                     f"std {fmt(float(np.std(values)))}, min {fmt(min(values))}, max {fmt(max(values))}")
    return lines


def trial_description(study: str, number: int, layer_dims, params: dict, state: str, reason: str,
                      metric: str, value, folds: list) -> str:
    """A trial's run: its architecture, the parameters the sampler chose, how it ended and why, its
    objective and, with k folds, the per-fold table."""
    lines = [f"Trial **{number}** of study `{study}`: {_state_line(state, reason)}", "",
             f"- architecture: `{architecture(layer_dims)}`",
             f"- objective: {metric} = **{fmt(value)}**"
             + (f" (mean over {len(folds)} folds)" if len(folds) > 1 else "")]
    if params:
        lines += ["", "Searched parameters:", "", "| parameter | value |", "|---|---|"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in params.items()]
    if len(folds) > 1:
        lines += ["", "Folds (per-fold finals in the `folds.json` table):", "", *fold_table(folds, metric)]
    return "\n".join(lines) + "\n"


def train_description(dataset: str, layer_dims, state: str, reason: str, metrics: dict) -> str:
    """A ``dlcore train`` run: what it trained on, how it ended, its finals."""
    lines = [f"`dlcore train` on **{dataset}**: {_state_line(state, reason)}", "",
             f"- architecture: `{architecture(layer_dims)}`"]
    if metrics:
        lines += ["", "| final | value |", "|---|---|", *[f"| {k} | {fmt(v)} |" for k, v in metrics.items()]]
    return "\n".join(lines) + "\n"


def search_description(study: str, sampler: str, pruner: str, metric: str, direction: str, dataset: str,
                       folds: int, requested: int, summary: dict | None = None) -> str:
    """The parent run of one ``dlcore search``: the study and how it searches, the budget asked for and,
    once it has ended (``summary``: ``tracking.summary.study_summary``), the counts, the best trial with
    its run's name and the command that reproduces it."""
    protocol = f"{folds}-fold cross-validation" if folds >= 2 else "a hold-out"
    lines = [f"Search of study **`{study}`** on **{dataset}**", "",
             f"- objective: {direction} {metric}, on {protocol}",
             f"- sampler: {sampler}, pruner: {pruner}",
             f"- budget: {requested} more trial(s) asked for by this search"]
    if summary is None:
        return "\n".join(lines + ["", "_Running: the best trial is written here when the search ends._"]) + "\n"
    counts = summary.get("counts") or {}
    lines.append("- trials in the study: " + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"))
    best = summary.get("best_trial")
    if best is None:
        return "\n".join(lines + ["", "No trial has completed yet."]) + "\n"
    lines += ["", f"Best trial: **{best}** (run `trial-{best}`), {metric} = **{fmt(summary.get('best_value'))}**"]
    params = summary.get("best_params") or {}
    if params:
        lines += ["", "| parameter | value |", "|---|---|", *[f"| {k} | {fmt(v)} |" for k, v in params.items()]]
    lines += ["", "Reproduce it (bit for bit, then refit and log the model):", "", "```",
              f"dlcore reproduce --study {_shell(study)}", "```"]
    return "\n".join(lines) + "\n"


def reproduction_description(run_id: str, verdict_line: str) -> str:
    """A reproduction run: which run it trained again and the verdict."""
    return f"Reproduction of run `{run_id}`\n\n- verdict: **{verdict_line}**\n"


def _shell(word: str) -> str:
    """A study name as one shell word (names may hold spaces)."""
    return word if word and all(c.isalnum() or c in "_-." for c in word) else "'" + word.replace("'", "'\\''") + "'"


__all__ = ["architecture", "fmt", "fold_table", "reproduction_description", "search_description",
           "train_description", "trial_description"]
