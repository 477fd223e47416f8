"""The source contract (source database): the tables every job reads.

Columns use the legacy CamelCase names of the domain specs, so a DBA can map the operations
system onto them one to one (decisions.md "Where the inputs come from").
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Index, Integer, String, Table

from toolbox_cli.storage.tables.metadata import (
    Code,
    LongText,
    Money,
    Name,
    Rate,
    Ruc,
    ShortText,
    source_metadata,
)

colocaciones = Table(
    "colocaciones",
    source_metadata,
    Column("IdLiquidacionDet", Integer, primary_key=True, autoincrement=False),
    Column("IdLiquidacionCab", Integer, nullable=False),
    Column("CodigoLiquidacion", Code),
    Column("CodigoSolicitud", Code),
    Column("RUCCliente", Ruc),
    Column("RazonSocialCliente", Name),
    Column("RUCPagador", Ruc),
    Column("RazonSocialPagador", Name),
    Column("Moneda", String(10)),
    Column("DeudaAnterior", Money),
    Column("ObservacionLiquidacion", LongText),
    Column("ObservacionSolicitud", LongText),
    Column("FlagPagoInteresConfirming", String(20)),
    Column("FechaInteresConfirming", Date),
    Column("TipoOperacion", ShortText),
    Column("TipoOperacionDetalle", Name),
    Column("Estado", ShortText),
    Column("NroDocumento", String(50)),
    Column("TasaNominalMensualPorc", Rate),
    Column("FinanciamientoPorc", Rate),
    Column("FechaConfirmado", Date),
    Column("FechaOperacion", Date),
    Column("DiasEfectivo", Integer),
    Column("NetoConfirmado", Money),
    Column("FondoResguardo", Money),
    Column("ComisionEstructuracionPorc", Rate),
    Column("MontoComisionEstructuracion", Money),
    Column("ComisionEstructuracionIGV", Money),
    Column("ComisionEstructuracionConIGV", Money),
    Column("FacturasGeneradas", ShortText),
    Column("MontoCobrar", Money),
    Column("Interes", Money),
    Column("InteresIGV", Money),
    Column("InteresConIGV", Money),
    Column("GastosContrato", Money),
    Column("GastoVigenciaPoder", Money),
    Column("ServicioCobranza", Money),
    Column("ServicioCustodia", Money),
    Column("GastosDiversos", Money),
    Column("GastosDiversosIGV", Money),
    Column("GastosDiversosConIGV", Money),
    Column("MontoTotalFacturado", Money),
    Column("MontoDesembolso", Money),
    Column("Ejecutivo", Name),
    Column("Anticipo", String(20)),
    Column("TramoAnticipo", String(50)),
    Index("ix_colocaciones_fecha", "FechaOperacion"),
    Index("ix_colocaciones_codigo", "CodigoLiquidacion"),
    # ``info`` as the datamart tables': the row's name in messages, and the control totals
    # the guard compares when ``toolbox operaciones`` replaces the table (decision 22).
    info={"key": ("IdLiquidacionDet",), "totals": ("NetoConfirmado", "MontoDesembolso"),
          "totals_by": "Moneda"},
)

colocaciones_pagos = Table(
    "colocaciones_pagos",
    source_metadata,
    Column("IdLiquidacionPago", Integer, primary_key=True, autoincrement=False),
    Column("IdLiquidacionDet", Integer, nullable=False),
    Column("FechaPago", Date),
    Column("DiasMora", Integer),
    Column("MontoCobrarPago", Money),
    Column("MontoPago", Money),
    Column("ObservacionPago", LongText),
    Column("InteresPago", Money),
    Column("GastosPago", Money),
    Column("TipoPago", String(50)),
    Column("SaldoDeuda", Money),
    Column("ExcesoPago", Money),
    Column("FacturasMoraGeneradas", ShortText),
    Column("FechaPagoCreacion", DateTime),
    Column("FechaPagoModificacion", DateTime),
    Index("ix_colocaciones_pagos_det", "IdLiquidacionDet"),
    info={"key": ("IdLiquidacionPago",), "totals": ("MontoPago",)},
)

colocaciones_devoluciones = Table(
    "colocaciones_devoluciones",
    source_metadata,
    Column("IdLiquidacionDevolucion", Integer, primary_key=True, autoincrement=False),
    Column("IdLiquidacionDet", Integer, nullable=False),
    Column("FechaDesembolso", Date),
    Column("MontoDevolucion", Money),
    Column("DescuentoDevolucion", Money),
    Column("EstadoDevolucion", Integer),
    Column("ObservacionDevolucion", LongText),
    Index("ix_colocaciones_devoluciones_det", "IdLiquidacionDet"),
    info={"key": ("IdLiquidacionDevolucion",), "totals": ("MontoDevolucion",)},
)

tipo_cambio = Table(
    "tipo_cambio",
    source_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("TipoCambioFecha", String(10), nullable=False, unique=True),  # YYYY-MM-DD
    Column("TipoCambioCompra", Rate, nullable=False),
    Column("TipoCambioVenta", Rate, nullable=False),
)

sector_pagadores = Table(
    "sector_pagadores",
    source_metadata,
    Column("RUCPagador", Ruc, primary_key=True),
    Column("Sector", Name, nullable=False),
    Column("GrupoEco", Name),
)

# One row per sheet row; Hoja is the sheet it came from (PEN first, then USD), Fila its
# order inside the sheet, because the legacy appended off-system rows in sheet order.
operaciones_fuera_sistema = Table(
    "operaciones_fuera_sistema",
    source_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("Hoja", String(3), nullable=False),
    Column("Fila", Integer, nullable=False),
    Column("CodigoLiquidacion", Code),
    Column("NroDocumento", String(50)),
    Column("RazonSocialCliente", Name),
    Column("RUCCliente", Ruc),
    Column("RazonSocialPagador", Name),
    Column("RUCPagador", Ruc),
    Column("TasaNominalMensualPorc", Rate),
    Column("FinanciamientoPorc", Rate),
    Column("FechaOperacion", Date),
    Column("FechaConfirmado", Date),
    Column("DiasEfectivo", Integer),
    Column("Moneda", String(10)),
    Column("NetoConfirmado", Money),
    Column("MontoComisionEstructuracion", Money),
    Column("ComisionEstructuracionIGV", Money),
    Column("ComisionEstructuracionConIGV", Money),
    Column("FondoResguardo", Money),
    Column("MontoCobrar", Money),
    Column("Interes", Money),
    Column("InteresConIGV", Money),
    Column("GastosDiversosSinIGV", Money),
    Column("GastosDiversosIGV", Money),
    Column("GastosDiversosConIGV", Money),
    Column("MontoTotalFacturado", Money),
    Column("FacturasGeneradas", ShortText),
    Column("MontoDesembolso", Money),
    Column("FechaPago", Date),
    Column("Estado", ShortText),
    Column("DiasMora", Integer),
    Column("InteresPago", Money),
    Column("GastosPago", Money),
    Column("MontoCobrarPago", Money),
    Column("MontoPago", Money),
    Column("ExcesoPago", Money),
    Column("FechaDesembolso", Date),
    Column("Ejecutivo", Name),
    Column("TipoOperacion", ShortText),
    Column("GastosContrato", Money),
    Column("ServicioCustodia", Money),
    Column("ServicioCobranza", Money),
    Column("GastoVigenciaPoder", Money),
)

referidos = Table(
    "referidos",
    source_metadata,
    Column("CodigoLiquidacion", Code, primary_key=True),
    Column("Referencia", Name, nullable=False),
    Column("Ejecutivo", Name, nullable=False),
    Column("Mes", Date, nullable=False),
)

referidos_alias = Table(
    "referidos_alias",
    source_metadata,
    Column("Alias", ShortText, primary_key=True),
    Column("Canonico", Name, nullable=False),
)

saldos_caja = Table(
    "saldos_caja",
    source_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("FechaOperacion", Date, nullable=False),
    Column("EvolucionCaja", Money),
    Column("CostoExcesoCaja", Money),
    Column("IngresoNoRecibidoPorExcesoCaja", Money),
    Column("MontoOvernight", Money),
    Column("IngresosOvernightNeto", Money),
    Column("SaldoTotalCaja", Money),
)

cxc_codigos_especiales = Table(
    "cxc_codigos_especiales",
    source_metadata,
    Column("codigo", Code, primary_key=True),
    Column("lista", String(30), primary_key=True),  # MORA_A_MAYO | COBRANZA_ESPECIAL
)
