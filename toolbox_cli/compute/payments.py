"""Several payments (or refunds) per document, reduced to one (decisions 3, cxc §6.1).

Ordered by their date then id, the last one is the current one: its columns describe the
document's payment; the amount is the sum over all of them. Undated entries sort first (as
NULLs do in SQL), so a dated one is always preferred as the current one. Both jobs use this:
the KPI tables (``MontoPago``, ``MontoDevolucion``) and ``cxc_acumulado_dim``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

DOCUMENT = "IdLiquidacionDet"
# Every column of colocaciones_devoluciones: what the KPI and the CXC jobs read of a refund.
DEVOLUCION_COLUMNS = ("IdLiquidacionDevolucion", "IdLiquidacionDet", "FechaDesembolso",
                      "MontoDevolucion", "DescuentoDevolucion", "EstadoDevolucion",
                      "ObservacionDevolucion")
COUNT = "_entries"  # how many payments (refunds) the document had


def current_entry(entries: pl.DataFrame, *, date: str, id: str, summed: Sequence[str]
                  ) -> pl.DataFrame:
    """One row per document: the last entry's columns, ``summed`` columns summed over all
    its entries (nulls count as nothing), and ``_entries``, their number."""
    ordered = entries.sort([DOCUMENT, pl.col(date).is_not_null(), date, id])
    others = [c for c in entries.columns if c not in (DOCUMENT, *summed)]
    return ordered.group_by(DOCUMENT, maintain_order=True).agg(
        *[pl.col(c).last() for c in others],
        *[pl.col(c).sum() for c in summed],
        pl.len().alias(COUNT),
    )
