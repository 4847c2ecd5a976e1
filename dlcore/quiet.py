"""Settings dlcore needs while it works, set on entry and restored on exit: the caller's state is theirs.

A search reports through dlcore (its progress bar, one-line warnings per failed trial): Optuna's own
INFO line per trial, MLflow's and alembic's INFO lines (database migrations on a new store) and MLflow's
URL print would drown it, and MLflow's artifact progress bars would interleave with dlcore's. MLflow reads
its three variables below at call time (``MLFLOW_*.get()`` in ``telemetry/track.py``,
``utils/file_utils.py`` and ``tracking/_tracking_service/client.py``; the telemetry client itself is made
when mlflow is imported, see ``mlflow_env``), so setting them only around dlcore's calls is enough.

``quiet`` is a context manager and a decorator; it nests (each entry restores what it found), and an
environment variable the caller set is left as the caller set it (``setdefault``, not overwrite).
"""
from __future__ import annotations

import contextlib
import logging
import os

MLFLOW_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # stdout is for --json
}
LOGGER_LEVELS = {"mlflow": logging.WARNING, "alembic": logging.WARNING,
                 # it logs every database error with its traceback before raising it; dlcore says it in one line
                 "mlflow.store.db.utils": logging.CRITICAL}


def set_program_env() -> None:
    """For the ``dlcore`` program only (its own process, never a library caller's): MLflow's variables,
    where the user has not set them, for the whole run."""
    for k, v in MLFLOW_ENV.items():
        os.environ.setdefault(k, v)


@contextlib.contextmanager
def quiet():
    """For the duration of a call: mlflow/alembic loggers at WARNING and Optuna's
    verbosity at ERROR. Afterwards the environment and the logging tree are as they were, even when the
    call raised: that also undoes what libraries do on their own during it (joblib's ``KMP_INIT_AT_FORK``
    on its lazy import, MLflow's ``MLFLOW_TRACKING_URI``, and the ``logging.config.fileConfig`` that
    Optuna's alembic migration runs on a new storage when the root logger has no handler, which
    disables every existing logger). Also a decorator (``@quiet()``): each call enters afresh, so nested
    and recursive calls restore in order."""
    import optuna  # here, not at import: dlcore's import stays light

    environ, loggers = dict(os.environ), _logging_state()
    try:
        for name, level in LOGGER_LEVELS.items():
            logging.getLogger(name).setLevel(level)
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        yield
    finally:
        _restore_logging(loggers)
        _undo_library_env(environ)


def _logging_state() -> dict:
    """Level, disabled flag, propagation and handlers of the root logger and of every existing logger."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    return {lg: (lg.level, lg.disabled, lg.propagate, list(lg.handlers)) for lg in loggers}


def _restore_logging(state: dict):
    root = logging.getLogger()
    for logger, (level, disabled, propagate, handlers) in state.items():
        if logger.level != level and logger is not root:
            logger.setLevel(level)
        logger.disabled, logger.propagate, logger.handlers[:] = disabled, propagate, handlers
    root.setLevel(state[root][0])  # always: setLevel also empties every logger's cached enabled levels


def _undo_library_env(environ: dict):
    """Take back what the libraries set in the environment during a call (MLflow's MLFLOW_TRACKING_URI,
    joblib's KMP_INIT_AT_FORK): dlcore itself sets nothing in a caller's process."""
    for k in set(os.environ) - set(environ):
        del os.environ[k]
    for k, v in environ.items():
        if os.environ.get(k) != v:
            os.environ[k] = v
