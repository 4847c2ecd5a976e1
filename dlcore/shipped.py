"""The search spaces and run configs shipped inside the package, found by name from any directory.

They live in ``dlcore/resources/`` (package data, so a wheel holds them); the checkout's top-level
``search_spaces/`` and ``experiments/course/`` are symlinks to those folders, the copies users browse and
edit, so there is one copy of each file. They are read with ``importlib.resources``: a wheel is always
unpacked on disk by pip, so the folder is a real directory and its files have paths (which the run
config's relative ``data.path`` and the space's recorded source need).
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePosixPath

from .config import ConfigError

# kind -> (folder in dlcore/resources, what it is called in messages, folder names a user may write before it)
KINDS = {
    "space": ("search_spaces", "search space", ("search_spaces",)),
    "config": ("course", "run config", ("experiments/course", "course")),
}


def shipped_dir(kind: str) -> Path:
    return Path(str(files("dlcore") / "resources" / KINDS[kind][0]))


def shipped_names(kind: str) -> list[str]:
    return sorted(p.stem for p in shipped_dir(kind).glob("*.toml"))


def resolve(path, kind: str) -> Path:
    """``path`` if it exists (or is absolute); else the shipped file it names: ``planar`` by name, or as the
    checkout spells it (``search_spaces/planar.toml``; for run configs ``experiments/course/deep.toml``,
    ``course/deep`` or ``deep``), so that the README's commands work from any directory and from a wheel.
    A bare name that is neither a file here nor shipped is refused naming the shipped ones; any other
    missing path is returned as given, for reading it to say it is missing."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    name = _shipped_name(p, kind)
    if name is None:
        return p
    candidate = shipped_dir(kind) / f"{name}.toml"
    if name and candidate.is_file():
        return candidate
    if len(p.parts) == 1:
        raise ConfigError(f"{path}: no such file, nor a shipped {KINDS[kind][1]} of that name "
                          f"(shipped: {', '.join(shipped_names(kind))})")
    return p


def _shipped_name(p: Path, kind: str) -> str | None:
    """The shipped name ``p`` stands for, if it has the form of one: ``name`` or ``FOLDER/name[.toml]``
    (``planar.toml`` alone is a file name, not a shipped name)."""
    if len(p.parts) == 1:
        return None if p.name.endswith(".toml") else p.name
    if str(PurePosixPath(*p.parts[:-1])) in KINDS[kind][2]:
        return p.name.removesuffix(".toml")
    return None
