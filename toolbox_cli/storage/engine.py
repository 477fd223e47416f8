"""Engines for the datamart and source databases, and turning driver errors into exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from toolbox_cli.errors import ConfigError, DatabaseUnreachable, NoDatabase, TaskFailed
from toolbox_cli.settings import Settings
from toolbox_cli.storage.schema import check_ledger, upgrade_ledger
from toolbox_cli.storage.sqlite_rows import PRAGMAS

# MySQL error codes that mean "the server is not there / went away" vs "you got it wrong".
_MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055}
_MYSQL_ACCESS_DENIED = {1045, 1698}  # the login itself
_MYSQL_NO_RIGHTS = {1044}  # a good login without rights on this database (or no such one)
_MYSQL_UNKNOWN_DB = {1049}


def is_mysql(engine: Engine) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


def make_engine(url: URL, *, create: bool = False) -> Engine:
    """An engine for ``url``. Only ``create`` (``db init``, ``demo``) may bring a new SQLite
    file and its directory into being; otherwise a missing file is an error, so a command
    run from the wrong directory or with a mistyped path never makes an empty database."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, create=create)
    connect_args: dict[str, object] = {
        "connect_timeout": 10, "local_infile": True, "charset": "utf8mb4",
    }
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600, connect_args=connect_args)


def _sqlite_engine(url: URL, *, create: bool) -> Engine:
    connect_args: dict[str, object] = {"timeout": 30}
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        from pathlib import Path

        path = Path(url.database)
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the data directory {path.parent}: {exc.strerror}; "
                    "set TOOLBOX_DATA_DIR or TOOLBOX_DATABASE_URL to a writable place"
                ) from None
        else:
            if not path.is_file():
                raise NoDatabase(
                    f"no toolbox database at {path.resolve()}; run toolbox db init "
                    "(or run from the project directory, or set TOOLBOX_DATABASE_URL)"
                )
            # Open read-write without ever creating the file, even if it vanishes meanwhile.
            url = url.set(database=f"file:{path.resolve()}?mode=rw", query={"uri": "true"})
    engine = create_engine(url, connect_args=connect_args)

    # pysqlite opens transactions lazily and never around DDL; take control so that a
    # table swap (DROP + ALTER ... RENAME) happens inside one real transaction.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in PRAGMAS:  # WAL (readers keep the old table during a swap), timeouts
            cur.execute(pragma)
        cur.close()

    # IMMEDIATE: a transaction takes the write lock when it begins, waiting for it up to the
    # busy timeout. A deferred one that read first (an import reads its keys, then writes)
    # gets "database is locked" at once, with no wait, when another connection wrote in
    # between: SQLite cannot upgrade its stale snapshot. The source readers do not go
    # through here (``frames.py``: plain statements, no transaction), so reads never wait.
    # The price: a second connection of this process opened inside a write transaction
    # waits for that transaction; the code never nests them (one connection per block).
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def sqlite_path(url: URL) -> str:
    """The file of a SQLite URL as the user wrote it, also when the engine opened it as a
    URI (``file:/abs/toolbox.db?mode=rw``: read-write, never created)."""
    db = url.database or ":memory:"
    if db.startswith("file:"):
        db = db[len("file:"):].split("?", 1)[0]
    return db


def describe_location(url: URL) -> str:
    """Where a database is, for messages: ``SQLite file /path`` or ``database x on
    host:port``; never a driver URI, never a password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {sqlite_path(url)}"
    return f"database {url.database} on {url.host or 'localhost'}:{url.port or 3306}"


def translate_db_error(exc: BaseException, url: URL) -> Exception | None:
    """A ToolboxError for a connection-level failure, or None if it is something else."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    where = describe_location(url)
    if code in _MYSQL_ACCESS_DENIED:
        return ConfigError(
            f"{where} refused the login for user {url.username!r}; "
            "check the user and TOOLBOX_DATABASE_PASSWORD"
        )
    if code in _MYSQL_NO_RIGHTS:
        return ConfigError(
            f"user {url.username!r} may not use {where} (it has no rights on it, or the "
            "database does not exist); ask a DBA for GRANT ALL PRIVILEGES on it, or create it "
            "with toolbox db init as a user who may")
    if code in _MYSQL_UNKNOWN_DB:
        return ConfigError(
            f"{where} does not exist; toolbox db init creates it (or fix the URL)"
        )
    if code in _MYSQL_UNREACHABLE:
        return DatabaseUnreachable(
            f"cannot reach {where}; is the server running and the address right?"
        )
    if url.get_backend_name() == "sqlite" and isinstance(exc, OperationalError):
        text = str(orig)
        if "unable to open database" in text or "readonly" in text:
            return ConfigError(f"cannot open {where}: {text}; check the path and permissions")
        if "disk is full" in text:
            return TaskFailed(f"cannot write {where}: its disk is full; free space on that "
                              "disk and run again")
    return None


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        err = translate_db_error(exc, engine.url)
        if err is not None:
            raise err from None
        raise


@dataclass
class Engines:
    datamart: Engine
    source: Engine

    def dispose(self) -> None:
        self.datamart.dispose()
        if self.source is not self.datamart:
            self.source.dispose()


