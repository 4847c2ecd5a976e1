"""Ctrl-C and SIGTERM that are never lost.

Python turns SIGINT into a KeyboardInterrupt raised at whatever bytecode the main thread runs next. If
that is inside a weakref callback or a ``__del__`` (a library's garbage-collection hook, say), Python
prints "Exception ignored in ..." and goes on: the interrupt is lost and a long search keeps running.
Inside :func:`interruptible` the signal also sets a flag, and :func:`check` -- called by the training
loop's callback (see ``dlcore.runner.train_run``) and between trials -- raises the interrupt again at a
point where it cannot be swallowed. A second Ctrl-C raises again, as usual.
"""
from __future__ import annotations

import signal
import threading
import weakref
from contextlib import contextmanager

_requested = threading.Event()


def _handler(signum, frame):
    _requested.set()
    if _swallowed_in(frame):
        return  # raising here would print "Exception ignored in ..." and be dropped: check() raises it
    raise KeyboardInterrupt


def _swallowed_in(frame) -> bool:
    """Whether Python would swallow an exception raised in ``frame``: a weakref callback or a __del__."""
    code = getattr(frame, "f_code", None)
    return code is not None and (code.co_filename == weakref.__file__ or code.co_name == "__del__")


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if SIGINT or SIGTERM arrived since :func:`interruptible` began."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextmanager
def interruptible():
    """Within this block SIGINT and SIGTERM raise KeyboardInterrupt and are remembered for :func:`check`.
    Blocks nest; only the main thread can install signal handlers, elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is _handler:
        yield  # not the main thread, or already inside an interruptible block
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
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
