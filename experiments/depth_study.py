"""How deep? The notes' advice: start from logistic regression, then add hidden layers, treating their
number as a hyperparameter.

One search per L = 1..5 (L counts the layers with weights: L = 1 is logistic regression), each over the
learning rate, the units per layer, the initialisation scale (and the iteration count when the space
searches it), on the cat data's 5 folds (`search_spaces/cat.toml`), or on the planar flower's hold-out
when the cat data is absent. For each L: the best validation score of its search and the test score of
that configuration refit on the whole training split (the locked test split meets it only here).
Prints the table and the finding, saves `depth_study.png`.

    DLCORE_DATA_DIR=../shared/data .venv/bin/python experiments/depth_study.py --trials 30 --store /tmp/depth
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import dlcore


def space_for(base: dlcore.SearchSpace, L: int, prefix: str) -> dlcore.SearchSpace:
    """``base`` with L fixed (no unit counts to search for L = 1) and its own study."""
    s = base.space
    space = replace(s, n_layers=dlcore.Range(L, L), n_units=s.n_units if L > 1 else None)
    return replace(base, study=replace(base.study, name=f"{prefix}-L{L}"), space=space, enqueue=())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=30, help="trials per depth (default 30)")
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="values of L (default 1..5)")
    p.add_argument("--store", help="store directory (default $DLCORE_STORE, else ./mlruns)")
    p.add_argument("--out", default="depth_study.png", help="where to save the plot")
    args = p.parse_args(argv)

    cat = dlcore.data_available("cat")
    base = dlcore.load_space("cat" if cat else "planar")
    metric = base.study.metric
    test_metric = "refit_test_" + metric.removeprefix("val_")
    store = dlcore.Store(args.store)
    print(f"data: {'cat (5 folds)' if cat else 'planar (cat data absent)'}; {args.trials} trials per L; "
          f"score {metric}, test {test_metric.removeprefix('refit_')}")
    rows = []
    for L in args.depths:
        result = dlcore.search(space_for(base, L, f"depth-{base.study.name}"), trials=args.trials, store=store,
                               progress=False)
        if result.best is None:
            print(f"L = {L}: no trial completed ({result.counts})")
            continue
        rep = dlcore.reproduce(result.best, store=store, evaluate_test=True, log=False)
        dims = "-".join(map(str, result.best.layer_dims))
        rows.append((L, result.best.value, rep.metrics[test_metric], dims))
        print(f"L = {L}: best {metric} {result.best.value:.4f}, refit test {rep.metrics[test_metric]:.4f} "
              f"({dims}, reproduction {rep.verdict})")
    if not rows:
        return 1
    pick = (max if base.direction == "maximize" else min)(rows, key=lambda r: r[1])
    print(f"\nfinding: by validation, L = {pick[0]} ({pick[3]}) is best ({pick[1]:.4f}); its test score is "
          f"{pick[2]:.4f}. Test by L: " + ", ".join(f"L={r[0]}: {r[2]:.3f}" for r in rows))
    save_plot(rows, metric, test_metric.removeprefix("refit_"), Path(args.out))
    print(f"saved {args.out}")
    return 0


def save_plot(rows, metric: str, test_metric: str, path: Path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    Ls = [r[0] for r in rows]
    ax.plot(Ls, [r[1] for r in rows], "o-", label=f"best validation {metric}")
    ax.plot(Ls, [r[2] for r in rows], "s--", label=f"refit {test_metric}")
    ax.set_xticks(Ls)
    ax.set_xlabel("L (layers with weights; 1 = logistic regression)")
    ax.set_ylabel(metric.removeprefix("val_"))
    ax.set_title("depth as a hyperparameter")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
