"""Optuna studies: samplers, pruners, opening (or continuing) a study, reading one back."""
from __future__ import annotations

import os
import warnings

import optuna

from ..config import ConfigError
from ..sqlite_files import build_once, read_rows, table_names
from .space import SearchSpace, space_from_doc, space_to_doc


def make_sampler(name: str, seed: int):
    """TPE, random, QMC or CMA-ES, seeded.

    TPE is multivariate (Optuna 5's default for one objective) with ``group=True`` and the constant
    liar. A space whose n_units_l2.. exist only for some n_layers is dynamic: with group=False the
    multivariate TPE models the always-present parameters jointly and samples the rest independently;
    grouped, it models jointly each set of parameters that always occur together. In dlcore's layer
    space those sets are {learning_rate, n_layers, init_scale, ...}, {n_units_l1}, {n_units_l2}, ...
    (n_units_l1 occurs without n_units_l2), the same factorisation, so group=True costs nothing here
    and helps spaces whose conditional parameters come in larger blocks."""
    s = optuna.samplers
    if name == "tpe":
        with warnings.catch_warnings():  # group is experimental and warns so on every search
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return s.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    if name == "random":
        return s.RandomSampler(seed=seed)
    if name == "qmc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return s.QMCSampler(seed=seed, scramble=True)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401 -- Optuna's CMA-ES needs it, and says so only in the second trial
        except ImportError:
            raise ConfigError("study.sampler 'cmaes' needs the cmaes package: pip install 'dlcore[cmaes]'") from None
        return s.CmaEsSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}")


def make_pruner(name: str, warmup_steps: int = 0):
    """Median (after 5 trials and ``warmup_steps``), Hyperband, Wilcoxon, or none.

    Wilcoxon (k-fold spaces only: space.py refuses it otherwise) pairs the trial's per-fold values
    with the best trial's on the same folds and prunes once a one-sided signed-rank test says the
    trial is worse (p < 0.1); the objective reports each fold's own value at step f for it. The exact
    test's smallest p-value with n pairs is 1/2**n (0.125 for three, 0.0625 for four), and a trial is
    judged before its last fold only: so Wilcoxon can prune with k >= 5 folds, never with fewer."""
    p = optuna.pruners
    if name == "median":
        return p.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup_steps)
    if name == "wilcoxon":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return p.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2)
    return {"hyperband": p.HyperbandPruner, "none": p.NopPruner}[name]()


HEARTBEAT_INTERVAL = int(os.environ.get("DLCORE_HEARTBEAT_INTERVAL", "5"))  # seconds


SUPPORTED_STORAGES = "sqlite:///PATH or postgresql://USER@HOST/DB"
SQLITE_BUSY_TIMEOUT = 60  # seconds a writer waits for another process's transaction to end


def check_storage_url(url: str) -> None:
    """Refuse, as a ConfigError, an Optuna storage URL dlcore cannot use: a scheme other than SQLite or
    PostgreSQL (the trial budget's lock exists for those two only), or one whose database driver is
    not installed. Checks the URL only: connects to nothing and creates nothing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    dialect = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if not (url.startswith("sqlite:///") or dialect == "postgresql"):
        raise ConfigError(f"unsupported Optuna storage {redact(url)}: use {SUPPORTED_STORAGES}")
    if dialect == "sqlite" and in_memory_sqlite(url):
        raise ConfigError(f"Optuna storage {url} is in memory, which lives and dies with one process: workers "
                          "and later commands could never see its trials; use sqlite:///PATH")
    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, ValueError) as e:
        raise ConfigError(f"cannot open Optuna storage {redact(url)}: {str(e).splitlines()[0]}") from None
    except (NoSuchModuleError, ImportError) as e:
        raise ConfigError(f"cannot open Optuna storage {redact(url)}: its database driver is not "
                          f"installed ({str(e).splitlines()[0]}); install it, or use postgresql:// with psycopg "
                          "(pip install 'dlcore[postgres]')") from None


class HeartbeatStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, whose stale trials dlcore fails itself (``budget.close_dead_trials``, under
    the study's lock, storing the reason on the trial first). Optuna's own check, before every trial,
    would fail them with no reason, and a finished trial takes no attribute afterwards."""

    def _get_stale_trial_ids(self, study_id: int) -> list:
        return []  # what optuna.storages.fail_stale_trials asks: nothing, dlcore does it

    def stale_trial_ids(self, study_id: int) -> list:
        """RUNNING trials whose heartbeat is older than the grace period (by the database's clock)."""
        return super()._get_stale_trial_ids(study_id)


def stale_trial_ids(study) -> list:
    storage = getattr(study._storage, "_backend", study._storage)  # Optuna wraps it in a _CachedStorage
    return storage.stale_trial_ids(study._study_id) if isinstance(storage, HeartbeatStorage) else []


