"""Ctrl-C and SIGTERM that are never lost.

Python turns SIGINT into a KeyboardInterrupt raised at whatever bytecode the main thread runs next. If
that is inside a weakref callback or a ``__del__`` (a library's garbage-collection hook, say), Python
prints "Exception ignored in ..." and goes on: the interrupt is lost and a long search keeps running.
Inside :func:`interruptible` the signal also sets a flag, and :func:`check` -- called by the training
loop's callback (see ``dlcore.runner.train_run``) and between trials -- raises the interrupt again at a
point where it cannot be swallowed. A second Ctrl-C raises again, as usual.

Nor is it raised inside database code (SQLAlchemy, sqlite3, Optuna's storages, MLflow's stores) or an
eval(): there a KeyboardInterrupt would leave a transaction open and the write lock held, or a trial or
run half recorded. The signal is held back and delivered again 10 ms later, once that code has returned
(a second signal while one is held raises at once: a wait on a hung database can still be cut short).

:func:`install` puts the handler in place for the whole process as its first act (``dlcore/__main__``,
``dlcore.cli.main``), so that a Ctrl-C or SIGTERM while the libraries are still being imported ends in
"dlcore: interrupted" rather than a traceback or "Exception ignored ... KeyboardInterrupt" (an
interrupt Python reports as unraisable is remembered, not printed). :func:`deferred` holds interrupts
back while a record is being closed, so that a second Ctrl-C cannot leave a run RUNNING.
"""
from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import weakref
from contextlib import contextmanager

_requested = threading.Event()
_pending = threading.Event()  # a signal held back (see _handler), not raised yet
_again = threading.Event()    # the next call of the handler is a held signal delivered again
SIGNALS = (signal.SIGINT, signal.SIGTERM)
RETRY = 0.01  # seconds before a held-back signal is delivered again
# Where an exception raised at any bytecode leaves things half done: a transaction open on a connection
# that stays in the pool, holding SQLite's write lock ("database is locked" for the writes that close
# the trial and its run), an Optuna trial told halfway, a run created but not yet returned.
GUARDED = ("sqlalchemy", "sqlite3", "alembic", "psycopg", "optuna.storages", "mlflow.store")


def _handler(signum, frame):
    _requested.set()
    if _swallowed_in(frame):
        return  # raising here would print "Exception ignored in ..." and be dropped: check() raises it
    again = _again.is_set()
    _again.clear()
    if (again or not _pending.is_set()) and _held_in(frame):
        _pending.set()  # delivered again in RETRY seconds, or by check(); a second signal raises at once
        _deliver_again(signum)
        return
    _pending.clear()
    raise KeyboardInterrupt


def _held_in(frame) -> bool:
    """Whether a KeyboardInterrupt raised in ``frame`` now would leave a record half written (database
    code on the stack: ``GUARDED``), or would end the process as killed by SIGINT: in CPython 3.11 one
    that leaves a string given to eval() or exec() (namedtuple() does that hundreds of times while pandas,
    pyarrow and MLflow are imported) marks the process as ended by an unhandled Ctrl-C even once it is
    caught, and the process kills itself with SIGINT at exit (exit -2 instead of 130). The outermost frame
    is the program itself under ``python -c``, not an eval."""
    dirs = _guarded_dirs()
    while frame is not None:
        name = frame.f_code.co_filename
        if (name == "<string>" and frame.f_back is not None) or name.startswith(dirs):
            return True
        frame = frame.f_back
    return False


def _guarded_dirs() -> tuple:
    dirs = []
    for name in GUARDED:
        path = getattr(sys.modules.get(name), "__file__", None)  # only what is imported already
        if path:
            dirs.append(os.path.dirname(path) + os.sep)
    return tuple(dirs)


def _deliver_again(signum) -> None:
    def again():
        if _pending.is_set():
            _again.set()
            _thread.interrupt_main(signum)  # as if it arrived now: the handler runs again
    timer = threading.Timer(RETRY, again)
    timer.daemon = True
    timer.start()


def _swallowed_in(frame) -> bool:
    """Whether Python would swallow an exception raised in ``frame``: a weakref callback or a __del__."""
    code = getattr(frame, "f_code", None)
    return code is not None and (code.co_filename == weakref.__file__ or code.co_name == "__del__")


def _remember(signum, frame):
    _requested.set()


def _unraisable(hook):
    """sys.unraisablehook that remembers a swallowed KeyboardInterrupt instead of printing it."""
    def unraisable(info):
        if issubclass(info.exc_type, KeyboardInterrupt):
            _requested.set()
            return
        hook(info)
    unraisable.dlcore = True
    return unraisable


def install() -> None:
    """For the whole process (the command line's entry points only: it never changes a library
    caller's handlers): SIGINT and SIGTERM raise KeyboardInterrupt and are remembered."""
    if threading.current_thread() is not threading.main_thread():
        return
    for s in SIGNALS:
        signal.signal(s, _handler)
    if not getattr(sys.unraisablehook, "dlcore", False):
        sys.unraisablehook = _unraisable(sys.unraisablehook)


@contextmanager
def deferred():
    """Within this block (main thread only) SIGINT and SIGTERM are only remembered: what closes a
    record after an interrupt is not cut short by a second one. :func:`check` raises it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _remember)
    try:
        yield
    finally:
        for s, h in previous.items():
            if h is not None:
                signal.signal(s, h)


@contextmanager
def held():
    """Inside an :func:`interruptible` block, :func:`deferred`: a signal now is raised afterwards, by
    :func:`check` (between trials), not inside what this block closes. Elsewhere nothing changes: the
    caller's own SIGINT handler stays in charge (a library caller's Ctrl-C is never only remembered)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _handler:
        with deferred():
            yield
    else:
        yield


def settle() -> None:
    """The command has ended and the process exits: from now on SIGINT and SIGTERM are ignored (main
    thread only). Python's finalization puts back the default action of every signal it handled, and
    shutting the libraries down takes a while, so a second Ctrl-C then killed the process (exit -2)
    after it had printed its one line; an ignored signal stays ignored through finalization."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def hold() -> None:
    """Once an interrupt is being handled: from now on (until the enclosing :func:`interruptible` block
    ends, or for the rest of the process under :func:`install`) SIGINT and SIGTERM are only remembered,
    so that a second Ctrl-C cannot cut short the writing of the records the first one closes (a trial's
    FAIL, its run, the parent run). Main thread, inside a block (or under :func:`install`) only: a
    library caller's own SIGINT handler is never replaced (its next Ctrl-C must interrupt as usual)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _handler:
        _requested.set()
        for s in SIGNALS:
            signal.signal(s, _remember)


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if SIGINT or SIGTERM arrived since :func:`interruptible` began."""
    if _requested.is_set():
        _pending.clear()
        raise KeyboardInterrupt


@contextmanager
def interruptible():
    """Within this block SIGINT and SIGTERM raise KeyboardInterrupt and are remembered for :func:`check`.
    Blocks nest; only the main thread can install signal handlers, elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is _handler:
        yield  # not the main thread, or already inside an interruptible block
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _requested.clear()
    for s in previous:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            if h is not None:  # None: installed from C, not restorable from Python
                signal.signal(s, h)
        _requested.clear()
        _pending.clear()
