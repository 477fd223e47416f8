"""Accounts receivable (CXC): pure functions behind ``tablas-cxc``.

Spec: ``domain/cxc.md`` (sections 3.1-3.3) with ``domain/decisions.md`` overriding it.
Nothing here does I/O or reads the clock: the cut-off date, the exchange rate, the special
code lists and the sector catalogue come in as parameters.

The coercion functions accept the raw values the legacy webservice sent (strings such as
``"10,000.00"``, ``"10/03/2025"``, ``" PAGO PARCIAL "``) as well as the native values the
source database returns (``date``, ``Decimal``, ``int``), so the worked example of cxc.md §7
is a fixture for the same code that runs in production.

Amounts are kept as exact ``Decimal``; the datamart writer rounds them half-up once, just
before writing (decisions 12), so ``SaldoTotalPen`` is computed from the unrounded balance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from toolbox_cli.compute.normalize import moneda_code, ruc_pagador_key, tipo_pago
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

ZERO = Decimal(0)

# Legacy date formats for documents and refunds, tried in this order (day-first wins, so
# 03/04/2025 is 3 April 2025).
FOUR_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%Y/%m/%d")

# Documents: the 22 lenient numeric fields (cxc.md 2.3 / 3.3 step A).
DOC_AMOUNT_FIELDS = (
    "DeudaAnterior",
    "TasaNominalMensualPorc",
    "FinanciamientoPorc",
    "NetoConfirmado",
    "FondoResguardo",
    "ComisionEstructuracionPorc",
    "MontoComisionEstructuracion",
    "ComisionEstructuracionIGV",
    "ComisionEstructuracionConIGV",
    "MontoCobrar",
    "Interes",
    "InteresIGV",
    "InteresConIGV",
    "GastosContrato",
    "GastoVigenciaPoder",
    "ServicioCobranza",
    "ServicioCustodia",
    "GastosDiversos",
    "GastosDiversosIGV",
    "GastosDiversosConIGV",
    "MontoTotalFacturado",
    "MontoDesembolso",
)

# Documents: text fields -> (max length in the datamart, NOT NULL there, trimmed).
# Lengths are those of cxc.md 4.3; MySQL strict mode would reject a longer value with an
# opaque driver error, so we check first and name the row. A null in a NOT NULL column is
# stored as "" and noted (the legacy refused the whole table; the source contract allows
# nulls there, and none of these columns feeds a calculation), except the liquidación code.
DOC_TEXT_FIELDS: dict[str, tuple[int, bool, bool]] = {
    "CodigoLiquidacion": (20, True, False),  # untrimmed (legacy); matching trims
    "CodigoSolicitud": (20, True, True),
    "RUCCliente": (11, True, True),
    "RazonSocialCliente": (200, True, False),
    "RUCPagador": (11, True, True),  # also loses ':' and inner spaces, see normalize.ruc_pagador_key
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

PAGO_AMOUNT_FIELDS = (
    "MontoCobrarPago",
    "MontoPago",
    "InteresPago",
    "GastosPago",
    "SaldoDeuda",
    "ExcesoPago",
)
TEXT_LIMIT_TIPO_PAGO = 50
TEXT_LIMIT_OBSERVACION = 500


# ---------------------------------------------------------------- coercion bookkeeping


@dataclass
class CoercionLog:
    """Counts the legacy's silent coercions so the run can report them (decisions: "never
    silent"). One entry per kind, with the first few row identities as examples."""

    max_examples: int = 5
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, where: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < self.max_examples:
            shown.append(where)

    def messages(self) -> list[str]:
        return [
            f"{count} value(s) coerced: {kind} (e.g. {self._shown(self.examples[kind])})"
            for kind, count in self.counts.items()
        ]

    @staticmethod
    def _shown(examples: list[str]) -> str:
        # "colocaciones IdLiquidacionDet=9, 57, 119": the row's name once, then its ids.
        return ", ".join(examples[:1] + [w.rsplit("=", 1)[-1] for w in examples[1:]])


