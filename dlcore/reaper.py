"""What dead processes leave RUNNING, closed by the next process that looks: their trials and runs.

A search or worker that is SIGKILLed (or whose machine dies) cannot end its trial nor close its MLflow
run. Under the study's lock, every process that starts, and every ask for a trial, fails the RUNNING
trials whose owner is gone (``search.budget.close_dead_trials``): at once when the owner was a process
of this host, after the heartbeat's grace otherwise; their runs are closed here, as FAILED with the
same reason. A search also closes runs left RUNNING without such a trial (``close_stale_runs``).
"""
from __future__ import annotations

import sys

from .search.budget import close_dead_trials, lock_for, owner_alive
from .tracking.mlflow_runs import Tracker


def study_lock(storage, name: str):
    """The lock that serialises the budget and this housekeeping for one study."""
    return lock_for(storage if isinstance(storage, str) else "", name)


def reap(study, lock, tracker: Tracker | None) -> list:
    """Fail the trials of dead processes and close their runs; returns their numbers."""
    with lock():
        return close_dead_trials(study, close_run(tracker))


def close_run(tracker: Tracker | None):
    """``on_failed(study, trial, reason)``: close a failed trial's run as FAILED, with the reason."""
    def close(study, trial, reason):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if tracker is not None and run_id:
            try:
                tracker.log(run_id, tags={"optuna.trial_state": "FAIL", "dlcore.state_reason": reason})
                tracker.end(run_id, "FAILED")
            except Exception as e:  # noqa: BLE001 -- the trial is failed; a later search closes the run
                print(f"dlcore: warning: could not close the run of trial {trial.number}: {e}", file=sys.stderr)
    return close


def close_stale_runs(study, tracker: Tracker, experiment_id: str):
    """Close the runs a killed process left RUNNING: a trial's run whose trial has ended (the process
    died before it finished writing) or belongs to another run, when the trial's process, on this host,
    is gone; and a search's parent run whose process, on this host, is gone. Runs of live processes and
    of other hosts' are left alone (a finished trial's run is written after its trial ends)."""
    try:
        runs = tracker.client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=5000)
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        for r in runs:
            tags, run_id = r.data.tags, r.info.run_id
            if tags.get("dlcore.kind") == "trial":
                t = trials.get(int(tags.get("optuna.trial_number", -1)))
                owner = t and t.user_attrs.get("mlflow_run_id")
                # A finished trial's run is still RUNNING while its live process's writer thread logs it
                # (a concurrent search of the same study sees that moment): only a dead owner's is stale.
                if t is not None and (t.state.is_finished() or (owner and owner != run_id)) \
                        and not owner_alive(t.user_attrs.get("worker", "")):
                    tracker.log(run_id, tags={"dlcore.state_reason": f"closed by a later search: its process ended "
                                              f"before the run was (trial {t.state.name})"})
                    tracker.end(run_id, "FAILED")
            elif tags.get("dlcore.kind") == "search":
                process = tags.get("dlcore.process", "")
                if process and not owner_alive(process):
                    tracker.end(run_id, "KILLED")
    except Exception as e:  # noqa: BLE001 -- housekeeping must never stop a search
        print(f"dlcore: warning: could not close stale runs: {e}", file=sys.stderr)
