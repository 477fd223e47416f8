"""Accounts receivable (CXC): the document dimension ``cxc_acumulado_dim`` on Polars frames.

Spec: ``domain/cxc.md`` (section 3.3 steps C–J) with ``domain/decisions.md`` overriding it.
Nothing here does I/O or reads the clock: the cut-off date, the exchange rate, the special
code lists and the sector catalogue come in as parameters. This module owns those run
inputs (``RunRate``, ``pick_run_rate``, ``explicit_rate``, ``CodeLists``,
``build_code_lists``, ``sector_catalogue``) and turns documents and payments already read by
``cxc_fields`` into dimension rows (``acumulado``): balance, account state, special codes,
sector, days overdue and aging bucket (``tramo_vencido``), counted in ``AcumuladoStats``.
Amounts are binary floats; the datamart writer rounds them half-up once, just before
writing (decisions 12), so ``SaldoTotalPen`` is computed from the unrounded balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from toolbox_cli.compute import cells, ruc
from toolbox_cli.compute.cells import RowError
from toolbox_cli.compute.payments import COUNT, current_entry
from toolbox_cli.errors import InputError, TaskFailed

# Canonical spellings (decisions 10: matching is trimmed and case-insensitive, outputs keep
# these spellings).
PAGO_PARCIAL = "PAGO PARCIAL"
MORA_A_MAYO = "MORA_A_MAYO"  # list names in cxc_codigos_especiales.lista
COBRANZA_ESPECIAL = "COBRANZA_ESPECIAL"
LABEL_MORA_A_MAYO = "MORA A MAYO"  # values written to TipoPagoReal / EstadoReal
LABEL_COBRANZA_ESPECIAL = "COBRANZA ESPECIAL"
VENCIDO = "VENCIDO"
VIGENTE = "VIGENTE"
SIN_CLASIFICAR = "SIN CLASIFICAR"

# Aging buckets of decisions 14: (upper bound in days, label), checked in order.
TRAMOS: tuple[tuple[int, str], ...] = (
    (0, "Vigente"),
    (30, "1-30"),
    (60, "31-60"),
    (90, "61-90"),
    (180, "91-180"),
)
TRAMO_MAS_180 = ">180"

# ---------------------------------------------------------------- run inputs


@dataclass(frozen=True)
class RunRate:
    """The single selling rate of the run (decisions 2) and where it came from."""

    venta: float
    fecha: date | None  # None for an explicit --tipo-cambio override

    def age_days(self, fecha_corte: date) -> int | None:
        return None if self.fecha is None else (fecha_corte - self.fecha).days


def no_rate_message(fecha_corte: date) -> str:
    return (
        f"no exchange rate on or before {fecha_corte.isoformat()} in tipo_cambio; "
        "run `toolbox tipo-cambio` or import rates, or pass --tipo-cambio"
    )


def pick_run_rate(rates: Iterable[Mapping[str, Any]], fecha_corte: date) -> RunRate:
    """The ``TipoCambioVenta`` of the latest ``TipoCambioFecha`` on or before the cut-off.

    Differs from legacy (decisions 2): later rates are ignored (a backfill uses the rate of
    its day) and no rate at all fails the run instead of falling back to 3.8.
    """
    best: RunRate | None = None
    for rate in rates:
        where = f"tipo_cambio TipoCambioFecha={rate.get('TipoCambioFecha')!r}"
        fecha = cells.four_formats_date(rate.get("TipoCambioFecha"), "TipoCambioFecha", where,
                                        required=True)
        assert fecha is not None
        if fecha > fecha_corte or (best is not None and best.fecha is not None
                                   and fecha <= best.fecha):
            continue
        venta = cells.strict_amount(rate.get("TipoCambioVenta"), "TipoCambioVenta", where)
        if venta <= 0:
            raise RowError(where, "TipoCambioVenta", f"must be positive ({venta})")
        best = RunRate(venta=venta, fecha=fecha)
    if best is None:
        raise TaskFailed(no_rate_message(fecha_corte))
    return best


def explicit_rate(value: Any) -> RunRate:
    """A ``--tipo-cambio`` override."""
    try:
        venta = cells.strict_amount(value, "--tipo-cambio", "the command line")
    except InputError:
        raise InputError(f"--tipo-cambio must be a number such as 3.75, got {value!r}") from None
    if venta <= 0:
        raise InputError(f"--tipo-cambio must be positive, got {value}")
    return RunRate(venta=venta, fecha=None)


def code_key(expr: pl.Expr) -> pl.Expr:
    """Key for matching liquidación codes: trimmed, upper-case (``LIQ003-2022 ME`` keeps its
    inner space, which is part of the code)."""
    return expr.cast(pl.String).str.strip_chars().str.to_uppercase()


@dataclass(frozen=True)
class CodeLists:
    """The special liquidación codes, as normalised keys (trimmed, upper-case)."""

    mora_a_mayo: frozenset[str] = frozenset()
    cobranza_especial: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.mora_a_mayo and not self.cobranza_especial


def build_code_lists(rows: Iterable[Mapping[str, Any]]) -> CodeLists:
    """From ``cxc_codigos_especiales`` rows (``codigo``, ``lista``); a code may be in both."""
    lists: dict[str, set[str]] = {MORA_A_MAYO: set(), COBRANZA_ESPECIAL: set()}
    for row in rows:
        lista = str(row.get("lista") or "").strip().upper().replace(" ", "_")
        codigo = "" if row.get("codigo") is None else str(row["codigo"]).strip().upper()
        if lista not in lists:
            raise InputError(
                f"cxc_codigos_especiales: code {row.get('codigo')!r} has lista "
                f"{row.get('lista')!r}; use MORA_A_MAYO or COBRANZA_ESPECIAL and re-import"
            )
        if codigo:
            lists[lista].add(codigo)
    return CodeLists(frozenset(lists[MORA_A_MAYO]), frozenset(lists[COBRANZA_ESPECIAL]))


def sector_catalogue(rows: pl.DataFrame) -> pl.DataFrame:
    """``sector_pagadores`` → one row per cleaned RUC: ``_ruc``, ``Sector``, ``GrupoEco``
    (trimmed, empty group ``""``); should two RUCs clean to the same key, the first wins."""
    catalogue = rows.select(
        ruc.ruc_key(pl.col("RUCPagador").cast(pl.String).fill_null("")).alias("_ruc"),
        pl.col("Sector").cast(pl.String).fill_null("").str.strip_chars().alias("Sector"),
        pl.col("GrupoEco").cast(pl.String).fill_null("").str.strip_chars().alias("GrupoEco"),
    )
    catalogue = catalogue.with_columns(
        pl.when(pl.col(c).str.to_lowercase().is_in(["null", "nan"])).then(pl.lit(""))
        .otherwise(pl.col(c)).alias(c) for c in ("Sector", "GrupoEco"))
    return catalogue.filter(pl.col("_ruc") != "").unique("_ruc", keep="first", maintain_order=True)


# ---------------------------------------------------------------- 3.3 steps C-J, aging


@dataclass(frozen=True)
class AcumuladoInputs:
    """Everything a dimension row depends on besides its document and payments."""

    fecha_corte: date
    rate: RunRate
    codes: CodeLists
    sectors: pl.DataFrame  # sector_catalogue()


@dataclass
class AcumuladoStats:
    """What the run reports about the dimension: counts plus a few example ids."""

    max_examples: int = 5
    documentos: int = 0
    several_payments: int = 0
    several_payments_examples: list[int] = field(default_factory=list)
    without_sector: int = 0
    without_sector_examples: list[str] = field(default_factory=list)

    def record(self, rows: pl.DataFrame) -> None:
        self.documentos += rows.height
        several = rows.filter(pl.col(COUNT).fill_null(0) > 1)
        self.several_payments += several.height
        room = self.max_examples - len(self.several_payments_examples)
        self.several_payments_examples += several["IdLiquidacionDet"].head(max(room, 0)).to_list()
        without = rows.filter(pl.col("_has_sector").not_())
        self.without_sector += without.height
        for payer in without["RUCPagador"].to_list():
            if len(self.without_sector_examples) >= self.max_examples:
                break
            if payer not in self.without_sector_examples:
                self.without_sector_examples.append(payer)


def tramo_vencido(dias: pl.Expr) -> pl.Expr:
    tramo: Any = pl.when(dias <= TRAMOS[0][0]).then(pl.lit(TRAMOS[0][1]))
    for upper, label in TRAMOS[1:]:
        tramo = tramo.when(dias <= upper).then(pl.lit(label))
    return tramo.otherwise(pl.lit(TRAMO_MAS_180))


def acumulado(docs: pl.DataFrame, pagos: pl.DataFrame, inputs: AcumuladoInputs, *,
              stats: AcumuladoStats | None = None) -> pl.DataFrame:
    """Coerced documents (``documents``) + coerced payments (``pagos_fact``) → dimension
    rows, one per document. Payments of documents not in ``docs`` are ignored here (orphan
    payments are reported by the task)."""
    current = current_entry(pagos.select("IdLiquidacionDet", "IdLiquidacionPago", "FechaPago",
                                         "TipoPago", "SaldoDeuda", "MontoPago"),
                            date="FechaPago", id="IdLiquidacionPago", summed=("MontoPago",))
    rows = docs.join(current.select("IdLiquidacionDet", pl.col("TipoPago").alias("_tp"),
                                    pl.col("SaldoDeuda").alias("_sd"),
                                    pl.col("MontoPago").alias("_mp"), COUNT),
                     on="IdLiquidacionDet", how="left", maintain_order="left")
    rows = rows.join(inputs.sectors.rename({"Sector": "_sector", "GrupoEco": "_grupo"}),
                     left_on="RUCPagador", right_on="_ruc", how="left", maintain_order="left")
    tp = pl.col("_tp").fill_null("")
    code = code_key(pl.col("CodigoLiquidacion"))
    saldo = (pl.when(tp == PAGO_PARCIAL).then(pl.col("_sd"))
             .when(tp == "").then(pl.col("NetoConfirmado"))
             .otherwise(pl.col("NetoConfirmado") - pl.col("_mp")))
    estado = pl.when(pl.col("FechaConfirmado") <= pl.lit(inputs.fecha_corte)) \
        .then(pl.lit(VENCIDO)).otherwise(pl.lit(VIGENTE))
    rows = rows.with_columns(
        saldo.alias("SaldoTotal"),
        tp.alias("_tp"),
        estado.alias("EstadoCuenta"),
        pl.col("_sector").is_not_null().alias("_has_sector"),
    )
    days = (pl.lit(inputs.fecha_corte) - pl.col("FechaConfirmado")).dt.total_days()
    # A balance is owed when it is positive to the cent (floats may leave 1e-12 behind).
    owed = pl.col("SaldoTotal").round(2) > 0
    rows = rows.with_columns(
        pl.when(pl.col("Moneda") == "PEN").then(pl.col("SaldoTotal"))
        .otherwise(pl.col("SaldoTotal") * inputs.rate.venta).alias("SaldoTotalPen"),
        pl.when(pl.col("_tp").is_in([PAGO_PARCIAL, ""]) & code.is_in(list(inputs.codes.mora_a_mayo)))
        .then(pl.lit(LABEL_MORA_A_MAYO)).otherwise(pl.col("_tp")).alias("TipoPagoReal"),
        pl.when((pl.col("EstadoCuenta") == VENCIDO)
                & code.is_in(list(inputs.codes.cobranza_especial)))
        .then(pl.lit(LABEL_COBRANZA_ESPECIAL)).otherwise(pl.col("EstadoCuenta")).alias("EstadoReal"),
        pl.col("_sector").fill_null(SIN_CLASIFICAR).alias("Sector"),
        pl.when(pl.col("_has_sector")).then(pl.col("_grupo")).otherwise(pl.lit(""))
        .alias("GrupoEco"),
        pl.when((days > 0) & owed).then(days).otherwise(0).cast(pl.Int64).alias("DiasVencido"),
    )
    rows = rows.with_columns(tramo_vencido(pl.col("DiasVencido")).alias("TramoVencido"))
    if stats is not None:
        stats.record(rows)
    return rows.drop("_tp", "_sd", "_mp", COUNT, "_sector", "_grupo", "_has_sector")
