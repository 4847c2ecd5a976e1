"""Initialisation scale: the notes' W = randn * 0.01 against fan-in (randn / sqrt(n[l-1])) and He
(randn * sqrt(2 / n[l-1])) scaling, on the course's deep model, with the scale found by search.

1. The course's deep net (12288-20-7-5-1; deep_init_x0.01.toml) trained as the notes first write it,
   with randn * 0.01: its cost stalls near 0.644 (the gradients vanish through four small layers).
2. For each scheme, a search over the learning rate and the scale factor s (W = scheme * s) of that
   same net, scored like `search_spaces/cat.toml` (5-fold balanced accuracy), or on the planar hold-out
   when the cat data is absent.
3. Each scheme's best configuration trained on the whole training split: its cost curve, beside the
   x0.01 stall, on one plot (`init_scale_study.png`).

    DLCORE_DATA_DIR=../shared/data .venv/bin/python experiments/init_scale_study.py --trials 20 --store /tmp/init
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import dlcore

SCHEMES = ("constant", "fan_in", "he")
DEEP = [20, 7, 5]


def space_for(base: dlcore.SearchSpace, scheme: str, iterations: int) -> dlcore.SearchSpace:
    """The deep net fixed, ``scheme`` fixed; the learning rate and the scale searched."""
    model = replace(base.base.model, hidden_units=DEEP, init=scheme)
    fixed = replace(base.base, model=model, train=replace(base.base.train, iterations=iterations))
    space = dlcore.Space(learning_rate=base.space.learning_rate, init_scale=dlcore.Range(0.001, 3.0, log=True))
    study = replace(base.study, name=f"init-{base.study.name}-{scheme}")
    return replace(base, study=study, base=fixed, space=space, enqueue=())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20, help="trials per scheme (default 20)")
    p.add_argument("--iterations", type=int, default=2500, help="iterations per training (default 2500, the course's)")
    p.add_argument("--store", help="store directory (default $DLCORE_STORE, else ./mlruns)")
    p.add_argument("--out", default="init_scale_study.png", help="where to save the plot")
    args = p.parse_args(argv)

    cat = dlcore.data_available("cat")
    base = dlcore.load_space("cat" if cat else "planar")
    store = dlcore.Store(args.store)
    course = dlcore.load_run_config("course/deep_init_x0.01" if cat else "course/planar")
    course = replace(course, model=replace(course.model, hidden_units=DEEP, init="constant", init_scale=0.01),
                     train=replace(course.train, iterations=args.iterations))
    stall = dlcore.train(course, store=store, experiment="init-scale-study")
    print(f"1. {'-'.join(map(str, stall.layer_dims))} with randn * 0.01: cost {stall.costs[0]:.4f} -> "
          f"{stall.costs[-1]:.4f} after {len(stall.costs)} iterations, train accuracy "
          f"{stall.metrics['train_accuracy']:.3f}")
    curves = {"x0.01 (the notes' first init)": stall.costs}
    for scheme in SCHEMES:
        result = dlcore.search(space_for(base, scheme, args.iterations), trials=args.trials, store=store,
                               progress=False)
        if result.best is None:
            print(f"2. {scheme}: no trial completed ({result.counts})")
            continue
        b = result.best
        refit = dlcore.train(replace(b.config, data=replace(b.config.data, validation_fraction=0.0)), store=store,
                             experiment="init-scale-study")
        curves[f"{scheme}, s={b.params['init_scale']:.3g}, alpha={b.params['learning_rate']:.2g}"] = refit.costs
        print(f"2. {scheme}: best {b.metric} {b.value:.4f} with s = {b.params['init_scale']:.4g}, "
              f"alpha = {b.params['learning_rate']:.4g}; refit cost {refit.costs[-1]:.4f}, train accuracy "
              f"{refit.metrics['train_accuracy']:.3f}")
    finals = {k: float(v[-1]) for k, v in curves.items()}
    print("\nfinding: final training cost by init: " + ", ".join(f"{k}: {v:.4f}" for k, v in finals.items()))
    save_plot(curves, Path(args.out))
    print(f"saved {args.out}")
    return 0


def save_plot(curves: dict, path: Path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for label, cost in curves.items():
        ax.plot(range(len(cost)), cost, label=label, linewidth=1.3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training cost J")
    ax.set_yscale("log")
    ax.set_title("the deep net's cost curve by initialisation")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
