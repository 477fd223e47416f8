"""Readers of the source contract (decisions.md "Where the inputs come from").

``colocaciones`` can be large, so it is streamed: keyset chunks ordered by IdLiquidacionDet,
each with the payments and refunds of its own documents, one short connection per chunk (no
transaction held open while the writer fills the datamart, which may be the same SQLite
file). The other tables are small reference data and are read whole.
"""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.engine import Engine
from sqlalchemy.types import LargeBinary

from toolbox_cli.storage.engine import is_mysql
from toolbox_cli.storage.tables import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
    operaciones_fuera_sistema,
    referidos,
    referidos_alias,
    sector_pagadores,
    tipo_cambio,
)

Row = dict[str, Any]

# Ids and sort keys of the document / payment / refund join (see iter_colocacion_chunks).
_KEYS = frozenset({"IdLiquidacionDet", "IdLiquidacionPago", "IdLiquidacionDevolucion",
                   "FechaPago", "FechaDesembolso"})


@dataclass
class ColocacionChunk:
    """One keyset chunk of documents with their payments and refunds grouped by document."""

    rows: list[Row]
    pagos: dict[int, list[Row]] = field(default_factory=dict)
    devoluciones: dict[int, list[Row]] = field(default_factory=dict)


def _float_columns(table: Table, wanted: Collection[str] | None = None,
                   server_double: bool = False) -> list[Any]:
    """The columns (all, or those named in ``wanted``), DECIMAL ones read as floats.

    The KPI computes in binary floats anyway (decisions 12: the writer rounds half-up once
    before storing); building a Decimal per cell only to convert it back costs more than
    the rest of the computation on SQLite. Leaving out the columns the caller never looks at
    matters as much: with PyMySQL most of the read time is spent per field.

    ``server_double`` (MySQL/MariaDB): the server casts to DOUBLE, which is the same
    correctly rounded float as ``float(Decimal)`` (the server converts through its strtod and
    sends the shortest text that reads back as that double), so the driver needs no Decimal
    and the rows need no SQLAlchemy processing (see ``_raw_dicts``).
    """
    out: list[Any] = []
    for c in table.columns:
        if wanted is not None and c.name not in wanted:
            continue
        if not isinstance(c.type, Numeric):
            out.append(c)
        elif server_double:
            out.append(_mysql_double(table.name, c.name))
        else:
            out.append(type_coerce(c, Float).label(c.name))
    return out


