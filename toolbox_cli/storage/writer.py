"""The datamart writer: replace whole tables atomically, from Polars frames.

A task opens ``replacing(tables)`` and ``add``s frames to them as it reads and computes;
each new table is built in a staging table, chunk by chunk, and only when the block ends,
every table is complete and the guard passed them are they swapped in at once
(``staging.py``).

Before writing, a frame is put in the table's shape (``prepare``): its columns in table
order, each cast to the column's type, and every Numeric column rounded half-up to the
column's scale (decisions 12: once, here, the same on both backends). Then:

- MySQL/MariaDB: ``LOAD DATA LOCAL INFILE`` from a CSV file Polars writes into the run's
  scratch directory (strings quoted, quotes doubled, NULL bare, no backslash escapes), or a
  multi-row INSERT where the server refuses LOCAL INFILE;
- SQLite: ``executemany`` over the frame's rows (dates and datetimes as the text SQLAlchemy
  stores), through the same SQLite library as everything else (see ``frames.py``), in a
  child process of its own for a SQLite file (``sqlite_rows.py``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
from sqlalchemy import Date, DateTime, Integer, Numeric, Table, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from toolbox_cli import timing
from toolbox_cli.errors import TaskFailed
from toolbox_cli.progress import NO_PROGRESS, Progress
from toolbox_cli.storage.engine import is_mysql, row_counts
from toolbox_cli.storage.guard import Totals
from toolbox_cli.storage.lock import refuse_unlocked
from toolbox_cli.storage.sqlite_rows import LoaderProcess, WriterFailed, error_for, insert_rows
from toolbox_cli.storage.staging import (
    drop_staging_tables,
    pause_point,
    staging_copy,
    staging_name,
    swap_in,
)
from toolbox_cli.storage.tables.metadata import magnitude_limit, too_large

log = logging.getLogger("toolbox")

# MySQL/MariaDB answers that mean "LOAD DATA LOCAL is not allowed here": fall back.
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 3950, 4166}  # 4166: a server with local_infile=0 (MariaDB)
_NO_LOCAL_INFILE: set[str] = set()  # servers that refused LOAD DATA LOCAL in this process
_LOCAL_INFILE_OK: set[str] = set()  # servers that took it
# Rows per INSERT statement on the fallback path.
INSERT_ROWS = 1000
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
    _refuse_too_large(out, table)  # before rounding: Decimal cannot round what is that large
    return _round_money(out, scales)


def _refuse_too_large(rows: pl.DataFrame, table: Table) -> None:
    """A computed amount its DECIMAL column cannot hold fails the write naming the table,
    the column and the row (by the table's key, ``info["key"]``, where it declares one)."""
    limits = {n: limit for n in rows.columns if (limit := magnitude_limit(table.c[n])) is not None}
    if not limits or not rows.height:
        return
    over = rows.select([(pl.col(n).abs() >= limit).any().alias(n)
                        for n, limit in limits.items()]).row(0, named=True)
    for name, found in over.items():
        if found:
            row = rows.filter(pl.col(name).abs() >= limits[name]).row(0, named=True)
            key = ", ".join(f"{k}={row[k]}" for k in table.info.get("key", ()) if k in row)
            raise TaskFailed(f"{too_large(table.c[name], row[name])}"
                             + (f" (row {key})" if key else "")
                             + "; check the source amounts it is computed from")


class Replacement:
    """The new content of some datamart tables while a run builds it: ``add`` a frame to a
    table, as often as needed, in any order; the tables are swapped in when the block of
    ``replacing`` ends. Counts per table in ``counts``."""

    def __init__(self, engine: Engine, tables: Sequence[Table], *, tag: str, dry_run: bool,
                 check_alive: Callable[[], None], progress: Progress) -> None:
        self.engine, self.tag, self.dry_run = engine, tag, dry_run
        self.tables = {table.name: table for table in tables}
        self.counts = dict.fromkeys(self.tables, 0)
        # The control totals of each table (decision 22), summed as the frames go by.
        self.totals: dict[str, dict[tuple[str, str], float]] = {
            name: {} for name, table in self.tables.items() if table.info.get("totals")}
        self.check_alive, self.progress = check_alive, progress
        self.loader = None if dry_run else _Loader(engine, progress)
        self._current: str | None = None
        self._finishing: list[Callable[[Connection, Mapping[str, str]], None]] = []

    def before_swap(self, step: Callable[[Connection, Mapping[str, str]], None]) -> None:
        """Run ``step(conn, staging)`` on the staged rows once every chunk is written and
        before the guard and the swap (``staging``: table → its staging table's name), in
        one transaction: a change that needs every row first (the operations webservice's
        current payment). Not on a dry run, which stages nothing."""
        self._finishing.append(step)

    def finish_staged(self) -> None:
        if self.loader is None or not self._finishing:
            return
        staged = {name: staging_name(name, self.tag) for name in self.tables}
        with self.engine.begin() as conn:
            for step in self._finishing:
                step(conn, staged)

    def add(self, table: Table, frame: pl.DataFrame) -> None:
        """Put ``frame`` in ``table``'s shape (``prepare``) and write it to its staging
        table; the loader thread writes while the caller reads and computes the next one."""
        if table.name not in self.tables:
            raise TaskFailed(f"{table.name} is not one of the tables this replacement "
                             f"builds ({', '.join(self.tables)})")
        self.check_alive()
        self._switch_to(table.name)
        rows = prepare(frame, table)
        if rows.height:
            self.counts[table.name] += rows.height
            if table.name in self.totals:
                for key, value in frame_totals(rows, table).items():
                    self.totals[table.name][key] = self.totals[table.name].get(key, 0.0) + value
            if self.loader is None:
                self.progress.rows(table.name, rows.height)
            else:
                self.progress.phase(table.name, "writing")
                self.loader.put(staging_name(table.name, self.tag), table.name, rows)
        pause_point("staging")
        self.progress.phase(table.name, self._computing)

    @property
    def _computing(self) -> str:
        return "reading and computing" + (" (dry run)" if self.dry_run else "")

    def _switch_to(self, name: str) -> None:
        """One progress line per table being built: the previous one's goes once its last
        rows are written."""
        if name == self._current:
            return
        if self._current is not None:
            self._finished(self._current)
        self._current = name
        self.progress.phase(name, self._computing)

    def _finished(self, name: str) -> None:
        if self.loader is None:
            self.progress.done(name)
        else:
            self.loader.finished(name)

    def open(self) -> None:
        if self.loader is None:
            return
        for name, table in self.tables.items():
            staging = staging_copy(table, staging_name(name, self.tag), self.engine)
            staging.drop(self.engine, checkfirst=True)
            staging.create(self.engine)
        self.loader.start()

    def close(self) -> None:
        """Wait for every row to be written (an error of the loader is raised here)."""
        if self._current is not None:
            self._finished(self._current)
            self._current = None
        if self.loader is not None:
            self.loader.close()

    def abort(self) -> None:
        if self.loader is not None:
            self.loader.abort()


@contextlib.contextmanager
def replacing(
    engine: Engine,
    tables: Sequence[Table],
    *,
    tag: str,
    locked: Collection[str],
    judge: Callable[[Mapping[str, int], Mapping[str, int], Mapping[str, Totals],
                     Mapping[str, Totals]], None],
    dry_run: bool = False,
    check_alive: Callable[[], None] = lambda: None,
    on_publish: Callable[[], None] = lambda: None,
    progress: Progress = NO_PROGRESS,
) -> Iterator[Replacement]:
    """Replace ``tables`` atomically, all of them or none, with what the block ``add``s.

    Each table is built in a staging table (``<table>__stg_<tag>``); when the block ends,
    ``judge(live, new, live_totals, new_totals)`` (the run's guard) compares each new row count
    and control total with the live table's and
    may refuse, and only then are all of them swapped in at once. An error in the block, in
    the loader or in the guard drops the staging tables and leaves every live table as it
    was. A dry run prepares and counts every frame and is judged the same way, but creates
    and swaps nothing. ``on_publish`` is called right before the swap's statement. A table
    the run did not lock (``locked``) is refused before anything is written: two runs must
    never build the same table.
    """
    refuse_unlocked(locked, [t.name for t in tables])
    replacement = Replacement(engine, tables, tag=tag, dry_run=dry_run,
                              check_alive=check_alive, progress=progress)
    names = list(replacement.tables)
    try:
        replacement.open()
        yield replacement
        replacement.close()
        replacement.finish_staged()
        live = row_counts(engine, names)
        judge(live, replacement.counts,
              {n: live_totals(engine, replacement.tables[n]) for n in replacement.totals
               if live[n]},
              replacement.totals)
        if not dry_run:
            progress.phase("swap", f"swapping {', '.join(names)} in")
            with timing.phase("swap"):
                swap_in(engine, names, tag=tag, check_alive=check_alive,
                        on_publish=on_publish, indexes=[ix for t in tables for ix in t.indexes])
            progress.done("swap")
    except BaseException:
        replacement.abort()
        if not dry_run:
            drop_staging_tables(engine, tag, only=names)
        raise
    if not dry_run:
        pause_point("after_swap")


class _Loader:
    """One thread writing prepared chunks into their staging tables, in order, on its own
    connection, so the database works on one chunk while the next is computed (the MySQL
    server's LOAD DATA, Polars and connectorx release the GIL; a SQLite file is written by
    a child process, ``sqlite_rows.LoaderProcess``, which the thread feeds). At most two
    prepared chunks wait. An error in it is raised in the producing thread at its next
    ``put`` or at ``close``; ``abort`` stops it writing."""

    _DONE = None

    def __init__(self, engine: Engine, progress: Progress) -> None:
        self.engine, self.progress = engine, progress
        self.queue: queue.Queue[tuple[str, str, pl.DataFrame | None] | None] = \
            queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.stop = False
        self.bulk = False  # LOAD DATA LOCAL (probed when the loader starts)
        self.process: LoaderProcess | None = None  # a SQLite file's writer
        self.thread = threading.Thread(target=self._run, name="toolbox-load", daemon=True)

    def start(self) -> None:
        self.bulk = bulk_load_available(self.engine)
        database = self.engine.url.database or ""
        if not is_mysql(self.engine) and database not in ("", ":memory:"):
            self.process = LoaderProcess(database,
                                         uri=self.engine.url.query.get("uri") == "true")
        self.thread.start()

    def put(self, staging: str, label: str, rows: pl.DataFrame) -> None:
        self._put((staging, label, rows))

    def finished(self, label: str) -> None:
        """Every row of ``label`` is queued: its progress line goes once they are written."""
        self._put(("", label, None))

    def _put(self, item: tuple[str, str, pl.DataFrame | None] | None) -> None:
        with timing.phase("waiting for the writer"):
            self._put_waiting(item)

    def _put_waiting(self, item: tuple[str, str, pl.DataFrame | None] | None) -> None:
        while True:
            self._raise()
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        with timing.phase("waiting for the writer"):
            self._end()
        self._raise()

    def abort(self) -> None:
        self.stop = True
        if self.process is not None:
            self.process.kill()
        self._end()

    def _end(self) -> None:
        while self.thread.is_alive():
            try:
                self.queue.put(self._DONE, timeout=0.2)
                break
            except queue.Full:
                continue
        if self.thread.ident is not None:
            self.thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            with contextlib.ExitStack() as stack:
                conn = None if self.process else stack.enter_context(self.engine.connect())
                while (item := self.queue.get()) is not self._DONE:
                    staging, label, rows = item
                    if self.stop:
                        continue  # drain: the producer failed, write nothing more
                    if rows is None:
                        self.progress.done(label)
                        continue
                    with timing.phase("write"):
                        self._write(conn, staging, rows)
                    self.progress.rows(label, rows.height)
                if self.process is not None and not self.stop:
                    self.process.close()
        except WriterFailed as exc:
            self.error = error_for(exc)
        except BaseException as exc:  # handed to the producer
            self.error = exc
        if self.error is not None:
            while self.queue.get() is not self._DONE:
                pass

    def _write(self, conn: Connection | None, staging: str, rows: pl.DataFrame) -> None:
        if self.process is not None:
            self.process.write(staging, rows)
            return
        assert conn is not None
        if self.bulk:
            _load_data(conn, staging, rows)
        elif is_mysql(self.engine):
            _insert_mysql(conn, staging, rows)
        else:  # an in-memory database: only this process sees it
            driver = conn.connection.driver_connection
            assert driver is not None  # an open connection
            insert_rows(driver, staging, rows)


def frame_totals(rows: pl.DataFrame, table: Table) -> dict[tuple[str, str], float]:
    """The control totals of prepared rows: each ``info["totals"]`` column summed, per value
    of ``info["totals_by"]`` (a currency) or over all rows ("")."""
    columns, by = table.info["totals"], table.info.get("totals_by")
    if by is None:
        sums = rows.select([pl.col(c).fill_null(0.0).sum() for c in columns]).row(0)
        return {(c, ""): float(v) for c, v in zip(columns, sums, strict=True)}
    grouped = rows.group_by(pl.col(by).fill_null("")).agg(
        [pl.col(c).fill_null(0.0).sum() for c in columns])
    return {(c, str(group[by])): float(group[c]) for group in grouped.iter_rows(named=True)
            for c in columns}


def live_totals(engine: Engine, table: Table) -> dict[tuple[str, str], float]:
    """The control totals of the live table, the same sums as ``frame_totals``."""
    columns, by = table.info["totals"], table.info.get("totals_by")
    sums = [func.coalesce(func.sum(table.c[c]), 0) for c in columns]
    query = select(table.c[by], *sums).group_by(table.c[by]) if by else select(*sums)
    with engine.connect() as conn:
        result = conn.execute(query).all()
    if by is None:
        return {(c, ""): float(v) for c, v in zip(columns, result[0], strict=True)}
    return {(c, str(row[0] or "")): float(value) for row in result
            for c, value in zip(columns, row[1:], strict=True)}


def _quoted_columns(conn: Connection, rows: pl.DataFrame) -> str:
    q = conn.dialect.identifier_preparer.quote
    return ", ".join(q(n) for n in rows.columns)


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
        try:
            rows.write_csv(fh, include_header=False, null_value="NULL",
                           quote_style="non_numeric",
                           datetime_format="%Y-%m-%d %H:%M:%S%.6f", date_format="%Y-%m-%d")
            fh.flush()
        except OSError as exc:  # a full disk: say which file (Polars does not)
            raise OSError(exc.errno, exc.strerror or str(exc), fh.name) from None
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
