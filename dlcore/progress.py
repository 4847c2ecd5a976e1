"""Progress bars through ``tqdm.auto``: a line on stderr in a terminal, a widget in Jupyter.

By default a bar is drawn only where someone watches it: stderr is a terminal, or the code runs in a
notebook kernel (whose stderr is no terminal, yet shows the widget). Pipes, logs and ``--json`` get none.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager


def in_notebook() -> bool:
    """Whether ``tqdm.auto`` chose its notebook bar (an IPython kernel with ipywidgets): it imports
    ``tqdm.autonotebook`` with its notebook-mode warning silenced and keeps what it found."""
    from tqdm import auto

    return auto.notebook_tqdm is not auto.std_tqdm


class Progress:
    """``update(done, note)`` moves the bar to ``done`` of ``total`` with ``note`` after it; ``enabled``
    None means: only in a terminal or a notebook (see above); True or False force it."""

    def __init__(self, total: int, label: str = "", stream=None, enabled: bool | None = None):
        from tqdm.auto import tqdm  # here: `dlcore --help` and the other commands never import it

        stream = stream or sys.stderr
        if enabled is None:
            enabled = in_notebook() or (hasattr(stream, "isatty") and stream.isatty())
        self.bar = tqdm(total=max(int(total), 1), desc=label, file=stream, disable=not enabled,
                        dynamic_ncols=True, leave=True)

    def update(self, done: int, note: str = "", force: bool = False):
        """tqdm redraws at most every 0.1 s; ``force`` redraws now (a search's trials are worth each line)."""
        if self.bar.disable:
            return
        if note:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.update(done - self.bar.n)
        if force:
            self.bar.refresh()

    def close(self):
        self.bar.close()


@contextmanager
def trial_progress(total: int, label: str, enabled: bool | None = None):
    """A bar over a search's trials; yields ``on_trial(study, trial)`` that moves it and shows the best so
    far. ``enabled``: None (a terminal or a notebook), True or False."""
    bar = Progress(total, label, enabled=enabled)
    done = [0]

    def on_trial(study, trial):
        from .search.study import best_trial

        done[0] += 1
        best = best_trial(study)
        bar.update(done[0], f"best {best.value:.4g} (trial {best.number})" if best else "no complete trial yet",
                   force=True)
    try:
        yield on_trial
    finally:
        bar.close()


@contextmanager
def iteration_progress(total: int, label: str, enabled: bool | None = None):
    """A bar over a training's iterations; yields ``update(done, cost)``."""
    bar = Progress(total, label, enabled=enabled)
    try:
        yield lambda done, cost: bar.update(done, f"cost {cost:.4f}")
    finally:
        bar.close()