def _note(log: CoercionLog | None, kind: str, where: str) -> None:
    if log is not None:
        log.note(kind, where)


class RowError(InputError):
    """A source row that cannot be used; the message names the row and the field."""

    def __init__(self, where: str, fieldname: str, reason: str) -> None:
        super().__init__(f"{where}: {fieldname} {reason}; fix the source row and re-run")


# ---------------------------------------------------------------- scalar coercions


def is_missing(value: Any) -> bool:
    """Null in any of the spellings the legacy accepted: None, NaN, blank or "null"."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, Decimal) and value.is_nan():
        return True
    if isinstance(value, str) and value.strip().lower() in ("", "null", "nan"):
        return True
    return False


def _number_from_text(text: str) -> Decimal:
    """Parse a numeric string (scientific notation accepted); raises ValueError."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not number.is_finite():
        raise ValueError(text)
    return number


def _as_decimal(value: int | float | Decimal) -> Decimal:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(value)
        return Decimal(repr(value))  # repr: 0.1 stays 0.1, not 0.1000000000000000055...
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(value)
    return number


def to_id(value: Any, fieldname: str, where: str, log: CoercionLog | None = None) -> int:
    """Required integer id: ints as they are, floats and numeric strings truncated (legacy).

    A truncated fraction (``"12.7"`` → 12) is accepted like the legacy did, but noted.
    """
    if value.__class__ is int:  # what the database returns: no check needed
        return value
    if isinstance(value, bool) or is_missing(value):
        raise RowError(where, fieldname, "is missing")
    if isinstance(value, int):
        return value
    try:
        if isinstance(value, str):
            number = _number_from_text(value.strip().replace(",", ""))
        elif isinstance(value, (float, Decimal)):
            number = _as_decimal(value)
        else:
            raise ValueError(value)
    except ValueError:
        raise RowError(where, fieldname, f"is not a number ({value!r})") from None
    whole = int(number)  # int() truncates toward zero, as the legacy did
    if number != whole:
        _note(log, f"{fieldname} truncated to an integer", where)
    return whole


def to_strict_amount(value: Any, fieldname: str, where: str) -> Decimal:
    """Required payment/refund amount: a number or a plain numeric string.

    Null, blank and strings with thousands separators (``"1,000.50"``) are errors (cxc 3.1).
    """
    if value.__class__ is Decimal and value.is_finite():  # what the database returns
        return value
    if isinstance(value, bool) or is_missing(value):
        raise RowError(where, fieldname, "is missing")
    try:
        if isinstance(value, str):
            text = value.strip()
            if "," in text:
                raise ValueError(text)
            return _number_from_text(text)
        if isinstance(value, (int, float, Decimal)):
            return _as_decimal(value)
    except ValueError:
        pass
    raise RowError(where, fieldname, f"is not a plain number ({value!r})")


def to_lenient_amount(
    value: Any, fieldname: str, where: str, log: CoercionLog | None = None
) -> Decimal:
    """Document amount (cxc 3.3 step A): null → 0; ``"10,000.00"`` → 10000; text → 0.

    The legacy turned unparsable text into 0 silently; we keep the value but note it.
    """
    if value.__class__ is Decimal and value.is_finite():  # what the database returns
        return value
    if isinstance(value, bool) or is_missing(value):
        return ZERO
    try:
        if isinstance(value, str):
            return _number_from_text(value.strip().replace(",", ""))
        if isinstance(value, (int, float, Decimal)):
            return _as_decimal(value)
    except ValueError:
        pass
    _note(log, f"unparsable {fieldname} read as 0", where)
    return ZERO


def to_lenient_int(value: Any, fieldname: str, where: str, log: CoercionLog | None = None) -> int:
    """``DiasMora`` / ``EstadoDevolucion``: null → 0, numbers truncated, unparsable → 0."""
    if value.__class__ is int:
        return value
    if isinstance(value, bool) or is_missing(value):
        return 0
    if isinstance(value, int):
        return value
    try:
        if isinstance(value, str):
            return int(_number_from_text(value.strip()))
        if isinstance(value, (float, Decimal)):
            return int(_as_decimal(value))
    except ValueError:
        pass
    _note(log, f"unparsable {fieldname} read as 0", where)
    return 0