def _mysql_double(table: str, column: str) -> Any:
    # SQLAlchemy drops CAST(... AS DOUBLE) on MySQL dialects, so it is written out.
    def q(name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    return literal_column(f"CAST({q(table)}.{q(column)} AS DOUBLE)", Float).label(column)


def _in_range(desde: date, hasta: date):  # type: ignore[no-untyped-def]
    return colocaciones.c.FechaOperacion.between(desde, hasta)


def iter_colocacion_chunks(
    engine: Engine, *, desde: date, hasta: date, fecha_corte: date, chunk_size: int,
    columns: Collection[str] | None = None, part: int = 0, parts: int = 1,
) -> Iterator[ColocacionChunk]:
    """Documents with FechaOperacion in [desde, hasta], ``chunk_size`` at a time.

    ``columns``: the column names the caller uses (None: all). The keys that tie documents,
    payments and refunds together and order them are always read.

    ``part``/``parts``: only chunks number ``part``, ``part + parts``, ... are read, so that
    ``parts`` processes can share the work. Chunk boundaries are the same for every part:
    a skipped chunk costs one query that returns its size and last id.

    Payments and refunds dated after ``fecha_corte`` are left out: the cut-off is the as-of
    date of the report (reportes.md §1.3), so a re-run of a past day sees that day's state.
    Undated ones are kept (their date is unknown, not later).
    """
    wanted = None if columns is None else set(columns) | _KEYS
    mysql = is_mysql(engine)
    dev = colocaciones_devoluciones
    doc_id = colocaciones.c.IdLiquidacionDet

    def of_chunk(det: Any) -> Any:
        # The documents of the chunk are those in range with an id in (last, hi]: saying so
        # costs the server a key lookup per row, where a list of their ids would cost this
        # process a bound parameter per document.
        return and_(det > bindparam("last"), det <= bindparam("hi"), det.in_(
            select(doc_id).where(_in_range(desde, hasta), doc_id > bindparam("last"),
                                 doc_id <= bindparam("hi"))))

    base = _ChunkQuery.build(colocaciones, wanted, mysql, lambda q: (
        q.where(_in_range(desde, hasta), colocaciones.c.IdLiquidacionDet > bindparam("last"))
        .order_by(colocaciones.c.IdLiquidacionDet)
        .limit(chunk_size)
    ))
    pagos_q = _ChunkQuery.build(colocaciones_pagos, wanted, mysql, lambda q: (
        q.where(
            of_chunk(colocaciones_pagos.c.IdLiquidacionDet),
            (colocaciones_pagos.c.FechaPago <= fecha_corte)
            | colocaciones_pagos.c.FechaPago.is_(None),
        )
        .order_by(colocaciones_pagos.c.IdLiquidacionDet, colocaciones_pagos.c.IdLiquidacionPago)
    ))
    devoluciones_q = _ChunkQuery.build(dev, wanted, mysql, lambda q: (
        q.where(
            of_chunk(dev.c.IdLiquidacionDet),
            (dev.c.FechaDesembolso <= fecha_corte) | dev.c.FechaDesembolso.is_(None),
        )
        .order_by(dev.c.IdLiquidacionDet, dev.c.IdLiquidacionDevolucion)
    ))
    window = (
        select(colocaciones.c.IdLiquidacionDet)
        .where(_in_range(desde, hasta), colocaciones.c.IdLiquidacionDet > bindparam("last"))
        .order_by(colocaciones.c.IdLiquidacionDet)
        .limit(chunk_size)
        .subquery()
    )
    skip = select(func.count(), func.max(window.c.IdLiquidacionDet))
    last = -(2**62)
    for index in itertools.count():
        if index % parts != part:
            with engine.connect() as conn:
                size, last_id = conn.execute(skip, {"last": last}).one()
            if size < chunk_size:
                return
            last = last_id
            continue
        with engine.connect() as conn:
            rows = base.fetch(conn, {"last": last})
            if not rows:
                return
            bounds = {"last": last, "hi": rows[-1]["IdLiquidacionDet"]}
            chunk = ColocacionChunk(
                rows,
                _group(pagos_q.fetch(conn, bounds)),
                _group(devoluciones_q.fetch(conn, bounds)),
            )
        last = bounds["hi"]
        yield chunk
        if len(rows) < chunk_size:
            return


_SEP = "\x1f"  # ASCII unit separator: between the fields of a packed row
_TEXT = operator.itemgetter(slice(1, None))  # drops the mark that tells '' from NULL


class _Packed:
    """Rows of some columns sent by MySQL/MariaDB as one text field each.

    PyMySQL decodes every field of a result in Python, and on a wide table that is most
    of a refresh's read time. Here the server joins a row's fields into one string
    (``CONCAT_WS`` with a unit separator), so the driver decodes one field per row and the
    split is one C call; the values are then typed by C parsers as the plain read types
    them: integers, DECIMAL as float (its exact text, read by ``float``: the same double as
    ``float(Decimal)``), dates and datetimes by ``fromisoformat`` (the server's canonical
    text parses to what PyMySQL gives). NULL travels as an empty field and text values
    carry a one-character mark, so ``''`` and NULL stay apart. A text value that holds the
    separator shows up as a wrong field count, a date such as ``0000-00-00`` as a
    ValueError: ``decode`` then returns None and the caller reads that chunk the plain way,
    where PyMySQL returns such dates as text.
    """

    def __init__(self, table: Table, wanted: Collection[str] | None) -> None:
        self.names: list[str] = []
        self.converters: list[Callable[[str], Any]] = []
        parts: list[str] = []
        for c in table.columns:
            if wanted is not None and c.name not in wanted:
                continue
            col = f"`{table.name}`.`{c.name.replace('`', '``')}`"
            if isinstance(c.type, String):
                parts.append(f"IFNULL(CONCAT('s', {col}), '')")
                self.converters.append(_TEXT)
            else:
                parts.append(f"IFNULL({col}, '')")
                self.converters.append(self._converter(c))
            self.names.append(c.name)
        self.column = literal_column(
            f"CONCAT_WS(CHAR(31 USING utf8mb4), {', '.join(parts)})", String
        ).label("packed")

    @staticmethod
    def _converter(column: Any) -> Callable[[str], Any]:
        kind = column.type
        if isinstance(kind, Integer):
            return int
        if isinstance(kind, Numeric) and not isinstance(kind, Float):
            return float
        if isinstance(kind, DateTime):
            return datetime.fromisoformat
        if isinstance(kind, Date):
            return date.fromisoformat
        raise TypeError(f"{column} ({kind}) has no packed form")

    def decode(self, result: Any) -> list[Row] | None:
        try:
            lines = result.cursor.fetchall()
        finally:
            result.close()
        names, converters, width = self.names, self.converters, len(self.names)
        rows: list[Row] = []
        try:
            for (line,) in lines:
                fields = line.split(_SEP) if isinstance(line, str) else ()
                if len(fields) != width:
                    return None
                values = [convert(f) if f else None
                          for convert, f in zip(converters, fields, strict=True)]
                rows.append(dict(zip(names, values, strict=True)))
        except ValueError:  # '0000-00-00' and other dates only PyMySQL's parser takes
            return None
        return rows


@dataclass(frozen=True)
class _ChunkQuery:
    """One chunk query, read packed (``_Packed``) where the server and the columns allow."""

    plain: Any
    raw: bool = False  # the plain rows need no SQLAlchemy processing (``_raw_dicts``)
    packed: Any = None
    packer: _Packed | None = None

    @classmethod
    def build(cls, table: Table, wanted: Collection[str] | None, mysql: bool,
              shape: Callable[[Any], Any]) -> _ChunkQuery:
        """``shape`` adds the WHERE, ORDER BY and LIMIT to a SELECT of the columns."""
        plain = shape(select(*_float_columns(table, wanted, mysql)))
        if not mysql:
            return cls(plain)
        try:
            packer = _Packed(table, wanted)
        except TypeError:  # a column type without a packed form: read it the plain way
            return cls(plain, raw=True)
        return cls(plain, True, shape(select(packer.column).select_from(table)), packer)

    def fetch(self, conn: Any, params: dict[str, Any]) -> list[Row]:
        if self.packer is not None:
            rows = self.packer.decode(conn.execute(self.packed, params))
            if rows is not None:
                return rows
        return (_raw_dicts if self.raw else _dicts)(conn.execute(self.plain, params))


def _dicts(result: Any) -> list[Row]:
    # zip over plain tuples: several times cheaper than RowMapping objects per row.
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _raw_dicts(result: Any) -> list[Row]:
    """``_dicts`` straight from the DB-API cursor, skipping SQLAlchemy's row objects.

    Only for queries whose columns need no result processing: with PyMySQL, integers,
    text, dates and (server-cast) doubles arrive as the Python values SQLAlchemy would
    return anyway.
    """
    keys = list(result.keys())
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _group(rows: list[Row]) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["IdLiquidacionDet"]].append(row)
    return dict(grouped)


