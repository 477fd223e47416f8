"""The datamart writer: replace whole tables atomically, from Polars frames.

Each new table is built in a staging table, chunk by chunk, and only when every table of
the call is complete (and passed the guard) are they swapped in: MySQL/MariaDB with one
``RENAME TABLE`` statement (atomic for all its pairs), SQLite with DROP + ALTER TABLE ...
RENAME inside one transaction. Readers see the old rows or the new rows; a failed or killed
run leaves the old tables as they were (at worst a staging table is left behind, named
``<table>__stg_<tag>``, and dropped by the next run with that tag or by
``drop_staging_tables``).

Before writing, a frame is put in the table's shape (``prepare``): its columns in table
order, each cast to the column's type, and every Numeric column rounded half-up to the
column's scale (decisions 12: once, here, the same on both backends). Then:

- MySQL/MariaDB: ``LOAD DATA LOCAL INFILE`` from a CSV file Polars writes into the run's
  scratch directory (strings quoted, quotes doubled, NULL bare, no backslash escapes), or a
  multi-row INSERT where the server refuses LOCAL INFILE;
- SQLite: ``executemany`` over the frame's rows (dates and datetimes as the text SQLAlchemy
  stores), through the same SQLite library as everything else (see ``frames.py``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
from sqlalchemy import Date, DateTime, Integer, MetaData, Numeric, Table, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.engine import is_mysql, load_table_modules
from toolbox_cli.storage.guard import ShrinkGuard
from toolbox_cli.storage.tables import datamart_metadata

log = logging.getLogger("toolbox")

# MySQL/MariaDB answers that mean "LOAD DATA LOCAL is not allowed here": fall back.
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 3950}
_NO_LOCAL_INFILE: set[str] = set()  # servers that refused LOAD DATA LOCAL in this process
_LOCAL_INFILE_OK: set[str] = set()  # servers that took it
# Rows per INSERT statement on the fallback path.
INSERT_ROWS = 1000
# SQLAlchemy's text for SQLite dates and datetimes (what it writes and reads back).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
# Relative error bound (with a wide safety factor) between a float scaled by 10**scale and
# the exact scaled value of its shortest decimal text: a few units of 2**-52.
_HALF_UP_MARGIN = 4e-15


def staging_name(table: str, tag: str) -> str:
    return f"{table}__stg_{tag}"


def _old_name(table: str, tag: str) -> str:
    return f"{table}__old_{tag}"


def datamart_table(name: str) -> Table:
    load_table_modules()
    try:
        return datamart_metadata.tables[name]
    except KeyError:
        raise TaskFailed(f"no datamart table named {name!r} is defined") from None


def _staging_copy(table: Table, name: str) -> Table:
    copy = table.to_metadata(MetaData(), name=name)
    # SQLite index names are global to the database: a copied index would clash with the live
    # table's. Datamart tables carry no secondary indexes, but be safe.
    copy.indexes.clear()
    return copy


def half_up(value: float, scale: int) -> float:
    """``float(Decimal(repr(value)).quantize(10**-scale, ROUND_HALF_UP))`` (decisions 12:
    half-up on the float's shortest decimal text); NaN and infinities are refused."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(value)
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP))


def round_half_up(values: pl.Series, scale: int) -> pl.Series:
    """``half_up`` of every value, vectorised.

    The shortest decimal text of a float and ``value * 10**scale`` differ by a few units in
    the last binary place at most, so unless the scaled value lies within that distance of a
    half (a tie, or too close to call), both round the same way and the rounded value is an
    integer divided by 10**scale: a correctly rounded division, the same float that
    ``float(Decimal)`` gives. The close calls (and huge values) take the Decimal route, one
    by one; there are few.
    """
    factor = float(10**scale)
    frame = pl.DataFrame({"v": values.cast(pl.Float64)})
    scaled = pl.col("v").abs() * factor
    whole = scaled.floor()
    rest = scaled - whole
    margin = scaled * _HALF_UP_MARGIN
    fast = (pl.when(scaled >= 1e15).then(None)
            .when(rest - 0.5 > margin).then(whole + 1)
            .when(0.5 - rest > margin).then(whole)) / factor
    # copysign: -0.001 rounds to -0.0, as copysign((whole) / factor, value) does.
    signed = pl.when(pl.col("v") < 0).then(-fast).when(pl.col("v") == 0).then(pl.col("v")) \
        .otherwise(fast)
    out = frame.select(signed.alias("r"), pl.col("v"))
    close = out["r"].is_null() & out["v"].is_not_null()
    if not close.any():
        return out["r"].alias(values.name)
    exact = [half_up(v, scale) if c else r
             for v, r, c in zip(out["v"].to_list(), out["r"].to_list(), close.to_list(),
                                strict=True)]
    return pl.Series(values.name, exact, dtype=pl.Float64)


def _columns(table: Table) -> list[Any]:
    # The surrogate autoincrement key is left to the database.
    return [c for c in table.columns if c is not table.autoincrement_column]