def to_integer_like(value: Any, fieldname: str, where: str) -> int:
    """``DiasEfectivo``: ``30``, ``"30"`` and ``30.0`` are fine; ``"30.5"`` and null are errors."""
    if value.__class__ is int:
        return value
    if isinstance(value, bool) or is_missing(value):
        raise RowError(where, fieldname, "is missing")
    if isinstance(value, int):
        return value
    try:
        if isinstance(value, str):
            number = _number_from_text(value.strip())
        elif isinstance(value, (float, Decimal)):
            number = _as_decimal(value)
        else:
            raise ValueError(value)
    except ValueError:
        raise RowError(where, fieldname, f"is not a number ({value!r})") from None
    if number != int(number):
        raise RowError(where, fieldname, f"is not a whole number ({value!r})")
    return int(number)


def to_text(value: Any) -> str:
    """Payment/refund text: null spellings → ``""``, strings trimmed, other types as text."""
    if value.__class__ is str:  # the common case, same rule as is_missing's for text
        text = value.strip()
        return "" if text.lower() in ("", "null", "nan") else text
    if is_missing(value):
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def _check_length(text: str, limit: int, fieldname: str, where: str) -> str:
    if len(text) > limit:
        raise RowError(where, fieldname, f"is longer than {limit} characters ({text[:30]!r}...)")
    return text


def parse_four_formats(value: Any, fieldname: str, where: str, *, required: bool) -> date | None:
    """Document/refund dates: ``date`` objects, or text in one of the four legacy formats.

    A time part is an error for text (cxc 6.2); a ``datetime`` object is accepted only at
    midnight, which is what a DATE column read through some drivers looks like.
    """
    if is_missing(value):
        if required:
            raise RowError(where, fieldname, "is missing")
        return None
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise RowError(where, fieldname, f"has a time part ({value.isoformat()})")
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for fmt in FOUR_DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    raise RowError(where, fieldname, f"is not a date dd/mm/yyyy or yyyy-mm-dd ({value!r})")


def parse_fecha_pago(value: Any, where: str) -> date:
    """``FechaPago``: ISO ``YYYY-MM-DD`` (or an ISO datetime exactly at midnight); required."""
    if is_missing(value):
        raise RowError(where, "FechaPago", "is missing")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            return datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text) if "T" in text or " " in text else None
        except ValueError:
            moment = None
        if moment is None:
            raise RowError(where, "FechaPago", f"is not an ISO date YYYY-MM-DD ({value!r})")
    else:
        raise RowError(where, "FechaPago", f"is not a date ({value!r})")
    if moment.time() != datetime.min.time():
        raise RowError(where, "FechaPago", f"has a time part ({moment.isoformat()})")
    return moment.date()


def parse_optional_datetime(value: Any, fieldname: str, where: str) -> datetime | None:
    """Audit timestamps: null stays null; ISO date or datetime; anything else is an error."""
    if is_missing(value):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RowError(where, fieldname, f"is not an ISO date or datetime ({value!r})")


# ---------------------------------------------------------------- canonical spellings


def canonical_tipo_pago(value: Any) -> str:
    """The shared canonical spelling (decisions 10 and 20): ``" pago parcial "`` is
    ``PAGO PARCIAL``; null spellings become ``""`` (cxc 3.1)."""
    return tipo_pago(to_text(value))


def canonical_moneda(value: Any, where: str) -> str:
    """``PEN``/``USD`` whatever the case, padding or known alias (``S/``, ``US$``: the same
    spellings the KPI reads); anything else is an error (cxc 6.2)."""
    if is_missing(value):
        raise RowError(where, "Moneda", "is missing")
    moneda = moneda_code(str(value))
    if moneda is None:
        raise RowError(where, "Moneda", f"is {value!r}, expected PEN or USD")
    return moneda


