"""The datamart writer: replace whole tables atomically, from Polars frames.

Each new table is built in a staging table, chunk by chunk, and only when every table of
the call is complete (and passed the guard) are they swapped in at once (``staging.py``).

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
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
from sqlalchemy import Date, DateTime, Integer, Numeric, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.engine import is_mysql
from toolbox_cli.storage.guard import ShrinkGuard
from toolbox_cli.storage.progress import NO_PROGRESS, Progress
from toolbox_cli.storage.staging import (
    datamart_table,
    drop_staging_tables,
    live_counts,
    pause_point,
    staging_copy,
    staging_name,
    swap_in,
)

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


def half_up(value: float, scale: int) -> float:
    """``float(Decimal(repr(value)).quantize(10**-scale, ROUND_HALF_UP))`` (decisions 12:
    half-up on the float's shortest decimal text); NaN and infinities are refused."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(value)
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP))


def _half_up_fast(name: str, divisor: str) -> tuple[pl.Expr, pl.Expr]:
    """``half_up`` as an expression, and which values are too close to call for it.

    The shortest decimal text of a float and ``value * 10**scale`` differ by a few units in
    the last binary place at most, so unless the scaled value lies within that distance of a
    half (a tie, or too close to call), both round the same way and the rounded value is an
    integer divided by 10**scale: a correctly rounded division, the same float that
    ``float(Decimal)`` gives. The close calls (and huge values) take the Decimal route, one
    by one; there are few. ``divisor`` names a column holding 10**scale: Polars divides by
    a scalar as a multiplication by its reciprocal (1999 / 100 → 19.990000000000002), by a
    column exactly. (A zero comes out +0.0 whatever its sign; the stored value is the same.)
    """
    value = pl.col(name)
    scaled = value.abs() * pl.col(divisor)
    whole = (scaled + 0.5).floor()
    rounded = pl.when(value < 0).then(-whole).otherwise(whole) / pl.col(divisor)
    close = ((scaled - scaled.floor() - 0.5).abs() <= scaled * _HALF_UP_MARGIN) \
        | (scaled >= 1e15)
    return rounded.alias(name), close.fill_null(False).alias(f"{name}__close")


def _round_money(frame: pl.DataFrame, scales: Mapping[str, int]) -> pl.DataFrame:
    """Every column of ``scales`` rounded half-up to its scale, in one pass over the frame."""
    if not scales or not frame.height:
        return frame
    divisors = {s: f"__toolbox_1e{s}" for s in set(scales.values())}
    exprs = [_half_up_fast(n, divisors[s]) for n, s in scales.items()]
    work = frame.with_columns(
        [pl.Series(name, [float(10**s)]).extend_constant(float(10**s), frame.height - 1)
         for s, name in divisors.items()]
    ).with_columns([e for pair in exprs for e in pair])
    close = work.select([pl.col(f"{n}__close").any().alias(n) for n in scales]).row(0, named=True)
    fixed = []
    for name, has_close in close.items():
        if has_close:
            scale = scales[name]
            fixed.append(pl.Series(name, [
                half_up(v, scale) if c else r for v, r, c in zip(
                    frame[name].to_list(), work[name].to_list(), work[f"{name}__close"].to_list(),
                    strict=True)
            ], dtype=pl.Float64))
    return work.with_columns(fixed).select(frame.columns)


def _columns(table: Table) -> list[Any]:
    # The surrogate autoincrement key is left to the database.
    return [c for c in table.columns if c is not table.autoincrement_column]


