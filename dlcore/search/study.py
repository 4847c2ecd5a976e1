"""Optuna studies: samplers, pruners, opening (or continuing) a study, reading one back."""
from __future__ import annotations

import warnings

import optuna

from ..config import ConfigError
from .pruning import CompletedOnce
from .space import SearchSpace, space_from_doc, space_to_doc
from .storage import redact


def make_sampler(name: str, seed: int):
    """TPE, random, QMC or CMA-ES, seeded.

    TPE is multivariate (Optuna 5's default for one objective) with ``group=True`` and the constant
    liar. A space whose n_units_l2.. exist only for some n_layers is dynamic: with group=False the
    multivariate TPE models the always-present parameters jointly and samples the rest independently;
    grouped, it models jointly each set of parameters that always occur together. In dlcore's layer
    space those sets are {learning_rate, n_layers, init_scale, ...}, {n_units_l1}, {n_units_l2}, ...
    (n_units_l1 occurs without n_units_l2), the same factorisation, so group=True costs nothing here
    and helps spaces whose conditional parameters come in larger blocks."""
    s = optuna.samplers
    if name == "tpe":
        with warnings.catch_warnings():  # group is experimental and warns so on every search
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return s.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    if name == "random":
        return s.RandomSampler(seed=seed)
    if name == "qmc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return s.QMCSampler(seed=seed, scramble=True)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401 -- Optuna's CMA-ES needs it, and says so only in the second trial
        except ImportError:
            raise ConfigError("study.sampler 'cmaes' needs the cmaes package: pip install 'dlcore[cmaes]'") from None
        return s.CmaEsSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}")


def make_pruner(name: str, warmup_steps: int = 0):
    """Median (after 5 trials and ``warmup_steps``), Hyperband, Wilcoxon, or none.

    Wilcoxon (k-fold spaces only: space.py refuses it otherwise) pairs the trial's per-fold values
    with the best trial's on the same folds and prunes once a one-sided signed-rank test says the
    trial is worse (p < 0.1); the objective reports each fold's own value at step f for it. The exact
    test's smallest p-value with n pairs is 1/2**n (0.125 for three, 0.0625 for four), and a trial is
    judged before its last fold only: so Wilcoxon can prune with k >= 5 folds, never with fewer."""
    p = optuna.pruners
    if name == "median":  # its decisions, without a read of the study's trials at every report (pruning.py)
        return CompletedOnce(p.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup_steps))
    if name == "wilcoxon":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return p.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2)
    return {"hyperband": p.HyperbandPruner, "none": p.NopPruner}[name]()


def check_study(space: SearchSpace, storage):
    """Refuse, reading only, a search that ``open_study`` would refuse: the space's study exists with
    another direction or objective. Run before either database is written."""
    try:
        study = optuna.load_study(study_name=space.study.name, storage=storage)
    except KeyError:
        return
    stored = study.direction.name.lower()
    if stored != space.direction:
        raise ConfigError(f"study {space.study.name!r} exists with direction {stored}; "
                          f"{space.source} asks {space.direction}")
    check_same_objective(study, space)


def open_study(space: SearchSpace, storage):
    """Create the study, or load it when it exists (then its direction must match the space's)."""
    st = space.study
    study = optuna.create_study(study_name=st.name, storage=storage, load_if_exists=True,
                                direction=space.direction, sampler=make_sampler(st.sampler, st.seed),
                                pruner=make_pruner(st.pruner, warmup_steps(space)))
    check_study(space, storage)
    if "report_steps" not in study.user_attrs:
        study.set_user_attr("report_steps", report_steps(space))
    if "metric" not in study.user_attrs:
        study.set_user_attr("metric", st.metric)
        study.set_user_attr("space_source", space.source)
    if study.metric_names is None:  # optuna-dashboard and Optuna's plots then say the metric, not "Objective 0"
        with warnings.catch_warnings():  # experimental since 3.2, and warns so
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([st.metric])
    study.set_user_attr("space", space_to_doc(space))  # what `dlcore worker` rebuilds the space from
    return study


