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

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from typing import Any

from sqlalchemy import MetaData, Numeric, Table, inspect
from sqlalchemy.engine import Connection, Engine

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.engine import is_mysql, load_table_modules
from toolbox_cli.storage.tables import datamart_metadata

Row = Mapping[str, Any]


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
        out = []
        for name, quantum, process in self.steps:
            value = row.get(name)
            if value is not None and quantum is not None:
                value = self._round(name, value, quantum)
            if process is not None:
                value = process(value)
            out.append(value)
        return tuple(out)

    def _round(self, name: str, value: Any, quantum: Decimal) -> Decimal:
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise TaskFailed(f"{self.table_name}.{name}: {value} cannot be stored")
            value = Decimal(repr(value))
        elif not isinstance(value, Decimal):
            value = Decimal(value)
        return value.quantize(quantum, rounding=ROUND_HALF_UP)


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
    count = 0
    with engine.connect() as conn:
        encoder = _RowEncoder(table, conn)
        sql = _insert_sql(conn, staging.name, encoder.names)
        for chunk in _chunks(rows, chunk_size):
            check_alive()
            params = [encoder.encode(r) for r in chunk]
            with conn.begin():
                conn.exec_driver_sql(sql, params)
            count += len(params)
    return count


def swap_in(engine: Engine, names: list[str], *, tag: str, check_alive=lambda: None) -> None:
    """Swap every staging table in at once."""
    existing = set(inspect(engine).get_table_names())
    check_alive()
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
