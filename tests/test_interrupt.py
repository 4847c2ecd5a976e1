"""Ctrl-C is never lost: an interrupt that Python swallows (raised inside a ``__del__`` or weakref
callback, as SQLAlchemy's GC hooks run during a search) is raised again by the training loop."""
from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time

import pytest

from dlcore import interrupt
from dlcore.config import load_run_config
from dlcore.runner import train_run
from tests.conftest import ROOT

PLANAR = ROOT / "experiments" / "course" / "planar.toml"


class GcHook:
    """Receives SIGINT while Python runs its finaliser, where the KeyboardInterrupt is ignored."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)


def test_a_swallowed_interrupt_still_stops_training(monkeypatch):
    cfg = load_run_config(PLANAR, ["train.iterations=5000"])
    steps, ignored = [], []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: ignored.append(u.exc_type))
    with interrupt.interruptible():
        GcHook()  # a signal landing in __del__ is only remembered: raised there, Python would print
        assert ignored == []  # "Exception ignored" (sys.unraisablehook) and drop it
        with pytest.raises(KeyboardInterrupt):
            train_run(cfg, on_step=lambda i, costs, val: steps.append(i), every=100)
    assert steps == []  # raised at the first callback, before the caller's on_step
    assert not interrupt.requested()  # leaving the block forgets it


def test_without_an_interrupt_training_runs_to_the_end():
    cfg = load_run_config(PLANAR, ["train.iterations=300"])
    with interrupt.interruptible():
        out = train_run(cfg, every=100)
    assert out.result.status == "completed" and len(out.result.costs) == 300


def test_blocks_nest_and_restore_the_previous_handlers():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupt.interruptible():
        inner = signal.getsignal(signal.SIGINT)
        with interrupt.interruptible():
            assert signal.getsignal(signal.SIGINT) is inner
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
        assert interrupt.requested()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_held_defers_inside_a_block_and_leaves_a_callers_handler_alone():
    with interrupt.interruptible():
        with interrupt.held():
            os.kill(os.getpid(), signal.SIGINT)  # only remembered
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *a: caught.append(a[0]))
    try:
        with interrupt.held():  # outside a block: the caller's handler is the one that runs
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        assert caught == [signal.SIGINT] and not interrupt.requested()
    finally:
        signal.signal(signal.SIGINT, previous)


def _spin_until_interrupted(limit=30.0):
    """Run Python bytecode (where a held signal is delivered again) until a KeyboardInterrupt; the limit
    only stops a broken build from hanging."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pass
    raise AssertionError("the held signal never came back")


def test_a_signal_inside_eval_is_raised_after_the_eval():
    """Raised out of an eval(), CPython 3.11 would kill the process with SIGINT at exit even if caught."""
    with interrupt.interruptible():
        value = eval("__import__('os').kill(__import__('os').getpid(), 2) or sum(range(10 ** 5)) and 42")
        assert value == 42  # the eval ran to its end
        with pytest.raises(KeyboardInterrupt):
            _spin_until_interrupted()


def test_a_signal_inside_a_database_write_waits_for_its_commit(tmp_path):
    """A Ctrl-C inside SQLAlchemy: the transaction completes (no lock left held), then the interrupt."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as c:
        c.execute(sa.text("create table t (x integer)"))
    sent = []

    def ctrl_c_once(*_):  # from inside SQLAlchemy's execute, the first statement of the transaction
        if not sent:
            sent.append(os.kill(os.getpid(), signal.SIGINT))

    sa.event.listen(engine, "before_cursor_execute", ctrl_c_once)
    with interrupt.interruptible():
        with engine.begin() as c:
            c.execute(sa.text("insert into t values (1)"))
            c.execute(sa.text("insert into t values (2)"))
        with pytest.raises(KeyboardInterrupt):
            _spin_until_interrupted()
    engine.dispose()
    with sqlite3.connect(tmp_path / "db.sqlite") as c:
        assert c.execute("select x from t").fetchall() == [(1,), (2,)]