def check_same_objective(study, space: SearchSpace):
    """Continuing a study with a space whose values mean something else (another metric, protocol or
    dataset) would mix incomparable trials: refuse, naming the first difference."""
    old = study.user_attrs.get("space")
    if not old:
        return
    old, new = stored_doc(old), space_to_doc(space)
    check_protocol(old, study.study_name, space.source)
    # before folds trained together every k-fold study reported fold by fold
    steps = study.user_attrs.get("report_steps") or ("folds" if old["study"].get("folds", 0) >= 2 else "iterations")
    if steps != report_steps(space):
        raise ConfigError(f"{space.source}: study {study.study_name!r} reported its trials to the pruner by {steps[:-1]}, "
                          f"this space reports by {report_steps(space)[:-1]}: the pruner would compare unlike values; "
                          "use another --study name")
    for section, keys in (("study", ("metric", "folds", "repeats")), ("data", tuple(sorted(set(old["data"]) | set(new["data"]))))):
        for key in keys:
            a, b = old[section].get(key), new[section].get(key)
            if a != b:
                raise ConfigError(f"{space.source}: study {study.study_name!r} exists with {section}.{key} = {a!r}, "
                                  f"this space has {b!r}: its trials would not compare; use another --study name")


def report_steps(space: SearchSpace) -> str:
    """What a trial's reports to the pruner are indexed by: "iterations" (a hold-out, or folds trained
    together, reporting their mean) or "folds" (folds trained one by one, for Wilcoxon). Stored with
    the study: a study is not continued with the other kind."""
    return "folds" if space.study.folds >= 2 and not space.stack_folds else "iterations"


def warmup_steps(space: SearchSpace) -> int:
    """Steps before the median pruner may act. Where steps are iterations (a hold-out, or folds trained
    together), a quarter of the longest training the space allows: with a searched iteration count,
    early iterations say little of how a long training ends (judged from a quarter of the shortest,
    most of cat.toml's trials were pruned at their first report: README, "Speed"). Where steps are
    folds (trained one by one, for Wilcoxon), one: a single fold is too noisy to judge a trial by."""
    if space.study.folds >= 2 and not space.stack_folds:
        return 1
    it = space.space.iterations
    longest = int(it.high) if hasattr(it, "high") else (it or space.base.train.iterations)
    return longest // 4


def load_study(name: str, storage, sampler=None, pruner=None):
    """An existing study, or a ConfigError saying which studies there are."""
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise ConfigError(f"no study {name!r} in {redact(storage)}"
                          + (f" (studies: {', '.join(names)})" if names else " (it holds no studies)")) from None


def counts_by_state(study) -> dict:
    out = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def best_trial(study):
    """The best COMPLETE trial, or None."""
    try:
        return study.best_trial
    except ValueError:
        return None


def space_of(study) -> SearchSpace:
    """The search space a study was created with (stored in its user attributes)."""
    doc = study.user_attrs.get("space")
    if doc is None:
        raise ConfigError(f"study {study.study_name!r} holds no dlcore search space: was it created by dlcore search?")
    doc = stored_doc(doc)
    check_protocol(doc, study.study_name, f"study {study.study_name!r}")  # a worker must not mix protocols either
    return space_from_doc(doc, f"study {study.study_name!r}")


def check_protocol(stored: dict, name: str, where: str):
    """Refuse to add trials to a k-fold study stored before per-fold seeds (see ``stored_doc``)."""
    if "repeats" not in stored.get("study", {}):
        raise ConfigError(f"{where}: study {name!r} was created before each fold trained from its own seed: "
                          "its trials would not compare; use another --study name")


def stored_doc(doc: dict) -> dict:
    """A space as a study stored it (``space_to_doc``, which writes data.standardize resolved). A stored
    space without data.standardize predates input scaling: its trials fed the data unscaled, so it
    reads as standardize = false (``RunConfig.from_logged`` reads logged run configs the same way).
    One without study.repeats predates per-fold seeds: a hold-out study's protocol has not changed
    (repeats = 1); a k-fold one's has, and it stays without the key (check_same_objective refuses it)."""
    data, st = doc.get("data"), doc.get("study")
    if isinstance(data, dict) and "standardize" not in data:
        doc = {**doc, "data": {**data, "standardize": False}}
    if isinstance(st, dict) and "repeats" not in st and st.get("folds", 0) < 2:
        doc = {**doc, "study": {**st, "repeats": 1}}
    return doc