def open_engines(settings: Settings, *, check: bool = True, create: bool = False) -> Engines:
    """Engines for the datamart (with the ledger) and the source database.

    Without ``create`` both must exist and the datamart must hold a current ledger
    (``toolbox db init`` makes and upgrades it); otherwise a one-line NoDatabase error.
    """
    datamart_url = settings.datamart_url()
    source_url = settings.source_database_url()
    datamart = make_engine(datamart_url, create=create)
    source = datamart if source_url == datamart_url else make_engine(source_url, create=create)
    if check:
        check_connection(datamart)
        if source is not datamart:
            check_connection(source)
        if not create:
            check_ledger(datamart, describe_location(datamart_url))
    return Engines(datamart, source)


@contextlib.contextmanager
def engines_for(settings: Settings, *, check: bool = True, create: bool = False
                ) -> Iterator[Engines]:
    engines = open_engines(settings, check=check, create=create)
    try:
        yield engines
    finally:
        engines.dispose()


@dataclass
class SchemaChanges:
    """What ``init_schema`` did: tables created, the ledger's note (``upgraded …`` or
    ``current …``), the legacy's views created and dropped (decision 24)."""

    created: list[str]
    ledger: str
    views_created: list[str]
    views_dropped: list[str]


def init_schema(engines: Engines, *, legacy_views: bool = True) -> SchemaChanges:
    """Create every missing table, bring the ledger up to date and keep the legacy's views
    (``legacy_views``: the setting ``TOOLBOX_LEGACY_VIEWS``; false drops them). Idempotent."""
    from toolbox_cli.storage.tables import datamart_metadata, ledger_tables, source_metadata

    existing = {id(engines.source): set(inspect(engines.source).get_table_names()),
                id(engines.datamart): set(inspect(engines.datamart).get_table_names())}
    note = upgrade_ledger(engines.datamart,
                          lambda conn: datamart_metadata.create_all(conn, tables=ledger_tables()))
    created: list[str] = []
    for metadata, engine in ((source_metadata, engines.source), (datamart_metadata, engines.datamart)):
        metadata.create_all(engine, checkfirst=True)
        created += [t for t in metadata.tables if t not in existing[id(engine)]]
    views_created, views_dropped = keep_legacy_views(engines.datamart, legacy_views)
    return SchemaChanges(created, note, views_created, views_dropped)


def keep_legacy_views(engine: Engine, enabled: bool) -> tuple[list[str], list[str]]:
    """Decision 24: a view ``SELECT * FROM <table>`` under each datamart table's
    ``info["legacy_name"]`` (``CXCPagosFact`` over ``cxc_pagos_fact``, ...), so a dashboard
    built on the legacy reads the toolbox's table unchanged, through every swap. MariaDB
    re-creates them at each call (its view keeps the column list of its creation); SQLite
    creates the missing ones. ``enabled`` false drops them. A real table under a legacy name
    (the legacy's own, in a shared datamart) is never touched. Returns (created, dropped),
    the views that were not there before and the ones that were removed."""
    from toolbox_cli.storage.tables import datamart_metadata

    pairs = [(t.info["legacy_name"], t.name) for t in datamart_metadata.tables.values()
             if t.info.get("legacy_name")]
    found = inspect(engine)
    views, tables = set(found.get_view_names()), set(found.get_table_names())
    q = engine.dialect.identifier_preparer.quote
    created, dropped = [], []
    with engine.begin() as conn:
        for view, table in pairs:
            if view in tables:
                continue
            if not enabled:
                if view in views:
                    conn.exec_driver_sql(f"DROP VIEW {q(view)}")
                    dropped.append(view)
                continue
            if is_mysql(engine):
                conn.exec_driver_sql(f"CREATE OR REPLACE VIEW {q(view)} AS SELECT * FROM {q(table)}")
            else:
                conn.exec_driver_sql(f"CREATE VIEW IF NOT EXISTS {q(view)} AS SELECT * FROM {q(table)}")
            if view not in views:
                created.append(view)
    return created, dropped


def row_counts(engine: Engine, names: Iterable[str]) -> dict[str, int]:
    """Rows in each of the tables ``names`` (0 for a table that does not exist yet): the one
    row counter, for the guard's live tables, the runner's required sources and ``demo``."""
    names = list(names)
    existing = set(inspect(engine).get_table_names())
    q = engine.dialect.identifier_preparer.quote
    counts = {}
    with engine.connect() as conn:
        for name in names:
            counts[name] = int(conn.exec_driver_sql(
                f"SELECT COUNT(*) FROM {q(name)}").scalar_one()) if name in existing else 0
    return counts


def check_source_tables(engine: Engine, reads: tuple[str, ...], requires: tuple[str, ...]
                        ) -> list[str]:
    """Fail unless the task's source tables exist (NoDatabase, exit 2); return the required
    ones that hold no rows (the runner refuses to compute from those).

    Checked before any computation so a run fails naming the table, not with a driver's
    ``no such table`` or by publishing tables computed from nothing."""
    where = describe_location(engine.url)
    present = set(inspect(engine).get_table_names())
    missing = [t for t in reads if t not in present]
    if missing:
        raise NoDatabase(f"source table {missing[0]} is missing in {where}"
                         + (f" (also {', '.join(missing[1:])})" if missing[1:] else "")
                         + "; run toolbox db init")
    return [name for name, count in row_counts(engine, requires).items() if count == 0]
