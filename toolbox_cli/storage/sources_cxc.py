"""Source readers of ``tablas-cxc``: documents, payments, refunds, rates, sectors, codes.

Large tables are read in keyset chunks (``WHERE key > :last ORDER BY key LIMIT :n``): each
chunk is one short query, so memory stays flat as the tables grow (PyMySQL's default cursor
would buffer a whole unbounded SELECT client-side) and no read transaction stays open while
the datamart writer works. Rows come back as plain dicts keyed by the legacy column names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table, exists, func, select
from sqlalchemy.engine import Engine

from toolbox_cli.storage.tables import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
    cxc_codigos_especiales,
    sector_pagadores,
    tipo_cambio,
)

Row = dict[str, Any]

# colocaciones has reporting-only columns (Anticipo, TramoAnticipo) the CXC dimension ignores.
DOCUMENT_COLUMNS = [c for c in colocaciones.columns if c.name not in ("Anticipo", "TramoAnticipo")]


def _dicts(result: Any) -> list[Row]:
    # zip over plain tuples: several times cheaper than a RowMapping per row.
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _keyset_chunks(engine: Engine, table: Table, key: str, chunk_size: int,
                   columns: Iterable[Any] | None = None) -> Iterator[list[Row]]:
    key_col = table.c[key]
    cols = list(columns) if columns is not None else list(table.columns)
    last: Any = None
    while True:
        query = select(*cols).order_by(key_col).limit(chunk_size)
        if last is not None:
            query = query.where(key_col > last)
        with engine.connect() as conn:
            rows = _dicts(conn.execute(query))
        if not rows:
            return
        yield rows
        if len(rows) < chunk_size:
            return
        last = rows[-1][key]


def iter_pagos(engine: Engine, chunk_size: int) -> Iterator[Row]:
    """Every payment, ordered by ``IdLiquidacionPago``."""
    for chunk in _keyset_chunks(engine, colocaciones_pagos, "IdLiquidacionPago", chunk_size):
        yield from chunk


def iter_devoluciones(engine: Engine, chunk_size: int) -> Iterator[Row]:
    """Every refund, ordered by ``IdLiquidacionDevolucion``."""
    for chunk in _keyset_chunks(
        engine, colocaciones_devoluciones, "IdLiquidacionDevolucion", chunk_size
    ):
        yield from chunk


@dataclass
class DocumentChunk:
    documentos: list[Row]
    pagos: list[Row]  # every payment whose IdLiquidacionDet lies in the chunk's id range


def iter_document_chunks(engine: Engine, chunk_size: int) -> Iterator[DocumentChunk]:
    """Documents in keyset chunks by ``IdLiquidacionDet``, each with its chunk's payments.

    Payments are fetched by the chunk's id range (first..last), which uses the index on
    ``colocaciones_pagos.IdLiquidacionDet``; payments in the range whose document does not
    exist (orphans) come along and are ignored by the compute step.
    """
    for docs in _keyset_chunks(engine, colocaciones, "IdLiquidacionDet", chunk_size,
                               DOCUMENT_COLUMNS):
        first, last = docs[0]["IdLiquidacionDet"], docs[-1]["IdLiquidacionDet"]
        det = colocaciones_pagos.c.IdLiquidacionDet
        query = select(colocaciones_pagos).where(det >= first, det <= last)
        with engine.connect() as conn:
            pagos = _dicts(conn.execute(query))
        yield DocumentChunk(docs, pagos)


def read_rate_candidates(engine: Engine, fecha_corte: date) -> list[Row]:
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
        return _dicts(conn.execute(query))


def read_codigos_especiales(engine: Engine) -> list[Row]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(cxc_codigos_especiales)).mappings()]


def count_sectores(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sector_pagadores)).scalar_one())


def read_sectores_for(engine: Engine, rucs: Iterable[str]) -> list[Row]:
    """Catalogue rows of the given (cleaned) payer RUCs only: one query per document chunk,
    so the catalogue is never held whole in memory. The catalogue side gets the same
    cleaning as the documents (no ``:``, no spaces) so ``20:100000001`` still matches."""
    wanted = sorted({r for r in rucs if r})
    if not wanted:
        return []
    ruc = func.replace(func.replace(func.trim(sector_pagadores.c.RUCPagador), ":", ""), " ", "")
    query = select(sector_pagadores).where(ruc.in_(wanted))
    with engine.connect() as conn:
        return _dicts(conn.execute(query))


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
