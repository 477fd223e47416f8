"""The KPI pipeline as pure functions (reportes.md §3.1–§3.6 with decisions.md).

No I/O and no clock: the task reads the source tables and hands rows in; every date and
rate comes in as a parameter. One ``KpiBuilder`` turns one source row into one complete
output row of ``kpi`` (reporte 2) or ``kpi_acumulado`` (reporte 0), so rows can be streamed
chunk by chunk; what it notices on the way (USD rows without a rate, fuzzy matches, null
amounts stored as 0, ...) is counted in ``KpiStats`` and turned into a few aggregated
warnings at the end, instead of one message per row.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple

from rapidfuzz import fuzz

from toolbox_cli.compute.normalize import moneda_code, ruc_pagador_key, tipo_pago
from toolbox_cli.errors import InputError

Row = Mapping[str, Any]

# ------------------------------------------------------------------------ constants

IGV_FACTOR = 1.18
DAY_BASIS = 365
EXECUTIVE_THRESHOLD = 75  # RapidFuzz partial_ratio, §3.1 step 5
REFERRAL_THRESHOLD = 60  # RapidFuzz ratio, §3.3
SUSPICIOUS_RATE = 0.1  # monthly rate above 10 % after normalisation: probably mis-keyed (§6.11)
EXAMPLES = 3  # how many row identities a warning quotes

REPORTE_KPI = 2
REPORTE_ACUMULADO = 0

MESES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
    "septiembre", "octubre", "noviembre", "diciembre",
)

# Output columns of `kpi` (reportes.md §4.1), in legacy order: 68 columns.
KPI_COLUMNS: tuple[str, ...] = (
    "CodigoLiquidacion", "CodigoSolicitud", "RUCCliente", "RazonSocialCliente", "RUCPagador",
    "RazonSocialPagador", "Moneda", "DeudaAnterior", "ObservacionLiquidacion",
    "ObservacionSolicitud", "FlagPagoInteresConfirming", "TipoOperacion", "Estado",
    "NroDocumento", "TasaNominalMensualPorc", "FinanciamientoPorc", "FechaConfirmado",
    "FechaOperacion", "DiasEfectivo", "NetoConfirmado", "FondoResguardo", "MontoNegociado",
    "MontoNegociadoSoles", "MontoComisionEstructuracion", "ComisionEstructuracionIGV",
    "ComisionEstructuracionConIGV", "MontoCobrar", "Interes", "InteresConIGV", "GastosContrato",
    "GastoVigenciaPoder", "ServicioCobranza", "ServicioCustodia", "GastosDiversosIGV",
    "GastosDiversosConIGV", "MontoTotalFacturado", "MontoDesembolso", "FacturasGeneradas",
    "Ejecutivo", "Referencia", "FechaPago", "MontoPago", "MontoPagoSoles", "ExcesoPago",
    "FechaDesembolso", "MontoDevolucion", "EstadoDevolucion", "Anticipo", "TramoAnticipo", "Mes",
    "Año", "MesAño", "TipoCambioFecha", "TipoCambioCompra", "TipoCambioVenta", "ColocacionSoles",
    "MontoDesembolsoSoles", "Ingresos", "IngresosSoles", "MesSemana", "CostosFondo",
    "TotalIngresos", "CostosFondoSoles", "TotalIngresosSoles", "Utilidad", "Sector", "GrupoEco",
    "FueraSistema",
)

# Extra columns of `kpi_acumulado` (reportes.md §4.2).
ACUMULADO_EXTRA_COLUMNS: tuple[str, ...] = (
    "FechaInteresConfirming", "TipoOperacionDetalle", "FechaPagoCreacion",
    "FechaPagoModificacion", "DiasMora", "MontoCobrarPago", "FacturasMoraGeneradas",
    "InteresPago", "GastosPago", "TipoPago", "SaldoDeuda", "ObservacionPago",
    "DescuentoDevolucion", "ObservacionDevolucion", "GastosDiversosSinIGV",
)
ACUMULADO_COLUMNS: tuple[str, ...] = KPI_COLUMNS + ACUMULADO_EXTRA_COLUMNS

DATE_COLUMNS = frozenset({
    "FechaConfirmado", "FechaOperacion", "FechaPago", "FechaDesembolso", "TipoCambioFecha",
    "FechaInteresConfirming", "FechaPagoCreacion", "FechaPagoModificacion",
})

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

TIPO_OPERACION_CANONICAL = {
    "factoring": "Factoring", "confirming": "Confirming", "capital de trabajo": "Capital de Trabajo",
}

# ------------------------------------------------------------------------ scalar helpers


def is_blank(value: Any) -> bool:
    """None, NaN, or text that is empty after trimming."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def as_text(value: Any) -> str | None:
    """Text of a cell; an integral number keeps only its digits (20123456789.0 → '20123456789')."""
    if type(value) is str:  # the common case, first (this runs for every cell)
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def to_number(value: Any) -> float | None:
    """A float, or None for null / blank / unparseable (the legacy coerced those silently)."""
    kind = type(value)
    if kind is Decimal or kind is float or kind is int:  # fast path: native DB values
        number = float(value)
        return None if number != number else number  # NaN is the only value != itself
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    text = str(value).strip().replace(",", "")
    if text in ("", "-"):
        return None
    try:
        number = float(Decimal(text))
    except (InvalidOperation, ValueError):
        return None
    return None if math.isnan(number) else number


