"""Datamart tables of ``tablas-cxc`` (cxc.md §4, decisions 13 and 14).

Column names are the legacy physical names that the BI dashboards read. Left out on purpose
(decisions 13): the KPI columns the legacy never filled (``Mes``, ``Año``, ``MesAño``,
``MesSemana``, ``TipoCambio*``, ``*Soles``, ``Ingresos``, ``CostosFondo``, ``TotalIngresos``,
``Utilidad``, ``FueraSistema``, ``Referencia``) and the inherited audit columns it never
wrote (cxc §4.4). Added (decisions 14): ``DiasVencido`` and ``TramoVencido``.

Each table has a surrogate ``id`` and no named indexes, because the writer builds a staging
copy next to the live table and swaps it in; the legacy keys (``IdLiquidacionPago``, ...)
stay unique because the source tables key on them and the dimension is one row per document.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Integer, String, Table

from toolbox_cli.storage.tables.metadata import Money, Rate, datamart_metadata


def _id() -> Column:
    return Column("id", Integer, primary_key=True, autoincrement=True)


cxc_pagos_fact = Table(
    "cxc_pagos_fact",
    datamart_metadata,
    _id(),
    Column("IdLiquidacionPago", Integer, nullable=False),
    Column("IdLiquidacionDet", Integer, nullable=False),
    Column("FechaPago", Date, nullable=False),
    Column("DiasMora", Integer, nullable=False),
    Column("MontoCobrarPago", Money, nullable=False),
    Column("MontoPago", Money, nullable=False),
    Column("ObservacionPago", String(500)),
    Column("InteresPago", Money, nullable=False),
    Column("GastosPago", Money, nullable=False),
    Column("TipoPago", String(50), nullable=False),
    Column("SaldoDeuda", Money, nullable=False),
    Column("ExcesoPago", Money, nullable=False),
    Column("FechaPagoCreacion", DateTime),
    Column("FechaPagoModificacion", DateTime),
    # ``info``: the columns that name a row in a message (``key``), the control totals the
    # guard compares with the live table (``totals``, per ``totals_by``; decision 22) and the
    # name the legacy's dashboards read it by, kept as a view by ``db init`` (decision 24).
    info={"key": ("IdLiquidacionPago",), "totals": ("MontoPago",), "legacy_name": "CXCPagosFact"},
)

cxc_dev_fact = Table(
    "cxc_dev_fact",
    datamart_metadata,
    _id(),
    Column("IdLiquidacionDevolucion", Integer, nullable=False),
    Column("IdLiquidacionDet", Integer, nullable=False),
    Column("FechaDesembolso", Date),
    Column("MontoDevolucion", Money, nullable=False),
    Column("DescuentoDevolucion", Money, nullable=False),
    Column("EstadoDevolucion", Integer, nullable=False),
    Column("ObservacionDevolucion", String(500)),
    info={"key": ("IdLiquidacionDevolucion",), "totals": ("MontoDevolucion",),
          "legacy_name": "CXCDevFact"},
)

cxc_acumulado_dim = Table(
    "cxc_acumulado_dim",
    datamart_metadata,
    _id(),
    Column("IdLiquidacionCab", Integer, nullable=False),
    Column("IdLiquidacionDet", Integer, nullable=False),
    Column("CodigoLiquidacion", String(20), nullable=False),
    Column("CodigoSolicitud", String(20), nullable=False),
    Column("RUCCliente", String(11), nullable=False),
    Column("RazonSocialCliente", String(200), nullable=False),
    Column("RUCPagador", String(11), nullable=False),
    Column("RazonSocialPagador", String(200), nullable=False),
    Column("Moneda", String(3), nullable=False),
    Column("DeudaAnterior", Money, nullable=False),
    Column("ObservacionLiquidacion", String(500)),
    Column("ObservacionSolicitud", String(500)),
    Column("FlagPagoInteresConfirming", String(20), nullable=False),
    Column("FechaInteresConfirming", Date),
    Column("TipoOperacion", String(100), nullable=False),
    Column("TipoOperacionDetalle", String(200), nullable=False),
    Column("Estado", String(100), nullable=False),
    Column("NroDocumento", String(50), nullable=False),
    Column("TasaNominalMensualPorc", Rate, nullable=False),
    Column("FinanciamientoPorc", Rate, nullable=False),
    Column("FechaConfirmado", Date, nullable=False),
    Column("FechaOperacion", Date, nullable=False),
    Column("DiasEfectivo", Integer, nullable=False),
    Column("NetoConfirmado", Money, nullable=False),
    Column("FondoResguardo", Money, nullable=False),
    Column("ComisionEstructuracionPorc", Rate, nullable=False),
    Column("MontoComisionEstructuracion", Money, nullable=False),
    Column("ComisionEstructuracionIGV", Rate, nullable=False),
    Column("ComisionEstructuracionConIGV", Money, nullable=False),
    Column("FacturasGeneradas", String(50)),
    Column("MontoCobrar", Money, nullable=False),
    Column("Interes", Money, nullable=False),
    Column("InteresIGV", Rate, nullable=False),
    Column("InteresConIGV", Money, nullable=False),
    Column("GastosContrato", Money, nullable=False),
    Column("GastoVigenciaPoder", Money, nullable=False),
    Column("ServicioCobranza", Money, nullable=False),
    Column("ServicioCustodia", Money, nullable=False),
    Column("GastosDiversos", Money, nullable=False),
    Column("GastosDiversosIGV", Rate, nullable=False),
    Column("GastosDiversosConIGV", Money, nullable=False),
    Column("MontoTotalFacturado", Money, nullable=False),
    Column("MontoDesembolso", Money, nullable=False),
    Column("Ejecutivo", String(200), nullable=False),
    Column("SaldoTotal", Money, nullable=False),
    Column("SaldoTotalPen", Money, nullable=False),
    Column("TipoPagoReal", String(50), nullable=False),
    Column("EstadoCuenta", String(20), nullable=False),
    Column("EstadoReal", String(50), nullable=False),
    Column("Sector", String(200)),
    Column("GrupoEco", String(200)),
    Column("DiasVencido", Integer, nullable=False),
    Column("TramoVencido", String(10), nullable=False),
    info={"key": ("IdLiquidacionDet",), "totals": ("SaldoTotal", "SaldoTotalPen", "NetoConfirmado"),
          "totals_by": "Moneda", "legacy_name": "CXCAcumuladoDim"},
)

