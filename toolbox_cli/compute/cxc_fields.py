"""CXC's source tables read with the field rules of cxc.md §3.1–§3.3 step A (decisions 10, 18).

Source payments, refunds and documents become typed rows: ``pagos_fact`` (the rows of
``cxc_pagos_fact``), ``dev_fact`` (``cxc_dev_fact``) and ``documents`` (the 44 source
columns of ``cxc_acumulado_dim``, step A), with the columns each source must provide and
the datamart's text limits. Each field is read with its rule (``cells``): a typed column as
it is, a column that arrived as text (``"10,000.00"``, ``"10/03/2025"``, ``" PAGO PARCIAL "``,
as the legacy webservice sent them) cell by cell, so the worked example of cxc.md §7 is a
fixture for the same code that runs in production. A bad cell fails the run with a
``RowError`` naming its row; a lenient repair is counted in the ``CoercionLog``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import polars as pl

from toolbox_cli.compute import cells, ruc, spellings
from toolbox_cli.compute.cells import CoercionLog, RowError

# Documents: the 22 lenient numeric fields (cxc.md 2.3 / 3.3 step A).
DOC_AMOUNT_FIELDS = (
    "DeudaAnterior", "TasaNominalMensualPorc", "FinanciamientoPorc", "NetoConfirmado",
    "FondoResguardo", "ComisionEstructuracionPorc", "MontoComisionEstructuracion",
    "ComisionEstructuracionIGV", "ComisionEstructuracionConIGV", "MontoCobrar", "Interes",
    "InteresIGV", "InteresConIGV", "GastosContrato", "GastoVigenciaPoder", "ServicioCobranza",
    "ServicioCustodia", "GastosDiversos", "GastosDiversosIGV", "GastosDiversosConIGV",
    "MontoTotalFacturado", "MontoDesembolso",
)

# Documents: text fields -> (max length in the datamart, NOT NULL there, trimmed).
# Lengths are those of cxc.md 4.3; MySQL strict mode would reject a longer value with an
# opaque driver error, so we check first and name the row.
DOC_TEXT_FIELDS: dict[str, tuple[int, bool, bool]] = {
    "CodigoLiquidacion": (20, True, False),  # untrimmed (legacy); matching trims
    "CodigoSolicitud": (20, True, True),
    "RUCCliente": (11, True, True),
    "RazonSocialCliente": (200, True, False),
    "RUCPagador": (11, True, True),  # also loses ':' and inner spaces (ruc.ruc_key)
    "RazonSocialPagador": (200, True, False),
    "FlagPagoInteresConfirming": (20, True, True),
    "TipoOperacion": (100, True, False),
    "TipoOperacionDetalle": (200, True, True),
    "Estado": (100, True, False),
    "NroDocumento": (50, True, False),
    "FacturasGeneradas": (50, False, False),
    "Ejecutivo": (200, True, False),
}
# Texts a calculation uses fail the run when missing (decisions 18); a missing descriptive
# text (CodigoSolicitud, Ejecutivo, ...) is stored as "" and counted.
DOC_TEXT_MANDATORY = ("CodigoLiquidacion", "RUCPagador")
DOC_OBSERVATION_FIELDS = ("ObservacionLiquidacion", "ObservacionSolicitud")

PAGO_AMOUNT_FIELDS = ("MontoCobrarPago", "MontoPago", "InteresPago", "GastosPago", "SaldoDeuda",
                      "ExcesoPago")
TEXT_LIMIT_TIPO_PAGO = 50
TEXT_LIMIT_OBSERVACION = 500

PAGO_COLUMNS = ("IdLiquidacionPago", "IdLiquidacionDet", "FechaPago", "DiasMora",
                "MontoCobrarPago", "MontoPago", "ObservacionPago", "InteresPago", "GastosPago",
                "TipoPago", "SaldoDeuda", "ExcesoPago", "FechaPagoCreacion",
                "FechaPagoModificacion")
DOCUMENT_COLUMNS = ("IdLiquidacionCab", "IdLiquidacionDet", *DOC_TEXT_FIELDS,
                    *DOC_OBSERVATION_FIELDS, "Moneda", *DOC_AMOUNT_FIELDS, "FechaConfirmado",
                    "FechaOperacion", "FechaInteresConfirming", "DiasEfectivo")


# ---------------------------------------------------------------- reading a column


class _Frame:
    """A frame being read field by field, with the row names its errors need."""

    def __init__(self, frame: pl.DataFrame, table: str, key: str) -> None:
        self.frame, self.table, self.key = frame, table, key
        self._wheres: list[str] | None = None

    @property
    def wheres(self) -> list[str]:
        if self._wheres is None:
            self._wheres = [f"{self.table} {self.key}={v!r}"
                            for v in self.frame[self.key].to_list()]
        return self._wheres

    def where(self, index: int) -> str:
        return self.wheres[index]

    def first(self, mask: pl.Series) -> int | None:
        hits = mask.arg_true()
        return int(hits[0]) if hits.len() else None

    def typed(self, name: str, *dtypes: Any) -> bool:
        return cells.arrived_as(self.frame, name, *dtypes)

    def numeric(self, name: str) -> bool:
        return cells.arrived_as_numbers(self.frame, name)

    def cellwise(self, name: str, rule: Callable[[Any, str], Any], dtype: Any) -> pl.Series:
        return cells.cellwise(self.frame, name, rule, dtype, self.wheres)

    def required(self, name: str, values: pl.Series) -> pl.Series:
        """A typed column that must have every value: the first null is an error."""
        index = self.first(values.is_null())
        if index is not None:
            raise RowError(self.where(index), name, "is missing")
        return values


def _id(f: _Frame, name: str, log: CoercionLog | None) -> pl.Series:
    if f.typed(name, pl.Int64, pl.Int32, pl.UInt32, pl.UInt64):
        return f.required(name, f.frame[name].cast(pl.Int64))
    return f.cellwise(name, lambda v, w: cells.to_id(v, name, w, log), pl.Int64)


def _strict_amount(f: _Frame, name: str) -> pl.Series:
    if f.numeric(name):
        return f.required(name, f.frame[name].cast(pl.Float64))
    return f.cellwise(name, lambda v, w: cells.strict_amount(v, name, w), pl.Float64)


def _lenient_amount(f: _Frame, name: str, log: CoercionLog | None) -> pl.Series:
    if f.numeric(name):
        _noted(f, f.frame[name].is_null(), f"null {name} read as 0", log, column=name)
        return f.frame[name].cast(pl.Float64).fill_null(0.0)
    return f.cellwise(name, lambda v, w: cells.lenient_amount(v, name, w, log), pl.Float64)


def _lenient_int(f: _Frame, name: str, log: CoercionLog | None) -> pl.Series:
    if f.typed(name, pl.Int64, pl.Int32):
        _noted(f, f.frame[name].is_null(), f"null {name} read as 0", log, column=name)
        return f.frame[name].cast(pl.Int64).fill_null(0)
    return f.cellwise(name, lambda v, w: cells.lenient_int(v, name, w, log), pl.Int64)


def _timestamp_cell(name: str, value: Any, where: str) -> Any:
    return cells.iso_timestamp(value, name, where)


def _text(f: _Frame, name: str) -> pl.Series:
    """Payment/refund texts (``to_text``): null spellings → ``""``, trimmed."""
    if f.typed(name, pl.String):
        text = f.frame[name].cast(pl.String).str.strip_chars()
        return pl.select(pl.when(text.str.to_lowercase().is_in(["", "null", "nan"])
                                 | text.is_null()).then(pl.lit("")).otherwise(text)
                         .alias(name)).to_series()
    return f.cellwise(name, lambda v, w: cells.to_text(v), pl.String)


def _four_formats(f: _Frame, name: str, *, required: bool) -> pl.Series:
    if f.typed(name, pl.Date):
        values = f.frame[name].cast(pl.Date)
        return f.required(name, values) if required else values
    return f.cellwise(name, lambda v, w: cells.four_formats_date(v, name, w, required=required),
                      pl.Date)


def _check_length(f: _Frame, name: str, values: pl.Series, limit: int) -> pl.Series:
    index = f.first(values.str.len_chars().fill_null(0) > limit)
    if index is not None:
        text = values[index]
        raise RowError(f.where(index), name,
                       f"is longer than {limit} characters ({text[:30]!r}...)")
    return values


def _noted(f: _Frame, changed: pl.Series, kind: str, log: CoercionLog | None, *,
           column: str | None = None) -> None:
    """``changed`` cells noted as ``kind``; with ``column``, as coercions of that column."""
    count = int(changed.fill_null(False).sum())
    if count and log is not None:
        indexes = changed.fill_null(False).arg_true().head(log.max_examples).to_list()
        for n, index in enumerate(indexes):
            log.note(kind, f.where(index), count if n == 0 else 0, column=column)


# ---------------------------------------------------------------- 3.1 pagos, 3.2 devoluciones


def pagos_fact(raw: pl.DataFrame, log: CoercionLog | None = None) -> pl.DataFrame:
    """Source payments → ``cxc_pagos_fact`` rows (cxc 3.1, decisions 10), one per payment."""
    f = _Frame(raw, "colocaciones_pagos", "IdLiquidacionPago")
    if f.typed("FechaPago", pl.Date):
        fecha = f.required("FechaPago", raw["FechaPago"].cast(pl.Date))
    else:
        fecha = f.cellwise("FechaPago", lambda v, w: cells.iso_payment_date(v, w), pl.Date)
    tipo_raw = _text(f, "TipoPago")
    tipo = pl.select(spellings.tipo_pago(pl.lit(tipo_raw))).to_series()
    _noted(f, tipo != tipo_raw, "TipoPago re-cased to its canonical upper-case spelling", log)
    columns = {
        "IdLiquidacionPago": _id(f, "IdLiquidacionPago", log),
        "IdLiquidacionDet": _id(f, "IdLiquidacionDet", log),
        "FechaPago": fecha,
        "DiasMora": _lenient_int(f, "DiasMora", log),
        **{name: _strict_amount(f, name) for name in PAGO_AMOUNT_FIELDS},
        "TipoPago": _check_length(f, "TipoPago", tipo.alias("TipoPago"), TEXT_LIMIT_TIPO_PAGO),
        "ObservacionPago": _check_length(f, "ObservacionPago", _text(f, "ObservacionPago"),
                                         TEXT_LIMIT_OBSERVACION),
    }
    for name in ("FechaPagoCreacion", "FechaPagoModificacion"):
        if f.typed(name, pl.Datetime, pl.Date):
            columns[name] = raw[name].cast(pl.Datetime("us"))
        else:
            columns[name] = f.cellwise(name, functools.partial(_timestamp_cell, name),
                                       pl.Datetime("us"))
    return pl.DataFrame([s.alias(n) for n, s in columns.items()])


def dev_fact(raw: pl.DataFrame, log: CoercionLog | None = None) -> pl.DataFrame:
    """Source refunds → ``cxc_dev_fact`` rows (cxc 3.2)."""
    f = _Frame(raw, "colocaciones_devoluciones", "IdLiquidacionDevolucion")
    columns = {
        "IdLiquidacionDevolucion": _id(f, "IdLiquidacionDevolucion", log),
        "IdLiquidacionDet": _id(f, "IdLiquidacionDet", log),
        "FechaDesembolso": _four_formats(f, "FechaDesembolso", required=False),
        "MontoDevolucion": _strict_amount(f, "MontoDevolucion"),
        "DescuentoDevolucion": _strict_amount(f, "DescuentoDevolucion"),
        "EstadoDevolucion": _lenient_int(f, "EstadoDevolucion", log),
        "ObservacionDevolucion": _check_length(
            f, "ObservacionDevolucion", _text(f, "ObservacionDevolucion"), TEXT_LIMIT_OBSERVACION),
    }
    return pl.DataFrame([s.alias(n) for n, s in columns.items()])


# ---------------------------------------------------------------- 3.3 step A: documents


def _doc_text(f: _Frame, name: str, log: CoercionLog | None) -> pl.Series:
    limit, not_null, trimmed = DOC_TEXT_FIELDS[name]
    values = f.frame[name]
    if not f.typed(name, pl.String):
        # The legacy refused a RUC sent as a number: "20100000001.0" would never match.
        index = f.first(values.is_not_null())
        raise RowError(f.where(index or 0), name,
                       f"must be text, got {type(values[index or 0]).__name__} "
                       f"{values[index or 0]!r}")
    values = values.cast(pl.String)
    nulls = values.is_null()
    if nulls.any():
        if name in DOC_TEXT_MANDATORY:
            raise RowError(f.where(f.first(nulls) or 0), name, "is missing")
        if not_null:
            _noted(f, nulls, f"null {name} stored as ''", log, column=name)
            values = values.fill_null("")
    if trimmed:
        values = values.str.strip_chars()
    if name == "RUCPagador":
        cleaned = pl.select(ruc.ruc_key(pl.lit(values))).to_series()
        _noted(f, cleaned != values, "RUCPagador cleaned of ':' and spaces", log)
        values = cleaned
    return _check_length(f, name, values.alias(name), limit)


def _observation(f: _Frame, name: str) -> pl.Series:
    """Observations: trimmed, blank → NULL (cxc 3.3 step J)."""
    text = _text(f, name)
    text = pl.select(pl.when(pl.lit(text) != "").then(pl.lit(text)).alias(name)).to_series()
    return _check_length(f, name, text, TEXT_LIMIT_OBSERVACION)


def _moneda(f: _Frame) -> pl.Series:
    raw = f.frame["Moneda"].cast(pl.String)
    missing = raw.is_null() | raw.str.strip_chars().str.to_lowercase().is_in(["", "null", "nan"])
    index = f.first(missing)
    if index is not None:
        raise RowError(f.where(index), "Moneda", "is missing")
    moneda = pl.select(spellings.moneda(pl.lit(raw))).to_series()
    index = f.first(moneda.is_null())
    if index is not None:
        raise RowError(f.where(index), "Moneda", f"is {raw[index]!r}, expected PEN or USD")
    return moneda.alias("Moneda")


def documents(raw: pl.DataFrame, log: CoercionLog | None = None) -> pl.DataFrame:
    """Source documents → the 44 source columns of ``cxc_acumulado_dim`` (step A)."""
    f = _Frame(raw, "colocaciones", "IdLiquidacionDet")
    columns: dict[str, pl.Series] = {
        "IdLiquidacionCab": _id(f, "IdLiquidacionCab", log),
        "IdLiquidacionDet": _id(f, "IdLiquidacionDet", log),
    }
    for name in DOC_TEXT_FIELDS:
        columns[name] = _doc_text(f, name, log)
    for name in DOC_OBSERVATION_FIELDS:
        columns[name] = _observation(f, name)
    columns["Moneda"] = _moneda(f)
    for name in DOC_AMOUNT_FIELDS:
        columns[name] = _lenient_amount(f, name, log)
    columns["FechaConfirmado"] = _four_formats(f, "FechaConfirmado", required=True)
    columns["FechaOperacion"] = _four_formats(f, "FechaOperacion", required=True)
    columns["FechaInteresConfirming"] = _four_formats(f, "FechaInteresConfirming", required=False)
    columns["DiasEfectivo"] = _whole_days(f)
    return pl.DataFrame([s.alias(n) for n, s in columns.items()])


def _whole_days(f: _Frame) -> pl.Series:
    """``DiasEfectivo``, required and whole (``cells.whole_number``): a column of finite
    numbers is checked on the column, the first null or fraction named as the cell rule
    names it; anything else (text, NaN) takes the rule cell by cell."""
    name = "DiasEfectivo"
    if not f.numeric(name):
        return f.cellwise(name, lambda v, w: cells.whole_number(v, name, w), pl.Int64)
    days = f.frame[name].cast(pl.Float64)
    index = f.first(days.is_null() | (days != days.floor()))
    if index is None:
        return days.cast(pl.Int64)
    value = f.frame[name][index]
    if value is None:
        raise RowError(f.where(index), name, "is missing")
    raise RowError(f.where(index), name, f"is not a whole number ({value!r})")