def normalize_code(code: Any) -> str:
    """Key for matching liquidación codes: trimmed, upper-case (``LIQ003-2022 ME`` keeps
    its inner space, which is part of the code)."""
    return "" if code is None else str(code).strip().upper()


def normalize_ruc(ruc: Any) -> str:
    """Key for the sector lookup, applied to both sides: the KPI's payer-RUC rule."""
    return "" if ruc is None else ruc_pagador_key(str(ruc))


# ---------------------------------------------------------------- 3.1 pagos, 3.2 devoluciones


def coerce_pago(raw: Mapping[str, Any], log: CoercionLog | None = None) -> dict[str, Any]:
    """One source payment → one ``cxc_pagos_fact`` row (cxc 3.1, decisions 10)."""
    where = f"colocaciones_pagos IdLiquidacionPago={raw.get('IdLiquidacionPago')!r}"
    row: dict[str, Any] = {
        "IdLiquidacionPago": to_id(raw.get("IdLiquidacionPago"), "IdLiquidacionPago", where, log),
        "IdLiquidacionDet": to_id(raw.get("IdLiquidacionDet"), "IdLiquidacionDet", where, log),
        "FechaPago": parse_fecha_pago(raw.get("FechaPago"), where),
        "DiasMora": to_lenient_int(raw.get("DiasMora"), "DiasMora", where, log),
    }
    for name in PAGO_AMOUNT_FIELDS:
        row[name] = to_strict_amount(raw.get(name), name, where)
    tipo = canonical_tipo_pago(raw.get("TipoPago"))
    if tipo != to_text(raw.get("TipoPago")):
        _note(log, "TipoPago re-cased to its canonical upper-case spelling", where)
    row["TipoPago"] = _check_length(tipo, TEXT_LIMIT_TIPO_PAGO, "TipoPago", where)
    row["ObservacionPago"] = _check_length(
        to_text(raw.get("ObservacionPago")), TEXT_LIMIT_OBSERVACION, "ObservacionPago", where
    )
    for name in ("FechaPagoCreacion", "FechaPagoModificacion"):
        row[name] = parse_optional_datetime(raw.get(name), name, where)
    return row


def coerce_devolucion(raw: Mapping[str, Any], log: CoercionLog | None = None) -> dict[str, Any]:
    """One source refund → one ``cxc_dev_fact`` row (cxc 3.2)."""
    ident = raw.get("IdLiquidacionDevolucion")
    where = f"colocaciones_devoluciones IdLiquidacionDevolucion={ident!r}"
    return {
        "IdLiquidacionDevolucion": to_id(
            raw.get("IdLiquidacionDevolucion"), "IdLiquidacionDevolucion", where, log
        ),
        "IdLiquidacionDet": to_id(raw.get("IdLiquidacionDet"), "IdLiquidacionDet", where, log),
        "FechaDesembolso": parse_four_formats(
            raw.get("FechaDesembolso"), "FechaDesembolso", where, required=False
        ),
        "MontoDevolucion": to_strict_amount(raw.get("MontoDevolucion"), "MontoDevolucion", where),
        "DescuentoDevolucion": to_strict_amount(
            raw.get("DescuentoDevolucion"), "DescuentoDevolucion", where
        ),
        "EstadoDevolucion": to_lenient_int(
            raw.get("EstadoDevolucion"), "EstadoDevolucion", where, log
        ),
        "ObservacionDevolucion": _check_length(
            to_text(raw.get("ObservacionDevolucion")),
            TEXT_LIMIT_OBSERVACION,
            "ObservacionDevolucion",
            where,
        ),
    }


# ---------------------------------------------------------------- 3.3 step A: documents


def _doc_text(value: Any, fieldname: str, where: str, log: CoercionLog | None) -> str | None:
    limit, not_null, trimmed = DOC_TEXT_FIELDS[fieldname]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if fieldname in DOC_TEXT_MANDATORY:
            raise RowError(where, fieldname, "is missing")
        if not not_null:
            return None
        _note(log, f"null {fieldname} stored as ''", where)
        return ""
    if not isinstance(value, str):
        # The legacy refused a RUC sent as a number: "20100000001.0" would never match.
        raise RowError(where, fieldname, f"must be text, got {type(value).__name__} {value!r}")
    text = value.strip() if trimmed else value
    if fieldname == "RUCPagador":
        cleaned = ruc_pagador_key(text)
        if cleaned != text:
            _note(log, "RUCPagador cleaned of ':' and spaces", where)
        text = cleaned
    return _check_length(text, limit, fieldname, where)


