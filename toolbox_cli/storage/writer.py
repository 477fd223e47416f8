"""The datamart writer: replace whole tables atomically.

Each new table is built in a staging table (chunked multi-row inserts through the driver's
executemany path), and only when every table of the call is complete are they swapped in:
MySQL/MariaDB with one ``RENAME TABLE`` statement (atomic for all its pairs), SQLite with
DROP + ALTER TABLE ... RENAME inside one transaction. Readers see the old rows or the new
rows; a failed or killed run leaves the old tables as they were (at worst a staging table
is left behind, named ``<table>__stg_<tag>``, and dropped by the next run with that tag or
by ``drop_staging_tables``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from typing import Any

from sqlalchemy import MetaData, Numeric, Table, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.engine import is_mysql, load_table_modules
from toolbox_cli.storage.tables import datamart_metadata

Row = Mapping[str, Any]

log = logging.getLogger("toolbox")

# MySQL/MariaDB answers that mean "LOAD DATA LOCAL is not allowed here": fall back.
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 3950}
# Rows per LOAD DATA file: big enough to amortise the statement, small enough for flat memory.
LOAD_DATA_ROWS = 50_000
_NO_LOCAL_INFILE: set[str] = set()  # servers that refused LOAD DATA LOCAL in this process


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


class _RowEncoder:
    """Turns row dicts into tuples in column order, with Numeric rounded half-up once."""

    def __init__(self, table: Table, conn: Connection) -> None:
        # The surrogate autoincrement key is left to the database.
        self.columns = [c for c in table.columns if c is not table.autoincrement_column]
        self.names = [c.name for c in self.columns]
        self.table_name = table.name
        dialect = conn.dialect
        self.steps: list[tuple[str, Decimal | None, Callable[[Any], Any] | None]] = []
        for col in self.columns:
            quantum = None
            if isinstance(col.type, Numeric) and col.type.scale is not None:
                quantum = Decimal(1).scaleb(-col.type.scale)
            self.steps.append((col.name, quantum, col.type.bind_processor(dialect)))

    def encode(self, row: Row) -> tuple[Any, ...]:
        """Values ready for the driver's executemany."""
        out = []
        for name, quantum, process in self.steps:
            value = row.get(name)
            if value is not None and quantum is not None:
                value = self._round(name, value, quantum)
            if process is not None:
                value = process(value)
            out.append(value)
        return tuple(out)

    def encode_tsv(self, row: Row) -> str:
        """One line of a LOAD DATA file (tab-separated, backslash escapes, \\N for NULL)."""
        out = []
        for name, quantum, _process in self.steps:
            value = row.get(name)
            if value is not None and quantum is not None:
                value = self._round(name, value, quantum)
            out.append(_tsv(value))
        return "\t".join(out) + "\n"

    def _round(self, name: str, value: Any, quantum: Decimal) -> Decimal:
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise TaskFailed(f"{self.table_name}.{name}: {value} cannot be stored")
            value = Decimal(repr(value))
        elif not isinstance(value, Decimal):
            value = Decimal(value)
        return value.quantize(quantum, rounding=ROUND_HALF_UP)


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _tsv(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_TSV_ESCAPES)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise TaskFailed(f"{value} cannot be stored")
        return repr(value)
    return str(value)


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _insert_sql(conn: Connection, table_name: str, names: list[str]) -> str:
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(n) for n in names)
    marks = ", ".join(["%s"] * len(names)) if conn.dialect.paramstyle in ("format", "pyformat") \
        else ", ".join(["?"] * len(names))
    return f"INSERT INTO {prep.quote(table_name)} ({cols}) VALUES ({marks})"


def build_staging(
    engine: Engine,
    table: Table,
    rows: Iterable[Row],
    *,
    tag: str,
    chunk_size: int,
    check_alive: Callable[[], None] = lambda: None,
) -> int:
    """Create ``<table>__stg_<tag>`` and fill it; returns the row count."""
    staging = _staging_copy(table, staging_name(table.name, tag))
    staging.drop(engine, checkfirst=True)
    staging.create(engine)
    with engine.connect() as conn:
        encoder = _RowEncoder(table, conn)
        if is_mysql(engine) and _local_infile_allowed(engine, conn, staging.name, encoder):
            return _load_data_stream(conn, staging.name, encoder, rows, check_alive)
        sql = _insert_sql(conn, staging.name, encoder.names)
        count = 0
        for chunk in _chunks(rows, chunk_size):
            check_alive()
            params = [encoder.encode(r) for r in chunk]
            with conn.begin():
                conn.exec_driver_sql(sql, params)
            count += len(params)
            pause_point("staging")
    return count


def _local_infile_allowed(engine: Engine, conn: Connection, name: str, encoder: _RowEncoder) -> bool:
    """Probe LOAD DATA LOCAL with an empty file before any row is consumed."""
    key = str(engine.url)
    if key in _NO_LOCAL_INFILE:
        return False
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".tsv") as empty:
            _load_file(conn, name, encoder, empty.name, 0)
    except DBAPIError as exc:
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if code not in _LOCAL_INFILE_REFUSED:
            raise
        log.info("LOAD DATA LOCAL refused (%s); using multi-row INSERT", code)
        _NO_LOCAL_INFILE.add(key)
        return False
    return True


def _load_data_stream(conn: Connection, name: str, encoder: _RowEncoder, rows: Iterable[Row],
                      check_alive: Callable[[], None]) -> int:
    """The server's bulk path: rows go to a TSV file as they come, loaded every N rows.

    Only the file grows, never a list of rows, so memory stays flat whatever the table size.
    """
    count = pending = 0
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", suffix=".tsv") as fh:

        def load() -> None:
            nonlocal count, pending
            fh.flush()
            check_alive()
            _load_file(conn, name, encoder, fh.name, pending)
            fh.seek(0)
            fh.truncate()
            count += pending
            pending = 0
            pause_point("staging")

        for row in rows:
            fh.write(encoder.encode_tsv(row))
            pending += 1
            if pending >= LOAD_DATA_ROWS:
                load()
        if pending:
            load()
    return count


def _load_file(conn: Connection, table_name: str, encoder: _RowEncoder, path: str, expected: int) -> None:
    q = conn.dialect.identifier_preparer.quote
    cols = ", ".join(q(n) for n in encoder.names)
    with conn.begin():
        result = conn.exec_driver_sql(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {q(table_name)} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({cols})",
            (path,),
        )
        loaded = result.rowcount
        # LOCAL turns data errors into warnings; a warning means a value did not fit.
        warning = conn.exec_driver_sql("SHOW WARNINGS LIMIT 1").first() if expected else None
    if warning is not None:
        raise TaskFailed(f"{table_name}: bulk load rejected a value: {warning[2]}")
    if loaded != expected:
        raise TaskFailed(f"{table_name}: bulk load wrote {loaded} of {expected} rows")


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


def replace_tables(
    engine: Engine,
    tables: Mapping[str, Iterable[Row]],
    *,
    tag: str,
    chunk_size: int = 5000,
    check_alive: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Build every table in staging, in the order given, then swap them all in."""
    counts: dict[str, int] = {}
    built: list[str] = []
    try:
        for name, rows in tables.items():
            counts[name] = build_staging(
                engine, datamart_table(name), rows,
                tag=tag, chunk_size=chunk_size, check_alive=check_alive,
            )
            built.append(name)
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
