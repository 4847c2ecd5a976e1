"""One check per rule for the places dlcore writes to: Optuna storage URLs and MLflow tracking URIs.

Each check reads the text only (it connects to nothing and creates nothing) and raises a ConfigError
whose message is the CLI's one-line error. The CLI and the public API both call these.
"""
from __future__ import annotations

import os

from .errors import ConfigError, StoreError

TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql")


def check_storage(url: str) -> None:
    """An Optuna storage dlcore can use: SQLite on a file or PostgreSQL, with its driver installed."""
    from .search.storage import check_storage_url

    check_storage_url(url)


def check_tracking_uri(uri: str) -> None:
    """An MLflow tracking URI dlcore can use: a server (http, https) or a database (not the file store,
    not an in-memory SQLite that dies with its process)."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme == "file" or not scheme:
        raise ConfigError(f"--tracking-uri {uri}: MLflow's file store is not supported (MLflow 3 refuses it); "
                          "use sqlite:///PATH/mlflow.db or http://HOST:PORT, or --store DIR")
    if scheme == "sqlite":
        from .search.storage import in_memory_sqlite

        if in_memory_sqlite(uri):
            raise ConfigError(f"--tracking-uri {uri} is in memory, which lives and dies with one process: "
                              "workers and later commands could never see its runs; use sqlite:///PATH")
    if scheme not in TRACKING_SCHEMES:
        raise ConfigError(f"--tracking-uri {uri}: unsupported scheme {scheme!r}; use http://HOST:PORT, "
                          "sqlite:///PATH/mlflow.db or a database URI (postgresql://, mysql://, mssql://)")


def check_existing_sqlite(url: str, option: str) -> None:
    """A read-only command never creates a database: refuse a sqlite URL whose file does not exist."""
    from .sqlite_files import sqlite_path

    if not url.startswith("sqlite:"):
        return
    path = sqlite_path(url)
    if path is None or not os.path.isfile(path):
        raise StoreError(f"{option} {url}: no such database file" + (f" {path}" if path else "")
                         + " (read-only commands never create one)")


__all__ = ["check_existing_sqlite", "check_storage", "check_tracking_uri"]