def _observation(value: Any, fieldname: str, where: str) -> str | None:
    """Observations: trimmed, blank → NULL (cxc 3.3 step J)."""
    if is_missing(value):
        return None
    return _check_length(to_text(value), TEXT_LIMIT_OBSERVACION, fieldname, where)


def coerce_documento(raw: Mapping[str, Any], log: CoercionLog | None = None) -> dict[str, Any]:
    """One source document → the 44 source columns of ``cxc_acumulado_dim`` (step A)."""
    where = f"colocaciones IdLiquidacionDet={raw.get('IdLiquidacionDet')!r}"
    row: dict[str, Any] = {
        "IdLiquidacionCab": to_id(raw.get("IdLiquidacionCab"), "IdLiquidacionCab", where, log),
        "IdLiquidacionDet": to_id(raw.get("IdLiquidacionDet"), "IdLiquidacionDet", where, log),
    }
    for name in DOC_TEXT_FIELDS:
        row[name] = _doc_text(raw.get(name), name, where, log)
    for name in DOC_OBSERVATION_FIELDS:
        row[name] = _observation(raw.get(name), name, where)
    row["Moneda"] = canonical_moneda(raw.get("Moneda"), where)
    for name in DOC_AMOUNT_FIELDS:
        row[name] = to_lenient_amount(raw.get(name), name, where, log)
    row["FechaConfirmado"] = parse_four_formats(
        raw.get("FechaConfirmado"), "FechaConfirmado", where, required=True
    )
    row["FechaOperacion"] = parse_four_formats(
        raw.get("FechaOperacion"), "FechaOperacion", where, required=True
    )
    row["FechaInteresConfirming"] = parse_four_formats(
        raw.get("FechaInteresConfirming"), "FechaInteresConfirming", where, required=False
    )
    row["DiasEfectivo"] = to_integer_like(raw.get("DiasEfectivo"), "DiasEfectivo", where)
    return row


# ---------------------------------------------------------------- run inputs


@dataclass(frozen=True)
class RunRate:
    """The single selling rate of the run (decisions 2) and where it came from."""

    venta: Decimal
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
        fecha = parse_four_formats(rate.get("TipoCambioFecha"), "TipoCambioFecha", where,
                                   required=True)
        assert fecha is not None
        if fecha > fecha_corte or (best is not None and best.fecha is not None
                                   and fecha <= best.fecha):
            continue
        venta = to_strict_amount(rate.get("TipoCambioVenta"), "TipoCambioVenta", where)
        if venta <= 0:
            raise RowError(where, "TipoCambioVenta", f"must be positive ({venta})")
        best = RunRate(venta=venta, fecha=fecha)
    if best is None:
        raise TaskFailed(no_rate_message(fecha_corte))
    return best


def explicit_rate(value: Any) -> RunRate:
    """A ``--tipo-cambio`` override."""
    try:
        venta = _as_decimal(value) if not isinstance(value, str) else _number_from_text(value)
    except (ValueError, TypeError):
        raise InputError(f"--tipo-cambio must be a number such as 3.75, got {value!r}") from None
    if venta <= 0:
        raise InputError(f"--tipo-cambio must be positive, got {value}")
    return RunRate(venta=venta, fecha=None)


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
        codigo = normalize_code(row.get("codigo"))
        if lista not in lists:
            raise InputError(
                f"cxc_codigos_especiales: code {row.get('codigo')!r} has lista "
                f"{row.get('lista')!r}; use MORA_A_MAYO or COBRANZA_ESPECIAL and re-import"
            )
        if codigo:
            lists[lista].add(codigo)
    return CodeLists(frozenset(lists[MORA_A_MAYO]), frozenset(lists[COBRANZA_ESPECIAL]))


