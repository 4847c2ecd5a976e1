"""The embedded default store: one directory holding Optuna's and MLflow's databases and the artifacts.

    <store>/optuna.db          Optuna's RDB storage (SQLite)
    <store>/mlflow.db          MLflow's tracking store (SQLite) -- a separate database from Optuna's
    <store>/artifacts/         MLflow artifacts, one folder per experiment
    <store>/dlcore-store.json  the marker: where the store was when its artifact locations were written
    <store>/.create.lock       the creation lock (dlcore/sqlite_files.py)
    <store>/.reserve           space given up when the disk fills mid-search (dlcore/disk.py)

The store is ``--store DIR``, else ``$DLCORE_STORE``, else ``./mlruns``; paths are made absolute so
that the working directory of later commands does not matter.

A store is self-contained: MLflow records absolute artifact URIs (each experiment's artifact location,
each run's artifact URI, logged models' and model versions' locations), so a store copied or moved
elsewhere would go on reading and writing the old place. The marker records the root those URIs were
written for; a command that opens the store where the marker says it is not rewrites them, once, in
the store's own mlflow.db, and says so on stderr. A copy therefore never touches its original.
"""
from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.request import url2pathname

from ..config import ConfigError
from ..disk import ensure_reserve
from ..sqlite_files import build_once, creation_lock, read_rows, sqlite_path, table_names

MARKER = "dlcore-store.json"


