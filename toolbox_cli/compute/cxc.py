"""Accounts receivable (CXC) on Polars frames: the pure functions behind ``tablas-cxc``.

Spec: ``domain/cxc.md`` (sections 3.1-3.3) with ``domain/decisions.md`` overriding it.
Nothing here does I/O or reads the clock: the cut-off date, the exchange rate, the special
code lists and the sector catalogue come in as parameters.

Each field is read with its rule of cxc §3.1–§3.3 (``cells``): a typed column as it is, a
column that arrived as text (``"10,000.00"``, ``"10/03/2025"``, ``" PAGO PARCIAL "``, as the
legacy webservice sent them) cell by cell, so the worked example of cxc.md §7 is a fixture
for the same code that runs in production. Amounts are binary floats; the datamart writer
rounds them half-up once, just before writing (decisions 12), so ``SaldoTotalPen`` is
computed from the unrounded balance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from toolbox_cli.compute import cells, normalize
from toolbox_cli.compute.cells import CoercionLog, RowError
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
    "RUCPagador": (11, True, True),  # also loses ':' and inner spaces (normalize.ruc_pagador)
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
DEVOLUCION_COLUMNS = ("IdLiquidacionDevolucion", "IdLiquidacionDet", "FechaDesembolso",
                      "MontoDevolucion", "DescuentoDevolucion", "EstadoDevolucion",
                      "ObservacionDevolucion")
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
        return f.frame[name].cast(pl.Float64).fill_null(0.0)
    return f.cellwise(name, lambda v, w: cells.lenient_amount(v, name, w, log), pl.Float64)


def _lenient_int(f: _Frame, name: str, log: CoercionLog | None) -> pl.Series:
    if f.typed(name, pl.Int64, pl.Int32):
        return f.frame[name].cast(pl.Int64).fill_null(0)
    return f.cellwise(name, lambda v, w: cells.lenient_int(v, name, w, log), pl.Int64)


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


def _noted(f: _Frame, changed: pl.Series, kind: str, log: CoercionLog | None) -> None:
    count = int(changed.fill_null(False).sum())
    if count and log is not None:
        for index in changed.fill_null(False).arg_true().head(log.max_examples).to_list():
            log.note(kind, f.where(index), 0)
        log.counts[kind] = log.counts.get(kind, 0) + count


# ---------------------------------------------------------------- 3.1 pagos, 3.2 devoluciones


def pagos_fact(raw: pl.DataFrame, log: CoercionLog | None = None) -> pl.DataFrame:
    """Source payments → ``cxc_pagos_fact`` rows (cxc 3.1, decisions 10), one per payment."""
    f = _Frame(raw, "colocaciones_pagos", "IdLiquidacionPago")
    if f.typed("FechaPago", pl.Date):
        fecha = f.required("FechaPago", raw["FechaPago"].cast(pl.Date))
    else:
        fecha = f.cellwise("FechaPago", lambda v, w: cells.iso_payment_date(v, w), pl.Date)
    tipo_raw = _text(f, "TipoPago")
    tipo = pl.select(normalize.tipo_pago_expr(pl.lit(tipo_raw))).to_series()
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
            columns[name] = f.cellwise(name, lambda v, w, n=name: cells.iso_timestamp(v, n, w),
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
            _noted(f, nulls, f"null {name} stored as ''", log)
            values = values.fill_null("")
    if trimmed:
        values = values.str.strip_chars()
    if name == "RUCPagador":
        cleaned = pl.select(normalize.ruc_pagador(pl.lit(values))).to_series()
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
    moneda = pl.select(normalize.moneda(pl.lit(raw))).to_series()
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
    if f.typed("DiasEfectivo", pl.Int64, pl.Int32) and not raw["DiasEfectivo"].null_count():
        columns["DiasEfectivo"] = raw["DiasEfectivo"].cast(pl.Int64)
    else:
        columns["DiasEfectivo"] = f.cellwise(
            "DiasEfectivo", lambda v, w: cells.whole_number(v, "DiasEfectivo", w), pl.Int64)
    return pl.DataFrame([s.alias(n) for n, s in columns.items()])


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
        normalize.ruc_pagador(pl.col("RUCPagador").cast(pl.String).fill_null("")).alias("_ruc"),
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
        for ruc in without["RUCPagador"].to_list():
            if len(self.without_sector_examples) >= self.max_examples:
                break
            if ruc not in self.without_sector_examples:
                self.without_sector_examples.append(ruc)


def tramo_vencido(dias: pl.Expr) -> pl.Expr:
    tramo = pl.when(dias <= TRAMOS[0][0]).then(pl.lit(TRAMOS[0][1]))
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
