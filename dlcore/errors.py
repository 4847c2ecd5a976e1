"""dlcore's one exception family. Each message is the one line the CLI prints after ``dlcore: error:``.

    DlcoreError
    ├── ConfigError     a run config, search space, option or URL that cannot be used
    ├── DataError       a dataset that cannot be loaded, split or scored
    ├── StoreError      a store (Optuna's or MLflow's database, the artifacts) that cannot be used
    └── ReproduceError  a run that cannot be reproduced (nothing is trained or logged)

They are ``ValueError``s too, so code written against earlier versions that caught ValueError still works.
"""
from __future__ import annotations


class DlcoreError(ValueError):
    """Base of every error dlcore raises on purpose; its message names the file, key or value."""


class ConfigError(DlcoreError):
    """A config that cannot be used; the message names the file, the key and the value."""


class DataError(DlcoreError):
    """A dataset file or split that cannot be used; the message names the file and the problem."""


class StoreError(DlcoreError):
    """A store that cannot be opened, created or written; the message names the file and what to do."""


class ReproduceError(DlcoreError):
    """A refusal to reproduce a run: nothing is trained or logged."""


__all__ = ["ConfigError", "DataError", "DlcoreError", "ReproduceError", "StoreError"]


def describe(e: BaseException) -> str:
    """``Type: message``, or the type alone when the message is empty (``assert`` failures, say)."""
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