@dataclass(frozen=True)
class Store:
    root: Path

    @property
    def optuna_url(self) -> str:
        return f"sqlite:///{self.root / 'optuna.db'}"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.root / "artifacts"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def exists(self) -> bool:
        return (self.root / "optuna.db").is_file() or (self.root / "mlflow.db").is_file()

    def create(self) -> "Store":
        """The directory and its marker (idempotent, safe from many processes at once); re-rooted if
        it was moved. The databases are built by their first user (``make_storage``, ``Tracker``). The
        reserve is made (or remade) here: a disk too full for it is refused before anything is written."""
        self.root.mkdir(parents=True, exist_ok=True)
        ensure_reserve(self.root)
        return self.open()

    def open(self) -> "Store":
        """Refuse a half-built mlflow.db, then re-root the store if it is not where its marker says.
        Takes the creation lock only when something must be written."""
        mlflow_db = self.root / "mlflow.db"
        if mlflow_db.is_file():
            check_mlflow_db(mlflow_db)
        if self.recorded_root() == str(self.root) and self.artifact_root.is_dir():
            return self
        try:
            with creation_lock(self.root):
                self.artifact_root.mkdir(exist_ok=True)
                old = self.recorded_root() or legacy_root(mlflow_db) or str(self.root)
                if old != str(self.root) and mlflow_db.is_file():
                    n = reroot(mlflow_db, Path(old), self.root)
                    print(f"dlcore: store moved from {old} to {self.root}: re-rooted {n} artifact locations",
                          file=sys.stderr)
                self._write_marker()
        except OSError as e:  # a read-only store is read as it is; moved, its artifacts are found inside it
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise ConfigError(f"{self.root} cannot be opened ({e.strerror}: {e.filename})") from None
        return self

    def recorded_root(self) -> str | None:
        try:
            return json.loads(self.marker.read_text())["root"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_marker(self):
        tmp = self.marker.with_name(f".{MARKER}.{os.getpid()}")
        tmp.write_text(json.dumps({"root": str(self.root), "format": 1}) + "\n")
        os.replace(tmp, self.marker)


def moved_from(root: Path) -> str | None:
    """Where the store at ``root`` was when its artifact locations were written, if that is elsewhere
    and they were not rewritten (a read-only store, which cannot be re-rooted): readers then find each
    artifact inside ``root`` instead (``Tracker.load_arrays``)."""
    old = Store(Path(root)).recorded_root()
    return old if old is not None and old != str(root) else None


def resolve_store(option: str | None = None) -> Store:
    return Store(Path(option or os.environ.get("DLCORE_STORE") or "mlruns").expanduser().resolve())


def prepare_tracking_db(tracking_uri: str, artifact_root: Path | None) -> None:
    """Before MLflow's first touch of a SQLite tracking database: build it whole if it is absent, refuse
    it if it is half-built, and re-root the store it belongs to if that was moved. Other URIs (a
    server, PostgreSQL) pass through."""
    path = sqlite_path(tracking_uri)
    if path is None:
        return
    path = Path(os.path.abspath(path))
    if artifact_root is not None and Path(artifact_root) == path.parent / "artifacts" and path.name == "mlflow.db":
        store = Store(path.parent)
        if path.exists():
            store.open()
        else:
            store.root.mkdir(parents=True, exist_ok=True)
            with creation_lock(store.root):  # the marker before the database: artifact locations need it
                store.create()
                build_once(path, functools.partial(_build_mlflow_db, artifact_root=store.artifact_root))
        return
    if path.exists():
        check_mlflow_db(path)
    else:
        build_once(path, functools.partial(_build_mlflow_db, artifact_root=artifact_root))


def _build_mlflow_db(tmp: Path, artifact_root: Path | None):
    """The new mlflow.db on its temporary file: a copy of this machine's template for this MLflow (see
    ``template``), its artifact locations re-rooted and its Default experiment dated now, or, without a
    usable template, MLflow's own first touch on the file."""
    root = artifact_root or tmp.parent / "mlruns"
    source = template()
    if source is None:
        _migrate(tmp, root)
        return
    shutil.copyfile(source, tmp)
    reroot(tmp, TEMPLATE_ARTIFACTS, root)
    now = int(time.time() * 1000)
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.execute("UPDATE experiments SET creation_time = ?, last_update_time = ?", (now, now))
    finally:
        con.close()


# MLflow's migrations (some sixty, with alembic) take seconds; their result depends on nothing but MLflow's
# version and the artifact root written into the Default experiment, so it is built once per machine and copied.
TEMPLATE_ARTIFACTS = Path("/dlcore-template/artifacts")  # the root the template is built for, re-rooted in copies


def template_dir() -> Path | None:
    """Where the template lives: $DLCORE_CACHE_DIR, else $XDG_CACHE_HOME/dlcore, else ~/.cache/dlcore;
    None (every store migrated in place) when DLCORE_CACHE_DIR is set to the empty string."""
    if "DLCORE_CACHE_DIR" in os.environ:
        d = os.environ["DLCORE_CACHE_DIR"]
        return Path(d).expanduser() if d else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlcore"


def template() -> Path | None:
    """An empty mlflow.db of this MLflow's schema, built whole (``build_once``) in ``template_dir``, checked
    before each use; a damaged one is built again. None when the directory cannot be used (read-only,
    full, no home): the caller migrates in place, as it would without a template."""
    import mlflow

    try:
        d = template_dir()
    except RuntimeError:  # no home directory to find ~/.cache in
        return None
    if d is None:
        return None
    path = d / f"mlflow-{mlflow.__version__}-{mlflow_head_revision()}.db"
    for _ in range(2):
        try:
            d.mkdir(parents=True, exist_ok=True)
            build_once(path, functools.partial(_migrate, root=TEMPLATE_ARTIFACTS))
            check_mlflow_db(path)
            if read_rows(path, "PRAGMA quick_check") == [("ok",)]:
                return path
        except (OSError, ConfigError, sqlite3.Error):
            pass
        try:
            with creation_lock(d):
                path.unlink(missing_ok=True)
        except OSError:
            return None
    return None


def _migrate(tmp: Path, root: Path):
    """MLflow's own first touch (all migrations, the Default experiment), on the temporary file."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{tmp}"
    SqlAlchemyStore(uri, root.as_uri())
    engine = SqlAlchemyStore._engine_map.pop(uri, None)  # closed before the file is renamed
    if engine is not None:
        engine.dispose()


@functools.lru_cache(maxsize=1)
def mlflow_head_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def check_mlflow_db(path: Path):
    """A one-line ConfigError for a mlflow.db MLflow cannot use as it is: half-built by an interrupted
    creation (an older dlcore built it in place) or from an older MLflow."""
    try:
        tables = table_names(path)
        rows = read_rows(path, "SELECT version_num FROM alembic_version")
    except sqlite3.DatabaseError as e:
        raise ConfigError(f"{path}: cannot read it as an MLflow database ({e})") from None
    rev, head = (rows[0][0] if rows else None), mlflow_head_revision()
    if "experiments" in tables and rev == head:
        return
    found = f"schema revision {rev}" if rev else "no schema revision"
    raise ConfigError(f"{path} is half-built or from an older MLflow ({found}, this MLflow needs {head}): "
                      f"move it aside to start a new store, or back it up and run "
                      f"'mlflow db upgrade sqlite:///{path}' if an older MLflow made it")


def legacy_root(mlflow_db: Path) -> str | None:
    """Where a store without a marker (made before dlcore wrote one) was created: the folder above the
    ``artifacts/`` folder that most of its experiments' artifact locations name."""
    if not mlflow_db.is_file():
        return None
    roots = Counter()
    for (location,) in read_rows(mlflow_db, "SELECT artifact_location FROM experiments") or []:
        if location and location.startswith("file://"):
            p = Path(url2pathname(location[len("file://"):]))
            if p.parent.name == "artifacts":
                roots[str(p.parent.parent)] += 1
    return roots.most_common(1)[0][0] if roots else None


def reroot(mlflow_db: Path, old: Path, new: Path) -> int:
    """Rewrite every absolute ``file:`` URI under ``old`` to the same place under ``new``, in every
    text column of every MLflow table (experiments, runs, logged models, model versions, and whatever
    a later schema adds), in one transaction; returns how many values changed. Run under the creation
    lock; running it again changes nothing."""
    old_uri, new_uri = old.as_uri(), new.as_uri()
    con = sqlite3.connect(mlflow_db, timeout=60, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        n = 0
        for table in sorted(table_names(mlflow_db) - {"alembic_version"}):
            for _, column, kind, *_ in con.execute(f'PRAGMA table_info("{table}")').fetchall():
                if not any(t in kind.upper() for t in ("CHAR", "TEXT", "CLOB")):
                    continue
                n += con.execute(
                    f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                    f'WHERE substr("{column}", 1, ?) = ? OR "{column}" = ?',
                    (new_uri, len(old_uri) + 1, len(old_uri) + 1, old_uri + "/", old_uri)).rowcount
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return n
