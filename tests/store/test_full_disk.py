"""A full disk during a search gives one line and leaves consistent records (issue 9, item 6).

The store lives on a small tmpfs mounted for the test (root only; skipped with the reason otherwise).
A filler file takes the disk down to ``FREE`` bytes; a search of many trials then runs out of space
part-way, in the real command line. It must end with one line and exit 2, its parent run closed, no
trial or run RUNNING; once the filler is gone, the next search works and the store stays consistent.
The moment the disk fills varies with the bytes written, never the outcome that is asserted.
"""
from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from dlcore.disk import RESERVE, RESERVE_BYTES
from tests.store.integrity import check_store, runs_of
from tests.store.test_faults import finish, space_file, start

SIZE = "24m"            # the tmpfs: the store of a few trials (~6.5 MiB: the databases, the write-ahead log and
                         # the parent run's report.html, ~4.7 MiB with plotly.js embedded) fits
FREE = 96 * 1024        # left free by the filler: a few trials' writes, far fewer than the search asks


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the full disk needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:  # lazily: this process's own readers (check_store) may still hold the databases open
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def fill(disk: Path, leave: int, store: Path) -> Path:
    """Write a filler until the disk is full (ENOSPC), then give back ``leave`` bytes. First the
    write-ahead log that the last command's read-only reader left is folded into optuna.db (what the
    next writer's first connection does, freeing its space), so that ``leave`` is what is free."""
    con = sqlite3.connect(store / "optuna.db")
    con.execute("SELECT count(*) FROM sqlite_master").fetchall()
    con.close()
    assert not (store / "optuna.db-wal").exists()
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: a failed write leaves nothing to flush
        for block in (1 << 20, 1 << 16, 1 << 12):
            while True:
                try:
                    f.write(b"\0" * block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
        f.truncate(max(0, f.tell() - leave))
    assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize < leave + RESERVE_BYTES
    return filler


def digest(store: Path) -> dict:
    """Every file of the store, byte for byte (read as files: no database connection is left open)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(store.rglob("*")) if p.is_file()}


def search(space, store, trials):
    return finish(start("search", space, "--store", store, "--trials", trials), timeout=600)


def one_line(p, *texts):
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr[-3000:])
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("dlcore: error: "), p.stderr[-3000:]
    for text in texts:
        assert text in lines[0], lines[0]


def test_a_full_disk_mid_search_is_one_line_and_consistent(small_disk, tmp_path):
    space, store = space_file(tmp_path, "moons", trials=2), small_disk / "store"
    p = search(space, store, 2)
    assert p.returncode == 0, p.stderr[-3000:]
    assert os.stat(store / RESERVE).st_blocks * 512 >= RESERVE_BYTES  # made with the store, allocated
    filler = fill(small_disk, FREE, store)

    p = search(space, store, 200)
    one_line(p, "disk full", str(store))
    counts = check_store(store, "moons")  # nothing RUNNING, every trial with its run, states by the table
    assert 2 < counts["trials"] < 2 + 200, counts  # it ran on into the full disk, and stopped there
    parents = {r.info.run_name: r for r in runs_of(store, "moons") if r.data.tags.get("dlcore.kind") == "search"}
    failed = parents["search-2+200"]
    assert failed.info.status == "FAILED" and "disk full" in failed.data.tags["dlcore.state_reason"]

    filler.unlink()
    assert check_store(store, "moons") == counts  # freeing space changes nothing recorded
    p = search(space, store, 2)
    assert p.returncode == 0, p.stderr[-3000:]
    after = check_store(store, "moons")
    assert after["trials"] == counts["trials"] + 2 and after["runs"] == after["trials"], after
    assert after["parents"] == 3 and (store / RESERVE).is_file()  # the reserve is back for the next time


def test_a_disk_too_full_to_start_is_refused_before_writing(small_disk, tmp_path):
    space, store = space_file(tmp_path, "moons", trials=2), small_disk / "store"
    assert search(space, store, 2).returncode == 0
    (store / RESERVE).unlink()  # given up by an earlier full disk
    filler = fill(small_disk, RESERVE_BYTES // 2, store)
    before = digest(store)
    one_line(search(space, store, 2), "disk full", str(store), f"{RESERVE_BYTES // 1024} KiB")
    assert digest(store) == before and not (store / RESERVE).exists()
    filler.unlink()
    assert search(space, store, 2).returncode == 0
    assert check_store(store, "moons")["trials"] == 4 and (store / RESERVE).is_file()
