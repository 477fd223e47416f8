"""The KPI formulas and normalisation rules against reportes.md §3 and the worked example §7.

The §7 inputs below are the spec's fixture, as the legacy webservice and sheets sent them
(dates as ``dd/mm/YYYY`` text, an off-system RUC as a number, blanks as ``""``); the frames
built from them arrive as text where the values are text, so the pipeline reads them with
the same cell rules a permissive source gets. ``WORKED_EXAMPLE`` holds the published values
(§7.3), adapted to decisions.md 1 (rate on or before the operation date), which changes only
the exchange-rate columns of row C (2024-03-20 now takes the 2024-03-12 rate).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from toolbox_cli.compute import cells, ruc, spellings
from toolbox_cli.compute.kpi import KpiPipeline
from toolbox_cli.compute.kpi_formulas import REPORTE_ACUMULADO, REPORTE_KPI, KpiConfig
from toolbox_cli.compute.kpi_inputs import calendar_columns
from toolbox_cli.compute.kpi_reference import (
    Referrals,
    Sectors,
    canonical_referencia,
    fx_frame,
    map_executives,
)
from toolbox_cli.compute.payments import current_entry
from toolbox_cli.errors import InputError
from toolbox_cli.storage.tables.reportes import ACUMULADO_COLUMNS, KPI_COLUMNS

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




def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a frame: a column holding any text arrives as text (the other values as
    their text), as a permissive source delivers it; Decimals are floats."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    columns = []
    for name in names:
        values = [r.get(name) for r in rows]
        values = [float(v) if isinstance(v, Decimal) else v for v in values]
        kinds = {type(v) for v in values if v is not None}
        if str in kinds or len(kinds) > 1 and not kinds <= {int, float}:
            values = [None if v is None else str(v) if not isinstance(v, str) else v
                      for v in values]
            columns.append(pl.Series(name, values, dtype=pl.String))
        else:
            columns.append(pl.Series(name, values, strict=False))
    return pl.DataFrame(columns)


def pipeline(reporte: int = REPORTE_KPI, fx_rows=FX_ROWS, in_system=(ROW_A, ROW_B, ROW_D),  # type: ignore[no-untyped-def]
             off_system=(ROW_C,), sectores=SECTORES, referidos=REFERIDOS, aliases=ALIASES,
             tasa_pen: float = 0.14) -> KpiPipeline:
    return KpiPipeline(
        KpiConfig(reporte=reporte, columns=KPI_COLUMNS if reporte == REPORTE_KPI
                  else ACUMULADO_COLUMNS, tasa_fondeo_pen=tasa_pen, tasa_fondeo_usd=0.12),
        fx=fx_frame(pl.DataFrame(fx_rows, schema={"TipoCambioFecha": pl.String,
                                                  "TipoCambioCompra": pl.Float64,
                                                  "TipoCambioVenta": pl.Float64})),
        sectors=Sectors.build(pl.DataFrame(sectores, schema={
            "RUCPagador": pl.String, "Sector": pl.String, "GrupoEco": pl.String})),
        referrals=Referrals.build(pl.DataFrame(referidos, schema={
            "CodigoLiquidacion": pl.String, "Referencia": pl.String}), aliases),
        off_system_names=[r["Ejecutivo"] for r in off_system],
        off_system_codes=[r["CodigoLiquidacion"] for r in off_system],
    )


def run_example(kpi: KpiPipeline, in_system=(ROW_A, ROW_B, ROW_D), off_system=(ROW_C,),  # type: ignore[no-untyped-def]
                pagos=None, devoluciones=None) -> list[dict[str, Any]]:
    rows = kpi.in_system(frame(list(in_system)), pagos, devoluciones).to_dicts()
    if off_system:
        rows += kpi.off_system(frame(list(off_system))).to_dicts()
    return rows


def one_row(kpi: KpiPipeline | None = None, **values: Any) -> dict[str, Any]:
    """The output row of ROW_A with ``values`` changed."""
    (row,) = (kpi or pipeline()).in_system(frame([dict(ROW_A, **values)])).to_dicts()
    return row


def assert_row_matches(row: dict, expected: dict) -> None:
    for column, value in expected.items():
        if isinstance(value, float):
            assert row[column] == pytest.approx(value, abs=5e-7), column
        else:
            assert row[column] == value, column


def expr(rule, value: Any) -> Any:  # type: ignore[no-untyped-def]
    """A normalisation expression applied to one value."""
    return pl.select(rule(pl.lit(value, dtype=pl.String))).item()


# ---------------------------------------------------------------- §7 worked example


def test_worked_example_reproduces_every_row_and_the_totals():
    kpi = pipeline()
    rows = run_example(kpi)

    assert len(rows) == 3  # D is superseded by the off-system row C
    assert [r["CodigoLiquidacion"] for r in rows] == [
        "LIQ2403000101", "LIQ2403000102-001", "LIQ099-2024"]
    for label, row in zip("ABC", rows, strict=True):
        assert_row_matches(row, WORKED_EXAMPLE[label])
        assert row["Mes"] == "2024-03" and row["Año"] == "2024" and row["MesAño"] == "marzo-2024"
        assert list(row) == list(KPI_COLUMNS)
    assert round(sum(r["ColocacionSoles"] for r in rows), 6) == 30800.0
    assert round(sum(r["Utilidad"] for r in rows), 6) == pytest.approx(431.985972, abs=1e-6)
    assert rows[0]["FechaOperacion"] == datetime(2024, 3, 4)
    assert rows[2]["FechaOperacion"] == datetime(2024, 3, 20)
    assert kpi.stats.superseded == 1
    assert kpi.stats.usd_without_rate.count == 0


def test_worked_example_without_a_rate_on_the_usd_day_keeps_the_earlier_rate():
    # §7.3 variant: 2024-03-12 has no FX row. Legacy stored 0; decisions 1 takes 2024-03-04.
    b = run_example(pipeline(fx_rows=FX_ROWS[:1]))[1]
    assert b["TipoCambioFecha"] == datetime(2024, 3, 4)
    assert b["TipoCambioVenta"] == 3.71
    assert b["ColocacionSoles"] == pytest.approx(5000 * 3.71)
    assert b["Utilidad"] == pytest.approx(130 * 3.71 - 61.908417 * 3.71, abs=5e-6)
    # The currency-side values never depend on the rate.
    assert b["Ingresos"] == pytest.approx(130.0)
    assert b["CostosFondo"] == pytest.approx(61.908417, abs=5e-7)
    assert b["TotalIngresos"] == pytest.approx(130.0)


def test_usd_row_before_any_rate_has_null_soles_and_is_warned():
    kpi = pipeline()
    (row,) = kpi.in_system(frame([dict(ROW_B, IdLiquidacionDet=9, FechaOperacion="01/03/2024")])
                           ).to_dicts()
    for column in SOLES_COLUMNS:
        assert row[column] is None, column
    assert row["TipoCambioFecha"] is None
    assert row["TipoCambioVenta"] is None and row["TipoCambioCompra"] is None
    assert row["Ingresos"] == pytest.approx(130.0)
    assert row["CostosFondo"] == pytest.approx(61.908417, abs=5e-7)
    assert kpi.stats.usd_without_rate.count == 1
    assert any("1 USD row has no exchange rate" in w and "IdLiquidacionDet 9" in w
               for w in kpi.warnings())


def test_pen_row_before_any_rate_keeps_its_soles_amounts():
    kpi = pipeline()
    row = one_row(kpi, FechaOperacion="01/03/2024")
    assert row["ColocacionSoles"] == 10000.0
    assert row["TipoCambioFecha"] is None
    assert kpi.stats.usd_without_rate.count == 0


def test_weekend_date_takes_fridays_rate():
    rates = [{"TipoCambioFecha": "2024-03-08", "TipoCambioCompra": 3.70, "TipoCambioVenta": 3.72},
             {"TipoCambioFecha": "2024-03-11", "TipoCambioCompra": 3.71, "TipoCambioVenta": 3.73}]
    kpi = pipeline(fx_rows=rates)
    days = [date(2024, 3, 9), date(2024, 3, 10), date(2024, 3, 11), date(2024, 3, 7)]
    rows = kpi.in_system(pl.DataFrame([dict(ROW_B, IdLiquidacionDet=i, FechaOperacion=day)
                                       for i, day in enumerate(days)])).to_dicts()
    assert [r["TipoCambioFecha"] for r in rows] == [  # Saturday, Sunday, Monday, before any
        datetime(2024, 3, 8), datetime(2024, 3, 8), datetime(2024, 3, 11), None]
    assert rows[0]["ColocacionSoles"] == pytest.approx(5000 * 3.72)


def test_unreadable_fx_row_is_an_input_error():
    with pytest.raises(InputError, match="tipo_cambio"):
        fx_frame(pl.DataFrame({"TipoCambioFecha": ["12/03"], "TipoCambioCompra": [3.7],
                               "TipoCambioVenta": [3.7]}))


def test_funding_rates_come_from_the_configuration():
    row = one_row(pipeline(tasa_pen=0.20))
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
    assert expr(spellings.codigo, raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (1.5, 0.015), (0.012, 0.012), (1, 0.01), (0.9, 0.9), (None, 0.0), ("x", 0.0),
    (Decimal("1.500000"), 0.015),
])
def test_rates_in_percent_become_fractions(raw, expected):
    assert one_row(TasaNominalMensualPorc=raw)["TasaNominalMensualPorc"] == pytest.approx(expected)


def test_rucs_and_documents_are_cleaned():
    assert expr(ruc.ruc_key, "2022222 2222") == "20222222222"
    assert expr(ruc.ruc_key, "20:222222222 ") == "20222222222"
    assert expr(spellings.nro_documento, "E001- 123") == "E001-123"
    assert expr(spellings.nro_documento, " F 1\t2 ") == "F12"
    assert one_row(RUCCliente="20111111111 ")["RUCCliente"] == "20111111111"
    assert one_row(RUCCliente=20123456789.0)["RUCCliente"] == "20123456789"


def test_text_matching_is_case_insensitive_with_canonical_outputs():
    assert expr(spellings.tipo_operacion, "FACTORING") == "Factoring"
    assert expr(spellings.tipo_operacion, " confirming ") == "Confirming"
    assert expr(spellings.tipo_operacion, "capital de TRABAJO") == "Capital de Trabajo"
    assert expr(spellings.tipo_operacion, "Descuento") == "Descuento"
    assert expr(spellings.moneda, " usd ") == "USD"
    assert expr(spellings.moneda, "US$") == "USD"
    assert expr(spellings.moneda, "pen") == "PEN"
    assert expr(spellings.moneda, "EUR") is None
    assert expr(spellings.tipo_pago, " pago parcial ") == "PAGO PARCIAL"
    assert expr(spellings.tipo_pago, "PAGO TOTAL") == "PAGO TOTAL"
    assert spellings.moneda_code(" usd ") == "USD"
    assert expr(spellings.tipo_pago, " Pago Total ") == "PAGO TOTAL"


def test_unknown_currency_fails_with_the_row_identity():
    with pytest.raises(InputError, match=r"LIQ2403000101 / E001- 123 .*IdLiquidacionDet 1.*EUR"):
        one_row(Moneda="EUR")


def test_dates_parse_with_explicit_formats():
    assert cells.sheet_date("04/03/2024") == date(2024, 3, 4)  # day first, never month first
    assert cells.sheet_date("20/03/2024") == date(2024, 3, 20)
    assert cells.sheet_date("2024-03-20T05:00:00.000Z") == date(2024, 3, 20)  # date as written
    assert cells.sheet_date(datetime(2024, 3, 5, 23, 0)) == date(2024, 3, 5)
    assert cells.sheet_date("No Aplica") is None and cells.sheet_date("-") is None
    with pytest.raises(ValueError):
        cells.sheet_date("March 4")


def test_mes_anio_uses_spanish_month_names():
    labels = pl.DataFrame({"d": [date(2024, 3, 4), date(2023, 9, 1), date(2024, 12, 31)]}
                          ).select(calendar_columns(pl.col("d")))
    assert labels["MesAño"].to_list() == ["marzo-2024", "septiembre-2023", "diciembre-2024"]


# ---------------------------------------------------------------- §3.5.6 MesSemana


def mes_semana(day: date) -> str:
    return pl.DataFrame({"d": [day]}).select(calendar_columns(pl.col("d")))["MesSemana"][0]


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
    kpi = pipeline(referidos=[{"CodigoLiquidacion": " liq2403000101 ", "Referencia": "charo"}],
                   off_system=())
    a, b, _d = run_example(kpi, off_system=())
    assert a["Referencia"] == "Rosario, Vega"
    assert b["Referencia"] == "Rojas, Carlos"


def test_empty_referral_cell_is_an_input_error():
    with pytest.raises(InputError, match="referidos"):
        pipeline(referidos=[{"CodigoLiquidacion": "LIQ1", "Referencia": " "}])


# ---------------------------------------------------------------- §3.1 executives


def test_executive_partial_ratio_75_maps_to_the_in_system_spelling():
    in_system = ["Perez, Ana", "Rojas, Carlos", "PEREZ, ANA"]
    mapped = map_executives(["PEREZ, ANA", "ana", "Carlos R.", "Zapata, Luis"], in_system)
    # Exact lower-cased match: the spelling of the first in-system row with that name.
    assert mapped["PEREZ, ANA"].mapped == "Perez, Ana"
    assert mapped["ana"].mapped == "Perez, Ana"  # contained → partial_ratio 100
    assert mapped["Zapata, Luis"].mapped == "Zapata, Luis"  # below 75: kept as written
    assert mapped["Zapata, Luis"].score < 75
    # RapidFuzz partial_ratio("carlos r.", "rojas, carlos") is 80 (the spec's scorer): ≥ 75.
    assert (mapped["Carlos R."].mapped, mapped["Carlos R."].score) == ("Rojas, Carlos", 80.0)


def test_executive_mapping_without_in_system_names_keeps_the_original():
    assert map_executives(["PEREZ, ANA"], [])["PEREZ, ANA"].mapped == "PEREZ, ANA"


# ---------------------------------------------------------------- decisions 5 dedup


def test_dedup_compares_normalised_codes():
    off = dict(ROW_C, CodigoLiquidacion="LIQ5-2020")
    kpi = pipeline(off_system=(off,))
    raws = (" LIQ5-2020 ", "LIQ5-2020-001", "liq5-2020", "LIQ5-2021")
    rows = kpi.in_system(frame([dict(ROW_A, IdLiquidacionDet=i, CodigoLiquidacion=raw)
                                for i, raw in enumerate(raws)])).to_dicts()
    assert [r["CodigoLiquidacion"] for r in rows] == ["LIQ5-2021"]
    assert kpi.stats.superseded == 3


def test_off_system_rows_without_code_are_dropped_and_supersede_nothing():
    kpi = pipeline(off_system=())
    rows = kpi.off_system(frame([dict(ROW_C, CodigoLiquidacion=""),
                                 dict(ROW_C, Fila=2, RUCPagador="  ")]))
    assert rows.height == 0
    assert kpi.stats.off_system_dropped == 2


# ---------------------------------------------------------------- §3.4 sectors


def test_sector_duplicates_keep_the_first_and_are_warned():
    kpi = pipeline(sectores=[
        {"RUCPagador": "20222222222", "Sector": "Comercio", "GrupoEco": "GRUPO A"},
        {"RUCPagador": " 20222222222 ", "Sector": "Minería", "GrupoEco": None},
    ], off_system=())
    assert kpi.sectors.duplicates == ["20222222222"]
    row = one_row(kpi)
    assert (row["Sector"], row["GrupoEco"]) == ("Comercio", "GRUPO A")
    assert any("sector_pagadores lists 1 RUC" in w for w in kpi.warnings())


def test_a_sector_row_without_sector_is_an_input_error():
    with pytest.raises(InputError, match="20222222222 has no SECTOR"):
        pipeline(sectores=[{"RUCPagador": "20222222222", "Sector": " ", "GrupoEco": None}])


# ---------------------------------------------------------------- decisions 3: payments


PAGOS = [
    {"IdLiquidacionPago": 11, "IdLiquidacionDet": 1, "FechaPago": date(2024, 4, 10),
     "MontoPago": 6000.00, "TipoPago": "PAGO TOTAL", "SaldoDeuda": 0.0,
     "ExcesoPago": 5.00, "DiasMora": 2},
    {"IdLiquidacionPago": 10, "IdLiquidacionDet": 1, "FechaPago": date(2024, 4, 1),
     "MontoPago": 4000.00, "TipoPago": " pago parcial ",
     "SaldoDeuda": 6000.00, "ExcesoPago": None, "DiasMora": None},
]
DEVOLUCIONES = [
    {"IdLiquidacionDevolucion": 5, "IdLiquidacionDet": 1, "FechaDesembolso": date(2024, 4, 12),
     "MontoDevolucion": 3.00, "EstadoDevolucion": 1, "DescuentoDevolucion": 0.0},
    {"IdLiquidacionDevolucion": 4, "IdLiquidacionDet": 1, "FechaDesembolso": date(2024, 4, 12),
     "MontoDevolucion": 2.00, "EstadoDevolucion": 0, "DescuentoDevolucion": 1.0},
]


def test_last_payment_gives_the_detail_and_montopago_is_the_sum():
    (payment,) = current_entry(pl.DataFrame(PAGOS), date="FechaPago", id="IdLiquidacionPago",
                               summed=("MontoPago",)).to_dicts()
    assert payment["MontoPago"] == 10000.0
    assert payment["TipoPago"] == "PAGO TOTAL" and payment["SaldoDeuda"] == 0
    assert payment["FechaPago"] == date(2024, 4, 10) and payment["_entries"] == 2
    (refund,) = current_entry(pl.DataFrame(DEVOLUCIONES), date="FechaDesembolso",
                              id="IdLiquidacionDevolucion", summed=("MontoDevolucion",)).to_dicts()
    # Same date: the higher id is the later refund.
    assert refund["MontoDevolucion"] == 5.0 and refund["EstadoDevolucion"] == 1
    undated = [dict(PAGOS[0], FechaPago=None, IdLiquidacionPago=99), PAGOS[1]]
    (current,) = current_entry(pl.DataFrame(undated), date="FechaPago", id="IdLiquidacionPago",
                               summed=("MontoPago",)).to_dicts()
    assert current["IdLiquidacionPago"] == 10  # an undated payment is never the current one


def test_acumulado_row_has_payment_columns_and_several_payments_are_warned():
    kpi = pipeline(reporte=REPORTE_ACUMULADO)
    (row,) = kpi.in_system(frame([ROW_A]), pl.DataFrame(PAGOS), pl.DataFrame(DEVOLUCIONES)
                           ).to_dicts()
    assert list(row) == list(ACUMULADO_COLUMNS)
    assert row["MontoPago"] == 10000.0 and row["MontoPagoSoles"] == 10000.0
    assert row["TipoPago"] == "PAGO TOTAL" and row["DiasMora"] == 2
    assert row["FechaPago"] == datetime(2024, 4, 10)
    assert row["MontoDevolucion"] == 5.0 and row["GastosDiversosSinIGV"] is None
    assert row["EstadoDevolucion"] == "1"
    assert row["FechaDesembolso"] == datetime(2024, 4, 12)
    assert any("1 document has several payments" in w for w in kpi.warnings())
    (kpi_row,) = pipeline().in_system(frame([ROW_A]), pl.DataFrame(PAGOS)).to_dicts()
    assert "TipoPago" not in kpi_row and kpi_row["MontoPago"] == 10000.0


def test_partial_payment_type_is_canonical_in_acumulado():
    (row,) = pipeline(reporte=REPORTE_ACUMULADO).in_system(
        frame([ROW_A]), pl.DataFrame(PAGOS[1:])).to_dicts()
    assert row["TipoPago"] == "PAGO PARCIAL" and row["SaldoDeuda"] == 6000.0


def test_off_system_dias_mora_blank_is_zero_in_acumulado():
    (row,) = pipeline(reporte=REPORTE_ACUMULADO).off_system(
        frame([dict(ROW_C, DiasMora=None)])).to_dicts()
    assert row["DiasMora"] == 0


# ---------------------------------------------------------------- §3.6 validation


def test_fractional_dias_efectivo_fails_with_the_row_identity():
    with pytest.raises(InputError, match=r"IdLiquidacionDet 1.*DiasEfectivo"):
        one_row(DiasEfectivo=30.5)
    with pytest.raises(InputError, match=r"IdLiquidacionDet 1.*DiasEfectivo 'treinta'"):
        one_row(DiasEfectivo="treinta")


def test_missing_required_text_fails_with_the_row_identity():
    with pytest.raises(InputError, match=r"fila 1.*Ejecutivo"):
        pipeline().off_system(frame([dict(ROW_C, Ejecutivo=None)]))
    with pytest.raises(InputError, match=r"IdLiquidacionDet 2.*Estado"):
        pipeline().in_system(frame([dict(ROW_B, Estado=None)]))
    with pytest.raises(InputError, match="FechaOperacion"):
        pipeline().in_system(frame([dict(ROW_B, FechaOperacion=None)]))
    with pytest.raises(InputError, match="FechaConfirmado"):
        pipeline().in_system(frame([dict(ROW_B, FechaConfirmado="2024/13/45")]))


def test_null_amounts_become_zero_and_are_counted():
    kpi = pipeline()
    row = one_row(kpi, FondoResguardo=None, MontoCobrar="-")
    assert row["FondoResguardo"] == 0.0 and row["MontoNegociado"] == 10000.0
    assert row["MontoCobrar"] == 0.0
    assert kpi.stats.nulls_as_zero == {"FondoResguardo": 1, "MontoCobrar": 1}
    assert any("empty amounts stored as 0" in w for w in kpi.warnings())


def test_suspicious_rates_are_flagged():
    kpi = pipeline()
    one_row(kpi, TasaNominalMensualPorc=0.9)
    assert kpi.stats.suspicious_rate.count == 1


def test_a_case_only_executive_match_is_no_warning_a_real_one_is_listed():
    kpi = pipeline()
    run_example(kpi)  # 'PEREZ, ANA' off the system → 'Perez, Ana': the same name
    assert kpi.executives["PEREZ, ANA"].mapped == "Perez, Ana"
    assert not any("PEREZ, ANA" in w for w in kpi.warnings())
    kpi = pipeline(off_system=(dict(ROW_C, Ejecutivo="Perez Ana"),))
    run_example(kpi, off_system=(dict(ROW_C, Ejecutivo="Perez Ana"),))
    assert "1 off-system executive name mapped by similarity to an in-system one " \
           "(each listed in the run's warnings)" in kpi.warnings()
    assert any(w.startswith("off-system executive 'Perez Ana' read as 'Perez, Ana' "
                            "(similarity ") for w in kpi.warning_details())


def test_each_distinct_referral_mapping_is_one_warning_with_its_count():
    from toolbox_cli.compute.kpi_reference import Referral

    kpi = pipeline()
    kpi.referrals.fuzzy.extend([Referral("gustavo paredes", "Gustavo, Paredes", "fuzzy", 97.0)] * 3
                               + [Referral("charo", "Charo", "fuzzy", 100.0)])
    details = kpi.warning_details()
    assert details.count("referral 'gustavo paredes' read as 'Gustavo, Paredes' "
                         "(similarity 97) in 3 operations") == 1
    assert not any("'charo'" in w for w in details)  # case only
    assert "1 referral name mapped by similarity to a canonical one (each listed in the " \
           "run's warnings)" in kpi.warnings()


def test_referral_already_canonical_is_not_reported_as_fuzzy():
    same = canonical_referencia("Leonardo, Quispe", ALIASES)
    assert same.referencia == "Leonardo, Quispe" and same.how == "exact"


def test_off_system_rows_have_no_deuda_anterior_and_that_is_not_a_coercion():
    kpi = pipeline()
    (row,) = kpi.off_system(frame([{k: v for k, v in ROW_C.items() if k != "DeudaAnterior"}])
                            ).to_dicts()
    assert row["DeudaAnterior"] == 0.0
    assert kpi.stats.nulls_as_zero == {}


def test_rows_in_chunks_give_the_same_rows_and_stats_as_one_chunk():
    whole = pipeline()
    together = whole.in_system(frame([ROW_A, ROW_B, ROW_D, dict(ROW_A, IdLiquidacionDet=7,
                                                                 FondoResguardo=None)]))
    chunked = pipeline()
    parts = [chunked.in_system(frame([ROW_A, ROW_B])),
             chunked.in_system(frame([ROW_D, dict(ROW_A, IdLiquidacionDet=7, FondoResguardo=None)]))]
    assert pl.concat(parts).to_dicts() == together.to_dicts()
    assert chunked.stats == whole.stats
    assert chunked.warnings() == whole.warnings()


def test_executives_are_learnt_in_order_of_first_appearance_byte_exact():
    """§3.1 step 5: the in-system spellings the off-system names map onto are the distinct
    ones in id order, case kept (MariaDB's collation would fold them), from every chunk."""
    kpi = pipeline()
    kpi.in_system(frame([ROW_B, ROW_A]))
    kpi.in_system(frame([dict(ROW_A, IdLiquidacionDet=7), dict(ROW_B, IdLiquidacionDet=8,
                                                               Ejecutivo="PEREZ, ANA")]))
    assert list(kpi.in_system_names) == ["Rojas, Carlos", "Perez, Ana", "PEREZ, ANA"]
    # 'PEREZ, ANA' off the system maps onto the first spelling with that lower-case form.
    assert kpi.executives["PEREZ, ANA"].mapped == "Perez, Ana"
