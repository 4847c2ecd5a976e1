"""What a run logs as its MLflow dataset inputs, built as plain dicts (no MLflow here; ``Tracker.log_inputs``
turns them into MLflow's entities).

Why dataset inputs and not only params: MLflow's UI fills its Dataset column and its dataset filter from
them. One input per split the run used, each with its context (``training``, ``validation``, ``test``).
MLflow keeps one input per (name, digest) per run, so the splits need distinct digests: the training
split carries the first 8 hex of the data's sha256 fingerprint (the UI reads "cat (6db178f7)"), the
others a digest of that fingerprint and how they were drawn. The full fingerprint is in each profile
(and in the run's ``data_fingerprint`` param, as before).
"""
from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

from ..data.datasets import GENERATED
from ..data.files import cat_directory

DIGEST_LENGTH = 8


def dataset_name(data) -> str:
    """The name the UI shows: the dataset's own (cat, planar, ...) or the file's name for csv and npz."""
    return Path(data.path).name if data.name in ("csv", "npz") and data.path else data.name


def dataset_source(data) -> tuple[str, str]:
    """(source type, source): the file or directory read, or the generator and the arguments it ran with
    (its own defaults where the config left them unset)."""
    if data.name in GENERATED:
        defaults = {k: p.default for k, p in inspect.signature(GENERATED[data.name]).parameters.items()}
        args = {"m": data.n_samples, "noise": data.noise, "seed": data.seed}
        resolved = {k: (v if v is not None else defaults.get(k)) for k, v in args.items() if k in defaults}
        return "code", json.dumps({"generator": data.name, **resolved}, sort_keys=True)
    if data.name == "cat":
        return "local", str(cat_directory(data.path))
    return "local", str(Path(data.path).resolve()) if data.path else data.name


def split_digest(fingerprint: str, context: str, how: str) -> str:
    """The training split's digest is the fingerprint's; another split's hashes the fingerprint with how it
    was drawn, so two runs share a validation input exactly when they validated on the same examples."""
    if context == "training":
        return fingerprint[:DIGEST_LENGTH]
    return hashlib.sha256(f"{fingerprint}:{context}:{how}".encode()).hexdigest()[:DIGEST_LENGTH]


def dataset_inputs(data, fingerprint: str, sizes: dict, how: dict | None = None) -> list[dict]:
    """The inputs of a run on data config ``data`` whose loaded arrays have ``fingerprint``: one per
    context in ``sizes`` (context -> number of examples, 0 or missing: not used), ``how`` saying how each
    split was drawn (e.g. "3-fold x 1, split_seed 0"). Each is {name, digest, source_type, source,
    profile, context}."""
    how = how or {}
    source_type, source = dataset_source(data)
    out = []
    for context in ("training", "validation", "test"):
        n = sizes.get(context) or 0
        if n <= 0:
            continue
        profile = {"num_examples": int(n), "fingerprint": fingerprint, "split": how.get(context, "")}
        out.append({"name": dataset_name(data), "digest": split_digest(fingerprint, context, how.get(context, "")),
                    "source_type": source_type, "source": source, "profile": json.dumps(profile),
                    "context": context})
    return out


def split_protocol(data, folds: int = 0, repeats: int = 1) -> dict:
    """How each split of a run was drawn, in words that make equal splits' digests equal."""
    validation = (f"{folds}-fold x {repeats}, split_seed {data.split_seed}" if folds >= 2 else
                  f"hold-out {data.validation_fraction:g}, split_seed {data.split_seed}")
    test = ("the dataset's own test files" if data.name == "cat" else
            f"test_fraction {data.test_fraction:g}, split_seed {data.split_seed}")
    return {"training": "", "validation": validation, "test": test}


__all__ = ["dataset_inputs", "dataset_name", "dataset_source", "split_digest", "split_protocol"]