def parse_date(value: Any) -> date | None:
    """A calendar date from a native date/datetime or a legacy string.

    Source columns are native DATEs; strings only come from fixtures and legacy exports:
    ``dd/mm/YYYY`` (webservice) or ISO-8601 (Apps Script, ``2024-03-20T05:00:00.000Z``, whose
    calendar date is kept as written, no timezone conversion). Blank, ``-`` and ``No Aplica``
    are empty; any other text is an error for the caller to report with the row identity.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if text in ("", "-") or text.casefold() == "no aplica":
        return None
    match = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return date(year, month, day)
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})(?:$|[T ])", text)
    if match:
        year, month, day = (int(g) for g in match.groups())
        return date(year, month, day)
    raise ValueError(f"{text!r} is not a date (expected dd/mm/YYYY or YYYY-MM-DD)")


def as_datetime(value: date | None) -> datetime | None:
    """Datamart datetime columns hold the date at 00:00:00 (no time part, no tz)."""
    if value.__class__ is date:
        cached = _MIDNIGHT.get(value)
        if cached is None:
            cached = _MIDNIGHT[value] = datetime(value.year, value.month, value.day)
        return cached
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


# date → its midnight datetime; a book spans a few thousand distinct days at most.
_MIDNIGHT: dict[date, datetime] = {}


# ------------------------------------------------------------------------ §3.2 normalisation


def normalize_codigo(value: Any) -> str | None:
    """Trimmed code keeping its first two ``-`` parts: ``LIQ2403000102-001-R`` → ``LIQ2403000102-001``."""
    text = as_text(value)
    if text is None:
        return None
    return "-".join(text.strip().split("-")[:2])


def codigo_key(value: Any) -> str | None:
    """Matching key of a code: normalised and case-insensitive (decisions 5 and 10)."""
    code = normalize_codigo(value)
    return code.casefold() if code is not None else None


def normalize_ruc_cliente(value: Any) -> str | None:
    text = as_text(value)
    return text.strip() if text is not None else None


def normalize_ruc_pagador(value: Any) -> str | None:
    """RUCPagador loses every ``:`` and whitespace (``2022222 2222`` → ``20222222222``)."""
    text = as_text(value)
    return ruc_pagador_key(text) if text is not None else None


def normalize_nro_documento(value: Any) -> str | None:
    text = as_text(value)
    # str.split() splits on exactly the characters the regex \s matches (str.isspace).
    return "".join(text.split()) if text is not None else None


def normalize_tasa(value: Any) -> float:
    """Monthly rate as a fraction: 1.5 → 0.015, 0.012 → 0.012, 1 → 0.01; null → 0."""
    number = to_number(value)
    if number is None:
        return 0.0
    return number / 100 if number >= 1 else number


def normalize_moneda(value: Any) -> str | None:
    """``PEN`` or ``USD`` (trimmed, case-insensitive, known aliases); None if unknown."""
    if is_blank(value):
        return None
    return moneda_code(str(value))


def normalize_tipo_operacion(value: Any) -> str | None:
    """Canonical spelling of the three known types; other values trimmed and kept."""
    if value is None:
        return None
    text = str(value).strip()
    return TIPO_OPERACION_CANONICAL.get(text.casefold(), text)


def normalize_tipo_pago(value: Any) -> str | None:
    """The shared canonical spelling (decisions 20); a missing payment type stays NULL."""
    return None if value is None else tipo_pago(str(value))


def mes(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def anio(d: date) -> str:
    return f"{d.year:04d}"


def mes_anio(d: date) -> str:
    """``marzo-2024``: explicit Spanish month names, never the process locale (§6.13)."""
    return f"{MESES[d.month - 1]}-{d.year:04d}"


@lru_cache(maxsize=8192)
def calendar_labels(d: date) -> tuple[str, str, str, str]:
    """``Mes``, ``Año``, ``MesAño`` and ``MesSemana`` of a date, cached: a book of any size
    has only a few thousand distinct operation dates, so each is formatted once."""
    return mes(d), anio(d), mes_anio(d), mes_semana(d)


def mes_semana(d: date | None) -> str:
    """Week of the month, weeks starting on Monday, week 1 holding day 1 (§3.5.6)."""
    if d is None:
        return "Semana 1"
    offset = d.replace(day=1).weekday()
    return f"Semana {math.ceil((d.day + offset) / 7)}"


# ------------------------------------------------------------------------ payments / refunds


def _detail_sort_key(date_key: str, id_key: str):  # type: ignore[no-untyped-def]
    # Undated entries sort first (as NULLs do in both SQLite and MariaDB), so a dated payment
    # is always preferred as the current one.
    def key(row: Row) -> tuple[int, date, int]:
        when = parse_date(row.get(date_key))
        return (0 if when is None else 1, when or date.min, int(row.get(id_key) or 0))

    return key


def collapse_payments(pagos: Sequence[Row]) -> dict[str, Any]:
    """Payment columns of one document (decisions 3).

    Payments ordered by FechaPago then IdLiquidacionPago; the last is the current payment and
    gives every detail column; MontoPago is the sum over all of them. No payment → empty dict.
    """
    if not pagos:
        return {}
    ordered = sorted(pagos, key=_detail_sort_key("FechaPago", "IdLiquidacionPago"))
    last = ordered[-1]
    out = {k: v for k, v in last.items() if k not in ("IdLiquidacionPago", "IdLiquidacionDet")}
    amounts = [to_number(p.get("MontoPago")) for p in ordered]
    out["MontoPago"] = sum(a for a in amounts if a is not None)
    out["_pagos"] = len(ordered)
    return out


def collapse_refunds(devoluciones: Sequence[Row]) -> dict[str, Any]:
    """Refund columns of one document: the same rule as payments, by FechaDesembolso then id;
    MontoDevolucion is the sum, the other columns come from the last refund."""
    if not devoluciones:
        return {}
    ordered = sorted(
        devoluciones, key=_detail_sort_key("FechaDesembolso", "IdLiquidacionDevolucion")
    )
    last = ordered[-1]
    out = {
        k: v for k, v in last.items() if k not in ("IdLiquidacionDevolucion", "IdLiquidacionDet")
    }
    amounts = [to_number(d.get("MontoDevolucion")) for d in ordered]
    out["MontoDevolucion"] = sum(a for a in amounts if a is not None)
    if out.get("EstadoDevolucion") is not None:
        out["EstadoDevolucion"] = as_text(out["EstadoDevolucion"])
    out["_devoluciones"] = len(ordered)
    return out


def attach_detail(row: Row, pagos: Sequence[Row] = (), devoluciones: Sequence[Row] = ()
                  ) -> dict[str, Any]:
    """One colocaciones row with its collapsed payment and refund columns."""
    merged = dict(row)
    merged.update(collapse_payments(pagos))
    merged.update(collapse_refunds(devoluciones))
    return merged


# ------------------------------------------------------------------------ FX (decisions 1)


@dataclass(frozen=True)
class FxRate:
    fecha: date
    compra: float
    venta: float


class FxTable:
    """Exchange rates by date; a date takes the most recent rate on or before it."""

    def __init__(self, rates: Iterable[FxRate]) -> None:
        ordered = sorted(rates, key=lambda r: r.fecha)
        self._dates = [r.fecha for r in ordered]
        self._rates = ordered

    @classmethod
    def from_rows(cls, rows: Iterable[Row]) -> FxTable:
        rates = []
        for row in rows:
            raw = row.get("TipoCambioFecha")
            try:
                fecha = parse_date(raw)
            except ValueError:
                fecha = None
            compra = to_number(row.get("TipoCambioCompra"))
            venta = to_number(row.get("TipoCambioVenta"))
            if fecha is None or compra is None or venta is None:
                raise InputError(
                    f"tipo_cambio row {raw!r} has an unreadable date or rate; "
                    "fix it (dates YYYY-MM-DD, numeric rates) and rerun"
                )
            rates.append(FxRate(fecha, compra, venta))
        return cls(rates)

    def __len__(self) -> int:
        return len(self._rates)

    def on_or_before(self, when: date) -> FxRate | None:
        index = bisect_right(self._dates, when)
        return self._rates[index - 1] if index else None


# ------------------------------------------------------------------------ §3.1 executives


@dataclass(frozen=True)
class ExecutiveMatch:
    original: str
    mapped: str
    score: float


def best_match(query: str, choices: Sequence[str], scorer) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Index and score of the highest-scoring choice; the first one wins ties."""
    best_index, best_score = -1, -1.0
    for index, choice in enumerate(choices):
        score = scorer(query, choice)
        if score > best_score:
            best_index, best_score = index, score
    return best_index, best_score