def prepare(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """The frame in the table's shape: its columns in table order, typed, money rounded."""
    columns = _columns(table)
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise TaskFailed(f"{table.name}: the computed rows have no {', '.join(missing)}")
    out = []
    for column in columns:
        values = frame[column.name]
        kind = column.type
        if isinstance(kind, Integer):
            values = values.cast(pl.Int64)
        elif isinstance(kind, Numeric):
            values = values.cast(pl.Float64)
            bad = values.is_nan() | values.is_infinite()
            if bad.any():
                value = values.filter(bad)[0]
                raise TaskFailed(f"{table.name}.{column.name}: {value} cannot be stored")
            if kind.scale is not None:
                values = round_half_up(values, kind.scale)
        elif isinstance(kind, DateTime):
            values = values.cast(pl.Datetime("us"))
        elif isinstance(kind, Date):
            values = values.cast(pl.Date)
        else:
            values = values.cast(pl.String)
        out.append(values.alias(column.name))
    return pl.DataFrame(out) if out else pl.DataFrame()


def build_staging(
    engine: Engine,
    table: Table,
    frames: Iterable[pl.DataFrame],
    *,
    tag: str,
    check_alive: Callable[[], None] = lambda: None,
) -> int:
    """Create ``<table>__stg_<tag>`` and fill it from ``frames``; returns the row count."""
    staging = _staging_copy(table, staging_name(table.name, tag))
    staging.drop(engine, checkfirst=True)
    staging.create(engine)
    bulk = bulk_load_available(engine)
    count = 0
    with engine.connect() as conn:
        for frame in frames:
            check_alive()
            rows = prepare(frame, table)
            if not rows.height:
                continue
            if bulk:
                _load_data(conn, staging.name, rows)
            elif is_mysql(engine):
                _insert_mysql(conn, staging.name, rows)
            else:
                _insert_sqlite(conn, staging.name, rows)
            count += rows.height
            pause_point("staging")
    return count


def _quoted_columns(conn: Connection, rows: pl.DataFrame) -> str:
    q = conn.dialect.identifier_preparer.quote
    return ", ".join(q(n) for n in rows.columns)


def _insert_sqlite(conn: Connection, name: str, rows: pl.DataFrame) -> None:
    texts = rows.with_columns(
        [pl.col(c).dt.strftime(_SQLITE_DATETIME) for c, t in rows.schema.items()
         if isinstance(t, pl.Datetime)]
        + [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in rows.schema.items() if t == pl.Date])
    q = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {q(name)} ({_quoted_columns(conn, rows)}) "
           f"VALUES ({', '.join('?' * rows.width)})")
    with conn.begin():
        conn.connection.driver_connection.executemany(sql, texts.iter_rows())


def _insert_mysql(conn: Connection, name: str, rows: pl.DataFrame) -> None:
    q = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {q(name)} ({_quoted_columns(conn, rows)}) "
           f"VALUES ({', '.join(['%s'] * rows.width)})")
    for part in rows.iter_slices(INSERT_ROWS):
        with conn.begin():
            conn.exec_driver_sql(sql, list(part.iter_rows()))


def bulk_load_available(engine: Engine) -> bool:
    """Whether the writer will use LOAD DATA LOCAL on this database (MySQL/MariaDB that
    allow it). Probed once per server and process, with an empty file into a temporary
    table, before any row is written."""
    if not is_mysql(engine):
        return False
    key = str(engine.url)
    if key in _NO_LOCAL_INFILE:
        return False
    if key in _LOCAL_INFILE_OK:
        return True
    try:
        with engine.connect() as conn, tempfile.NamedTemporaryFile("w", suffix=".csv") as empty:
            conn.exec_driver_sql("CREATE TEMPORARY TABLE toolbox_probe (x INT)")
            conn.exec_driver_sql(
                "LOAD DATA LOCAL INFILE %s INTO TABLE toolbox_probe (x)", (empty.name,))
            conn.exec_driver_sql("DROP TEMPORARY TABLE toolbox_probe")
    except DBAPIError as exc:
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if code not in _LOCAL_INFILE_REFUSED:
            raise
        log.info("LOAD DATA LOCAL refused (%s); using multi-row INSERT", code)
        _NO_LOCAL_INFILE.add(key)
        return False
    _LOCAL_INFILE_OK.add(key)
    return True


