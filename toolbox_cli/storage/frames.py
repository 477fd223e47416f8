"""Source rows into Polars frames: the backends' fast read paths, behind one seam.

``read_table`` runs a SELECT over some columns of a source table and returns a frame typed
from the table's definition (Integer → Int64, Numeric → Float64, Date → Date, DateTime →
Datetime, texts → String), with no Python object per cell where the backend allows it.
Measured on this project's VM, 100 000 ``colocaciones`` rows × 46 columns, best of three:

- MySQL/MariaDB: connectorx (a Rust client that hands Arrow to Polars) 0.64 s; PyMySQL
  ``fetchall`` + DataFrame 5.2 s. connectorx it is; DECIMAL is sent as DOUBLE by the
  server, which is the correctly rounded float of the exact value.
- SQLite: connectorx 0.43 s, ADBC 0.42 s, the ``sqlite3`` driver column-wise into a frame
  1.2 s. The fast two link a SQLite library of their own, and two SQLite libraries in one
  process break each other's POSIX locks on the same WAL database: here an ADBC connection
  that read and closed made the next ``sqlite3`` connection fail with "disk I/O error"
  (sqlite.org/howtocorrupt.html §2.2). So SQLite is read with the library SQLAlchemy
  writes with. SQLite keeps whatever type a value arrived with, so each column is built
  with its dtype, strictly: a text cell in a numeric column fails that build and is then
  refused naming its row, never read as a silent number; a text in a DATE column that is
  not a date is refused the same way. (The SELECT used to ``CAST(... AS REAL)`` and add a
  ``typeof(...) = 'text'`` flag per row: 1.5 s for those 100 000 rows where the plain
  SELECT and strict typed columns take 0.9 s; issue 24.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Date, DateTime, Integer, Numeric, Table, literal_column, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ClauseElement, ColumnElement

from toolbox_cli import timing
from toolbox_cli.errors import InputError
from toolbox_cli.storage.engine import is_mysql
from toolbox_cli.storage.tables.metadata import magnitude_limit, too_large


def polars_dtype(column: Any) -> Any:
    kind = column.type
    if isinstance(kind, Integer):
        return pl.Int64
    if isinstance(kind, Numeric):  # Float is a Numeric too
        return pl.Float64
    if isinstance(kind, DateTime):
        return pl.Datetime("us")
    if isinstance(kind, Date):
        return pl.Date
    return pl.String


def sql_text(engine: Engine, query: ClauseElement) -> str:
    """The SELECT as text for the engine's dialect, parameters inlined (ids and dates the
    readers make themselves, never user text)."""
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _selected(table: Table, names: Sequence[str], mysql: bool, floats: Sequence[str]
              ) -> list[ColumnElement[Any]]:
    """The SELECT's columns: on MySQL decimals (and ``floats``) as DOUBLE for connectorx; on
    SQLite the stored values as they are (``_sqlite_frame`` types them)."""
    out: list[ColumnElement[Any]] = []
    for name in names:
        column = table.c[name]
        if mysql and ((isinstance(column.type, Numeric) and not isinstance(column.type, Integer))
                      or name in floats):
            # SQLAlchemy drops CAST(... AS DOUBLE) on MySQL: written out
            out.append(literal_column(f"CAST(`{table.name}`.`{name}` AS DOUBLE)").label(name))
        else:
            out.append(column.label(name))
    return out


def _numeric(table: Table, names: Sequence[str]) -> list[str]:
    return [n for n in names if isinstance(table.c[n].type, Numeric | Integer)]


def read_table(engine: Engine, table: Table, names: Sequence[str], *,
               where: Iterable[ColumnElement[bool]] = (), order_by: Sequence[Any] = (),
               limit: int | None = None, offset: int = 0, key: str | None = None,
               floats: Sequence[str] = ()) -> pl.DataFrame:
    """Columns ``names`` of ``table`` (in that order) as a typed frame.

    ``key`` names the column that identifies a row in error messages (default: the first).
    ``floats``: integer columns to read as Float64 (a fraction there is the caller's error
    to report, not something to truncate on the way in).
    """
    mysql = is_mysql(engine)
    floats = [f for f in floats if f in names]
    columns = _selected(table, names, mysql, floats)
    numeric = _numeric(table, names)
    query = select(*columns).select_from(table)
    for condition in where:
        query = query.where(condition)
    if order_by:
        query = query.order_by(*order_by)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    schema = {n: pl.Float64 if n in floats else polars_dtype(table.c[n]) for n in names}
    with timing.phase("read"):
        return _read(engine, table, names, query, schema, numeric, key, mysql=mysql)


def _read(engine: Engine, table: Table, names: Sequence[str], query: Any,
          schema: dict[str, Any], numeric: list[str], key: str | None, *, mysql: bool
          ) -> pl.DataFrame:
    if mysql:
        frame = _mysql_frame(engine, sql_text(engine, query), schema)
    else:
        frame = _sqlite_frame(engine, sql_text(engine, query), table.name, schema, numeric,
                              key or names[0])
    typed = _typed(table, frame, schema, key or names[0])
    _refuse_too_large(table, typed, key or names[0])
    return typed


def _refuse_too_large(table: Table, frame: pl.DataFrame, key: str) -> None:
    """A source amount beyond its column's DECIMAL (SQLite stores any number) is refused
    naming its row, before a computation or the writer meets it."""
    limits = {n: limit for n in frame.columns if n in table.c
              and (limit := magnitude_limit(table.c[n])) is not None}
    if not limits or not frame.height:
        return
    over = frame.select([(pl.col(n).abs() >= limit).any().alias(n)
                         for n, limit in limits.items()]).row(0, named=True)
    for name, found in over.items():
        if found:
            row = frame.filter(pl.col(name).abs() >= limits[name]).row(0, named=True)
            raise InputError(f"{table.name} {key}={row[key]}: "
                             f"{too_large(table.c[name], row[name])}; fix that row")


def _mysql_frame(engine: Engine, sql: str, schema: dict[str, Any]) -> pl.DataFrame:
    import connectorx  # only when a MySQL source is read

    uri = engine.url.set(drivername="mysql").render_as_string(hide_password=False)
    try:
        arrow = connectorx.read_sql(uri, sql, return_type="arrow")
    except RuntimeError as exc:
        # connectorx's messages may quote the URI: keep only the server's reason.
        reason = str(exc).replace(uri, "mysql://…").splitlines()[0]
        raise InputError(f"reading the source failed: {reason}") from None
    frame = pl.from_arrow(arrow)
    assert isinstance(frame, pl.DataFrame)
    if frame.width == 0 or frame.height == 0:
        return pl.DataFrame(schema=schema)
    return frame


def _sqlite_frame(engine: Engine, sql: str, table_name: str, schema: dict[str, Any],
                  numeric: Sequence[str], key: str) -> pl.DataFrame:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql)
        rows = cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
    names = list(schema)
    if not rows:
        return pl.DataFrame({n: [] for n in names})
    columns = [list(values) for values in zip(*rows, strict=True)]
    series = []
    for name, values in zip(names, columns, strict=True):
        try:  # the stored values as the column's dtype (dates and datetimes come as text)
            series.append(pl.Series(name, values, dtype=_stored_dtype(schema[name]), strict=True))
        except TypeError:
            if name in numeric:
                _refuse_text_cells(table_name, names, columns, numeric, key)
            series.append(pl.Series(name, values, strict=False))  # ``_typed`` casts it
    return pl.DataFrame(series)


def _stored_dtype(dtype: Any) -> Any:
    """How SQLite hands a column of ``dtype`` over: dates and datetimes are text."""
    return pl.String if dtype == pl.Date or isinstance(dtype, pl.Datetime) else dtype


def _refuse_text_cells(table_name: str, names: list[str], columns: list[list[Any]],
                       numeric: Sequence[str], key: str) -> None:
    """Name the first row (in the read's order) with a numeric cell that holds text, and in
    it the first such column; SQLite stores what it is given."""
    def not_number(value: Any) -> bool:
        return value is not None and not isinstance(value, int | float)

    where = {n: next((i for i, v in enumerate(columns[names.index(n)]) if not_number(v)), None)
             for n in numeric}
    found = [(i, names.index(n), n) for n, i in where.items() if i is not None]
    if not found:
        return  # numbers of mixed kinds (an integer column with a fraction): ``_typed`` casts
    row, _, name = min(found)
    raise InputError(
        f"{table_name} {key}={columns[names.index(key)][row]} has {name} "
        f"{columns[names.index(name)][row]!r}, text in a numeric column; store the number "
        "itself (e.g. 1234.50) and run again"
    )


def _typed(table: Table, frame: pl.DataFrame, schema: dict[str, Any], key: str) -> pl.DataFrame:
    """Cast every column to its dtype; a date text that does not parse is refused."""
    casts, dates = [], []
    for name, dtype in schema.items():
        have = frame.schema.get(name)
        if have == dtype:
            continue
        if have == pl.String and dtype == pl.Date:
            casts.append(pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
            dates.append(name)
        elif have == pl.String and isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False,
                                                      time_unit="us"))
            dates.append(name)
        else:
            casts.append(pl.col(name).cast(dtype, strict=False))
    if not casts:
        return frame
    typed = frame.with_columns(casts)
    for name in dates:
        bad = frame.filter(frame[name].is_not_null() & typed[name].is_null())
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(
                f"{table.name} {key}={row[key]} has {name} {row[name]!r}, which is not a date; "
                "fix or remove that row"
            )
    return typed