def prepare(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """The frame in the table's shape: its columns in table order, typed, money rounded."""
    columns = _columns(table)
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise TaskFailed(f"{table.name}: the computed rows have no {', '.join(missing)}")
    shaped, numbers, scales = [], [], {}
    for column in columns:
        value, kind = pl.col(column.name), column.type
        if isinstance(kind, Integer):
            value = value.cast(pl.Int64)
        elif isinstance(kind, Numeric):
            value = value.cast(pl.Float64)
            numbers.append(column.name)
            if kind.scale is not None:
                scales[column.name] = kind.scale
        elif isinstance(kind, DateTime):
            value = value.cast(pl.Datetime("us"))
        elif isinstance(kind, Date):
            value = value.cast(pl.Date)
        else:
            value = value.cast(pl.String)
        shaped.append(value)
    if not shaped:
        return pl.DataFrame()
    out = frame.select(shaped)
    if numbers and out.height:
        bad = out.select([(pl.col(n).is_nan() | pl.col(n).is_infinite()).any().alias(n)
                          for n in numbers]).row(0, named=True)
        for name, found in bad.items():
            if found:
                value = out[name].filter(out[name].is_nan() | out[name].is_infinite())[0]
                raise TaskFailed(f"{table.name}.{name}: {value} cannot be stored")
    return _round_money(out, scales)


def build_staging(
    engine: Engine,
    table: Table,
    frames: Iterable[pl.DataFrame],
    *,
    tag: str,
    check_alive: Callable[[], None] = lambda: None,
    progress: Progress = NO_PROGRESS,
) -> int:
    """Create ``<table>__stg_<tag>`` and fill it from ``frames``; returns the row count.

    The frames are computed in this thread (pulling ``frames`` runs the task's reads and
    compute) and written by a loader thread on its own connection, so the database works
    on one chunk while the next is computed: SQLite steps, the MySQL server's LOAD DATA,
    Polars and connectorx all release the GIL. At most two prepared chunks wait.
    """
    staging = staging_copy(table, staging_name(table.name, tag))
    staging.drop(engine, checkfirst=True)
    staging.create(engine)
    label = table.name
    with _Loader(engine, staging.name, lambda n: progress.rows(label, n)) as loader:
        progress.phase(label, "reading and computing")
        for frame in frames:
            check_alive()
            rows = prepare(frame, table)
            if rows.height:
                progress.phase(label, "writing")
                loader.put(rows)
            pause_point("staging")
            progress.phase(label, "reading and computing")
        progress.phase(label, "writing")
    progress.done(label)
    return loader.count


class _Loader:
    """One thread writing prepared chunks into a staging table, in order. An error in it is
    raised in the producing thread at its next ``put`` or at the end; an error in the
    producer stops it before the staging table is dropped."""

    _DONE = None

    def __init__(self, engine: Engine, name: str, written: Callable[[int], None]) -> None:
        self.engine, self.name, self.written = engine, name, written
        self.bulk = bulk_load_available(engine)
        self.queue: queue.Queue[pl.DataFrame | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.count = 0
        self.thread = threading.Thread(target=self._run, name=f"toolbox-load-{name}",
                                       daemon=True)

    def __enter__(self) -> _Loader:
        self.thread.start()
        return self

    def put(self, rows: pl.DataFrame) -> None:
        while True:
            self._raise()
            try:
                self.queue.put(rows, timeout=0.2)
                return
            except queue.Full:
                continue

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        if error is not None:
            self.stop = True
        while self.thread.is_alive():
            try:
                self.queue.put(self._DONE, timeout=0.2)
                break
            except queue.Full:
                continue
        self.thread.join()
        if error is None:
            self._raise()

    stop = False

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                while (rows := self.queue.get()) is not self._DONE:
                    if self.stop:
                        continue  # drain: the producer failed, write nothing more
                    if self.bulk:
                        _load_data(conn, self.name, rows)
                    elif is_mysql(self.engine):
                        _insert_mysql(conn, self.name, rows)
                    else:
                        _insert_sqlite(conn, self.name, rows)
                    self.count += rows.height
                    self.written(rows.height)
        except BaseException as exc:  # handed to the producer
            self.error = exc
            while self.queue.get() is not self._DONE:
                pass


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
    driver = conn.connection.driver_connection
    assert driver is not None  # an open connection
    with conn.begin():
        driver.executemany(sql, texts.iter_rows())


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


def replace_tables(
    engine: Engine,
    tables: Mapping[str, Iterable[pl.DataFrame]],
    *,
    tag: str,
    check_alive: Callable[[], None] = lambda: None,
    guard: ShrinkGuard | None = None,
    progress: Progress = NO_PROGRESS,
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
                                         check_alive=check_alive, progress=progress)
            built.append(name)
        if guard is not None:
            guard.check(live_counts(engine, built), counts)
        progress.phase("swap", f"swapping {', '.join(built)} in")
        swap_in(engine, built, tag=tag, check_alive=check_alive)
        progress.done("swap")
    except BaseException:
        drop_staging_tables(engine, tag, only=list(tables))
        raise
    pause_point("after_swap")
    return counts