def _load_data(conn: Connection, table_name: str, rows: pl.DataFrame) -> None:
    """One chunk through LOAD DATA LOCAL INFILE: text quoted (quotes doubled inside), NULL
    written bare (a quoted "NULL" stays text), no escape character, so backslashes, tabs and
    newlines inside values need no escaping; the file lives in the run's scratch directory."""
    q = conn.dialect.identifier_preparer.quote
    with tempfile.NamedTemporaryFile("wb", suffix=".csv") as fh:
        rows.write_csv(fh, include_header=False, null_value="NULL", quote_style="non_numeric",
                       datetime_format="%Y-%m-%d %H:%M:%S%.6f", date_format="%Y-%m-%d")
        fh.flush()
        pause_point("load_file")
        with conn.begin():
            # Notes (e.g. a datetime's zero fraction dropped) are not recorded; warnings,
            # which mean a value did not fit, still are.
            conn.exec_driver_sql("SET SESSION sql_notes = 0")
            result = conn.exec_driver_sql(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {q(table_name)} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                f"LINES TERMINATED BY '\\n' ({_quoted_columns(conn, rows)})",
                (fh.name,),
            )
            loaded = result.rowcount
            # LOCAL turns data errors into warnings; a warning means a value did not fit.
            warning = conn.exec_driver_sql("SHOW WARNINGS LIMIT 1").first()
            conn.exec_driver_sql("SET SESSION sql_notes = 1")
    if warning is not None:
        raise TaskFailed(f"{table_name}: bulk load rejected a value: {warning[2]}")
    if loaded != rows.height:
        raise TaskFailed(f"{table_name}: bulk load wrote {loaded} of {rows.height} rows")


def pause_point(phase: str) -> None:
    """Fault-injection hook for the crash tests: TOOLBOX_PAUSE_AT=<phase>:<seconds>.

    Announces the phase on stderr and sleeps, so a test can kill the process at an exact
    point of the write (staging, before_swap, after_swap). Does nothing when unset.
    """
    wanted = os.environ.get("TOOLBOX_PAUSE_AT", "")
    name, _, seconds = wanted.partition(":")
    if name == phase:
        print(f"toolbox-pause: {phase}", file=sys.stderr, flush=True)
        time.sleep(float(seconds or 30))


def swap_in(engine: Engine, names: list[str], *, tag: str, check_alive=lambda: None) -> None:
    """Swap every staging table in at once."""
    existing = set(inspect(engine).get_table_names())
    check_alive()
    pause_point("before_swap")
    if is_mysql(engine):
        q = engine.dialect.identifier_preparer.quote
        pairs: list[str] = []
        for name in names:
            if name in existing:
                pairs.append(f"{q(name)} TO {q(_old_name(name, tag))}")
            pairs.append(f"{q(staging_name(name, tag))} TO {q(name)}")
        with engine.connect() as conn:
            # One RENAME TABLE statement is atomic for all of its pairs.
            conn.exec_driver_sql("RENAME TABLE " + ", ".join(pairs))
            for name in names:
                if name in existing:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(_old_name(name, tag))}")
    else:
        q = engine.dialect.identifier_preparer.quote
        with engine.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}")
                conn.exec_driver_sql(f"ALTER TABLE {q(staging_name(name, tag))} RENAME TO {q(name)}")


def live_counts(engine: Engine, names: Iterable[str]) -> dict[str, int]:
    """Rows in each live table (0 for a table that does not exist yet)."""
    existing = set(inspect(engine).get_table_names())
    q = engine.dialect.identifier_preparer.quote
    counts = {}
    with engine.connect() as conn:
        for name in names:
            counts[name] = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {q(name)}").scalar_one()) \
                if name in existing else 0
    return counts


def replace_tables(
    engine: Engine,
    tables: Mapping[str, Iterable[pl.DataFrame]],
    *,
    tag: str,
    check_alive: Callable[[], None] = lambda: None,
    guard: ShrinkGuard | None = None,
) -> dict[str, int]:
    """Build every table in staging, in the order given, then swap them all in.

    Before the swap ``guard`` compares each new table with the live one; a refused table
    fails the call and every live table stays as it was.
    """
    counts: dict[str, int] = {}
    built: list[str] = []
    try:
        for name, frames in tables.items():
            counts[name] = build_staging(engine, datamart_table(name), frames, tag=tag,
                                         check_alive=check_alive)
            built.append(name)
        if guard is not None:
            guard.check(live_counts(engine, built), counts)
        swap_in(engine, built, tag=tag, check_alive=check_alive)
    except BaseException:
        drop_staging_tables(engine, tag, only=list(tables))
        raise
    pause_point("after_swap")
    return counts


def drop_staging_tables(engine: Engine, tag: str, only: list[str] | None = None) -> list[str]:
    """Drop the staging tables a run left behind (killed, crashed or failed)."""
    try:
        names = inspect(engine).get_table_names()
    except Exception:  # the database may be the reason we are cleaning up
        return []
    suffixes = (f"__stg_{tag}", f"__old_{tag}")
    dropped = []
    q = engine.dialect.identifier_preparer.quote
    for name in names:
        if name.endswith(suffixes) and (only is None or _base_name(name) in only):
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}")
                dropped.append(name)
            except Exception:
                pass
    return dropped


def _base_name(name: str) -> str:
    return name.rsplit("__stg_", 1)[0].rsplit("__old_", 1)[0]