def map_executives(
    off_system_names: Iterable[str], in_system_names: Sequence[str]
) -> dict[str, ExecutiveMatch]:
    """Map each distinct off-system executive onto an in-system spelling (§3.1 step 5).

    ``in_system_names`` are the distinct in-system spellings in order of first appearance.
    Lower-cased names are compared with RapidFuzz ``partial_ratio`` (no other processing);
    a best score ≥ 75 takes the spelling of the first in-system row with that lower-cased
    name, otherwise the original text is kept.
    """
    spelling: dict[str, str] = {}
    for name in in_system_names:
        if name is not None:
            spelling.setdefault(name.lower(), name)
    choices = list(spelling)
    out: dict[str, ExecutiveMatch] = {}
    for name in off_system_names:
        if name is None or name in out:
            continue
        index, score = best_match(name.lower(), choices, fuzz.partial_ratio)
        mapped = spelling[choices[index]] if index >= 0 and score >= EXECUTIVE_THRESHOLD else name
        out[name] = ExecutiveMatch(name, mapped, score if index >= 0 else 0.0)
    return out


# ------------------------------------------------------------------------ §3.3 referrals


@dataclass(frozen=True)
class Referral:
    original: str
    referencia: str
    how: str  # "alias", "exact" (already canonical), "fuzzy", "as-is"
    score: float = 0.0


