"""``dlcore ui``: the MLflow UI on the embedded store, and a server that stops with it."""
from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
import time

from .. import interrupt
from ..errors import ConfigError, StoreError


def cmd_ui(args) -> int:
    from ..tracking.store import resolve_store

    store = resolve_store(args.store)
    if not (store.root / "mlflow.db").is_file():
        raise StoreError(f"no MLflow store at {store.root} (no mlflow.db): run 'dlcore search' first or pass --store")
    store.open()  # refuses a half-built mlflow.db; re-roots a moved store, whose artifacts the UI serves
    _warn_if_exposed(args.host, "the UI (and its REST API, which can write)")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store.tracking_uri,
           "--default-artifact-root", store.artifact_root.as_uri(), "--host", args.host, "--port", str(args.port),
           "--workers", "1"]
    if args.allowed_hosts:  # else MLflow's default: localhost and private addresses (DNS-rebinding check)
        cmd += ["--allowed-hosts", args.allowed_hosts]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    _check_can_listen(args.host, args.port)
    print(f"MLflow UI for {store.root}: http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    code = _serve(cmd, env)
    if code is None:  # stopped by Ctrl-C or SIGTERM
        return 0
    if code == 0:  # `mlflow server` exits 0 even when its server failed: it only ends by itself on failure
        print(f"dlcore: error: the MLflow server on {args.host}:{args.port} stopped (see its output above)",
              file=sys.stderr)
        return 1
    return code


def cmd_dashboard(args) -> int:
    """optuna-dashboard on the store's Optuna storage (the optional extra ``dashboard``), bound as ``dlcore ui``."""
    import importlib.util
    from pathlib import Path

    from ..tracking.store import resolve_store

    store = resolve_store(args.store)
    if not (store.root / "optuna.db").is_file():
        raise StoreError(f"no Optuna storage at {store.root} (no optuna.db): run 'dlcore search' first or pass --store")
    if importlib.util.find_spec("optuna_dashboard") is None:
        raise ConfigError("optuna-dashboard is not installed: pip install 'dlcore[dashboard]'")
    _warn_if_exposed(args.host, "the dashboard (which can write to the study)")
    _check_can_listen(args.host, args.port, "the dashboard")
    # its console script is its only documented entry point (the package has no __main__)
    script = Path(sys.executable).with_name("optuna-dashboard")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from optuna_dashboard._cli import main; main()"]
    cmd += [store.optuna_url, "--host", args.host, "--port", str(args.port)]
    print(f"optuna-dashboard for {store.root}: http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    code = _serve(cmd, dict(os.environ))
    if code is None:
        return 0
    if code == 0:
        print(f"dlcore: error: optuna-dashboard on {args.host}:{args.port} stopped (see its output above)",
              file=sys.stderr)
        return 1
    return code


def _warn_if_exposed(host: str, what: str):
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print(f"dlcore: warning: binding {host} exposes {what} to the network; it has no authentication",
              file=sys.stderr)


def _serve(cmd, env, grace: float = 10.0):
    """Run the server in its own process group and wait; on Ctrl-C or SIGTERM stop the whole group
    (`mlflow server` starts uvicorn as a child of its own, which outlived a kill of its parent alone).
    Returns the server's exit code, or None when it was stopped here."""
    import signal

    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        with interrupt.deferred():
            _stop_group(proc, signal.SIGTERM, grace)
        return None
    finally:
        if proc.poll() is None:  # another error: never leave the server behind
            _stop_group(proc, signal.SIGKILL, grace)


def _stop_group(proc, sig, grace: float):
    """``sig`` to the server's process group, up to ``grace`` seconds for every member to leave, then
    SIGKILL to what is left."""
    import signal

    deadline = time.monotonic() + grace
    try:
        os.killpg(proc.pid, sig)
        while group_alive(proc.pid) and time.monotonic() < deadline:
            proc.poll()  # reap the leader as soon as it ends
            time.sleep(0.1)
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies, which nothing can stop, do not count)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for pid in filter(str.isdigit, entries):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def _check_can_listen(host: str, port: int, what: str = "the UI"):
    """A one-line error, not the server's traceback, when host:port cannot be bound (in use, not ours)."""
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise ConfigError(f"--host {host!r}: cannot resolve it ({e.strerror})") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            s.bind(addr)
        except OSError as e:
            raise ConfigError(f"cannot serve {what} on {host}:{port}: {e.strerror or e}") from None


def _port(text: str) -> int:
    """argparse type of --port: a whole number in 1..65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 1..65535 (got {port})")
    return port