def in_memory_sqlite(url: str) -> bool:
    """Whether a sqlite URL names no file: sqlite://, sqlite:///:memory:, or a URI with mode=memory."""
    path = url.split("://", 1)[1][1:] if "://" in url else ""
    name, _, query = path.partition("?")
    return name in ("", ":memory:") or name.startswith("file::memory:") or "mode=memory" in query


def make_storage(url, read_only: bool = False):
    """An RDB storage (SQLite or PostgreSQL) with Optuna's heartbeat: a trial whose worker stops
    beating for 3 intervals is failed by the next process that asks for a trial (``HeartbeatStorage``).
    Other URLs are refused (``check_storage_url``); storage objects pass through. A new SQLite file
    is built whole by one process (``build_once``); a half-built one is refused. ``read_only`` (the
    commands that only read) opens a SQLite file read-only, without switching it to the write-ahead
    log, so that a read-only store can be read."""
    if not isinstance(url, str):
        return url
    check_storage_url(url)
    from ..preflight import check_database, read_only_url
    from ..sqlite_files import sqlite_path

    path = sqlite_path(url)
    if read_only and path is not None:
        check_database(path, "Optuna's storage", write=False)
        return _read_only_storage(url, read_only_url(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sqlite = url.startswith("sqlite:")
        try:
            if path is not None:
                build_once(path, _build_optuna_db)  # a fresh file appears whole, built by one process
                check_optuna_db(path)
        except OSError as e:
            raise ConfigError(f"cannot open Optuna storage {redact(url)}: {e}") from None
        try:
            storage = HeartbeatStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=3 * HEARTBEAT_INTERVAL,
                                       skip_table_creation=path is not None,  # built whole by build_once
                                       engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
                                       if sqlite else None)
            if sqlite:
                _share_sqlite_between_processes(storage.engine)
            return storage
        except Exception as e:  # noqa: BLE001 -- SQLAlchemy and driver errors vary; say which storage
            raise ConfigError(f"cannot open Optuna storage {redact(url)}: {str(e).splitlines()[0]}") from None


def _build_optuna_db(tmp):
    """Optuna's own creation (tables, version row, Alembic stamp) on the temporary file."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
    storage.engine.dispose()


def check_optuna_db(path):
    """A one-line ConfigError for an existing SQLite file that is not a whole Optuna storage (one an
    interrupted creation left half-built, or another program's file); Optuna would otherwise complete
    it in place. A whole one from an older Optuna is left to Optuna's own check, which says how to
    upgrade it."""
    import sqlite3

    from optuna.storages._rdb import models

    try:
        missing = sorted((set(models.BaseModel.metadata.tables) | {"alembic_version"}) - table_names(path))
        stamped = not missing and read_rows(path, "SELECT 1 FROM version_info") and \
            read_rows(path, "SELECT version_num FROM alembic_version")
    except sqlite3.DatabaseError as e:
        raise ConfigError(f"{path}: cannot read it as an Optuna storage ({e})") from None
    if missing or not stamped:
        what = f"no table {', '.join(missing)}" if missing else "no schema version"
        raise ConfigError(f"{path} is not a whole Optuna storage ({what}): it was left half-built or made by "
                          "another program; move it aside to start a new store")


def _read_only_storage(url: str, ro_url: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(ro_url, engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}})
    except Exception as e:  # noqa: BLE001 -- SQLAlchemy and driver errors vary; say which storage
        raise ConfigError(f"cannot open Optuna storage {redact(url)} read-only: {str(e).splitlines()[0]}") from None


def _share_sqlite_between_processes(engine):
    """Several processes (workers, their heartbeat threads, the parent) write one SQLite file. A
    transaction that reads, then writes, while another holds the write lock gets "database is locked" at
    once: SQLite cannot wait there without a deadlock. Beginning every transaction with BEGIN IMMEDIATE
    takes the lock first, so writers queue (up to SQLITE_BUSY_TIMEOUT) instead of failing; this is
    SQLAlchemy's documented recipe for pysqlite. The write-ahead log in NORMAL sync makes each commit
    cheaper (benchmarks/bench_storage.py)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # the driver issues no BEGIN of its own
        # Write-ahead log, synced at checkpoints: a commit no longer waits for fsync. A crash of the
        # process loses nothing; a power cut can lose the last commits, never the database.
        dbapi_connection.execute("PRAGMA journal_mode = WAL")
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while creating the tables predate the listeners


def redact(url) -> str:
    """A storage URL without its password; for a storage object, its URL (else its type's name)."""
    if not isinstance(url, str):
        inner = getattr(url, "_backend", url)  # Optuna wraps an RDBStorage in a _CachedStorage
        url = getattr(inner, "url", None) or getattr(url, "url", None) or type(url).__name__
    s = str(url)
    if "://" in s and "@" in s:
        scheme, rest = s.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        if ":" in cred:
            return f"{scheme}://{cred.split(':')[0]}:***@{host}"
    return s


def check_study(space: SearchSpace, storage):
    """Refuse, reading only, a search that ``open_study`` would refuse: the space's study exists with
    another direction or objective. Run before either database is written."""
    try:
        study = optuna.load_study(study_name=space.study.name, storage=storage)
    except KeyError:
        return
    stored = study.direction.name.lower()
    if stored != space.direction:
        raise ConfigError(f"study {space.study.name!r} exists with direction {stored}; "
                          f"{space.source} asks {space.direction}")
    check_same_objective(study, space)


def open_study(space: SearchSpace, storage):
    """Create the study, or load it when it exists (then its direction must match the space's)."""
    st = space.study
    study = optuna.create_study(study_name=st.name, storage=storage, load_if_exists=True,
                                direction=space.direction, sampler=make_sampler(st.sampler, st.seed),
                                pruner=make_pruner(st.pruner, warmup_steps(space)))
    check_study(space, storage)
    if "metric" not in study.user_attrs:
        study.set_user_attr("metric", st.metric)
        study.set_user_attr("space_source", space.source)
    if study.metric_names is None:  # optuna-dashboard and Optuna's plots then say the metric, not "Objective 0"
        with warnings.catch_warnings():  # experimental since 3.2, and warns so
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([st.metric])
    study.set_user_attr("space", space_to_doc(space))  # what `dlcore worker` rebuilds the space from
    return study


def check_same_objective(study, space: SearchSpace):
    """Continuing a study with a space whose values mean something else (another metric, protocol or
    dataset) would mix incomparable trials: refuse, naming the first difference."""
    old = study.user_attrs.get("space")
    if not old:
        return
    old, new = stored_doc(old), space_to_doc(space)
    check_protocol(old, study.study_name, space.source)
    for section, keys in (("study", ("metric", "folds", "repeats")), ("data", tuple(sorted(set(old["data"]) | set(new["data"]))))):
        for key in keys:
            a, b = old[section].get(key), new[section].get(key)
            if a != b:
                raise ConfigError(f"{space.source}: study {study.study_name!r} exists with {section}.{key} = {a!r}, "
                                  f"this space has {b!r}: its trials would not compare; use another --study name")


def warmup_steps(space: SearchSpace) -> int:
    """Steps before the median pruner may act: a quarter of the (shortest) training for a hold-out,
    where steps are iterations; with k folds, where steps are folds, one: a single fold is too noisy to
    judge a trial by (on the cat data, pruning after the first fold pruned 72 of 100 trials)."""
    if space.study.folds >= 2:
        return 1
    it = space.space.iterations
    shortest = int(it.low) if hasattr(it, "low") else (it or space.base.train.iterations)
    return shortest // 4


def load_study(name: str, storage, sampler=None, pruner=None):
    """An existing study, or a ConfigError saying which studies there are."""
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise ConfigError(f"no study {name!r} in {redact(storage)}"
                          + (f" (studies: {', '.join(names)})" if names else " (it holds no studies)")) from None


def counts_by_state(study) -> dict:
    out = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def best_trial(study):
    """The best COMPLETE trial, or None."""
    try:
        return study.best_trial
    except ValueError:
        return None


def space_of(study) -> SearchSpace:
    """The search space a study was created with (stored in its user attributes)."""
    doc = study.user_attrs.get("space")
    if doc is None:
        raise ConfigError(f"study {study.study_name!r} holds no dlcore search space: was it created by dlcore search?")
    doc = stored_doc(doc)
    check_protocol(doc, study.study_name, f"study {study.study_name!r}")  # a worker must not mix protocols either
    return space_from_doc(doc, f"study {study.study_name!r}")


def check_protocol(stored: dict, name: str, where: str):
    """Refuse to add trials to a k-fold study stored before per-fold seeds (see ``stored_doc``)."""
    if "repeats" not in stored.get("study", {}):
        raise ConfigError(f"{where}: study {name!r} was created before each fold trained from its own seed: "
                          "its trials would not compare; use another --study name")


def stored_doc(doc: dict) -> dict:
    """A space as a study stored it (``space_to_doc``, which writes data.standardize resolved). A stored
    space without data.standardize predates input scaling: its trials fed the data unscaled, so it
    reads as standardize = false (``RunConfig.from_logged`` reads logged run configs the same way).
    One without study.repeats predates per-fold seeds: a hold-out study's protocol has not changed
    (repeats = 1); a k-fold one's has, and it stays without the key (check_same_objective refuses it)."""
    data, st = doc.get("data"), doc.get("study")
    if isinstance(data, dict) and "standardize" not in data:
        doc = {**doc, "data": {**data, "standardize": False}}
    if isinstance(st, dict) and "repeats" not in st and st.get("folds", 0) < 2:
        doc = {**doc, "study": {**st, "repeats": 1}}
    return doc
