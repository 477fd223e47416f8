"""What each import kind is: its table, its columns, its key and the rule of each cell.

A ``Kind`` is the contract of one source table as the analysts' sheets fill it (the header
tables of reportes.md §2.3–§2.6, cxc.md §3.3). The cell rules shared by every kind (texts,
dates, strict numbers, RUCs) are in ``compute.text``; the few below belong to one kind.
Every column holding a RUC (sectores ``RUC``, fuera-sistema ``RUC Cliente`` and ``RUC
DEUDOR``) is read by ``required_ruc``: 11 digits once spaces and ``:`` are removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table

from toolbox_cli.compute.ruc import required_ruc
from toolbox_cli.compute.spellings import moneda_code
from toolbox_cli.compute.text import (
    blank_text,
    fold,
    optional_date,
    optional_text,
    rate_problem,
    required_date,
    required_number,
    required_text,
    stored_rate,
    strict_number_or,
    strict_sheet_number,
)
from toolbox_cli.errors import InputError, did_you_mean
from toolbox_cli.storage.tables import contract as source_tables

LISTAS_CXC = ("MORA_A_MAYO", "COBRANZA_ESPECIAL")
HOJAS = ("PEN", "USD")


# ----------------------------------------------------------------------------- cell rules of one kind
# Each takes the cell text and returns a value or raises ValueError(reason).


def exchange_rate(text: str) -> Decimal:
    """tipo-cambio: PEN per USD, a required strict number, positive and plausible (a
    thousands comma read as ``3,710`` is not). The rate provider's answers are held to
    the same bounds, 0 < rate < 100 (``remote.tipo_cambio``)."""
    value = required_number(text)
    problem = rate_problem(value)
    if problem:
        hint = "; write decimals with a dot" if value >= 100 else ""
        raise ValueError(f"{text!r} {problem}{hint}")
    return value


def rates_as_stored(row: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """A tipo-cambio row's (compra, venta) at the column's scale, as the table keeps them:
    two rows of one date carry the same rates when these are equal."""
    return (stored_rate(Decimal(row["TipoCambioCompra"])),
            stored_rate(Decimal(row["TipoCambioVenta"])))


def whole_days_or_zero(text: str) -> int:
    """fuera-sistema ``Días Efect`` / ``Dias Mora``: the §2.4 blanks (``""``, ``-``, ``<``)
    give 0; otherwise a strict number that must be whole (``12.0`` is fine, ``12.5`` not).

    Strict twin of two frame rules in ``compute.cells``: ``whole_number`` (DiasEfectivo of
    database rows: null is an error) and ``lenient_int`` (DiasMora: truncated, noted)."""
    if text.strip() in ("", "-", "<"):
        return 0
    value = strict_sheet_number(text)
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} must be a whole number of days")
    return int(value)


def parse_lista(text: str) -> str:
    """codigos-cxc ``LISTA``: ``MORA_A_MAYO`` or ``COBRANZA_ESPECIAL``, written in any case
    with spaces, ``-`` or ``_`` between the words (``mora a mayo``). The stored value is
    then canonical; ``compute.cxc.build_code_lists`` re-checks the table as it reads it."""
    key = re.sub(r"[\s_-]+", "_", fold(text)).upper()
    if key not in LISTAS_CXC:
        raise ValueError(f"{text.strip()!r} is not a list; use MORA_A_MAYO or COBRANZA_ESPECIAL")
    return key


def parse_moneda(text: str) -> str | None:
    """fuera-sistema ``Moneda``: PEN or USD by the shared spellings of
    ``spellings.moneda_code``; blank → None (the KPI then takes the sheet's currency,
    ``Hoja``); an unknown spelling is an error."""
    if not text.strip():
        return None
    code = moneda_code(text)
    if code is None:
        raise ValueError(f"{text.strip()!r} is not a currency; use PEN or USD")
    return code


# ----------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Field:
    header: str  # as the spec's header table writes it (shown in messages)
    column: str | None  # target column; None = read but not stored (e.g. a ruc used to skip)
    parse: Callable[[str], Any]
    aliases: tuple[str, ...] = ()
    required: bool = True  # False: the column may be absent from the file (value None)

    @property
    def holds_ruc(self) -> bool:
        """A RUC column (``required_ruc``: 11 digits, stored as written); the import counts
        the RUCs whose check digit fails and says so in a warning."""
        return self.parse is required_ruc


@dataclass(frozen=True)
class Kind:
    name: str
    table: Table
    fields: tuple[Field, ...]
    description: str
    ignored: tuple[str, ...] = ()  # headers the spec says to discard silently
    # Rows with any of these cells blank are skipped (and reported) before being parsed.
    skip_if_blank: tuple[str, ...] = ()
    # What identifies a stored row: an import merges by it (file rows replace the stored
    # rows with the same key, other stored rows are kept).
    key: tuple[str, ...] = ()
    # merge (by key) | add (new keys only: exchange rates) | sheet (the file's own sheet)
    default_mode: str = "merge"


# Off-system sheets (reportes §2.4): numeric rule 3 (blank → null) and rule 4 (blank → 0).
_NULL_IF_BLANK = strict_number_or(None)
_ZERO_IF_BLANK = strict_number_or(Decimal(0), ("", "-", "<"))


def _fs(header: str, column: str, parse: Callable[[str], Any] = _ZERO_IF_BLANK) -> Field:
    return Field(header, column, parse)


FUERA_SISTEMA_FIELDS = (
    _fs("Liquidación", "CodigoLiquidacion", blank_text),
    _fs("N° Factura/ Letra", "NroDocumento", blank_text),
    _fs("Nombre Cliente", "RazonSocialCliente", blank_text),
    _fs("RUC Cliente", "RUCCliente", required_ruc),
    _fs("Nombre Deudor", "RazonSocialPagador", blank_text),
    _fs("RUC DEUDOR", "RUCPagador", required_ruc),
    _fs("TNM Op", "TasaNominalMensualPorc"),
    _fs("% Finan", "FinanciamientoPorc"),
    _fs("Fecha de Op", "FechaOperacion", optional_date),
    _fs("F.Pago Confirmada", "FechaConfirmado", optional_date),
    _fs("Días Efect", "DiasEfectivo", whole_days_or_zero),
    _fs("Moneda", "Moneda", parse_moneda),
    _fs("Neto Confirmado", "NetoConfirmado"),
    _fs("Comisión de Estructuracion", "MontoComisionEstructuracion", _NULL_IF_BLANK),
    _fs("IGV Comisión", "ComisionEstructuracionIGV", _NULL_IF_BLANK),
    _fs("Comision Con IGV", "ComisionEstructuracionConIGV"),
    _fs("Fondo Resguardo", "FondoResguardo"),
    _fs("Neto a Financiar", "MontoCobrar"),
    _fs("Interés sin IGV", "Interes"),
    _fs("Interés con IGV", "InteresConIGV"),
    _fs("Gastos Diversos Sin IGV", "GastosDiversosSinIGV"),
    _fs("IGV Gastos Diversos", "GastosDiversosIGV"),
    _fs("Gastos Diversos con IGV", "GastosDiversosConIGV"),
    _fs("Total a ser facturado al desembolso Inc. IGV", "MontoTotalFacturado"),
    _fs("N Factura generada", "FacturasGeneradas", blank_text),
    _fs("Desembolso Neto", "MontoDesembolso"),
    _fs("Fecha de pago", "FechaPago", optional_date),
    _fs("Estado", "Estado", blank_text),
    _fs("Dias Mora", "DiasMora", whole_days_or_zero),
    _fs("Interes Mora - No Afecto IGV", "InteresPago"),
    _fs("Gastos Mora Con IGV", "GastosPago"),
    _fs("Importe a Pagar", "MontoCobrarPago"),
    _fs("Import. Recaudado", "MontoPago"),
    _fs("Excedente Generado a ser devuelto", "ExcesoPago"),
    _fs("Fecha de devolución de excedente", "FechaDesembolso", optional_date),
    _fs("EJECUTIVO", "Ejecutivo", blank_text),
    _fs("TIPO DE OPERACIÓN", "TipoOperacion", blank_text),
    _fs("Contrato", "GastosContrato", _NULL_IF_BLANK),
    _fs("Servicio de custodia sin IGV", "ServicioCustodia"),
    _fs("Servicio de cobranza de documentos sin IGV", "ServicioCobranza"),
    _fs("Comisión por envío de carta notarial sin IGV", "GastoVigenciaPoder"),
)

_SALDOS_NUMBER = strict_number_or(Decimal(0))  # reportes §3.8: "" and "-" → 0

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "sectores",
            source_tables.sector_pagadores,
            (
                Field("RUC", "RUCPagador", required_ruc),
                Field("SECTOR", "Sector", required_text),
                Field("GRUPO ECO.", "GrupoEco", optional_text, required=False),
            ),
            "payer sectors and economic groups (reportes §2.3)",
            key=("RUCPagador",),
        ),
        Kind(
            "fuera-sistema",
            source_tables.operaciones_fuera_sistema,
            FUERA_SISTEMA_FIELDS,
            "off-system operations, one sheet (PEN or USD) per file (reportes §2.4)",
            ignored=(
                "TNA Op", "% Estructuracion", "IGV Interés", "TNM Moratorio", "TNA Moratorio",
                "Factura Int Mora", "Factura Gastos Mora Con IGV", "Total factura Mora",
            ),
            # reportes §2.4 rule 1: rows without client or payer RUC are not operations
            # (totals, notes at the bottom of the sheet).
            skip_if_blank=("RUC Cliente", "RUC DEUDOR"),
            key=("Hoja",),
            default_mode="sheet",
        ),
        Kind(
            "referidos",
            source_tables.referidos,
            (
                Field("REFERENCIA", "Referencia", required_text),
                Field("LIQUIDACIÓN", "CodigoLiquidacion", required_text),
                Field("EJECUTIVO", "Ejecutivo", required_text),
                Field("MES", "Mes", required_date),
            ),
            "referrals per liquidation (reportes §2.5)",
            key=("CodigoLiquidacion",),
        ),
        Kind(
            "referidos-alias",
            source_tables.referidos_alias,
            (
                Field("ALIAS", "Alias", required_text),
                Field("CANONICO", "Canonico", required_text, aliases=("NOMBRE CANONICO",)),
            ),
            "referral alias → canonical name (reportes Appendix A)",
            key=("Alias",),
        ),
        Kind(
            "saldos",
            source_tables.saldos_caja,
            (
                Field("FechaOperacion", "FechaOperacion", required_date),
                Field("EvolucionCaja", "EvolucionCaja", _SALDOS_NUMBER),
                Field("CostoExcesoCaja", "CostoExcesoCaja", _SALDOS_NUMBER),
                Field("IngresoNoRecibidoPorExcesoCaja", "IngresoNoRecibidoPorExcesoCaja",
                      _SALDOS_NUMBER),
                Field("MontoOvernight", "MontoOvernight", _SALDOS_NUMBER),
                Field("IngresosOvernightNeto", "IngresosOvernightNeto", _SALDOS_NUMBER),
                Field("SaldoTotalCaja", "SaldoTotalCaja", _SALDOS_NUMBER),
            ),
            "daily cash balances (reportes §2.6, §3.8)",
            key=("FechaOperacion",),
        ),
        Kind(
            "tipo-cambio",
            source_tables.tipo_cambio,
            (
                Field("FECHA", "TipoCambioFecha", required_date, aliases=("TipoCambioFecha",)),
                Field("COMPRA", "TipoCambioCompra", exchange_rate, aliases=("TipoCambioCompra",)),
                Field("VENTA", "TipoCambioVenta", exchange_rate, aliases=("TipoCambioVenta",)),
            ),
            "SUNAT exchange rates per date; adds missing dates only (reportes §2.2)",
            key=("TipoCambioFecha",),
            default_mode="add",
        ),
        Kind(
            "codigos-cxc",
            source_tables.cxc_codigos_especiales,
            (
                Field("CODIGO", "codigo", required_text),
                Field("LISTA", "lista", parse_lista),
            ),
            "special liquidation code lists for tablas-cxc (cxc §3.3)",
            key=("codigo", "lista"),
        ),
    )
}


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(
            f"unknown import kind {name!r}{did_you_mean(name, list(KINDS))}; use one of: "
            f"{', '.join(KINDS)}"
        ) from None
