"""How a run trained again compares with the run as logged: the curves step by step, the environment's
differences beside them, and the verdict in one line (``reproduction`` uses these; ``results`` prints them)."""
from __future__ import annotations

import numpy as np

from .tracking.provenance import blas_info, environment_differences


def compare(new: list, old: list, rtol: float | None = None) -> dict:
    """Step-by-step comparison of per-fold curves: identical, or the largest |difference| and the
    first (fold, iteration) that differs."""
    max_diff, first = 0.0, None
    for f, (a, b) in enumerate(zip(new, old)):
        if a.shape != b.shape:
            n = min(a.size, b.size)
            first = first or (f, n)
            max_diff = float("inf")
            a, b = a[:n], b[:n]
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            i = int(np.argmin(same))
            first = first or (f, i)
            with np.errstate(invalid="ignore"):
                d = np.abs(a - b)
            max_diff = max(max_diff, float(np.nanmax(np.where(same, 0.0, np.where(np.isnan(d), np.inf, d)))))
    identical = first is None
    within = identical or (rtol is not None and all(
        a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=0, equal_nan=True) for a, b in zip(new, old)))
    verdict = "identical" if identical else ("within_rtol" if within else "differs")
    return {"verdict": verdict, "ok": within, "max_abs_diff": max_diff,
            "first_diff": None if first is None else {"fold": first[0], "iteration": first[1]}}


def environment_facts(tags: dict, threads: int) -> list:
    """What differs between the environment a run was logged in and this one (BLAS kernel and
    version, numpy, Python, BLAS threads), as phrases to print beside the verdict."""
    out = environment_differences(tags)
    here = blas_info()["blas_threads"]
    if here.isdigit() and int(here) < threads:  # threadpoolctl cannot raise the count above BLAS's own
        out.append(f"BLAS threads at most {here} here, {threads} when logged")
    return out


def verdict_line(out: dict) -> str:
    """The verdict in one line, with the environment's differences beside it: "differs from iteration
    812 (largest |difference| 2.2e-16); BLAS kernel SkylakeX here, Haswell when logged"."""
    if out["verdict"] == "identical":
        line = f"identical: {sum(out['iterations'])} costs over {out['folds']} fold(s) of run {out['run_id']}"
    else:
        fd = out["first_diff"]
        line = (f"{out['verdict']} from iteration {fd['iteration']}" + (f" of fold {fd['fold']}" if out["folds"] > 1 else "")
                + f" (largest |difference| {out['max_abs_diff']:.3g})")
    env = out.get("environment") or []
    if out["verdict"] == "identical":  # a fact not logged (an older run) explains nothing when all agrees
        env = [e for e in env if not e.endswith("not logged")]
    return "; ".join([line, *env])
