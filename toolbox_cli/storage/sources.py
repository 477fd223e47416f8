"""Readers of the source contract, as Polars frames (decisions.md "Where the inputs come from").

``colocaciones`` and its payments and refunds can be large, so they are read in chunks by
id range: documents in keyset order (``IdLiquidacionDet > last ORDER BY … LIMIT n``), each
chunk with the payments and refunds of its own id range; one short query each, so memory
stays flat and no read transaction stays open while the writer fills the datamart (which
may be the same SQLite file). The other tables are small reference data, read whole.
``storage/frames.py`` is the seam that turns a SELECT into a typed frame per backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Boolean, String, Table, cast, exists, func, not_, or_, select
from sqlalchemy.engine import Engine

from toolbox_cli.storage.engine import is_mysql
from toolbox_cli.storage.frames import read_table
from toolbox_cli.storage.tables.contract import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
    cxc_codigos_especiales,
    operaciones_fuera_sistema,
    referidos,
    referidos_alias,
    saldos_caja,
    sector_pagadores,
    tipo_cambio,
)

DOC = colocaciones.c.IdLiquidacionDet


@dataclass
class DocumentChunk:
    """One chunk of documents with the payments and refunds of its id range."""

    documents: pl.DataFrame
    pagos: pl.DataFrame
    devoluciones: pl.DataFrame


def _in_range(engine: Engine, desde: date | None, hasta: date | None) -> list[Any]:
    """Documents dated ``desde``..``hasta``, and every document without a valid date: those
    must reach the computation, which refuses them naming their key (decision 23); a date
    filter alone would drop them silently."""
    if desde is None or hasta is None:
        return []
    fecha = colocaciones.c.FechaOperacion
    undated = [fecha.is_(None)]
    if not is_mysql(engine):  # SQLite keeps any text in a DATE column
        undated.append(not_(cast(fecha, String).op("GLOB", return_type=Boolean)(
            "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*")))
    return [or_(fecha.between(desde, hasta), *undated)]


def iter_document_chunks(
    engine: Engine, *, chunk_size: int, documents: Sequence[str], pagos: Sequence[str] = (),
    devoluciones: Sequence[str] = (), desde: date | None = None, hasta: date | None = None,
    fecha_corte: date | None = None,
) -> Iterator[DocumentChunk]:
    """Documents (the ``documents`` columns), ``chunk_size`` at a time in id order, with the
    payments and refunds of each chunk's id range.

    With ``desde``/``hasta`` only documents whose FechaOperacion is in that range (and only
    their payments and refunds). With ``fecha_corte`` payments and refunds dated after it are
    left out: the cut-off is the as-of date of the report (reportes.md §1.3), so a re-run of
    a past day sees that day's state; undated ones are kept (their date is unknown, not later).
    ``DiasEfectivo`` is read as a float, so a fractional value can be refused, not truncated.
    """
    in_range = _in_range(engine, desde, hasta)
    last: int | None = None
    while True:
        where = [*in_range, *([DOC > last] if last is not None else [])]
        docs = read_table(engine, colocaciones, documents, where=where, order_by=[DOC],
                          limit=chunk_size, key="IdLiquidacionDet", floats=("DiasEfectivo",))
        if not docs.height:
            return
        first, last = int(docs["IdLiquidacionDet"][0]), int(docs["IdLiquidacionDet"][-1])
        ids = docs["IdLiquidacionDet"] if in_range else None
        yield DocumentChunk(
            docs,
            _details(engine, colocaciones_pagos, pagos, first, last, ids,
                     colocaciones_pagos.c.FechaPago, fecha_corte, "IdLiquidacionPago"),
            _details(engine, colocaciones_devoluciones, devoluciones, first, last, ids,
                     colocaciones_devoluciones.c.FechaDesembolso, fecha_corte,
                     "IdLiquidacionDevolucion"),
        )
        if docs.height < chunk_size:
            return


def _details(engine: Engine, table: Table, names: Sequence[str], first: int, last: int,
             ids: pl.Series | None, dated: Any, fecha_corte: date | None, key: str
             ) -> pl.DataFrame:
    """The rows of ``table`` whose document id is in [first, last] (and in ``ids``, the
    chunk's documents, when a date range left some out: filtered here, not by a subquery
    the server would run once per row)."""
    if not names:
        return pl.DataFrame()
    det = table.c.IdLiquidacionDet
    where = [det >= first, det <= last]
    if fecha_corte is not None:
        where.append((dated <= fecha_corte) | dated.is_(None))
    read = [*names, *(["IdLiquidacionDet"] if ids is not None and "IdLiquidacionDet" not in names
                      else [])]
    rows = read_table(engine, table, read, where=where, order_by=[det, table.c[key]], key=key)
    if ids is None:
        return rows
    return rows.filter(pl.col("IdLiquidacionDet").is_in(ids.implode())).select(names)


def iter_table_chunks(engine: Engine, table: Table, names: Sequence[str], key: str,
                      chunk_size: int, *, where: Sequence[Any] = ()) -> Iterator[pl.DataFrame]:
    """A whole table (or its rows that meet ``where``) in keyset chunks by ``key``."""
    column = table.c[key]
    last: Any = None
    given = list(where)
    while True:
        where = [*given, column > last] if last is not None else given
        chunk = read_table(engine, table, names, where=where, order_by=[column],
                           limit=chunk_size, key=key)
        if not chunk.height:
            return
        yield chunk
        if chunk.height < chunk_size:
            return
        last = chunk[key][-1]


def all_columns(table: Table, *, without: Sequence[str] = ()) -> list[str]:
    return [c.name for c in table.columns if c.name not in without]


# ---------------------------------------------------------------- reference tables


def read_tipo_cambio(engine: Engine) -> pl.DataFrame:
    return read_table(engine, tipo_cambio, ["TipoCambioFecha", "TipoCambioCompra",
                                            "TipoCambioVenta"],
                      order_by=[tipo_cambio.c.TipoCambioFecha], key="TipoCambioFecha")


def read_sector_pagadores(engine: Engine) -> pl.DataFrame:
    return read_table(engine, sector_pagadores, ["RUCPagador", "Sector", "GrupoEco"],
                      order_by=[sector_pagadores.c.RUCPagador])


def read_referidos(engine: Engine) -> pl.DataFrame:
    return read_table(engine, referidos, ["CodigoLiquidacion", "Referencia"],
                      order_by=[referidos.c.CodigoLiquidacion])


def read_referidos_alias(engine: Engine) -> dict[str, str]:
    """Alias key → canonical name, in alias order (the order breaks fuzzy-match ties)."""
    frame = read_table(engine, referidos_alias, ["Alias", "Canonico"],
                       order_by=[referidos_alias.c.Alias])
    return dict(zip(frame["Alias"].to_list(), frame["Canonico"].to_list(), strict=True))


def _fuera_sistema_order() -> list[Any]:
    """Off-system rows in legacy order: the PEN sheet first, then USD, each by row number."""
    t = operaciones_fuera_sistema
    return [t.c.Hoja != "PEN", t.c.Hoja, t.c.Fila, t.c.id]  # False (0) sorts first: PEN


# What the KPI needs of every off-system row before the first row is computed.
FUERA_SISTEMA_KEYS = ("CodigoLiquidacion", "RUCCliente", "RUCPagador", "Ejecutivo")


def iter_operaciones_fuera_sistema(engine: Engine, names: Sequence[str] | None = None, *,
                                   chunk_size: int = 5000) -> Iterator[pl.DataFrame]:
    """Off-system rows in legacy order, ``chunk_size`` at a time (only ``names`` if given).

    The sheets grow with the book; reading them whole would make memory grow with it.
    """
    t = operaciones_fuera_sistema
    columns = list(names) if names is not None else all_columns(t)
    skip = 0
    while True:
        chunk = read_table(engine, t, columns, order_by=_fuera_sistema_order(), limit=chunk_size,
                           offset=skip, key="Fila" if "Fila" in columns else columns[0])
        if chunk.height:
            yield chunk
        if chunk.height < chunk_size:
            return
        skip += chunk_size


def read_saldos_chunks(engine: Engine, chunk_size: int) -> Iterator[pl.DataFrame]:
    """``saldos_caja`` in id (input) order, in keyset chunks."""
    yield from iter_table_chunks(engine, saldos_caja, all_columns(saldos_caja), "id", chunk_size)


# ---------------------------------------------------------------- tablas-cxc


def read_rate_candidates(engine: Engine, fecha_corte: date) -> list[dict[str, Any]]:
    """The newest ``tipo_cambio`` row on or before the cut-off (``TipoCambioFecha`` is ISO
    text, so text order is date order)."""
    fecha = tipo_cambio.c.TipoCambioFecha
    query = (
        select(fecha, tipo_cambio.c.TipoCambioCompra, tipo_cambio.c.TipoCambioVenta)
        .where(fecha <= fecha_corte.isoformat())
        .order_by(fecha.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def read_codigos_especiales(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(cxc_codigos_especiales)).mappings()]


def orphan_pagos(engine: Engine, limit: int = 5) -> tuple[int, list[int]]:
    """Payments whose document is not in ``colocaciones``: (count, first few payment ids)."""
    p, c = colocaciones_pagos, colocaciones
    orphan = ~exists().where(c.c.IdLiquidacionDet == p.c.IdLiquidacionDet)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(p).where(orphan)).scalar_one()
        examples = conn.execute(
            select(p.c.IdLiquidacionPago).where(orphan).order_by(p.c.IdLiquidacionPago)
            .limit(limit)
        ).scalars().all()
    return int(count), [int(e) for e in examples]

