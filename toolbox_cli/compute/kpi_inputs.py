"""How the KPI's source frames become the pipeline's typed inputs (reportes.md §2.4, §3.1, §3.2).

The column groups the pipeline treats alike (amounts stored as 0 when null, passthrough
texts, required texts, dates and timestamps, the payment and refund columns each source
provides), and the steps that bring a source frame to them before any formula runs: which
off-system sheet rows are operations at all (``is_off_system_operation``), every column the
pipeline reads added as NULL when a source lacks it (``with_missing_columns``,
``with_detail_columns``), columns that arrived as text read cell by cell with the KPI's rules
(``read_cells``), cells as text (``as_text``), the Spanish calendar columns (``calendar_columns``)
and how a row is named in a message (``row_identity``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from toolbox_cli.compute import cells
from toolbox_cli.errors import InputError

MESES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
    "septiembre", "octubre", "noviembre", "diciembre",
)


# Source amounts stored as 0 when null (§3.5.1 and §3.6). The legacy did it silently for most
# and crashed on NaN for the rest (§6.3); decisions.md "bad data" asks to count coercions.
ZERO_IF_NULL_SOURCE = (
    "DeudaAnterior", "NetoConfirmado", "FondoResguardo", "MontoComisionEstructuracion",
    "ComisionEstructuracionIGV", "ComisionEstructuracionConIGV", "MontoCobrar", "Interes",
    "InteresConIGV", "GastosContrato", "GastoVigenciaPoder", "ServicioCobranza",
    "ServicioCustodia", "GastosDiversosIGV", "GastosDiversosConIGV", "MontoTotalFacturado",
    "MontoDesembolso", "FinanciamientoPorc",
)
# Source columns the off-system sheets do not have (§2.4): always 0 there, nothing to report.
NOT_IN_SHEETS = frozenset({"DeudaAnterior"})
# Payment / refund amounts: 0 when the document has no payment or refund (not a coercion).
ZERO_IF_NULL_DETAIL = ("MontoPago", "ExcesoPago", "MontoDevolucion")
ZERO_IF_NULL_DETAIL_ACUMULADO = (
    "MontoCobrarPago", "InteresPago", "GastosPago", "SaldoDeuda", "DescuentoDevolucion",
)
PASSTHROUGH_TEXT = (
    "CodigoSolicitud", "RazonSocialCliente", "RazonSocialPagador", "ObservacionLiquidacion",
    "ObservacionSolicitud", "FlagPagoInteresConfirming", "Estado", "FacturasGeneradas",
    "EstadoDevolucion", "Anticipo", "TramoAnticipo",
)
PASSTHROUGH_TEXT_ACUMULADO = (
    "TipoOperacionDetalle", "FacturasMoraGeneradas", "ObservacionPago", "ObservacionDevolucion",
)
REQUIRED_TEXT = (
    "CodigoLiquidacion", "RUCCliente", "RazonSocialCliente", "RUCPagador", "RazonSocialPagador",
    "Moneda", "TipoOperacion", "Estado", "NroDocumento", "FacturasGeneradas", "Ejecutivo",
    "Mes", "Año", "MesAño", "MesSemana",
)
DATES = ("FechaConfirmado", "FechaOperacion", "FechaPago", "FechaDesembolso")
DATES_ACUMULADO = ("FechaInteresConfirming",)
TIMESTAMPS_ACUMULADO = ("FechaPagoCreacion", "FechaPagoModificacion")

# Columns each source must provide (typed: see ``source_schema``).
PAGO_COLUMNS = ("IdLiquidacionPago", "IdLiquidacionDet", "FechaPago", "MontoPago", "ExcesoPago",
                "DiasMora", "MontoCobrarPago", "InteresPago", "GastosPago", "TipoPago",
                "SaldoDeuda", "ObservacionPago", "FacturasMoraGeneradas", "FechaPagoCreacion",
                "FechaPagoModificacion")

# ------------------------------------------------------------------------ small helpers


def calendar_columns(fecha: pl.Expr) -> list[pl.Expr]:
    """``Mes``, ``Año``, ``MesAño`` and ``MesSemana`` of the operation date (§3.2, §3.5.6):
    weeks start on Monday and week 1 holds day 1."""
    month_name = (fecha.dt.month() - 1).replace_strict(
        dict(enumerate(MESES)), return_dtype=pl.String)
    offset = (fecha.dt.month_start().dt.weekday() - 1).cast(pl.Int32)  # Monday = 0
    week = ((fecha.dt.day().cast(pl.Int32) + offset + 6) // 7).cast(pl.String)
    return [
        fecha.dt.strftime("%Y-%m").alias("Mes"),
        fecha.dt.strftime("%Y").alias("Año"),
        pl.concat_str(month_name, pl.lit("-"), fecha.dt.strftime("%Y")).alias("MesAño"),
        pl.concat_str(pl.lit("Semana "), week).alias("MesSemana"),
    ]


def as_text(expr: pl.Expr, dtype: Any) -> pl.Expr:
    """A cell as text; an integral number keeps only its digits (20123456789.0 → '20123456789')."""
    if dtype == pl.String:
        return expr
    if dtype.is_float():
        return pl.when(expr == expr.round(0)).then(expr.cast(pl.Int64).cast(pl.String)) \
            .otherwise(expr.cast(pl.String))
    return expr.cast(pl.String)


def row_identity(frame: pl.DataFrame, index: int, fuera_sistema: bool) -> str:
    """How a user finds a row: code, document and where it lives."""
    row = frame.row(index, named=True)
    code, doc = row.get("_raw_codigo"), row.get("_raw_documento")
    if fuera_sistema:
        where = f"operaciones_fuera_sistema {row.get('Hoja') or '?'} fila {row.get('Fila')}"
    else:
        where = f"colocaciones IdLiquidacionDet {row.get('IdLiquidacionDet')}"
    return f"{code or '<sin código>'} / {doc or '<sin documento>'} ({where})"


def is_off_system_operation(frame: pl.DataFrame) -> pl.Series:
    """Whether each sheet row is an operation at all: rows without a code (null or exactly
    ``""``; a code of spaces is kept) or without either RUC are dropped (§2.4 step 1, §3.1
    step 3), and a dropped row supersedes nothing."""
    def blank(name: str) -> pl.Expr:
        text = pl.col(name).cast(pl.String)
        return text.is_null() | (text.str.strip_chars() == "")

    code = pl.col("CodigoLiquidacion").cast(pl.String)
    return frame.select(~(code.is_null() | (code == "") | blank("RUCCliente")
                          | blank("RUCPagador"))).to_series()



_DETAIL_DTYPES = {"IdLiquidacionPago": pl.Int64, "IdLiquidacionDet": pl.Int64,
                  "IdLiquidacionDevolucion": pl.Int64, "FechaPago": pl.Date,
                  "FechaDesembolso": pl.Date, "FechaPagoCreacion": pl.Datetime("us"),
                  "FechaPagoModificacion": pl.Datetime("us"), "DiasMora": pl.Float64,
                  "EstadoDevolucion": pl.Int64}


def with_detail_columns(frame: pl.DataFrame | None, columns: Sequence[str]) -> pl.DataFrame:
    """Payments or refunds with every column the pipeline reads (none: an empty frame)."""
    amounts = set(ZERO_IF_NULL_DETAIL + ZERO_IF_NULL_DETAIL_ACUMULADO)

    def dtype(name: str) -> Any:
        return _DETAIL_DTYPES.get(name, pl.Float64 if name in amounts else pl.String)

    if frame is None or frame.width == 0:
        return pl.DataFrame(schema={c: dtype(c) for c in columns})
    missing = [c for c in columns if c not in frame.columns]
    return frame.with_columns([pl.lit(None, dtype=dtype(c)).alias(c) for c in missing])


_NUMBER_COLUMNS = ZERO_IF_NULL_SOURCE + ZERO_IF_NULL_DETAIL + ZERO_IF_NULL_DETAIL_ACUMULADO + (
    "TasaNominalMensualPorc", "DiasMora")


def read_cells(frame: pl.DataFrame, fuera_sistema: bool, acumulado: bool) -> pl.DataFrame:
    """Columns that arrived as text (a permissive source, a legacy export) read cell by cell
    with the KPI's rules; typed columns are left as they are."""
    numbers = cells.needing_number_rules(frame, [c for c in _NUMBER_COLUMNS
                                                 if c in frame.columns])
    dates = [c for c in DATES + (DATES_ACUMULADO if acumulado else ()) + (
        TIMESTAMPS_ACUMULADO if acumulado else ()) + ("DiasEfectivo",)
        if c in frame.columns and not cells.arrived_as(frame, c, pl.Date, pl.Datetime, *(
            cells.NUMBERS if c == "DiasEfectivo" else ()))]
    if not numbers and not dates:
        return frame
    wheres = [row_identity(frame, i, fuera_sistema) for i in range(frame.height)]
    replaced = [cells.cellwise(frame, c, lambda v, _w: cells.number_or_none(v), pl.Float64, wheres)
                for c in numbers]
    for name in dates:
        if name == "DiasEfectivo":
            replaced.append(cells.cellwise(frame, name, _dias_efectivo_cell, pl.Float64, wheres))
            continue
        keep_time = name in TIMESTAMPS_ACUMULADO

        def rule(value: Any, where: str, name: str = name, keep_time: bool = keep_time) -> Any:
            if keep_time and isinstance(value, datetime):
                return value  # payment timestamps keep their time of day
            try:
                day = cells.sheet_date(value)
            except ValueError as exc:
                raise InputError(f"kpi: row {where}: {name} {exc}; fix the source row") from None
            return datetime(day.year, day.month, day.day) if keep_time and day else day

        replaced.append(cells.cellwise(frame, name, rule,
                                       pl.Datetime("us") if keep_time else pl.Date, wheres))
    return frame.with_columns(replaced)


