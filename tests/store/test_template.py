"""A new store's mlflow.db is a copy of one empty database built once per machine and MLflow version
(``dlcore.tracking.store.template``), re-rooted to the store: the same schema and rows MLflow's own
migrations give in place, and never a damaged or unusable template.

Real MLflow migrations, real SQLite files, a real MLflow client reading the copies back.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dlcore.tracking.store import TEMPLATE_ARTIFACTS, prepare_tracking_db, template


def build(root: Path) -> Path:
    db = root / "mlflow.db"
    prepare_tracking_db(f"sqlite:///{db}", root / "artifacts")
    return db


def schema(db: Path) -> list:
    """Every table, index and trigger with its definition's lines as a set: MLflow's migrations recreate
    some tables with their constraints in set order, which varies from one Python process to the next."""
    with sqlite3.connect(db) as con:
        found = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return sorted(((t, n, tb, frozenset(x.strip().rstrip(",") for x in (sql or "").splitlines()))
                   for t, n, tb, sql in found), key=repr)


def rows(db: Path, sql: str) -> list:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def test_a_copy_equals_mlflows_own_migrations_and_names_its_own_root(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    cache = tmp_path / "cache"
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(cache))
    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    made = list(cache.glob("mlflow-*.db"))
    assert len(made) == 1 and made[0] == template()
    monkeypatch.setenv("DLCORE_CACHE_DIR", "")  # in place: what MLflow itself makes
    own = build(tmp_path / "c")
    assert list(cache.glob("mlflow-*.db")) == made
    assert schema(first) == schema(second) == schema(own)
    tables = [r[0] for r in rows(own, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:  # every row alike but the Default experiment's location and times
        if table != "experiments":
            assert rows(second, f'SELECT * FROM "{table}"') == rows(own, f'SELECT * FROM "{table}"'), table
    (exp_b,), (exp_c,) = rows(second, "SELECT * FROM experiments"), rows(own, "SELECT * FROM experiments")
    assert exp_b[2] == (tmp_path / "b" / "artifacts").as_uri() + "/0"
    assert exp_c[2] == (tmp_path / "c" / "artifacts").as_uri() + "/0"
    assert exp_b[:2] + exp_b[3:4] + exp_b[6:] == exp_c[:2] + exp_c[3:4] + exp_c[6:]
    assert abs(exp_b[4] - exp_c[4]) < 600_000 and exp_b[4] == exp_b[5]  # dated when copied, not when built
    assert TEMPLATE_ARTIFACTS.as_uri() in rows(made[0], "SELECT artifact_location FROM experiments")[0][0]

    client = MlflowClient(f"sqlite:///{second}")  # the copy works as a store: the Default experiment's
    run = client.create_run("0")                     # artifacts go under the copy's root
    client.log_text(run.info.run_id, "hello", "x.txt")
    assert (tmp_path / "b" / "artifacts").as_uri() in run.info.artifact_uri
    assert list((tmp_path / "b" / "artifacts").rglob("x.txt"))


@pytest.mark.parametrize("damage", [b"not a database", b""])
def test_a_damaged_template_is_built_again(tmp_path, monkeypatch, damage):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(cache))
    path = template()
    good = schema(path)
    path.write_bytes(damage)
    db = build(tmp_path / "s")
    assert schema(db) == good and schema(path) == good
    assert rows(db, "SELECT artifact_location FROM experiments") == [((tmp_path / "s" / "artifacts").as_uri() + "/0",)]


def test_a_cache_that_cannot_be_written_leaves_the_store_migrated_in_place(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(blocker / "cache"))  # under a file: mkdir fails
    assert template() is None
    db = build(tmp_path / "s")
    assert rows(db, "SELECT artifact_location FROM experiments") == [((tmp_path / "s" / "artifacts").as_uri() + "/0",)]
    assert blocker.read_text() == ""


def test_an_empty_cache_dir_setting_writes_no_template(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    build(tmp_path / "s")
    assert template() is None
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()