SectorCatalogue = Mapping[str, tuple[str, str]]  # normalised RUC → (Sector, GrupoEco)


def build_sector_catalogue(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """``sector_pagadores`` rows → {RUC: (Sector, GrupoEco)}; trimmed, empty group → ``""``.

    One row per RUC is guaranteed by the table (decisions 9); should two normalise to the
    same RUC, the first wins as in the legacy.
    """
    catalogue: dict[str, tuple[str, str]] = {}
    for row in rows:
        ruc = normalize_ruc(row.get("RUCPagador"))
        if ruc and ruc not in catalogue:
            catalogue[ruc] = (to_text(row.get("Sector")), to_text(row.get("GrupoEco")))
    return catalogue


# ---------------------------------------------------------------- 3.3 steps C-J, aging


@dataclass(frozen=True)
class PaymentSummary:
    """A document's payments reduced to one (decisions 3 / cxc 6.1)."""

    tipo_pago: str  # TP of the current (last) payment, canonical; "" without payments
    saldo_deuda: Decimal  # SD of the current payment
    monto_pago: Decimal  # MP: sum over all payments
    count: int

    @property
    def several(self) -> bool:
        return self.count > 1


NO_PAYMENT = PaymentSummary(tipo_pago="", saldo_deuda=ZERO, monto_pago=ZERO, count=0)


def summarize_payments(pagos: Sequence[Mapping[str, Any]]) -> PaymentSummary:
    """Order by ``FechaPago`` then id; the last is current; ``MontoPago`` is summed."""
    if not pagos:
        return NO_PAYMENT
    ordered = sorted(pagos, key=lambda p: (p["FechaPago"], p["IdLiquidacionPago"]))
    current = ordered[-1]
    return PaymentSummary(
        tipo_pago=canonical_tipo_pago(current["TipoPago"]),
        saldo_deuda=current["SaldoDeuda"],
        monto_pago=sum((p["MontoPago"] for p in ordered), ZERO),
        count=len(ordered),
    )


def saldo_total(neto_confirmado: Decimal, pagos: PaymentSummary) -> Decimal:
    """Step E: partial → remaining debt; no payment → net amount; settled → net − paid.

    No clipping: an overpayment gives a negative balance (kept, as in the legacy).
    """
    if pagos.tipo_pago == PAGO_PARCIAL:
        return pagos.saldo_deuda
    if pagos.tipo_pago == "":
        return neto_confirmado
    return neto_confirmado - pagos.monto_pago


def saldo_total_pen(saldo: Decimal, moneda: str, rate: RunRate) -> Decimal:
    """Step F: soles stay; dollars × the run's single rate."""
    return saldo if moneda == "PEN" else saldo * rate.venta


def tipo_pago_real(tipo_pago: str, codigo: Any, codes: CodeLists) -> str:
    """Step G: partial/unpaid documents of the MORA A MAYO list show as ``MORA A MAYO``."""
    if tipo_pago in (PAGO_PARCIAL, "") and normalize_code(codigo) in codes.mora_a_mayo:
        return LABEL_MORA_A_MAYO
    return tipo_pago


def estado_cuenta(fecha_confirmado: date, fecha_corte: date) -> str:
    """Step H: due on or before the cut-off → ``VENCIDO`` (whatever was paid)."""
    return VENCIDO if fecha_confirmado <= fecha_corte else VIGENTE


def estado_real(estado: str, codigo: Any, codes: CodeLists) -> str:
    """Step I: overdue documents of the COBRANZA ESPECIAL list."""
    if estado == VENCIDO and normalize_code(codigo) in codes.cobranza_especial:
        return LABEL_COBRANZA_ESPECIAL
    return estado


def sector_for(ruc: Any, catalogue: SectorCatalogue) -> tuple[str, str] | None:
    """Step D: (Sector, GrupoEco) of the payer, or None when it is not in the catalogue."""
    return catalogue.get(normalize_ruc(ruc))


def dias_vencido(fecha_confirmado: date, fecha_corte: date, saldo: Decimal) -> int:
    """Decisions 14: days past due at the cut-off, only while something is still owed."""
    days = (fecha_corte - fecha_confirmado).days
    return days if days > 0 and saldo > 0 else 0


def tramo_vencido(dias: int) -> str:
    for upper, label in TRAMOS:
        if dias <= upper:
            return label
    return TRAMO_MAS_180


@dataclass(frozen=True)
class AcumuladoInputs:
    """Everything a dimension row depends on besides its document and payments."""

    fecha_corte: date
    rate: RunRate
    codes: CodeLists
    sectors: SectorCatalogue


def acumulado_row(
    documento: Mapping[str, Any], pagos: PaymentSummary, inputs: AcumuladoInputs
) -> dict[str, Any]:
    """A coerced document + its payment summary → one ``cxc_acumulado_dim`` row."""
    row = dict(documento)
    codigo = documento["CodigoLiquidacion"]
    saldo = saldo_total(documento["NetoConfirmado"], pagos)
    estado = estado_cuenta(documento["FechaConfirmado"], inputs.fecha_corte)
    sector = sector_for(documento["RUCPagador"], inputs.sectors)
    dias = dias_vencido(documento["FechaConfirmado"], inputs.fecha_corte, saldo)
    row.update(
        SaldoTotal=saldo,
        SaldoTotalPen=saldo_total_pen(saldo, documento["Moneda"], inputs.rate),
        TipoPagoReal=tipo_pago_real(pagos.tipo_pago, codigo, inputs.codes),
        EstadoCuenta=estado,
        EstadoReal=estado_real(estado, codigo, inputs.codes),
        Sector=SIN_CLASIFICAR if sector is None else sector[0],
        GrupoEco="" if sector is None else sector[1],
        DiasVencido=dias,
        TramoVencido=tramo_vencido(dias),
    )
    return row


@dataclass
class AcumuladoStats:
    """What the run reports about the dimension: counts plus a few example ids."""

    max_examples: int = 5
    documentos: int = 0
    several_payments: int = 0
    several_payments_examples: list[int] = field(default_factory=list)
    without_sector: int = 0
    without_sector_examples: list[str] = field(default_factory=list)

    def record(self, documento: Mapping[str, Any], pagos: PaymentSummary, has_sector: bool) -> None:
        self.documentos += 1
        if pagos.several:
            self.several_payments += 1
            if len(self.several_payments_examples) < self.max_examples:
                self.several_payments_examples.append(documento["IdLiquidacionDet"])
        if not has_sector:
            self.without_sector += 1
            ruc = normalize_ruc(documento["RUCPagador"])
            if ruc not in self.without_sector_examples and \
                    len(self.without_sector_examples) < self.max_examples:
                self.without_sector_examples.append(ruc)


def build_acumulado(
    documentos: Iterable[Mapping[str, Any]],
    pagos: Iterable[Mapping[str, Any]],
    inputs: AcumuladoInputs,
    *,
    log: CoercionLog | None = None,
    stats: AcumuladoStats | None = None,
) -> list[dict[str, Any]]:
    """Raw documents + raw payments → dimension rows (one per document).

    For a bounded set (one chunk of documents with their payments, or a fixture): the task
    calls it per chunk so memory stays flat. Payments of documents not in ``documentos``
    are ignored here (orphan payments are reported by the task). ``log`` notes document
    coercions only: payment coercions are noted once, where the fact rows are built.
    """
    by_det: dict[int, list[dict[str, Any]]] = {}
    for raw in pagos:
        pago = coerce_pago(raw)
        by_det.setdefault(pago["IdLiquidacionDet"], []).append(pago)
    rows = []
    for raw in documentos:
        doc = coerce_documento(raw, log)
        summary = summarize_payments(by_det.get(doc["IdLiquidacionDet"], []))
        if stats is not None:
            stats.record(doc, summary, sector_for(doc["RUCPagador"], inputs.sectors) is not None)
        rows.append(acumulado_row(doc, summary, inputs))
    return rows