def read_executives(engine: Engine, *, desde: date, hasta: date) -> list[str]:
    """Distinct in-system executive spellings in the range, in order of first appearance.

    Grouping is byte-exact: MariaDB's default collation is case-insensitive and would fold
    ``Perez, Ana`` and ``PEREZ, ANA`` into one group with an arbitrary spelling.
    """
    col = colocaciones.c.Ejecutivo
    key = cast(col, LargeBinary) if is_mysql(engine) else col
    first_id = func.min(colocaciones.c.IdLiquidacionDet).label("first_id")
    query = (
        select(func.min(col).label("Ejecutivo"), first_id)
        .where(_in_range(desde, hasta), col.is_not(None))
        .group_by(key)
        .order_by(first_id)
    )
    with engine.connect() as conn:
        return [r.Ejecutivo for r in conn.execute(query)]


def _read_all(engine: Engine, query: Any) -> list[Row]:
    with engine.connect() as conn:
        return _dicts(conn.execute(query))


def read_tipo_cambio(engine: Engine) -> list[Row]:
    return _read_all(engine, select(tipo_cambio).order_by(tipo_cambio.c.TipoCambioFecha))


def read_sector_pagadores(engine: Engine) -> list[Row]:
    return _read_all(engine, select(sector_pagadores).order_by(sector_pagadores.c.RUCPagador))


def _fuera_sistema_query(*columns: Any) -> Any:
    """Off-system rows in legacy order: the PEN sheet first, then USD, each by row number."""
    t = operaciones_fuera_sistema
    sheet_order = (t.c.Hoja != "PEN")  # False (0) sorts first: PEN, then everything else
    return select(*columns).order_by(sheet_order, t.c.Hoja, t.c.Fila, t.c.id)


def read_operaciones_fuera_sistema(engine: Engine) -> list[Row]:
    return list(iter_operaciones_fuera_sistema(engine))


# What the KPI needs of every off-system row before the first row is computed.
FUERA_SISTEMA_KEYS = ("CodigoLiquidacion", "RUCCliente", "RUCPagador", "Ejecutivo")


def iter_operaciones_fuera_sistema(
    engine: Engine, *, columns: Collection[str] | None = None, chunk_size: int = 5000,
) -> Iterator[Row]:
    """Off-system rows in legacy order, ``chunk_size`` at a time (only ``columns`` if given).

    The sheets grow with the book; reading them whole would make memory grow with it.
    """
    t = operaciones_fuera_sistema
    cols = [c for c in t.columns if columns is None or c.name in columns]
    query = _fuera_sistema_query(*cols).limit(chunk_size).offset(bindparam("skip"))
    skip = 0
    while True:
        rows = _read_all(engine, query.params(skip=skip))
        yield from rows
        if len(rows) < chunk_size:
            return
        skip += chunk_size


def read_referidos(engine: Engine) -> list[Row]:
    return _read_all(engine, select(referidos).order_by(referidos.c.CodigoLiquidacion))


def read_referidos_alias(engine: Engine) -> dict[str, str]:
    """Alias key → canonical name, in alias order (the order breaks fuzzy-match ties)."""
    rows = _read_all(engine, select(referidos_alias).order_by(referidos_alias.c.Alias))
    return {r["Alias"]: r["Canonico"] for r in rows}
