"""dlcore: train the course's NumPy nets, search them with Optuna, track them in MLflow, reproduce them.

Examples:
    dlcore train experiments/course/planar.toml --set train.iterations=2000
    dlcore search search_spaces/planar.toml --trials 20
    dlcore search search_spaces/moons.toml --trials 40 --workers 2
    dlcore best --study planar
    dlcore report --study planar --top 10 --csv planar.csv
    dlcore reproduce --study planar --evaluate-test --seeds 5
    dlcore ui

The store (Optuna's and MLflow's databases and the artifacts) is ./mlruns unless --store DIR or
$DLCORE_STORE says otherwise.
"""
from __future__ import annotations

import sys

from .. import interrupt
from ..errors import DlcoreError


def main(argv=None) -> int:
    """The command line (see ``_main``). Run as the program, a signal that comes once the command has
    ended (a second Ctrl-C while the process exits) is only remembered: it cannot turn the exit code
    into a death by SIGINT."""
    if argv is None:
        from ..quiet import set_program_env

        set_program_env()  # the program's own process: MLflow quiet on stdout (it is for --json)
    try:
        code = _main(argv)
    finally:
        if argv is None:
            interrupt.settle()
    if argv is None:
        # The command has ended and what it wrote is committed (MLflow's SQLite store journals each
        # commit; a search checkpoints Optuna's write-ahead log itself). Python's teardown of MLflow,
        # SQLAlchemy, pandas and matplotlib then takes a second that changes nothing: skipped.
        import os

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (| head): nothing more can be said there
                pass
        os._exit(code)
    return code


def _main(argv=None) -> int:
    """The command line. Run as the program (``argv`` None), it first installs the interrupt handler, so
    that a Ctrl-C at any moment, imports included, ends in one line and exit 130."""
    if argv is None:
        interrupt.install()
    try:
        from .parser import build_parser  # here: argparse errors and --help need no more

        args = build_parser(__doc__).parse_args(argv)
        interrupt.check()  # an interrupt swallowed while importing (reported as unraisable) is raised here
        with interrupt.interruptible():
            return args.func(args)
    except (DlcoreError, ValueError, OSError) as e:
        print(f"dlcore: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlcore: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        from ..disk import is_full_error

        if is_full_error(e):  # a full disk where no reserve was left to close things (dlcore/disk.py)
            print(f"dlcore: error: disk full: {_one_line(e)}", file=sys.stderr)
            return 2
        mlflow_exceptions = sys.modules.get("mlflow.exceptions")  # never import mlflow here: it is slow
        sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(e, sqlite3.Error):
            print(f"dlcore: error: database: {_one_line(e)}", file=sys.stderr)
            return 2
        if sqlalchemy_exc is not None and isinstance(e, sqlalchemy_exc.SQLAlchemyError):
            print(f"dlcore: error: database: {_one_line(getattr(e, 'orig', None) or e)}", file=sys.stderr)
            return 2
        if mlflow_exceptions is None or not isinstance(e, mlflow_exceptions.MlflowException):
            raise
        message = str(getattr(e, "message", e)).strip().splitlines()
        if e.__cause__ is not None:  # a database error under MLflow's: say that one
            message = [_one_line(e)]
        print(f"dlcore: error: MLflow: {message[0] if message else type(e).__name__}", file=sys.stderr)
        return 2


def _one_line(e) -> str:
    """The first line of the innermost database or OS error behind ``e`` (what MLflow and SQLAlchemy
    wrap: "database or disk is full"), else of ``e`` itself."""
    inner, seen = e, set()
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if type(inner).__module__ == "sqlite3" or isinstance(inner, OSError):
            e = inner
        inner = inner.__cause__ or getattr(inner, "orig", None)
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


__all__ = ["main"]
