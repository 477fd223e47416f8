"""The worked example of cxc.md §7, computed by hand: its documents, payments, refund, rates,
sectors and special codes as the legacy webservice sent them (raw), converters to the native
values the source database holds, and the expected rows of the three tables. Shared by the
unit tests of the CXC functions and the tablas-cxc job tests.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from toolbox_cli.compute import cxc_fields

FECHA_CORTE = date(2025, 3, 15)

RATES = [  # given out of order on purpose
    {"TipoCambioFecha": "2025-03-14", "TipoCambioCompra": "3.640", "TipoCambioVenta": "3.660"},
    {"TipoCambioFecha": "2025-03-13", "TipoCambioCompra": "3.630", "TipoCambioVenta": "3.650"},
]

SECTORES = [{"RUCPagador": "20100000001 ", "Sector": " CONSTRUCCION", "GrupoEco": "GRUPO ALFA"}]

CODIGOS = [
    {"codigo": "LIQ2304000013", "lista": "MORA_A_MAYO"},
    {"codigo": "LIQ2312000022", "lista": "MORA_A_MAYO"},
    {"codigo": "LIQ2401000124", "lista": "COBRANZA_ESPECIAL"},
    {"codigo": "LIQ2312000022", "lista": "COBRANZA_ESPECIAL"},
]


def documento(cab: int, det: int, codigo: str, moneda: str, neto: Any, fecha_conf: Any,
              ruc: str, **extra: Any) -> dict[str, Any]:
    """A raw document; the fields the example calls arbitrary get plausible values."""
    row: dict[str, Any] = {
        "IdLiquidacionCab": cab, "IdLiquidacionDet": det, "CodigoLiquidacion": codigo,
        "CodigoSolicitud": f" SOL{cab} ", "RUCCliente": "20600000001",
        "RazonSocialCliente": "CLIENTE SAC", "RUCPagador": ruc,
        "RazonSocialPagador": f"PAGADOR {ruc}", "Moneda": moneda, "DeudaAnterior": None,
        "ObservacionLiquidacion": None, "ObservacionSolicitud": "  ",
        "FlagPagoInteresConfirming": "N", "FechaInteresConfirming": None,
        "TipoOperacion": "FACTORING", "TipoOperacionDetalle": "FACTURA", "Estado": "DESEMBOLSADO",
        "NroDocumento": f"F001-{det}", "TasaNominalMensualPorc": "1.5",
        "FinanciamientoPorc": 90, "FechaConfirmado": fecha_conf, "FechaOperacion": "01/02/2025",
        "DiasEfectivo": 30, "NetoConfirmado": neto, "FondoResguardo": 0,
        "ComisionEstructuracionPorc": 0, "MontoComisionEstructuracion": 0,
        "ComisionEstructuracionIGV": 0, "ComisionEstructuracionConIGV": 0,
        "FacturasGeneradas": None, "MontoCobrar": 0, "Interes": 0, "InteresIGV": 0,
        "InteresConIGV": 0, "GastosContrato": 0, "GastoVigenciaPoder": 0,
        "ServicioCobranza": 0, "ServicioCustodia": 0, "GastosDiversos": 0,
        "GastosDiversosIGV": 0, "GastosDiversosConIGV": 0, "MontoTotalFacturado": 0,
        "MontoDesembolso": 0, "Ejecutivo": "ANA PEREZ",
    }
    row.update(extra)
    return row


def documentos_raw() -> list[dict[str, Any]]:
    return [
        documento(100, 1001, "LIQ2503000010", "PEN", "10,000.00", "10/03/2025", "20100000001"),
        documento(100, 1002, "LIQ2503000010", "USD", 5000, "2025-04-30", "20100000002"),
        documento(101, 1003, "LIQ2401000124", "PEN", 8000, "2024-02-20", "20100000001"),
        documento(102, 1004, "LIQ2304000013", "USD", 2000, "15/03/2025", "20100000002"),
        documento(103, 1005, "LIQ2312000022", "PEN", 3000, "2024-01-31", "20100000001"),
    ]


def pago(pid: int, det: int, fecha: Any, dias_mora: Any, cobrar: Any, monto: Any, tipo: Any,
         saldo: Any, obs: Any = None, interes: Any = 0, creacion: Any = None) -> dict[str, Any]:
    return {
        "IdLiquidacionPago": pid, "IdLiquidacionDet": det, "FechaPago": fecha,
        "DiasMora": dias_mora, "MontoCobrarPago": cobrar, "MontoPago": monto,
        "ObservacionPago": obs, "InteresPago": interes, "GastosPago": 0, "TipoPago": tipo,
        "SaldoDeuda": saldo, "ExcesoPago": 0, "FechaPagoCreacion": creacion,
        "FechaPagoModificacion": None,
    }


def pagos_raw() -> list[dict[str, Any]]:
    return [
        pago(9001, 1001, "2025-03-12", "2", 10000, 4000, " PAGO PARCIAL ", 6000,
             creacion="2025-03-12T10:00:00"),
        pago(9002, 1003, "2024-02-27", None, 8000, 7950, "PAGO TOTAL", 0, obs="ok"),
        pago(9003, 1005, "2024-02-15", 15, 3000, 1000, "PAGO PARCIAL", 2100, interes=100),
    ]


# Variant payments of §7.
PAGO_D2_MINUSCULAS = pago(9005, 1002, "2025-03-10", 0, 5000, 100, "pago parcial", 0)
PAGO_D1_SEGUNDO = pago(9004, 1001, "2025-03-14", 0, 6000, 6000, "PAGO TOTAL", 0)

DEVOLUCION_RAW = {
    "IdLiquidacionDevolucion": 501, "IdLiquidacionDet": 1003, "FechaDesembolso": "05/03/2024",
    "MontoDevolucion": "1150.00", "DescuentoDevolucion": 25, "EstadoDevolucion": None,
    "ObservacionDevolucion": None,
}

DIM_COLUMNS = ("SaldoTotal", "SaldoTotalPen", "TipoPagoReal", "EstadoCuenta", "EstadoReal",
               "Sector", "GrupoEco")
EXPECTED_DIM = {  # IdLiquidacionDet: the §7 table, in DIM_COLUMNS order
    1001: ("6000.00", "6000.00", "PAGO PARCIAL", "VENCIDO", "VENCIDO", "CONSTRUCCION",
           "GRUPO ALFA"),
    1002: ("5000.00", "18300.00", "", "VIGENTE", "VIGENTE", "SIN CLASIFICAR", ""),
    1003: ("50.00", "50.00", "PAGO TOTAL", "VENCIDO", "COBRANZA ESPECIAL", "CONSTRUCCION",
           "GRUPO ALFA"),
    1004: ("2000.00", "7320.00", "MORA A MAYO", "VENCIDO", "VENCIDO", "SIN CLASIFICAR", ""),
    1005: ("2100.00", "2100.00", "MORA A MAYO", "VENCIDO", "COBRANZA ESPECIAL", "CONSTRUCCION",
           "GRUPO ALFA"),
}
SUM_SALDO_TOTAL_PEN = Decimal("33770.00")

PAGOS_FACT_COLUMNS = ("FechaPago", "DiasMora", "MontoPago", "TipoPago", "SaldoDeuda",
                      "ObservacionPago")
EXPECTED_PAGOS_FACT = {
    9001: (date(2025, 3, 12), 2, Decimal("4000.00"), "PAGO PARCIAL", Decimal("6000.00"), ""),
    9002: (date(2024, 2, 27), 0, Decimal("7950.00"), "PAGO TOTAL", Decimal("0.00"), "ok"),
    9003: (date(2024, 2, 15), 15, Decimal("1000.00"), "PAGO PARCIAL", Decimal("2100.00"), ""),
}
DEV_FACT_COLUMNS = ("IdLiquidacionDevolucion", "IdLiquidacionDet", "FechaDesembolso",
                    "MontoDevolucion", "DescuentoDevolucion", "EstadoDevolucion",
                    "ObservacionDevolucion")
EXPECTED_DEV_FACT = (501, 1003, date(2024, 3, 5), Decimal("1150.00"), Decimal("25.00"), 0, "")


# ---------------------------------------------------------------- native (database) form

def _date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            pass
    raise AssertionError(value)


def _amount(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value).replace(",", ""))


def native_documento(raw: dict[str, Any]) -> dict[str, Any]:
    """The document as the source database holds it (DATE, DECIMAL)."""
    row = dict(raw)
    for name in cxc_fields.DOC_AMOUNT_FIELDS:
        row[name] = _amount(row[name])
    for name in ("FechaConfirmado", "FechaOperacion", "FechaInteresConfirming"):
        row[name] = _date(row[name])
    return row


def native_pago(raw: dict[str, Any]) -> dict[str, Any]:
    row = dict(raw)
    for name in cxc_fields.PAGO_AMOUNT_FIELDS:
        row[name] = _amount(row[name])
    row["FechaPago"] = _date(row["FechaPago"])
    row["DiasMora"] = None if row["DiasMora"] is None else int(row["DiasMora"])
    if row["FechaPagoCreacion"] is not None:
        row["FechaPagoCreacion"] = datetime.fromisoformat(row["FechaPagoCreacion"])
    return row


def native_devolucion(raw: dict[str, Any]) -> dict[str, Any]:
    row = dict(raw)
    row["FechaDesembolso"] = _date(row["FechaDesembolso"])
    row["MontoDevolucion"] = _amount(row["MontoDevolucion"])
    row["DescuentoDevolucion"] = _amount(row["DescuentoDevolucion"])
    return row


def native_rate(raw: dict[str, Any]) -> dict[str, Any]:
    return {"TipoCambioFecha": raw["TipoCambioFecha"],
            "TipoCambioCompra": Decimal(raw["TipoCambioCompra"]),
            "TipoCambioVenta": Decimal(raw["TipoCambioVenta"])}
