"""Pure CXC functions against the worked example of cxc.md §7 and its variants.

The example's data lives here (raw, as the legacy webservice sent it, plus a converter to
the native values the source database holds) and is imported by ``test_cxc_task.py``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from toolbox_cli.compute import cxc
from toolbox_cli.errors import InputError, TaskFailed

# ================================================================ the worked example (§7)

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
    for name in cxc.DOC_AMOUNT_FIELDS:
        row[name] = _amount(row[name])
    for name in ("FechaConfirmado", "FechaOperacion", "FechaInteresConfirming"):
        row[name] = _date(row[name])
    return row


def native_pago(raw: dict[str, Any]) -> dict[str, Any]:
    row = dict(raw)
    for name in cxc.PAGO_AMOUNT_FIELDS:
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


# ================================================================ helpers

def money(value: Decimal) -> Decimal:
    """What the writer stores: half-up to cents."""
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def inputs(fecha_corte: date = FECHA_CORTE, rates: list[dict[str, Any]] | None = None,
           sectores: list[dict[str, Any]] | None = None) -> cxc.AcumuladoInputs:
    return cxc.AcumuladoInputs(
        fecha_corte=fecha_corte,
        rate=cxc.pick_run_rate(RATES if rates is None else rates, fecha_corte),
        codes=cxc.build_code_lists(CODIGOS),
        sectors=cxc.build_sector_catalogue(SECTORES if sectores is None else sectores),
    )


def dim_by_det(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["IdLiquidacionDet"]: r for r in rows}


def derived(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(money(row[c]) if c.startswith("Saldo") else row[c] for c in DIM_COLUMNS)


def expected(det: int) -> tuple[Any, ...]:
    values = EXPECTED_DIM[det]
    return (Decimal(values[0]), Decimal(values[1])) + values[2:]


@pytest.fixture(params=["raw", "native"])
def source_form(request: pytest.FixtureRequest) -> str:
    """The same example as the legacy's strings and as the database's native values."""
    return request.param


def example(form: str, extra_pagos: list[dict[str, Any]] = ()) -> tuple[list, list]:  # type: ignore[assignment]
    docs, pagos = documentos_raw(), pagos_raw() + list(extra_pagos)
    if form == "native":
        docs = [native_documento(d) for d in docs]
        pagos = [native_pago(p) for p in pagos]
    return docs, pagos


# ================================================================ worked example

def test_run_rate_is_latest_on_or_before_cutoff_whatever_the_row_order() -> None:
    rate = cxc.pick_run_rate(RATES, FECHA_CORTE)
    assert (rate.venta, rate.fecha, rate.age_days(FECHA_CORTE)) == (
        Decimal("3.660"), date(2025, 3, 14), 1)
    assert cxc.pick_run_rate(RATES, date(2025, 3, 13)).venta == Decimal("3.650")


def test_sector_catalogue_is_trimmed() -> None:
    assert cxc.build_sector_catalogue(SECTORES) == {"20100000001": ("CONSTRUCCION", "GRUPO ALFA")}


def test_pagos_fact_rows_match_worked_example(source_form: str) -> None:
    _, pagos = example(source_form)
    rows = {r["IdLiquidacionPago"]: r for r in (cxc.coerce_pago(p) for p in pagos)}
    assert {k: tuple(r[c] for c in PAGOS_FACT_COLUMNS) for k, r in rows.items()} == \
        EXPECTED_PAGOS_FACT
    assert rows[9001]["FechaPagoCreacion"] == datetime(2025, 3, 12, 10, 0, 0)
    assert rows[9002]["FechaPagoCreacion"] is None
    assert rows[9003]["InteresPago"] == Decimal(100)


def test_dev_fact_row_matches_worked_example(source_form: str) -> None:
    raw = DEVOLUCION_RAW if source_form == "raw" else native_devolucion(DEVOLUCION_RAW)
    row = cxc.coerce_devolucion(raw)
    assert tuple(money(row[c]) if isinstance(row[c], Decimal) else row[c]
                 for c in DEV_FACT_COLUMNS) == EXPECTED_DEV_FACT


def test_acumulado_matches_worked_example(source_form: str) -> None:
    docs, pagos = example(source_form)
    rows = dim_by_det(cxc.build_acumulado(docs, pagos, inputs()))
    assert {det: derived(r) for det, r in rows.items()} == {d: expected(d) for d in EXPECTED_DIM}
    assert sum(money(r["SaldoTotalPen"]) for r in rows.values()) == SUM_SALDO_TOTAL_PEN


def test_acumulado_source_columns_are_coerced(source_form: str) -> None:
    docs, pagos = example(source_form)
    rows = dim_by_det(cxc.build_acumulado(docs, pagos, inputs()))
    assert rows[1001]["NetoConfirmado"] == Decimal("10000.00")
    assert {r["DeudaAnterior"] for r in rows.values()} == {Decimal(0)}
    assert rows[1001]["FechaConfirmado"] == date(2025, 3, 10)
    assert rows[1004]["FechaConfirmado"] == date(2025, 3, 15)
    assert rows[1001]["FechaOperacion"] == date(2025, 2, 1)
    assert rows[1001]["CodigoSolicitud"] == "SOL100"  # trimmed
    assert rows[1001]["ObservacionSolicitud"] is None  # blank → NULL
    assert rows[1001]["TasaNominalMensualPorc"] == Decimal("1.5")


def test_refund_changes_nothing_in_the_dimension() -> None:
    # The dimension does not even take refunds as an input (decisions 15); D3 is as in §7.
    docs, pagos = example("raw")
    assert derived(dim_by_det(cxc.build_acumulado(docs, pagos, inputs()))[1003]) == \
        expected(1003)


# ================================================================ variants of §7

def test_no_rate_on_or_before_cutoff_fails_with_what_to_do() -> None:
    with pytest.raises(TaskFailed, match="toolbox tipo-cambio") as info:
        cxc.pick_run_rate([], FECHA_CORTE)
    assert "2025-03-15" in str(info.value)
    with pytest.raises(TaskFailed, match="import rates"):
        cxc.pick_run_rate(RATES, date(2025, 3, 12))  # only later rates exist


def test_cutoff_day_before_due_date_makes_d4_vigente(source_form: str) -> None:
    docs, pagos = example(source_form)
    rows = dim_by_det(cxc.build_acumulado(docs, pagos, inputs(date(2025, 3, 14))))
    assert (rows[1004]["EstadoCuenta"], rows[1004]["EstadoReal"]) == ("VIGENTE", "VIGENTE")
    for det in (1001, 1003, 1005):
        assert derived(rows[det]) == expected(det)


def test_lower_case_partial_type_is_partial_with_canonical_spelling(source_form: str) -> None:
    extra = [PAGO_D2_MINUSCULAS if source_form == "raw" else native_pago(PAGO_D2_MINUSCULAS)]
    docs, pagos = example(source_form, extra)
    d2 = dim_by_det(cxc.build_acumulado(docs, pagos, inputs()))[1002]
    # decisions 10: SaldoTotal = SD = 0.00 (the legacy's case-sensitive 4900.00 is gone)
    assert (money(d2["SaldoTotal"]), money(d2["SaldoTotalPen"]), d2["TipoPagoReal"]) == (
        Decimal("0.00"), Decimal("0.00"), "PAGO PARCIAL")
    assert cxc.coerce_pago(PAGO_D2_MINUSCULAS)["TipoPago"] == "PAGO PARCIAL"


def test_two_payments_give_one_row_with_last_type_and_summed_amount(source_form: str) -> None:
    extra = [PAGO_D1_SEGUNDO if source_form == "raw" else native_pago(PAGO_D1_SEGUNDO)]
    docs, pagos = example(source_form, extra)
    stats = cxc.AcumuladoStats()
    rows = cxc.build_acumulado(docs, pagos, inputs(), stats=stats)
    d1 = [r for r in rows if r["IdLiquidacionDet"] == 1001]
    assert len(d1) == 1 and len(rows) == 5
    assert (d1[0]["TipoPagoReal"], money(d1[0]["SaldoTotal"])) == ("PAGO TOTAL", Decimal("0.00"))
    assert (stats.several_payments, stats.several_payments_examples) == (1, [1001])


def test_current_payment_is_last_by_date_then_id_not_by_input_order() -> None:
    later_first = [
        cxc.coerce_pago(pago(2, 1, "2025-01-05", 0, 0, 300, "PAGO TOTAL", 0)),
        cxc.coerce_pago(pago(9, 1, "2025-01-01", 0, 0, 100, "PAGO PARCIAL", 900)),
        cxc.coerce_pago(pago(1, 1, "2025-01-05", 0, 0, 200, "PAGO PARCIAL", 500)),
    ]
    summary = cxc.summarize_payments(later_first)
    assert (summary.tipo_pago, summary.saldo_deuda, summary.monto_pago, summary.count) == (
        "PAGO TOTAL", Decimal(0), Decimal(600), 3)


def test_sector_catalogue_unavailable_makes_every_payer_sin_clasificar() -> None:
    docs, pagos = example("raw")
    stats = cxc.AcumuladoStats()
    rows = cxc.build_acumulado(docs, pagos, inputs(sectores=[]), stats=stats)
    assert {(r["Sector"], r["GrupoEco"]) for r in rows} == {("SIN CLASIFICAR", "")}
    assert stats.without_sector == 5


def test_payer_without_sector_is_counted_once_per_document() -> None:
    docs, pagos = example("raw")
    stats = cxc.AcumuladoStats()
    cxc.build_acumulado(docs, pagos, inputs(), stats=stats)
    assert (stats.without_sector, stats.without_sector_examples) == (2, ["20100000002"])


# ================================================================ aging (decisions 14)

@pytest.mark.parametrize(("days", "tramo"), [
    (0, "Vigente"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"),
    (90, "61-90"), (91, "91-180"), (180, "91-180"), (181, ">180"),
])
def test_aging_buckets_at_their_edges(days: int, tramo: str) -> None:
    corte = date(2025, 3, 15)
    doc = documento(1, 1, "LIQX", "PEN", 100, corte - timedelta(days=days), "1")
    row = cxc.build_acumulado([doc], [], inputs(corte))[0]
    assert (row["DiasVencido"], row["TramoVencido"]) == (days, tramo)


def test_not_yet_due_or_settled_documents_have_no_days_overdue() -> None:
    corte = date(2025, 3, 15)
    assert cxc.dias_vencido(date(2025, 4, 1), corte, Decimal(100)) == 0
    assert cxc.dias_vencido(date(2024, 1, 1), corte, Decimal(0)) == 0
    assert cxc.dias_vencido(date(2024, 1, 1), corte, Decimal(-5)) == 0  # overpaid
    assert cxc.dias_vencido(date(2025, 3, 14), corte, Decimal("0.01")) == 1


def test_worked_example_aging() -> None:
    docs, pagos = example("raw")
    rows = dim_by_det(cxc.build_acumulado(docs, pagos, inputs()))
    # D1 5 days, D2 not due, D3 389 days, D4 due on the cut-off, D5 409 days
    assert {d: (r["DiasVencido"], r["TramoVencido"]) for d, r in rows.items()} == {
        1001: (5, "1-30"), 1002: (0, "Vigente"), 1003: (389, ">180"),
        1004: (0, "Vigente"), 1005: (409, ">180"),
    }


# ================================================================ derivation rules

def test_settled_overpayment_gives_a_negative_balance() -> None:
    summary = cxc.PaymentSummary("PAGO TOTAL", Decimal(0), Decimal(1200), 1)
    assert cxc.saldo_total(Decimal(1000), summary) == Decimal(-200)


def test_special_codes_match_trimmed_and_case_insensitive() -> None:
    codes = cxc.build_code_lists([{"codigo": " liq003-2022 me ", "lista": "mora_a_mayo"},
                                  {"codigo": "LIQ2302000033", "lista": "COBRANZA_ESPECIAL"}])
    assert cxc.tipo_pago_real("", "LIQ003-2022 ME", codes) == "MORA A MAYO"
    assert cxc.tipo_pago_real("PAGO TOTAL", "LIQ003-2022 ME", codes) == "PAGO TOTAL"
    assert cxc.tipo_pago_real("", "LIQ003-2022", codes) == ""  # the " ME" is part of the code
    assert cxc.estado_real("VENCIDO", " LIQ2302000033", codes) == "COBRANZA ESPECIAL"
    assert cxc.estado_real("VIGENTE", "LIQ2302000033", codes) == "VIGENTE"


def test_unknown_code_list_is_rejected_with_what_to_do() -> None:
    with pytest.raises(InputError, match="MORA_A_MAYO or COBRANZA_ESPECIAL"):
        cxc.build_code_lists([{"codigo": "LIQ1", "lista": "OTRA"}])


def test_currency_is_matched_case_insensitively_and_unknown_ones_rejected() -> None:
    docs, pagos = example("raw")
    docs[1]["Moneda"] = " usd "
    d2 = dim_by_det(cxc.build_acumulado(docs, pagos, inputs()))[1002]
    assert (d2["Moneda"], money(d2["SaldoTotalPen"])) == ("USD", Decimal("18300.00"))
    docs[1]["Moneda"] = "US$"  # the KPI's alias table: one reading of a currency everywhere
    d2 = dim_by_det(cxc.build_acumulado(docs, pagos, inputs()))[1002]
    assert (d2["Moneda"], money(d2["SaldoTotalPen"])) == ("USD", Decimal("18300.00"))
    docs[1]["Moneda"] = "EUR"
    with pytest.raises(InputError, match="IdLiquidacionDet=1002.*Moneda"):
        cxc.build_acumulado(docs, pagos, inputs())


def test_explicit_rate_override() -> None:
    assert cxc.explicit_rate(3.8).venta == Decimal("3.8")
    assert cxc.explicit_rate("3.75").fecha is None
    with pytest.raises(InputError):
        cxc.explicit_rate(0)


# ================================================================ coercion rules (3.1-3.3)

def test_payment_amounts_are_strict() -> None:
    for bad in ("1,000.50", None, "", "abc"):
        raw = pago(7, 1, "2025-01-01", 0, 0, bad, "", 0)
        with pytest.raises(InputError, match="IdLiquidacionPago=7.*MontoPago"):
            cxc.coerce_pago(raw)
    assert cxc.coerce_pago(pago(7, 1, "2025-01-01", 0, 0, " 12.50 ", "", 0))["MontoPago"] == \
        Decimal("12.50")


def test_payment_date_is_iso_only() -> None:
    with pytest.raises(InputError, match="FechaPago"):
        cxc.coerce_pago(pago(7, 1, "12/03/2025", 0, 0, 1, "", 0))
    with pytest.raises(InputError, match="time part"):
        cxc.coerce_pago(pago(7, 1, "2025-03-12T10:00:00", 0, 0, 1, "", 0))
    midnight = cxc.coerce_pago(pago(7, 1, "2025-03-12T00:00:00", 0, 0, 1, "", 0))
    assert midnight["FechaPago"] == date(2025, 3, 12)


def test_lenient_payment_fields() -> None:
    log = cxc.CoercionLog()
    row = cxc.coerce_pago(pago("12.7", 1, "2025-01-01", "abc", 0, 1, "null", 0, obs=" x "), log)
    assert (row["IdLiquidacionPago"], row["DiasMora"], row["TipoPago"], row["ObservacionPago"]) \
        == (12, 0, "", "x")
    assert sorted(log.counts) == ["IdLiquidacionPago truncated to an integer",
                                  "unparsable DiasMora read as 0"]


def test_document_amounts_are_lenient_but_noted() -> None:
    log = cxc.CoercionLog()
    raw = documento(1, 1, "LIQ1", "PEN", "S/ 1 000", "2025-01-01", "1",
                    FondoResguardo="0E-17", Interes=" 1,234.5 ")
    row = cxc.coerce_documento(raw, log)
    assert (row["NetoConfirmado"], row["FondoResguardo"], row["Interes"]) == (
        0, 0, Decimal("1234.5"))
    assert log.counts == {"unparsable NetoConfirmado read as 0": 1}
    assert "colocaciones IdLiquidacionDet=1" in log.messages()[0]


def test_document_dates_are_day_first_and_without_time() -> None:
    row = cxc.coerce_documento(documento(1, 1, "L", "PEN", 1, "03/04/2025", "1",
                                         FechaInteresConfirming="2025/04/05"))
    assert (row["FechaConfirmado"], row["FechaInteresConfirming"]) == (
        date(2025, 4, 3), date(2025, 4, 5))
    assert cxc.coerce_documento(documento(1, 1, "L", "PEN", 1, "03-04-2025", "1"))[
        "FechaConfirmado"] == date(2025, 4, 3)
    for bad in ("2025-04-03T00:00:00", None, "abril"):
        with pytest.raises(InputError, match="FechaConfirmado"):
            cxc.coerce_documento(documento(1, 1, "L", "PEN", 1, bad, "1"))


def test_document_required_fields() -> None:
    with pytest.raises(InputError, match="DiasEfectivo"):
        cxc.coerce_documento(documento(1, 1, "L", "PEN", 1, "2025-01-01", "1",
                                       DiasEfectivo="30.5"))
    assert cxc.coerce_documento(documento(1, 1, "L", "PEN", 1, "2025-01-01", "1",
                                          DiasEfectivo=30.0))["DiasEfectivo"] == 30
    with pytest.raises(InputError, match="RUCPagador must be text"):
        cxc.coerce_documento(documento(1, 1, "L", "PEN", 1, "2025-01-01", 20100000001))
    with pytest.raises(InputError, match="CodigoLiquidacion is missing"):
        cxc.coerce_documento(documento(1, 1, None, "PEN", 1, "2025-01-01", "1"))  # type: ignore[arg-type]
    # decisions 18: the payer RUC keys the sector lookup, so it cannot be blanked
    with pytest.raises(InputError, match=r"IdLiquidacionDet=1.*RUCPagador is missing"):
        cxc.coerce_documento(documento(1, 1, "L", "PEN", 1, "2025-01-01", None))  # type: ignore[arg-type]


def test_null_text_in_a_not_null_column_is_stored_empty_and_noted() -> None:
    log = cxc.CoercionLog()
    row = cxc.coerce_documento(documento(1, 7, "L", "PEN", 1, "2025-01-01", "1",
                                         Ejecutivo=None, CodigoSolicitud=None), log)
    assert (row["Ejecutivo"], row["CodigoSolicitud"], row["FacturasGeneradas"]) == ("", "", None)
    assert log.counts == {"null Ejecutivo stored as ''": 1, "null CodigoSolicitud stored as ''": 1}


def test_payer_ruc_with_colons_and_spaces_is_cleaned_and_finds_its_sector() -> None:
    log = cxc.CoercionLog()
    docs = [documento(1, 1, "L", "PEN", 1, "2025-01-01", " 20:100000001"),
            documento(1, 2, "L", "PEN", 1, "2025-01-01", "2010000 0001 ")]
    rows = cxc.build_acumulado(docs, [], inputs(), log=log)
    assert [(r["RUCPagador"], r["Sector"]) for r in rows] == [("20100000001", "CONSTRUCCION")] * 2
    assert log.counts == {"RUCPagador cleaned of ':' and spaces": 2}
    assert log.messages() == ["2 value(s) coerced: RUCPagador cleaned of ':' and spaces "
                              "(e.g. colocaciones IdLiquidacionDet=1, 2)"]


def test_too_long_text_is_rejected_before_the_database_sees_it() -> None:
    with pytest.raises(InputError, match="CodigoLiquidacion is longer than 20"):
        cxc.coerce_documento(documento(1, 1, "L" * 21, "PEN", 1, "2025-01-01", "1"))


def test_refund_dates_accept_four_formats() -> None:
    for text in ("05/03/2024", "2024-03-05", "05-03-2024", "2024/03/05"):
        row = cxc.coerce_devolucion(dict(DEVOLUCION_RAW, FechaDesembolso=text))
        assert row["FechaDesembolso"] == date(2024, 3, 5)
    assert cxc.coerce_devolucion(dict(DEVOLUCION_RAW, FechaDesembolso="null"))[
        "FechaDesembolso"] is None
    with pytest.raises(InputError, match="IdLiquidacionDevolucion=501.*MontoDevolucion"):
        cxc.coerce_devolucion(dict(DEVOLUCION_RAW, MontoDevolucion=None))