def canonical_referencia(text: str, aliases: Mapping[str, str]) -> Referral:
    """Canonical referral name: alias key (trimmed, case-insensitive), else the most similar
    canonical name with RapidFuzz ``ratio`` ≥ 60 (first on ties), else the trimmed text.

    ``aliases`` maps alias key → canonical name, in table order (which breaks fuzzy ties).
    """
    trimmed = text.strip()
    by_key = {k.strip().casefold(): v for k, v in aliases.items()}
    if trimmed.casefold() in by_key:
        return Referral(text, by_key[trimmed.casefold()], "alias", 100.0)
    canonicals = list(dict.fromkeys(aliases.values()))
    index, score = best_match(trimmed.lower(), [c.lower() for c in canonicals], fuzz.ratio)
    if index >= 0 and score >= REFERRAL_THRESHOLD:
        # Only a changed name is a fuzzy mapping worth reporting.
        how = "exact" if canonicals[index] == trimmed else "fuzzy"
        return Referral(text, canonicals[index], how, score)
    return Referral(text, trimmed, "as-is", score if index >= 0 else 0.0)


class ReferralIndex:
    """Referencia by code; the sheet side is trimmed only, not truncated (§3.3, §6.8)."""

    def __init__(self, by_code: dict[str, Referral]) -> None:
        self._by_code = by_code

    @classmethod
    def build(cls, referidos: Iterable[Row], aliases: Mapping[str, str]) -> ReferralIndex:
        by_code: dict[str, Referral] = {}
        for row in referidos:
            code = as_text(row.get("CodigoLiquidacion"))
            referencia = as_text(row.get("Referencia"))
            if is_blank(code) or is_blank(referencia):
                raise InputError(
                    f"referidos: row {code!r} has an empty CodigoLiquidacion or Referencia; "
                    "fix the referrals sheet and import it again"
                )
            # Later rows win: the legacy de-duplicated by code keeping the last row.
            by_code[code.strip().casefold()] = canonical_referencia(referencia, aliases)
        return cls(by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def lookup(self, codigo: str) -> Referral | None:
        return self._by_code.get(codigo.casefold())

    def fuzzy_matches(self) -> list[Referral]:
        return [r for r in self._by_code.values() if r.how == "fuzzy"]


# ------------------------------------------------------------------------ §3.4 sectors


@dataclass(frozen=True)
class SectorInfo:
    sector: str
    grupo_eco: str | None


class SectorIndex:
    """Sector and economic group by payer RUC, one row per RUC (first wins, §6.9)."""

    def __init__(self, by_ruc: dict[str, SectorInfo], duplicates: list[str]) -> None:
        self._by_ruc = by_ruc
        self.duplicates = duplicates

    @classmethod
    def build(cls, rows: Iterable[Row]) -> SectorIndex:
        by_ruc: dict[str, SectorInfo] = {}
        duplicates: list[str] = []
        for row in rows:
            # The RUCPagador cleaning of §3.2 on both sides, so a spaced RUC still matches.
            ruc = normalize_ruc_pagador(row.get("RUCPagador"))
            sector = as_text(row.get("Sector"))
            if is_blank(ruc):
                continue
            if is_blank(sector):
                raise InputError(
                    f"sector_pagadores: RUC {ruc} has no SECTOR; fill it and import the sheet again"
                )
            if ruc in by_ruc:
                duplicates.append(ruc)
                continue
            grupo = as_text(row.get("GrupoEco"))
            by_ruc[ruc] = SectorInfo(sector.strip(), None if is_blank(grupo) else grupo.strip())
        return cls(by_ruc, duplicates)

    def lookup(self, ruc: str | None) -> SectorInfo | None:
        return self._by_ruc.get(ruc) if ruc is not None else None


# ------------------------------------------------------------------------ §3.5 metrics


class Metrics(NamedTuple):
    """The metrics of one row; every field but ``factor`` is an output column."""

    factor: float | None
    ColocacionSoles: float | None
    MontoDesembolsoSoles: float | None
    MontoPagoSoles: float | None
    Ingresos: float
    IngresosSoles: float | None
    CostosFondo: float
    CostosFondoSoles: float | None
    TotalIngresos: float
    TotalIngresosSoles: float | None
    Utilidad: float | None
    MontoNegociado: float
    MontoNegociadoSoles: float | None


_METRIC_COLUMNS = Metrics._fields[1:]


def _times(value: float, factor: float | None) -> float | None:
    return None if factor is None else value * factor


def compute_metrics(
    *,
    moneda: str,
    neto_confirmado: float,
    fondo_resguardo: float,
    monto_desembolso: float,
    monto_pago: float,
    comision_con_igv: float,
    interes: float,
    gastos_diversos_con_igv: float,
    dias_efectivo: int,
    venta: float | None,
    tasa_fondeo_pen: float,
    tasa_fondeo_usd: float,
) -> Metrics:
    """Financial metrics of one row (§3.5.5), unrounded.

    ``venta`` is the sell rate found for the row's date (None when there is none). A USD row
    without a rate has no soles amounts (None, stored as NULL: decisions 1); PEN rows use 1.
    """
    factor = venta if moneda == "USD" else 1.0
    comision = comision_con_igv / IGV_FACTOR
    ingresos = comision + interes + gastos_diversos_con_igv / IGV_FACTOR
    tasa = tasa_fondeo_pen if moneda == "PEN" else tasa_fondeo_usd
    costos = ((1 + tasa) ** (dias_efectivo / DAY_BASIS) - 1) * monto_desembolso
    total = comision + interes
    total_soles = _times(total, factor)
    costos_soles = _times(costos, factor)
    negociado = neto_confirmado - fondo_resguardo
    return Metrics(
        factor=factor,
        ColocacionSoles=_times(neto_confirmado, factor),
        MontoDesembolsoSoles=_times(monto_desembolso, factor),
        MontoPagoSoles=_times(monto_pago, factor),
        Ingresos=ingresos,
        IngresosSoles=_times(ingresos, factor),
        CostosFondo=costos,
        CostosFondoSoles=costos_soles,
        TotalIngresos=total,
        TotalIngresosSoles=total_soles,
        Utilidad=None if factor is None else total_soles - costos_soles,  # type: ignore[operator]
        MontoNegociado=negociado,
        MontoNegociadoSoles=_times(negociado, factor),
    )


# ------------------------------------------------------------------------ the builder


@dataclass(frozen=True)
class KpiConfig:
    reporte: int
    tasa_fondeo_pen: float = 0.14
    tasa_fondeo_usd: float = 0.12

    @property
    def columns(self) -> tuple[str, ...]:
        return KPI_COLUMNS if self.reporte == REPORTE_KPI else ACUMULADO_COLUMNS


@dataclass
class _Tally:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, identity: object) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(str(identity))


