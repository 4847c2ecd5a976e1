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
    from .search.study import check_storage_url

    if sqlite_file(url) == "":
        raise ConfigError(f"--storage {url}: an in-memory database dies with its process: workers and later "
                          "commands could never see its trials; use sqlite:///PATH or postgresql://")
    check_storage_url(url)


def check_tracking_uri(uri: str) -> None:
    """An MLflow tracking URI dlcore can use: a server (http, https) or a database (not the file store)."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme == "file" or not scheme:
        raise ConfigError(f"--tracking-uri {uri}: MLflow's file store is not supported (MLflow 3 refuses it); "
                          "use sqlite:///PATH/mlflow.db or http://HOST:PORT, or --store DIR")
    if scheme not in TRACKING_SCHEMES:
        raise ConfigError(f"--tracking-uri {uri}: unsupported scheme {scheme!r}; use http://HOST:PORT, "
                          "sqlite:///PATH/mlflow.db or a database URI (postgresql://, mysql://, mssql://)")
    if sqlite_file(uri) == "":
        raise ConfigError(f"--tracking-uri {uri}: an in-memory database dies with its process; "
                          "use sqlite:///PATH/mlflow.db")


def sqlite_file(url: str) -> str | None:
    """The database file of a sqlite:/// URL; '' for an in-memory one; None for other URLs."""
    if not url.startswith("sqlite:"):
        return None
    path = url.split("://", 1)[1][1:] if "://" in url else ""
    path = path.split("?", 1)[0]
    return "" if path in ("", ":memory:") else os.path.expanduser(path)


def check_existing_sqlite(url: str, option: str) -> None:
    """A read-only command never creates a database: refuse a sqlite URL whose file does not exist."""
    path = sqlite_file(url)
    if path is not None and not os.path.isfile(path):
        raise StoreError(f"{option} {url}: no such database file" + (f" {path}" if path else "")
                         + " (read-only commands never create one)")


__all__ = ["check_existing_sqlite", "check_storage", "check_tracking_uri", "sqlite_file"]
