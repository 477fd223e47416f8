"""New clients and new payers per month and executive (reportes.md §3.7, decisions.md 6–7).

The legacy walked the months in order and, inside a month, the executives in order of first
appearance, then the types Factoring → Confirming → Capital de Trabajo, crediting every
client (Factoring only) and payer (any type) not seen in an earlier step. Two "already seen"
sets span the whole run, so only the *first* month a RUC appears in can credit it, and in
that month the first executive in the walk order that has it wins.

Here the walk is the same, except that the order of executives within a month is defined
(decisions 6): by their earliest row of the month, keyed (FechaOperacion, CodigoLiquidacion,
NroDocumento), instead of the KPI row order. When the KPI rows are in date order this is
exactly the legacy result.

The KPI rows arrive in chunks (``NewClients.observe``); only what the walk needs is kept,
reduced after every chunk, never the rows: per month each executive's earliest key; per RUC
and kind (client/payer) its earliest month and who had it that month; per RUC and kind the
legal name of its most recent operation (decisions 7; on equal keys the later row wins).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import polars as pl

FACTORING = "Factoring"
CONFIRMING = "Confirming"
CAPITAL_DE_TRABAJO = "Capital de Trabajo"
# The walk order of types within an executive (§3.7); rows of other types are ignored.
TIPOS: tuple[str, ...] = (FACTORING, CONFIRMING, CAPITAL_DE_TRABAJO)
TIPO_RANK = {tipo: rank for rank, tipo in enumerate(TIPOS)}
CLIENT = "cliente"
PAYER = "pagador"
KEY = ("_day", "_codigo", "_nro")  # the order decisions 6 and 7 rely on

OUTPUT: dict[Any, Any] = {
    "FechaOperacion": pl.Datetime("us"), "Ejecutivo": pl.String, "RUCCliente": pl.String,
    "RUCPagador": pl.String, "TipoOperacion": pl.String, "RazonSocial": pl.String}


def month_list(first: date, last: date) -> list[str]:
    """Every month ``YYYY-MM`` from ``first``'s month to ``last``'s, ascending (empty if reversed)."""
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _text(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text)


class NewClients:
    """Collects, chunk by chunk, what §3.7 needs; ``frame()`` then gives the output."""

    def __init__(self, months: Iterable[str]) -> None:
        self.months = list(months)
        self._seq = 0
        self._ranks = pl.DataFrame(schema={"_mes": pl.String, "_ejecutivo": pl.String,
                                           "_day": pl.Date, "_codigo": pl.String,
                                           "_nro": pl.String})
        self._first = pl.DataFrame(schema={"_kind": pl.String, "_ruc": pl.String,
                                           "_mes": pl.String, "_ejecutivo": pl.String,
                                           "_tipo": pl.String})
        self._names = pl.DataFrame(schema={"_kind": pl.String, "_ruc": pl.String,
                                           "_day": pl.Date, "_codigo": pl.String,
                                           "_nro": pl.String, "_seq": pl.Int64,
                                           "_name": pl.String})
        self.ignored_rows = 0

    def observe(self, kpi: pl.DataFrame) -> None:
        """Record a chunk of validated KPI rows (TipoOperacion already normalised)."""
        rows = kpi.select(
            pl.col("FechaOperacion").cast(pl.Date).alias("_day"),
            pl.col("CodigoLiquidacion").cast(pl.String).fill_null("").alias("_codigo"),
            pl.col("NroDocumento").cast(pl.String).fill_null("").alias("_nro"),
            _text("RUCCliente").alias("_cliente"), _text("RUCPagador").alias("_pagador"),
            _text("RazonSocialCliente").alias("_nombre_cliente"),
            _text("RazonSocialPagador").alias("_nombre_pagador"),
            pl.coalesce(pl.col("Mes"), pl.col("FechaOperacion").dt.strftime("%Y-%m"))
            .alias("_mes"),
            _text("Ejecutivo").alias("_ejecutivo"),
            pl.col("TipoOperacion").alias("_tipo"),
            (pl.int_range(pl.len(), dtype=pl.Int64) + self._seq).alias("_seq"),
        )
        self._seq += rows.height
        dated = rows.filter(pl.col("_day").is_not_null())
        self.ignored_rows += rows.height - dated.height
        self._observe_names(dated)
        walked = dated.filter(pl.col("_mes").is_in(self.months) & pl.col("_ejecutivo").is_not_null())
        # The executive's rank counts every row of the month, as the legacy's "order of first
        # appearance" did, whatever the row's type.
        self._ranks = pl.concat([self._ranks, walked.select(self._ranks.columns)]) \
            .sort(["_mes", "_ejecutivo", *KEY]).unique(["_mes", "_ejecutivo"], keep="first")
        typed = walked.filter(pl.col("_tipo").is_in(TIPOS))
        self.ignored_rows += dated.height - typed.height
        holders = pl.concat([
            typed.filter((pl.col("_tipo") == FACTORING) & pl.col("_cliente").is_not_null())
            .select(pl.lit(CLIENT).alias("_kind"), pl.col("_cliente").alias("_ruc"),
                    "_mes", "_ejecutivo", "_tipo"),
            typed.filter(pl.col("_pagador").is_not_null())
            .select(pl.lit(PAYER).alias("_kind"), pl.col("_pagador").alias("_ruc"),
                    "_mes", "_ejecutivo", "_tipo"),
        ])
        merged = pl.concat([self._first, holders]).unique()
        earliest = merged.group_by("_kind", "_ruc").agg(pl.col("_mes").min().alias("_first"))
        self._first = merged.join(earliest, on=["_kind", "_ruc"]) \
            .filter(pl.col("_mes") == pl.col("_first")).drop("_first")

    def _observe_names(self, rows: pl.DataFrame) -> None:
        names = pl.concat([
            rows.filter(pl.col("_cliente").is_not_null() & pl.col("_nombre_cliente").is_not_null())
            .select(pl.lit(CLIENT).alias("_kind"), pl.col("_cliente").alias("_ruc"), *KEY,
                    "_seq", pl.col("_nombre_cliente").alias("_name")),
            rows.filter(pl.col("_pagador").is_not_null() & pl.col("_nombre_pagador").is_not_null())
            .select(pl.lit(PAYER).alias("_kind"), pl.col("_pagador").alias("_ruc"), *KEY,
                    "_seq", pl.col("_nombre_pagador").alias("_name")),
        ])
        self._names = pl.concat([self._names, names]).sort([*KEY, "_seq"]) \
            .unique(["_kind", "_ruc"], keep="last")

    def frame(self) -> pl.DataFrame:
        """Output rows of `nuevos_clientes_nuevos_pagadores`, in walk order."""
        ranks = self._ranks.sort(["_mes", *KEY, "_ejecutivo"]).with_columns(
            pl.int_range(pl.len()).over("_mes").alias("_rank"))
        holders = self._first.join(ranks.select("_mes", "_ejecutivo", "_rank"),
                                   on=["_mes", "_ejecutivo"]).with_columns(
            pl.col("_tipo").replace_strict(TIPO_RANK, return_dtype=pl.Int64).alias("_tipo_rank"))
        # The first (executive, type) of the walk that holds the RUC gets the credit.
        credited = holders.sort(["_rank", "_tipo_rank"]).unique(["_kind", "_ruc"], keep="first")
        credited = credited.join(self._names.select("_kind", "_ruc", "_name"),
                                 on=["_kind", "_ruc"], how="left")
        order = pl.col("_mes").replace_strict({m: i for i, m in enumerate(self.months)},
                                              return_dtype=pl.Int64)
        out = credited.sort([order, "_rank", "_tipo_rank", pl.col("_kind") != CLIENT, "_ruc"])
        return out.select(
            pl.concat_str(pl.col("_mes"), pl.lit("-01")).str.to_datetime("%Y-%m-%d", time_unit="us")
            .alias("FechaOperacion"),
            pl.col("_ejecutivo").alias("Ejecutivo"),
            pl.when(pl.col("_kind") == CLIENT).then(pl.col("_ruc")).alias("RUCCliente"),
            pl.when(pl.col("_kind") == PAYER).then(pl.col("_ruc")).alias("RUCPagador"),
            pl.col("_tipo").alias("TipoOperacion"),
            pl.col("_name").alias("RazonSocial"),
        ).cast(OUTPUT)