def _dias_efectivo_cell(value: Any, where: str) -> float | None:
    number = cells.number_or_none(value)
    if number is None and value is not None and str(value).strip() not in ("", "-"):
        raise InputError(f"kpi: row {where}: DiasEfectivo {value!r} is not a number; "
                         "fix the source row")
    return number


def with_missing_columns(rows: pl.DataFrame, fuera_sistema: bool, acumulado: bool
                          ) -> pl.DataFrame:
    """Every column ``_build`` reads: what a source does not have is NULL (an off-system row
    has no DeudaAnterior, a document without payments no payment columns)."""
    wanted = set(ZERO_IF_NULL_SOURCE) | set(ZERO_IF_NULL_DETAIL) | set(PASSTHROUGH_TEXT) | {
        "CodigoLiquidacion", "RUCCliente", "RUCPagador", "NroDocumento", "TipoOperacion",
        "Ejecutivo", "Moneda", "TasaNominalMensualPorc", "DiasEfectivo", *DATES,
        "_pagos", "_devoluciones",
    }
    if fuera_sistema:
        wanted |= {"Hoja", "Fila"}
    else:
        wanted |= {"IdLiquidacionDet"}
    if acumulado:
        wanted |= set(ZERO_IF_NULL_DETAIL_ACUMULADO) | set(PASSTHROUGH_TEXT_ACUMULADO) | {
            "DiasMora", "TipoPago", *DATES_ACUMULADO, *TIMESTAMPS_ACUMULADO}
    missing = [c for c in sorted(wanted) if c not in rows.columns]
    dtypes = {c: pl.Datetime("us") for c in TIMESTAMPS_ACUMULADO} | \
        {c: pl.Date for c in (*DATES, *DATES_ACUMULADO)}
    return rows.with_columns([pl.lit(None, dtype=dtypes.get(c, pl.String)).alias(c)
                              if c not in ZERO_IF_NULL_SOURCE + ZERO_IF_NULL_DETAIL
                              + ZERO_IF_NULL_DETAIL_ACUMULADO + ("DiasMora", "_pagos",
                                                                 "_devoluciones")
                              else pl.lit(None, dtype=pl.Float64).alias(c)
                              for c in missing])

