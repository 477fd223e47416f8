"""Datamart tables of the report jobs (reportes.md §4.1–§4.4, §4.6).

Column names are exactly the legacy ones because BI dashboards read them. Every table has a
surrogate ``id`` key (except ``actualizacion_reportes``, keyed by its UUID as in the legacy)
and no named indexes, so the writer's staging copies never clash. Money is DECIMAL(18,2) and
rates DECIMAL(18,6) (decisions 12), never FLOAT.

Deliberate differences from the legacy schema:
- the soles columns, ``Utilidad`` and ``TipoCambioCompra``/``TipoCambioVenta`` are nullable:
  a USD row without any exchange rate on or before its date stores NULL there (decisions 1);
- ``kpi_acumulado.FechaConfirmado`` is nullable (the legacy NOT NULL broke refreshes, §6.16);
- observations are TEXT (§6.24).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Table

from toolbox_cli.storage.tables.metadata import (
    Code,
    LongText,
    Money,
    Name,
    Rate,
    Ruc,
    ShortText,
    datamart_metadata,
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


def _kpi_column_specs() -> dict[str, tuple[object, bool]]:
    """Type and nullability of every `kpi` column, keyed by name (order from KPI_COLUMNS)."""
    text_types = {
        "CodigoLiquidacion": (Code, False), "CodigoSolicitud": (Code, True),
        "RUCCliente": (Ruc, False), "RazonSocialCliente": (Name, False),
        "RUCPagador": (Ruc, False), "RazonSocialPagador": (Name, False),
        "Moneda": (String(10), False), "ObservacionLiquidacion": (LongText, True),
        "ObservacionSolicitud": (LongText, True), "FlagPagoInteresConfirming": (String(20), True),
        "TipoOperacion": (ShortText, False), "Estado": (ShortText, False),
        "NroDocumento": (String(50), False), "FacturasGeneradas": (ShortText, False),
        "Ejecutivo": (Name, False), "Referencia": (Name, True),
        "EstadoDevolucion": (ShortText, True), "Anticipo": (String(20), True),
        "TramoAnticipo": (String(50), True), "Mes": (String(7), False),
        "Año": (String(4), False), "MesAño": (String(20), False),
        "MesSemana": (String(10), False), "Sector": (Name, True), "GrupoEco": (Name, True),
        "FueraSistema": (String(2), True),
    }
    dates = {
        "FechaConfirmado": True, "FechaOperacion": False, "FechaPago": True,
        "FechaDesembolso": True, "TipoCambioFecha": True,
    }
    rates = {"TasaNominalMensualPorc": False, "FinanciamientoPorc": False,
             "TipoCambioCompra": True, "TipoCambioVenta": True}
    nullable_money = {
        "MontoNegociadoSoles", "MontoPagoSoles", "ColocacionSoles", "MontoDesembolsoSoles",
        "IngresosSoles", "CostosFondoSoles", "TotalIngresosSoles", "Utilidad",
    }
    specs: dict[str, tuple[object, bool]] = {}
    for name in KPI_COLUMNS:
        if name in text_types:
            specs[name] = text_types[name]
        elif name in dates:
            specs[name] = (DateTime, dates[name])
        elif name in rates:
            specs[name] = (Rate, rates[name])
        elif name == "DiasEfectivo":
            specs[name] = (Integer, False)
        else:
            specs[name] = (Money, name in nullable_money)
    return specs


_ACUMULADO_EXTRA_SPECS: dict[str, tuple[object, bool]] = {
    "FechaInteresConfirming": (DateTime, True),
    "TipoOperacionDetalle": (Name, True),
    "FechaPagoCreacion": (DateTime, True),
    "FechaPagoModificacion": (DateTime, True),
    "DiasMora": (Integer, True),
    "MontoCobrarPago": (Money, True),
    "FacturasMoraGeneradas": (ShortText, True),
    "InteresPago": (Money, True),
    "GastosPago": (Money, True),
    "TipoPago": (String(50), True),
    "SaldoDeuda": (Money, True),
    "ObservacionPago": (LongText, True),
    "DescuentoDevolucion": (Money, True),
    "ObservacionDevolucion": (LongText, True),
    "GastosDiversosSinIGV": (Money, True),  # never written by the legacy: always NULL
}


def _columns(specs: dict[str, tuple[Any, bool]]) -> list[Column[Any]]:
    return [Column(name, type_, nullable=nullable) for name, (type_, nullable) in specs.items()]


def _id() -> Column:
    return Column("id", Integer, primary_key=True, autoincrement=True)


# ``info``: the columns that name a row in a message (``key``) and the control totals the
# guard compares with the live table (``totals``, per ``totals_by``; decision 22).
kpi = Table("kpi", datamart_metadata, _id(), *_columns(_kpi_column_specs()),
            info={"key": ("CodigoLiquidacion", "NroDocumento"),
                      "totals": ("NetoConfirmado", "MontoDesembolso"), "totals_by": "Moneda"})

kpi_acumulado = Table(
    "kpi_acumulado",
    datamart_metadata,
    _id(),
    *_columns(_kpi_column_specs()),
    *_columns({k: _ACUMULADO_EXTRA_SPECS[k] for k in ACUMULADO_EXTRA_COLUMNS}),
    info={"key": ("CodigoLiquidacion", "NroDocumento"),
          "totals": ("NetoConfirmado", "MontoDesembolso", "MontoPago"), "totals_by": "Moneda"},
)

nuevos_clientes_nuevos_pagadores = Table(
    "nuevos_clientes_nuevos_pagadores",
    datamart_metadata,
    _id(),
    Column("FechaOperacion", DateTime),  # first day of the month, 00:00
    Column("Ejecutivo", Name),
    Column("RUCCliente", Ruc),  # set on a new-client row, else NULL
    Column("RUCPagador", Ruc),  # set on a new-payer row, else NULL
    Column("TipoOperacion", ShortText),
    Column("RazonSocial", Name),
    info={"key": ("FechaOperacion", "Ejecutivo", "RUCCliente", "RUCPagador")},
)

saldos = Table(
    "saldos",
    datamart_metadata,
    _id(),
    Column("FechaOperacion", DateTime, nullable=False),
    Column("EvolucionCaja", Money),
    Column("CostoExcesoCaja", Money),
    Column("IngresoNoRecibidoPorExcesoCaja", Money),
    Column("MontoOvernight", Money),
    Column("IngresosOvernightNeto", Money),
    Column("SaldoTotalCaja", Money),
    info={"key": ("FechaOperacion",), "totals": ("SaldoTotalCaja",)},
)

# Append-only "last refreshed" ledger the dashboards read (§4.6). The key is a random UUID v4
# stored as 32 hex characters (``uuid.uuid4().hex``), as the legacy CHAR(32) on MySQL.
actualizacion_reportes = Table(
    "actualizacion_reportes",
    datamart_metadata,
    Column("actualizacion_reporte_id", String(32), primary_key=True),
    Column("ultima_actualizacion", DateTime, nullable=False),  # Lima wall time, naive
    Column("estado", String(50), nullable=False),  # Success | Error
    Column("detalle", String(255)),  # NULL on success; the error message, truncated to 255
)
