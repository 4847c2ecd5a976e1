"""The progress bar: tqdm's, on stderr, drawn in a terminal (a real pseudo-terminal here), never with
--json, never on stdout, never into a pipe."""
import fcntl
import io
import os
import pty
import struct
import termios
import subprocess
import sys

from dlcore.progress import Progress
from tests.conftest import ROOT


def run_with_terminal_stderr(*args):
    """``python -m dlcore ARGS`` with stderr on a pseudo-terminal (stdout a pipe); returns (code, stdout, stderr)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal 120 columns wide
    p = subprocess.Popen([sys.executable, "-m", "dlcore", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal's last end
            break
        if not chunk:
            break
        chunks.append(chunk)
    out = p.stdout.read().decode()
    p.stdout.close()
    os.close(master)
    return p.wait(timeout=600), out, b"".join(chunks).decode(errors="replace")


def test_train_draws_a_bar_on_a_terminal_and_none_with_json():
    code, out, err = run_with_terminal_stderr("train", "experiments/course/planar.toml", "--set",
                                              "train.iterations=400", "--no-track")
    assert code == 0, err
    assert "train: 100%" in err and "400/400" in err and "cost 0." in err
    assert "400/400" not in out and out.startswith("planar: net 2-4-1")  # the summary is unchanged, on stdout
    code, out, err = run_with_terminal_stderr("train", "experiments/course/planar.toml", "--set",
                                              "train.iterations=400", "--no-track", "--json")
    assert code == 0 and "400/400" not in err and "|" not in err
    assert out.lstrip().startswith("{")


def test_search_draws_one_step_per_trial_with_the_best_so_far(tmp_path):
    code, out, err = run_with_terminal_stderr("search", "planar", "--trials", "2", "--no-track",
                                              "--store", str(tmp_path / "store"))
    assert code == 0, err
    assert "search planar: 100%" in err and "2/2" in err and "best " in err
    assert out.startswith("study 'planar': 2 trials")


def test_the_bar_is_off_in_a_pipe_unless_forced():
    quiet, forced = io.StringIO(), io.StringIO()
    for stream, enabled in ((quiet, None), (forced, True)):
        bar = Progress(5, "work", stream=stream, enabled=enabled)
        for i in range(5):
            bar.update(i + 1, "note", force=True)
        bar.close()
    assert quiet.getvalue() == ""
    assert "work: 100%" in forced.getvalue() and "5/5" in forced.getvalue() and "note" in forced.getvalue()
    off = io.StringIO()
    bar = Progress(5, "work", stream=off, enabled=False)
    bar.update(5, "note", force=True)
    bar.close()
    assert off.getvalue() == ""