@dataclass
class KpiStats:
    in_system: int = 0
    superseded: int = 0
    off_system: int = 0
    off_system_dropped: int = 0
    usd_without_rate: _Tally = field(default_factory=_Tally)
    several_payments: _Tally = field(default_factory=_Tally)
    several_refunds: _Tally = field(default_factory=_Tally)
    suspicious_rate: _Tally = field(default_factory=_Tally)
    nulls_as_zero: Counter[str] = field(default_factory=Counter)
    nulls_as_zero_examples: list[str] = field(default_factory=list)
    moneda_from_sheet: _Tally = field(default_factory=_Tally)

    def merge(self, other: KpiStats) -> None:
        """Add the counts of ``other`` (the stats of later rows, computed elsewhere):
        totals are exact, examples stay the first few in order."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, int):
                setattr(self, f.name, mine + theirs)
            elif isinstance(mine, _Tally):
                mine.count += theirs.count
                mine.examples.extend(theirs.examples[:EXAMPLES - len(mine.examples)])
            elif isinstance(mine, Counter):
                mine.update(theirs)
            else:  # nulls_as_zero_examples: the first few distinct identities
                for example in theirs:
                    if len(mine) < EXAMPLES and example not in mine:
                        mine.append(example)


def _examples(tally: _Tally) -> str:
    more = ", ..." if tally.count > len(tally.examples) else ""
    return ", ".join(tally.examples) + more


def source_identity(row: Row, fuera_sistema: bool) -> str:
    """How a user finds the row: code, document and where it lives."""
    code = as_text(row.get("CodigoLiquidacion"))
    doc = as_text(row.get("NroDocumento"))
    if fuera_sistema:
        where = f"operaciones_fuera_sistema {row.get('Hoja') or '?'} fila {row.get('Fila')}"
    else:
        where = f"colocaciones IdLiquidacionDet {row.get('IdLiquidacionDet')}"
    return f"{code or '<sin código>'} / {doc or '<sin documento>'} ({where})"


class _Identity:
    """``source_identity`` of a row, built only if a warning or an error needs it."""

    __slots__ = ("row", "fuera_sistema", "_text")

    def __init__(self, row: Row, fuera_sistema: bool) -> None:
        self.row = row
        self.fuera_sistema = fuera_sistema
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = source_identity(self.row, self.fuera_sistema)
        return self._text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def is_off_system_operation(row: Row) -> bool:
    """Whether a sheet row is an operation at all: rows without a code (null or exactly ``""``;
    a code of spaces is kept) or without either RUC are dropped (§2.4 step 1, §3.1 step 3),
    and a dropped row supersedes nothing."""
    code = row.get("CodigoLiquidacion")
    return not (code is None or code == "" or is_blank(row.get("RUCCliente"))
                or is_blank(row.get("RUCPagador")))


class KpiBuilder:
    """Turns source rows into validated output rows, one at a time (streamable)."""

    def __init__(
        self,
        config: KpiConfig,
        *,
        fx: FxTable,
        sectors: SectorIndex,
        referrals: ReferralIndex,
        executives: Mapping[str, ExecutiveMatch],
        off_system_codes: Iterable[str],
    ) -> None:
        self.config = config
        self.fx = fx
        self.sectors = sectors
        self.referrals = referrals
        self.executives = executives
        self.off_system_keys = {k for k in (codigo_key(c) for c in off_system_codes) if k}
        self.stats = KpiStats()
        acumulado = config.reporte == REPORTE_ACUMULADO
        self._text_names = PASSTHROUGH_TEXT + (PASSTHROUGH_TEXT_ACUMULADO if acumulado else ())
        self._detail_names = ZERO_IF_NULL_DETAIL + (
            ZERO_IF_NULL_DETAIL_ACUMULADO if acumulado else ())
        self._date_names = ("FechaConfirmado", "FechaOperacion", "FechaPago", "FechaDesembolso")
        if acumulado:
            self._date_names += (
                "FechaInteresConfirming", "FechaPagoCreacion", "FechaPagoModificacion")

    # -- merge (§3.1)

    def is_superseded(self, row: Row) -> bool:
        """An in-system row whose liquidation is also off-system: off-system data wins."""
        key = codigo_key(row.get("CodigoLiquidacion"))
        return key is not None and key in self.off_system_keys

    def in_system_row(self, row: Row) -> dict[str, Any] | None:
        """The output row of one in-system document, or None if an off-system row replaces it."""
        if self.is_superseded(row):
            self.stats.superseded += 1
            return None
        self.stats.in_system += 1
        return self._build(row, fuera_sistema=False)

    def off_system_row(self, row: Row) -> dict[str, Any] | None:
        """The output row of one off-system sheet row (None when the row has no code)."""
        if not is_off_system_operation(row):
            self.stats.off_system_dropped += 1
            return None
        self.stats.off_system += 1
        merged = dict(row)
        ejecutivo = row.get("Ejecutivo")
        if ejecutivo is not None and ejecutivo in self.executives:
            merged["Ejecutivo"] = self.executives[ejecutivo].mapped
        return self._build(merged, fuera_sistema=True)

    # -- one row

    def _build(self, row: Row, *, fuera_sistema: bool) -> dict[str, Any]:
        identity = _Identity(row, fuera_sistema)
        acumulado = self.config.reporte == REPORTE_ACUMULADO
        get = row.get
        # Text cells are nearly always str already: as_text only for the others.
        out: dict[str, Any] = {
            name: value if value.__class__ is str else as_text(value)
            for name, value in zip(self._text_names, map(get, self._text_names), strict=True)
        }

        out["CodigoLiquidacion"] = normalize_codigo(row.get("CodigoLiquidacion"))
        out["RUCCliente"] = normalize_ruc_cliente(row.get("RUCCliente"))
        out["RUCPagador"] = normalize_ruc_pagador(row.get("RUCPagador"))
        out["NroDocumento"] = normalize_nro_documento(row.get("NroDocumento"))
        out["TipoOperacion"] = normalize_tipo_operacion(row.get("TipoOperacion"))
        out["Ejecutivo"] = as_text(row.get("Ejecutivo"))
        out["Moneda"] = self._moneda(row, identity, fuera_sistema)

        tasa = normalize_tasa(row.get("TasaNominalMensualPorc"))
        if tasa > SUSPICIOUS_RATE:
            self.stats.suspicious_rate.add(identity)
        out["TasaNominalMensualPorc"] = tasa

        dates = self._dates(row, identity)
        out.update(zip(dates, map(as_datetime, dates.values()), strict=True))
        fecha = dates["FechaOperacion"]
        if fecha is None:
            raise InputError(f"kpi: row {identity} has no FechaOperacion; fix the source row")
        out["Mes"], out["Año"], out["MesAño"], out["MesSemana"] = calendar_labels(fecha)

        for name, value in zip(ZERO_IF_NULL_SOURCE, map(get, ZERO_IF_NULL_SOURCE), strict=True):
            kind = value.__class__
            if kind is float and value == value:  # the common case: a number
                out[name] = value
            elif kind is int:  # SQLite hands back whole amounts as integers
                out[name] = float(value)
            else:
                out[name] = self._zero_if_null(row, name, identity,
                                               count=not (fuera_sistema and name in NOT_IN_SHEETS))
        for name, value in zip(self._detail_names, map(get, self._detail_names), strict=True):
            out[name] = value if value.__class__ is float and value == value \
                else to_number(value) or 0.0
        out["DiasEfectivo"] = self._dias_efectivo(row, identity)
        if acumulado:
            out["DiasMora"] = self._dias_mora(row.get("DiasMora"))
            if fuera_sistema and out["DiasMora"] is None:
                out["DiasMora"] = 0  # a blank off-system number is 0 (reportes §2.4 rule 4)
            out["TipoPago"] = normalize_tipo_pago(row.get("TipoPago"))
            out["GastosDiversosSinIGV"] = None  # never written by the legacy (§6.17)

        if (row.get("_pagos") or 0) > 1:
            self.stats.several_payments.add(identity)
        if (row.get("_devoluciones") or 0) > 1:
            self.stats.several_refunds.add(identity)

        self._fx_and_metrics(out, fecha, identity)
        self._referencia_and_sector(out)
        out["FueraSistema"] = "si" if fuera_sistema else "no"
        self._check_required(out, identity)
        columns = self.config.columns
        return dict(zip(columns, map(out.get, columns), strict=True))

    def _moneda(self, row: Row, identity: str, fuera_sistema: bool) -> str:
        raw = row.get("Moneda")
        if is_blank(raw) and fuera_sistema and row.get("Hoja"):
            # An off-system row lives in the PEN or the USD sheet: that is its currency.
            self.stats.moneda_from_sheet.add(identity)
            raw = row.get("Hoja")
        moneda = normalize_moneda(raw)
        if moneda is None:
            raise InputError(
                f"kpi: row {identity} has Moneda {raw!r}; expected PEN or USD, fix the source row"
            )
        return moneda

    def _dates(self, row: Row, identity: object) -> dict[str, date | None]:
        out: dict[str, date | None] = {}
        for name in self._date_names:
            value = row.get(name)
            if value.__class__ is date:  # the common case: a DATE column
                out[name] = value
                continue
            try:
                # Payment timestamps keep their time of day; every other date is a calendar day.
                if isinstance(value, datetime) and name.startswith("FechaPago") and name != "FechaPago":
                    out[name] = value  # type: ignore[assignment]
                else:
                    out[name] = parse_date(value)
            except ValueError as exc:
                raise InputError(f"kpi: row {identity}: {name} {exc}; fix the source row") from None
        return out

    def _zero_if_null(self, row: Row, name: str, identity: str, *, count: bool = True) -> float:
        number = to_number(row.get(name))
        if number is None:
            if not count:
                return 0.0
            self.stats.nulls_as_zero[name] += 1
            examples = self.stats.nulls_as_zero_examples
            if len(examples) < EXAMPLES and str(identity) not in examples:
                examples.append(str(identity))
            return 0.0
        return number

    def _dias_efectivo(self, row: Row, identity: str) -> int:
        raw = row.get("DiasEfectivo")
        number = to_number(raw)
        if number is None:
            if not is_blank(raw) and str(raw).strip() != "-":
                raise InputError(
                    f"kpi: row {identity}: DiasEfectivo {raw!r} is not a number; fix the source row"
                )
            self.stats.nulls_as_zero["DiasEfectivo"] += 1
            return 0
        if not number.is_integer():
            raise InputError(
                f"kpi: row {identity}: DiasEfectivo {raw!r} is not a whole number of days; "
                "fix the source row"
            )
        return int(number)

    @staticmethod
    def _dias_mora(value: Any) -> int | None:
        number = to_number(value)
        if number is None:
            return None
        return int(number) if number.is_integer() else None

    def _fx_and_metrics(self, out: dict[str, Any], fecha: date, identity: str) -> None:
        rate = self.fx.on_or_before(fecha)
        out["TipoCambioFecha"] = as_datetime(rate.fecha) if rate else None
        out["TipoCambioCompra"] = rate.compra if rate else None
        out["TipoCambioVenta"] = rate.venta if rate else None
        if rate is None and out["Moneda"] == "USD":
            self.stats.usd_without_rate.add(identity)
        metrics = compute_metrics(
            moneda=out["Moneda"],
            neto_confirmado=out["NetoConfirmado"],
            fondo_resguardo=out["FondoResguardo"],
            monto_desembolso=out["MontoDesembolso"],
            monto_pago=out["MontoPago"],
            comision_con_igv=out["ComisionEstructuracionConIGV"],
            interes=out["Interes"],
            gastos_diversos_con_igv=out["GastosDiversosConIGV"],
            dias_efectivo=out["DiasEfectivo"],
            venta=rate.venta if rate else None,
            tasa_fondeo_pen=self.config.tasa_fondeo_pen,
            tasa_fondeo_usd=self.config.tasa_fondeo_usd,
        )
        out.update(zip(_METRIC_COLUMNS, metrics[1:], strict=True))

    def _referencia_and_sector(self, out: dict[str, Any]) -> None:
        referral = self.referrals.lookup(out["CodigoLiquidacion"]) if out["CodigoLiquidacion"] \
            else None
        out["Referencia"] = referral.referencia if referral else out["Ejecutivo"]
        sector = self.sectors.lookup(out["RUCPagador"])
        out["Sector"] = sector.sector if sector else None
        grupo = sector.grupo_eco if sector else None
        out["GrupoEco"] = grupo if grupo is not None else out["RazonSocialPagador"]

    @staticmethod
    def _check_required(out: Mapping[str, Any], identity: str) -> None:
        missing = [name for name in REQUIRED_TEXT if out.get(name) is None]
        if missing:
            raise InputError(
                f"kpi: row {identity} has no {', '.join(missing)}; fix the source row"
            )

    # -- what to tell the user

    def warnings(self) -> list[str]:
        """Aggregated warnings of the whole run (a few examples each, never one per row)."""
        s = self.stats
        out: list[str] = []
        if not len(self.fx):
            out.append("tipo_cambio is empty: every USD row has NULL soles amounts; "
                       "run `toolbox tipo-cambio` first")
        if s.usd_without_rate.count:
            out.append(
                f"{s.usd_without_rate.count} USD row(s) have no exchange rate on or before their "
                f"FechaOperacion, soles amounts left NULL (run `toolbox tipo-cambio`): "
                f"{_examples(s.usd_without_rate)}"
            )
        if self.sectors.duplicates:
            dups = sorted(set(self.sectors.duplicates))
            out.append(f"sector_pagadores lists {len(dups)} RUC(s) more than once after cleaning, "
                       f"first row kept: {', '.join(dups[:EXAMPLES])}")
        fuzzy = [m for m in self.executives.values() if m.mapped != m.original]
        if fuzzy:
            shown = "; ".join(f"{m.original!r} → {m.mapped!r} ({m.score:.0f})"
                              for m in fuzzy[:EXAMPLES])
            out.append(f"{len(fuzzy)} off-system executive name(s) mapped by similarity: {shown}")
        referrals = self.referrals.fuzzy_matches()
        if referrals:
            shown = "; ".join(f"{r.original!r} → {r.referencia!r} ({r.score:.0f})"
                              for r in referrals[:EXAMPLES])
            out.append(f"{len(referrals)} referral name(s) mapped by similarity: {shown}")
        if s.several_payments.count:
            out.append(
                f"{s.several_payments.count} document(s) have several payments: MontoPago is "
                f"their sum, the other payment columns come from the last one: "
                f"{_examples(s.several_payments)}"
            )
        if s.several_refunds.count:
            out.append(
                f"{s.several_refunds.count} document(s) have several refunds: MontoDevolucion is "
                f"their sum, the other refund columns come from the last one: "
                f"{_examples(s.several_refunds)}"
            )
        if s.suspicious_rate.count:
            out.append(
                f"{s.suspicious_rate.count} row(s) have a monthly rate above "
                f"{SUSPICIOUS_RATE:.0%} after normalisation (a percent typed as a fraction?): "
                f"{_examples(s.suspicious_rate)}"
            )
        if s.nulls_as_zero:
            counts = ", ".join(f"{k} ×{v}" for k, v in s.nulls_as_zero.most_common())
            out.append(f"empty amounts stored as 0: {counts}; e.g. "
                       f"{', '.join(s.nulls_as_zero_examples)}")
        if s.moneda_from_sheet.count:
            out.append(f"{s.moneda_from_sheet.count} off-system row(s) without Moneda took their "
                       f"sheet's currency: {_examples(s.moneda_from_sheet)}")
        return out
