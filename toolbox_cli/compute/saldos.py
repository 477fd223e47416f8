"""Cash balances (`saldos`) from the balances source (reportes.md §2.6, §3.8; decisions.md 8).

A pass-through: one output row per input row, input order, no de-duplication, no date filter.
Amounts are PEN and negative values are kept (decisions 8); a missing amount is 0.0 as the
legacy stored it. The day is required: a row without FechaOperacion fails the run, named.
(The balances sheet's display strings, ``"1,234.50"``, are read by ``toolbox import saldos``
before they reach ``saldos_caja``.)
"""

from __future__ import annotations

import polars as pl

from toolbox_cli.errors import InputError

SALDO_FIELDS: tuple[str, ...] = (
    "EvolucionCaja",
    "CostoExcesoCaja",
    "IngresoNoRecibidoPorExcesoCaja",
    "MontoOvernight",
    "IngresosOvernightNeto",
    "SaldoTotalCaja",
)


def saldos_frame(balances: pl.DataFrame, *, key: str = "id") -> pl.DataFrame:
    """`saldos` rows of a chunk of ``saldos_caja`` (``key`` names a row in errors)."""
    missing = [c for c in ("FechaOperacion", *SALDO_FIELDS) if c not in balances.columns]
    if missing:
        raise InputError(f"saldos: the balances source has no {', '.join(missing)}; "
                         "it must provide all seven fields")
    blank = balances.filter(pl.col("FechaOperacion").is_null())
    if blank.height:
        where = f"saldos_caja {key}={blank[key][0]}" if key in blank.columns else "saldos_caja"
        raise InputError(f"saldos: {where} has no FechaOperacion; fix or remove that row")
    return balances.select(
        pl.col("FechaOperacion").cast(pl.Date).cast(pl.Datetime("us")),
        *[pl.col(c).cast(pl.Float64).fill_null(0.0).fill_nan(0.0) for c in SALDO_FIELDS],
    )
