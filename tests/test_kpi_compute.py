"""The KPI formulas and normalisation rules against reportes.md §3 and the worked example §7.

The §7 inputs below are the spec's fixture; ``WORKED_EXAMPLE`` holds its published values
(§7.3), adapted to decisions.md 1 (rate on or before the operation date), which changes only
the exchange-rate columns of row C (2024-03-20 now takes the 2024-03-12 rate).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from toolbox_cli.compute.kpi import (
    ACUMULADO_COLUMNS,
    KPI_COLUMNS,
    REPORTE_ACUMULADO,
    REPORTE_KPI,
    FxRate,
    FxTable,
    KpiBuilder,
    KpiConfig,
    ReferralIndex,
    SectorIndex,
    attach_detail,
    canonical_referencia,
    codigo_key,
    collapse_payments,
    collapse_refunds,
    map_executives,
    mes_anio,
    mes_semana,
    normalize_codigo,
    normalize_moneda,
    normalize_nro_documento,
    normalize_ruc_cliente,
    normalize_ruc_pagador,
    normalize_tasa,
    normalize_tipo_operacion,
    normalize_tipo_pago,
    parse_date,
)
from toolbox_cli.errors import InputError

# ---------------------------------------------------------------- §7.1 inputs

FX_ROWS = [
    {"TipoCambioFecha": "2024-03-04", "TipoCambioCompra": 3.700, "TipoCambioVenta": 3.710},
    {"TipoCambioFecha": "2024-03-12", "TipoCambioCompra": 3.750, "TipoCambioVenta": 3.760},
]


def _in_system(det: int, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "IdLiquidacionDet": det, "IdLiquidacionCab": det, "Estado": "DESEMBOLSADO",
        "FacturasGeneradas": "F001-1", "MontoComisionEstructuracion": 0,
        "ComisionEstructuracionIGV": 0, "MontoCobrar": 0, "InteresConIGV": 0,
        "GastosContrato": 0, "GastoVigenciaPoder": 0, "ServicioCobranza": 0,
        "ServicioCustodia": 0, "GastosDiversosIGV": 0, "MontoTotalFacturado": 0,
        "DeudaAnterior": 0, "FinanciamientoPorc": 90,
    }
    row.update(values)
    return row


ROW_A = _in_system(
    1, CodigoLiquidacion="LIQ2403000101", NroDocumento="E001- 123",
    RUCCliente="20111111111 ", RazonSocialCliente="CLIENTE UNO SAC",
    RUCPagador="2022222 2222", RazonSocialPagador="PAGADOR DOS SA", Moneda="PEN",
    TipoOperacion="FACTORING", Ejecutivo="Perez, Ana", FechaOperacion="04/03/2024",
    NetoConfirmado=10000, FondoResguardo=1000, MontoDesembolso=8800, DiasEfectivo=30,
    ComisionEstructuracionConIGV=118, Interes=150, GastosDiversosConIGV=59,
    TasaNominalMensualPorc=1.5,
)
ROW_B = _in_system(
    2, CodigoLiquidacion="LIQ2403000102-001-R", NroDocumento="F002-456",
    RUCCliente="20555555555", RazonSocialCliente="CLIENTE CINCO SAC",
    RUCPagador="20444444444", RazonSocialPagador="PAGADOR CUATRO SA", Moneda="USD",
    TipoOperacion="CONFIRMING", Ejecutivo="Rojas, Carlos", FechaOperacion="12/03/2024",
    NetoConfirmado=5000, FondoResguardo=500, MontoDesembolso=4400, DiasEfectivo=45,
    ComisionEstructuracionConIGV=59, Interes=80, GastosDiversosConIGV=0,
    TasaNominalMensualPorc=0.012,
)
ROW_D = _in_system(
    3, CodigoLiquidacion="LIQ099-2024", NroDocumento="E001-9",
    RUCCliente="20333333333", RazonSocialCliente="CLIENTE TRES SAC",
    RUCPagador="20222222222", RazonSocialPagador="PAGADOR DOS SA", Moneda="PEN",
    TipoOperacion="FACTORING", Ejecutivo="Perez, Ana", FechaOperacion="20/03/2024",
    NetoConfirmado=1, FondoResguardo=0, MontoDesembolso=1, DiasEfectivo=60,
    ComisionEstructuracionConIGV=0, Interes=0, GastosDiversosConIGV=0,
    TasaNominalMensualPorc=1,
)
ROW_C = {  # the off-system PEN sheet row; blanks arrive as ""
    "Hoja": "PEN", "Fila": 1, "CodigoLiquidacion": "LIQ099-2024", "NroDocumento": "E001-9",
    "RUCCliente": 20333333333.0, "RazonSocialCliente": "CLIENTE TRES SAC",
    "RUCPagador": "20222222222", "RazonSocialPagador": "PAGADOR DOS SA", "Moneda": "PEN",
    "TipoOperacion": "Factoring", "Ejecutivo": "PEREZ, ANA",
    "FechaOperacion": "2024-03-20T05:00:00.000Z", "NetoConfirmado": 2000,
    "FondoResguardo": 200, "MontoDesembolso": 1780, "DiasEfectivo": 60,
    "ComisionEstructuracionConIGV": 23.60, "Interes": 40, "GastosDiversosConIGV": 11.80,
    "TasaNominalMensualPorc": 1.5, "MontoPago": 0, "Estado": "", "FacturasGeneradas": "",
    "MontoComisionEstructuracion": 0, "ComisionEstructuracionIGV": 0, "MontoCobrar": 0,
    "InteresConIGV": 0, "GastosContrato": 0, "GastoVigenciaPoder": 0, "ServicioCobranza": 0,
    "ServicioCustodia": 0, "GastosDiversosIGV": 0, "MontoTotalFacturado": 0,
    "FinanciamientoPorc": 0, "DeudaAnterior": 0,
}
REFERIDOS = [{"CodigoLiquidacion": "LIQ2403000101", "Referencia": "leo",
              "Ejecutivo": "Perez, Ana", "Mes": "01/03/2024"}]
ALIASES = {"LEO": "Leonardo, Quispe", "CHARO": "Rosario, Vega"}
SECTORES = [{"RUCPagador": "20222222222", "Sector": "Comercio", "GrupoEco": ""}]

# §7.3 published values (6 decimals); C's FX columns per decisions 1.
WORKED_EXAMPLE = {
    "A": {
        "CodigoLiquidacion": "LIQ2403000101", "NroDocumento": "E001-123",
        "RUCPagador": "20222222222", "RUCCliente": "20111111111",
        "TasaNominalMensualPorc": 0.015, "TipoOperacion": "Factoring",
        "Referencia": "Leonardo, Quispe", "Sector": "Comercio", "GrupoEco": "PAGADOR DOS SA",
        "Ejecutivo": "Perez, Ana", "FueraSistema": "no", "MesSemana": "Semana 2",
        "TipoCambioFecha": datetime(2024, 3, 4), "TipoCambioCompra": 3.70,
        "TipoCambioVenta": 3.71,
        "ColocacionSoles": 10000.0, "MontoDesembolsoSoles": 8800.0, "MontoPagoSoles": 0.0,
        "Ingresos": 300.0, "IngresosSoles": 300.0, "CostosFondo": 95.283280,
        "CostosFondoSoles": 95.283280, "TotalIngresos": 250.0, "TotalIngresosSoles": 250.0,
        "Utilidad": 154.716720, "MontoNegociado": 9000.0, "MontoNegociadoSoles": 9000.0,
    },
    "B": {
        "CodigoLiquidacion": "LIQ2403000102-001", "NroDocumento": "F002-456",
        "RUCPagador": "20444444444", "TasaNominalMensualPorc": 0.012,
        "TipoOperacion": "Confirming", "Referencia": "Rojas, Carlos", "Sector": None,
        "GrupoEco": "PAGADOR CUATRO SA", "Ejecutivo": "Rojas, Carlos", "FueraSistema": "no",
        "MesSemana": "Semana 3", "TipoCambioFecha": datetime(2024, 3, 12),
        "TipoCambioCompra": 3.75, "TipoCambioVenta": 3.76,
        "ColocacionSoles": 18800.0, "MontoDesembolsoSoles": 16544.0, "MontoPagoSoles": 0.0,
        "Ingresos": 130.0, "IngresosSoles": 488.8, "CostosFondo": 61.908417,
        "CostosFondoSoles": 232.775647, "TotalIngresos": 130.0, "TotalIngresosSoles": 488.8,
        "Utilidad": 256.024353, "MontoNegociado": 4500.0, "MontoNegociadoSoles": 16920.0,
    },
    "C": {
        "CodigoLiquidacion": "LIQ099-2024", "NroDocumento": "E001-9",
        "RUCCliente": "20333333333", "TasaNominalMensualPorc": 0.015,
        "TipoOperacion": "Factoring", "Referencia": "Perez, Ana", "Sector": "Comercio",
        "GrupoEco": "PAGADOR DOS SA", "Ejecutivo": "Perez, Ana", "FueraSistema": "si",
        "MesSemana": "Semana 4", "TipoCambioFecha": datetime(2024, 3, 12),
        "TipoCambioCompra": 3.75, "TipoCambioVenta": 3.76,
        "ColocacionSoles": 2000.0, "MontoDesembolsoSoles": 1780.0, "MontoPagoSoles": 0.0,
        "Ingresos": 70.0, "IngresosSoles": 70.0, "CostosFondo": 38.755101,
        "CostosFondoSoles": 38.755101, "TotalIngresos": 60.0, "TotalIngresosSoles": 60.0,
        "Utilidad": 21.244899, "MontoNegociado": 1800.0, "MontoNegociadoSoles": 1800.0,
    },
}
SOLES_COLUMNS = ("ColocacionSoles", "MontoDesembolsoSoles", "MontoPagoSoles", "IngresosSoles",
                 "CostosFondoSoles", "TotalIngresosSoles", "Utilidad", "MontoNegociadoSoles")


def make_builder(reporte: int = REPORTE_KPI, fx_rows=FX_ROWS, in_system=(ROW_A, ROW_B, ROW_D),
                 off_system=(ROW_C,)) -> KpiBuilder:
    return KpiBuilder(
        KpiConfig(reporte=reporte, tasa_fondeo_pen=0.14, tasa_fondeo_usd=0.12),
        fx=FxTable.from_rows(fx_rows),
        sectors=SectorIndex.build(SECTORES),
        referrals=ReferralIndex.build(REFERIDOS, ALIASES),
        executives=map_executives([r["Ejecutivo"] for r in off_system],
                                  [r["Ejecutivo"] for r in in_system]),
        off_system_codes=[r["CodigoLiquidacion"] for r in off_system],
    )


def run_example(builder: KpiBuilder, in_system=(ROW_A, ROW_B, ROW_D), off_system=(ROW_C,)):
    rows = [builder.in_system_row(attach_detail(r)) for r in in_system]
    rows += [builder.off_system_row(r) for r in off_system]
    return [r for r in rows if r is not None]


def assert_row_matches(row: dict, expected: dict) -> None:
    for column, value in expected.items():
        if isinstance(value, float):
            assert row[column] == pytest.approx(value, abs=5e-7), column
        else:
            assert row[column] == value, column


# ---------------------------------------------------------------- §7 worked example


def test_worked_example_reproduces_every_row_and_the_totals():
    builder = make_builder()
    rows = run_example(builder)

    assert len(rows) == 3  # D is superseded by the off-system row C
    by_code = {r["CodigoLiquidacion"]: r for r in rows}
    assert list(by_code) == ["LIQ2403000101", "LIQ2403000102-001", "LIQ099-2024"]
    for label, row in zip("ABC", rows, strict=True):
        assert_row_matches(row, WORKED_EXAMPLE[label])
        assert row["Mes"] == "2024-03" and row["Año"] == "2024" and row["MesAño"] == "marzo-2024"
        assert set(row) == set(KPI_COLUMNS)
    assert round(sum(r["ColocacionSoles"] for r in rows), 6) == 30800.0
    assert round(sum(r["Utilidad"] for r in rows), 6) == pytest.approx(431.985972, abs=1e-6)
    assert rows[0]["FechaOperacion"] == datetime(2024, 3, 4)
    assert rows[2]["FechaOperacion"] == datetime(2024, 3, 20)
    assert builder.stats.superseded == 1
    assert builder.stats.usd_without_rate.count == 0


def test_worked_example_without_a_rate_on_the_usd_day_keeps_the_earlier_rate():
    # §7.3 variant: 2024-03-12 has no FX row. Legacy stored 0; decisions 1 takes 2024-03-04.
    builder = make_builder(fx_rows=FX_ROWS[:1])
    b = run_example(builder)[1]
    assert b["TipoCambioFecha"] == datetime(2024, 3, 4)
    assert b["TipoCambioVenta"] == 3.71
    assert b["ColocacionSoles"] == pytest.approx(5000 * 3.71)
    assert b["Utilidad"] == pytest.approx(130 * 3.71 - 61.908417 * 3.71, abs=5e-6)
    # The currency-side values never depend on the rate.
    assert b["Ingresos"] == pytest.approx(130.0)
    assert b["CostosFondo"] == pytest.approx(61.908417, abs=5e-7)
    assert b["TotalIngresos"] == pytest.approx(130.0)


def test_usd_row_before_any_rate_has_null_soles_and_is_warned():
    early = dict(ROW_B, IdLiquidacionDet=9, FechaOperacion="01/03/2024")
    builder = make_builder()
    row = builder.in_system_row(attach_detail(early))
    for column in SOLES_COLUMNS:
        assert row[column] is None, column
    assert row["TipoCambioFecha"] is None
    assert row["TipoCambioVenta"] is None and row["TipoCambioCompra"] is None
    assert row["Ingresos"] == pytest.approx(130.0)
    assert row["CostosFondo"] == pytest.approx(61.908417, abs=5e-7)
    assert builder.stats.usd_without_rate.count == 1
    warnings = builder.warnings()
    assert any("1 USD row(s) have no exchange rate" in w and "IdLiquidacionDet 9" in w
               for w in warnings)


def test_pen_row_before_any_rate_keeps_its_soles_amounts():
    early = dict(ROW_A, FechaOperacion="01/03/2024")
    row = make_builder().in_system_row(attach_detail(early))
    assert row["ColocacionSoles"] == 10000.0
    assert row["TipoCambioFecha"] is None
    assert make_builder().stats.usd_without_rate.count == 0


def test_weekend_date_takes_fridays_rate():
    fx = FxTable.from_rows([
        {"TipoCambioFecha": "2024-03-08", "TipoCambioCompra": 3.70, "TipoCambioVenta": 3.72},
        {"TipoCambioFecha": "2024-03-11", "TipoCambioCompra": 3.71, "TipoCambioVenta": 3.73},
    ])
    assert fx.on_or_before(date(2024, 3, 9)) == FxRate(date(2024, 3, 8), 3.70, 3.72)  # Saturday
    assert fx.on_or_before(date(2024, 3, 10)).fecha == date(2024, 3, 8)  # Sunday
    assert fx.on_or_before(date(2024, 3, 11)).fecha == date(2024, 3, 11)
    assert fx.on_or_before(date(2024, 3, 7)) is None
    saturday = dict(ROW_B, FechaOperacion=date(2024, 3, 9))
    builder = make_builder(fx_rows=[
        {"TipoCambioFecha": "2024-03-08", "TipoCambioCompra": 3.70, "TipoCambioVenta": 3.72},
    ])
    row = builder.in_system_row(attach_detail(saturday))
    assert row["TipoCambioFecha"] == datetime(2024, 3, 8)
    assert row["ColocacionSoles"] == pytest.approx(5000 * 3.72)


def test_unreadable_fx_row_is_an_input_error():
    with pytest.raises(InputError, match="tipo_cambio"):
        FxTable.from_rows([{"TipoCambioFecha": "12/03", "TipoCambioCompra": 3.7,
                            "TipoCambioVenta": 3.7}])


def test_funding_rates_come_from_the_configuration():
    builder = KpiBuilder(
        KpiConfig(reporte=REPORTE_KPI, tasa_fondeo_pen=0.20, tasa_fondeo_usd=0.12),
        fx=FxTable.from_rows(FX_ROWS), sectors=SectorIndex.build([]),
        referrals=ReferralIndex.build([], {}), executives={}, off_system_codes=[],
    )
    row = builder.in_system_row(attach_detail(ROW_A))
    assert row["CostosFondo"] == pytest.approx((1.20 ** (30 / 365) - 1) * 8800)


# ---------------------------------------------------------------- §3.2 normalisation


@pytest.mark.parametrize(("raw", "expected"), [
    ("LIQ2403000101", "LIQ2403000101"),
    ("LIQ002-2021", "LIQ002-2021"),
    ("LIQ2403000102-001-R", "LIQ2403000102-001"),
    (" LIQ5-2020 ", "LIQ5-2020"),
    (None, None),
])
def test_codes_are_trimmed_and_keep_two_parts(raw, expected):
    assert normalize_codigo(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (1.5, 0.015), (0.012, 0.012), (1, 0.01), (0.9, 0.9), (None, 0.0), ("x", 0.0),
    (Decimal("1.500000"), 0.015),
])
def test_rates_in_percent_become_fractions(raw, expected):
    assert normalize_tasa(raw) == pytest.approx(expected)


def test_rucs_and_documents_are_cleaned():
    assert normalize_ruc_pagador("2022222 2222") == "20222222222"
    assert normalize_ruc_pagador("20:222222222 ") == "20222222222"
    assert normalize_ruc_cliente("20111111111 ") == "20111111111"
    assert normalize_ruc_cliente(20123456789.0) == "20123456789"
    assert normalize_nro_documento("E001- 123") == "E001-123"
    assert normalize_nro_documento(" F 1\t2 ") == "F12"


def test_text_matching_is_case_insensitive_with_canonical_outputs():
    assert normalize_tipo_operacion("FACTORING") == "Factoring"
    assert normalize_tipo_operacion(" confirming ") == "Confirming"
    assert normalize_tipo_operacion("capital de TRABAJO") == "Capital de Trabajo"
    assert normalize_tipo_operacion("Descuento") == "Descuento"
    assert normalize_moneda(" usd ") == "USD"
    assert normalize_moneda("US$") == "USD"
    assert normalize_moneda("pen") == "PEN"
    assert normalize_moneda("EUR") is None
    assert normalize_tipo_pago(" pago parcial ") == "PAGO PARCIAL"
    assert normalize_tipo_pago("PAGO TOTAL") == "PAGO TOTAL"


def test_unknown_currency_fails_with_the_row_identity():
    bad = dict(ROW_A, Moneda="EUR")
    with pytest.raises(InputError, match=r"LIQ2403000101 / E001- 123 .*IdLiquidacionDet 1.*EUR"):
        make_builder().in_system_row(attach_detail(bad))


def test_dates_parse_with_explicit_formats():
    assert parse_date("04/03/2024") == date(2024, 3, 4)  # day first, never month first
    assert parse_date("20/03/2024") == date(2024, 3, 20)
    assert parse_date("2024-03-20T05:00:00.000Z") == date(2024, 3, 20)  # date as written
    assert parse_date(datetime(2024, 3, 5, 23, 0)) == date(2024, 3, 5)
    assert parse_date("No Aplica") is None and parse_date("-") is None
    with pytest.raises(ValueError):
        parse_date("March 4")


def test_mes_anio_uses_spanish_month_names():
    assert mes_anio(date(2024, 3, 4)) == "marzo-2024"
    assert mes_anio(date(2023, 9, 1)) == "septiembre-2023"
    assert mes_anio(date(2024, 12, 31)) == "diciembre-2024"


# ---------------------------------------------------------------- §3.5.6 MesSemana


@pytest.mark.parametrize(("day", "week"), [
    (1, 1), (3, 1), (4, 2), (10, 2), (11, 3), (12, 3), (17, 3), (18, 4), (20, 4), (24, 4),
    (25, 5), (31, 5),
])
def test_mes_semana_march_2024_starts_on_friday(day, week):
    assert mes_semana(date(2024, 3, day)) == f"Semana {week}"


def test_mes_semana_reaches_six_and_handles_monday_starts():
    assert mes_semana(date(2024, 9, 30)) == "Semana 6"  # Sept 2024 starts on a Sunday
    assert mes_semana(date(2024, 9, 29)) == "Semana 5"
    assert mes_semana(date(2024, 4, 7)) == "Semana 1"  # April 2024 starts on a Monday
    assert mes_semana(date(2024, 4, 8)) == "Semana 2"


# ---------------------------------------------------------------- §3.3 referrals


def test_referral_alias_is_trimmed_and_case_insensitive():
    assert canonical_referencia(" leo ", ALIASES).referencia == "Leonardo, Quispe"
    assert canonical_referencia("Charo", ALIASES).how == "alias"


def test_referral_fuzzy_match_needs_ratio_60():
    close = canonical_referencia("leonardo quispe", ALIASES)  # ratio ≈ 97
    assert close.referencia == "Leonardo, Quispe" and close.how == "fuzzy"
    assert close.score >= 60
    far = canonical_referencia("Maria", ALIASES)
    assert far.referencia == "Maria" and far.how == "as-is" and far.score < 60


def test_referrals_join_on_codes_and_fall_back_to_the_executive():
    index = ReferralIndex.build(
        [{"CodigoLiquidacion": " liq2403000101 ", "Referencia": "charo"}], ALIASES
    )
    assert index.lookup("LIQ2403000101").referencia == "Rosario, Vega"
    assert index.lookup("LIQ2403000102") is None
    builder = KpiBuilder(
        KpiConfig(reporte=REPORTE_KPI), fx=FxTable.from_rows(FX_ROWS),
        sectors=SectorIndex.build([]), referrals=index, executives={}, off_system_codes=[],
    )
    assert builder.in_system_row(attach_detail(ROW_A))["Referencia"] == "Rosario, Vega"
    assert builder.in_system_row(attach_detail(ROW_B))["Referencia"] == "Rojas, Carlos"


# ---------------------------------------------------------------- §3.1 executives


def test_executive_partial_ratio_75_maps_to_the_in_system_spelling():
    in_system = ["Perez, Ana", "Rojas, Carlos", "PEREZ, ANA"]
    mapped = map_executives(["PEREZ, ANA", "ana", "Carlos R.", "Zapata, Luis"], in_system)
    # Exact lower-cased match: the spelling of the first in-system row with that name.
    assert mapped["PEREZ, ANA"].mapped == "Perez, Ana"
    assert mapped["ana"].mapped == "Perez, Ana"  # contained → partial_ratio 100
    assert mapped["Zapata, Luis"].mapped == "Zapata, Luis"  # below 75: kept as written
    assert mapped["Zapata, Luis"].score < 75
    assert mapped["Carlos R."].score < 75 or mapped["Carlos R."].mapped == "Rojas, Carlos"


def test_executive_mapping_without_in_system_names_keeps_the_original():
    assert map_executives(["PEREZ, ANA"], [])["PEREZ, ANA"].mapped == "PEREZ, ANA"


# ---------------------------------------------------------------- decisions 5 dedup


def test_dedup_compares_normalised_codes():
    assert codigo_key(" LIQ5-2020 ") == codigo_key("LIQ5-2020-001") == codigo_key("liq5-2020")
    off = dict(ROW_C, CodigoLiquidacion="LIQ5-2020")
    builder = make_builder(off_system=(off,))
    for raw in (" LIQ5-2020 ", "LIQ5-2020-001", "liq5-2020"):
        assert builder.in_system_row(attach_detail(dict(ROW_A, CodigoLiquidacion=raw))) is None
    assert builder.in_system_row(attach_detail(dict(ROW_A, CodigoLiquidacion="LIQ5-2021")))
    assert builder.stats.superseded == 3


def test_off_system_rows_without_code_are_dropped_and_supersede_nothing():
    builder = make_builder(off_system=())
    assert builder.off_system_row(dict(ROW_C, CodigoLiquidacion="")) is None
    assert builder.off_system_row(dict(ROW_C, RUCPagador="  ")) is None
    assert builder.stats.off_system_dropped == 2


# ---------------------------------------------------------------- §3.4 sectors


def test_sector_duplicates_keep_the_first_and_are_warned():
    index = SectorIndex.build([
        {"RUCPagador": "20222222222", "Sector": "Comercio", "GrupoEco": "GRUPO A"},
        {"RUCPagador": " 20222222222 ", "Sector": "Minería", "GrupoEco": None},
    ])
    assert index.lookup("20222222222").sector == "Comercio"
    assert index.duplicates == ["20222222222"]
    builder = KpiBuilder(
        KpiConfig(reporte=REPORTE_KPI), fx=FxTable.from_rows(FX_ROWS), sectors=index,
        referrals=ReferralIndex.build([], {}), executives={}, off_system_codes=[],
    )
    row = builder.in_system_row(attach_detail(ROW_A))
    assert (row["Sector"], row["GrupoEco"]) == ("Comercio", "GRUPO A")
    assert any("sector_pagadores lists 1 RUC" in w for w in builder.warnings())


# ---------------------------------------------------------------- decisions 3: payments


PAGOS = [
    {"IdLiquidacionPago": 11, "IdLiquidacionDet": 1, "FechaPago": date(2024, 4, 10),
     "MontoPago": Decimal("6000.00"), "TipoPago": "PAGO TOTAL", "SaldoDeuda": Decimal("0"),
     "ExcesoPago": Decimal("5.00"), "DiasMora": 2},
    {"IdLiquidacionPago": 10, "IdLiquidacionDet": 1, "FechaPago": date(2024, 4, 1),
     "MontoPago": Decimal("4000.00"), "TipoPago": " pago parcial ",
     "SaldoDeuda": Decimal("6000.00"), "ExcesoPago": None, "DiasMora": None},
]
DEVOLUCIONES = [
    {"IdLiquidacionDevolucion": 5, "IdLiquidacionDet": 1, "FechaDesembolso": date(2024, 4, 12),
     "MontoDevolucion": Decimal("3.00"), "EstadoDevolucion": 1, "DescuentoDevolucion": 0},
    {"IdLiquidacionDevolucion": 4, "IdLiquidacionDet": 1, "FechaDesembolso": date(2024, 4, 12),
     "MontoDevolucion": Decimal("2.00"), "EstadoDevolucion": 0, "DescuentoDevolucion": 1},
]


def test_last_payment_gives_the_detail_and_montopago_is_the_sum():
    payment = collapse_payments(PAGOS)
    assert payment["MontoPago"] == 10000.0
    assert payment["TipoPago"] == "PAGO TOTAL" and payment["SaldoDeuda"] == 0
    assert payment["FechaPago"] == date(2024, 4, 10)
    refund = collapse_refunds(DEVOLUCIONES)
    # Same date: the higher id is the later refund.
    assert refund["MontoDevolucion"] == 5.0 and refund["EstadoDevolucion"] == "1"
    assert collapse_payments([]) == {} and collapse_refunds([]) == {}


def test_acumulado_row_has_payment_columns_and_several_payments_are_warned():
    builder = make_builder(reporte=REPORTE_ACUMULADO)
    row = builder.in_system_row(attach_detail(ROW_A, PAGOS, DEVOLUCIONES))
    assert set(row) == set(ACUMULADO_COLUMNS)
    assert row["MontoPago"] == 10000.0 and row["MontoPagoSoles"] == 10000.0
    assert row["TipoPago"] == "PAGO TOTAL" and row["DiasMora"] == 2
    assert row["FechaPago"] == datetime(2024, 4, 10)
    assert row["MontoDevolucion"] == 5.0 and row["GastosDiversosSinIGV"] is None
    assert row["FechaDesembolso"] == datetime(2024, 4, 12)
    warnings = builder.warnings()
    assert any("1 document(s) have several payments" in w for w in warnings)
    kpi_row = make_builder().in_system_row(attach_detail(ROW_A, PAGOS))
    assert "TipoPago" not in kpi_row and kpi_row["MontoPago"] == 10000.0


def test_partial_payment_type_is_canonical_in_acumulado():
    row = make_builder(reporte=REPORTE_ACUMULADO).in_system_row(
        attach_detail(ROW_A, PAGOS[1:]))
    assert row["TipoPago"] == "PAGO PARCIAL" and row["SaldoDeuda"] == 6000.0


# ---------------------------------------------------------------- §3.6 validation


def test_fractional_dias_efectivo_fails_with_the_row_identity():
    with pytest.raises(InputError, match=r"IdLiquidacionDet 1.*DiasEfectivo"):
        make_builder().in_system_row(attach_detail(dict(ROW_A, DiasEfectivo=30.5)))


def test_missing_required_text_fails_with_the_row_identity():
    with pytest.raises(InputError, match=r"fila 1.*Ejecutivo"):
        make_builder().off_system_row(dict(ROW_C, Ejecutivo=None))
    with pytest.raises(InputError, match=r"IdLiquidacionDet 2.*Estado"):
        make_builder().in_system_row(attach_detail(dict(ROW_B, Estado=None)))
    with pytest.raises(InputError, match="FechaOperacion"):
        make_builder().in_system_row(attach_detail(dict(ROW_B, FechaOperacion=None)))
    with pytest.raises(InputError, match="FechaConfirmado"):
        make_builder().in_system_row(attach_detail(dict(ROW_B, FechaConfirmado="2024/13/45")))


def test_null_amounts_become_zero_and_are_counted():
    builder = make_builder()
    row = builder.in_system_row(attach_detail(dict(ROW_A, FondoResguardo=None,
                                                   MontoCobrar="-")))
    assert row["FondoResguardo"] == 0.0 and row["MontoNegociado"] == 10000.0
    assert row["MontoCobrar"] == 0.0
    assert builder.stats.nulls_as_zero == {"FondoResguardo": 1, "MontoCobrar": 1}
    assert any("empty amounts stored as 0" in w for w in builder.warnings())


def test_suspicious_rates_are_flagged():
    builder = make_builder()
    builder.in_system_row(attach_detail(dict(ROW_A, TasaNominalMensualPorc=0.9)))
    assert builder.stats.suspicious_rate.count == 1


def test_fuzzy_executive_mapping_is_reported():
    builder = make_builder()
    run_example(builder)
    assert any("'PEREZ, ANA' → 'Perez, Ana'" in w for w in builder.warnings())


def test_referral_already_canonical_is_not_reported_as_fuzzy():
    same = canonical_referencia("Leonardo, Quispe", ALIASES)
    assert same.referencia == "Leonardo, Quispe" and same.how == "exact"


def test_off_system_rows_have_no_deuda_anterior_and_that_is_not_a_coercion():
    builder = make_builder()
    row = builder.off_system_row({k: v for k, v in ROW_C.items() if k != "DeudaAnterior"})
    assert row["DeudaAnterior"] == 0.0
    assert builder.stats.nulls_as_zero == {}


def test_stats_of_later_rows_merge_into_exact_totals_and_first_examples() -> None:
    from toolbox_cli.compute.kpi import EXAMPLES, KpiStats

    first, later = KpiStats(in_system=3, superseded=1), KpiStats(in_system=4, off_system=2)
    for i in range(EXAMPLES - 1):
        first.usd_without_rate.add(f"a{i}")
    for i in range(3):
        later.usd_without_rate.add(f"b{i}")
    first.nulls_as_zero["Interes"] = 2
    later.nulls_as_zero.update({"Interes": 1, "GastosContrato": 5})
    first.nulls_as_zero_examples[:] = ["x"]
    later.nulls_as_zero_examples[:] = ["x", "y"]
    first.merge(later)
    assert (first.in_system, first.superseded, first.off_system) == (7, 1, 2)
    assert first.usd_without_rate.count == EXAMPLES + 2
    assert first.usd_without_rate.examples == [f"a{i}" for i in range(EXAMPLES - 1)] + ["b0"]
    assert first.nulls_as_zero == {"Interes": 3, "GastosContrato": 5}
    assert first.nulls_as_zero_examples == ["x", "y"]
