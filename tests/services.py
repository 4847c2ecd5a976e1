"""Real servers for the tests, on loopback: PostgreSQL from Debian's packages and `mlflow server`.

Each is installed when missing (apt-get, as root) and started in a temporary directory; a test that
cannot have one skips, saying why.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _apt_install(*packages):
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
    return subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env, capture_output=True,
                          timeout=1200).returncode == 0


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres():
    """A PostgreSQL server on 127.0.0.1 with databases ``optuna`` and ``mlflow``; yields a URL prefix
    like ``postgresql://postgres@127.0.0.1:PORT``. Its files live in a fresh folder under /tmp that the
    postgres user can reach (pytest's own temporary folders are private to root)."""
    bindir = _pg_bin()
    if bindir is None and _apt_install("postgresql"):
        bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed and could not be installed (apt-get install postgresql, as root)")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    tmp = Path(tempfile.mkdtemp(prefix="dlcore-pg-"))
    data, sock = tmp / "pgdata", tmp / "pgsock"
    for d in (data, sock):
        d.mkdir(parents=True)
        if as_pg:
            shutil.chown(d, "postgres", "postgres")
    if as_pg:
        shutil.chown(tmp, "postgres", "postgres")
    port = free_port()
    run = lambda *a: subprocess.run(as_pg + list(map(str, a)), capture_output=True, text=True, timeout=120, check=True)
    run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    run(bindir / "pg_ctl", "-D", data, "-w", "-l", data / "log", "-o",
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start")
    try:
        for db in ("optuna", "mlflow"):
            run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", db)
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(as_pg + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True,
                       timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


def wait_http(url: str, proc=None, timeout: float = 180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        time.sleep(0.5)
    raise TimeoutError(f"no answer from {url} in {timeout} s")


@contextmanager
def mlflow_server(backend_uri: str, artifacts: Path):
    """``mlflow server`` on 127.0.0.1 with the given backend store, serving artifacts from ``artifacts``."""
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(artifacts.parent / "mlflow-server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
                             "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
