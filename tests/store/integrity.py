"""What every store-integrity test checks after a fault: Optuna's trials and MLflow's runs agree.

``check_store(root, study)`` opens the embedded store read-only through the libraries themselves (no
dlcore code), and asserts: no trial and no run is left RUNNING; every started trial has exactly one
child run, linked both ways (``mlflow_run_id`` on the trial, ``optuna.trial_number`` on the run); each
run's status follows its trial's state by the one table (COMPLETE -> FINISHED, PRUNED -> KILLED,
FAIL -> FAILED) and its ``optuna.trial_state`` tag says the same; no parent run is left RUNNING.
Returns the counts, so a test can assert exact numbers as well.
"""
from __future__ import annotations

from pathlib import Path

STATUS_OF_STATE = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def open_study(root: Path, study: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=study, storage=f"sqlite:///{Path(root) / 'optuna.db'}")


def runs_of(root: Path, study: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{Path(root) / 'mlflow.db'}")
    exp = client.get_experiment_by_name(study)
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=50_000)


def check_store(root: Path, study: str, tracked: bool = True) -> dict:
    trials = [t for t in open_study(root, study).get_trials(deepcopy=False) if t.state.name != "WAITING"]
    running = [t.number for t in trials if t.state.name == "RUNNING"]
    assert not running, f"trials left RUNNING: {running}"
    counts = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    out = {"trials": len(trials), "counts": counts, "runs": 0, "parents": 0}
    if not tracked:
        return out
    runs = runs_of(root, study)
    left = [(r.info.run_name, r.data.tags.get("dlcore.kind")) for r in runs if r.info.status == "RUNNING"]
    assert not left, f"runs left RUNNING: {left}"
    children = [r for r in runs if r.data.tags.get("dlcore.kind") == "trial"]
    by_number: dict = {}
    for r in children:
        by_number.setdefault(int(r.data.tags["optuna.trial_number"]), []).append(r)
    doubles = {n: len(v) for n, v in by_number.items() if len(v) != 1}
    assert not doubles, f"trials with more than one run: {doubles}"
    assert sorted(by_number) == sorted(t.number for t in trials), \
        f"trials {sorted(t.number for t in trials)} but runs of trials {sorted(by_number)}"
    for t in trials:
        run = by_number[t.number][0]
        assert t.user_attrs.get("mlflow_run_id") == run.info.run_id, f"trial {t.number} and its run are not linked"
        want = STATUS_OF_STATE[t.state.name]
        assert run.info.status == want, f"trial {t.number} is {t.state.name} but its run is {run.info.status}"
        assert run.data.tags.get("optuna.trial_state") == t.state.name, \
            f"trial {t.number} is {t.state.name}, its run's tag says {run.data.tags.get('optuna.trial_state')}"
        if t.state.name == "FAIL":
            assert t.user_attrs.get("state_reason"), f"FAIL trial {t.number} has no reason"
            assert run.data.tags.get("dlcore.state_reason"), f"FAILED run of trial {t.number} has no reason"
    out["runs"] = len(children)
    out["parents"] = sum(r.data.tags.get("dlcore.kind") == "search" for r in runs)
    return out
