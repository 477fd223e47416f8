"""The `kpi` and `kpi-acumulado` tasks end to end: source tables → runner → datamart tables.

The §7 worked example is inserted into the source contract with native types and the stored
DECIMAL values are checked (money rounded half-up to 2 decimals, rates to 6). Runs on SQLite;
``-m production`` runs the same tests on MariaDB.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from tests.support.runs import DEMO_TODAY, run_named
from toolbox_cli.storage import sources
from toolbox_cli.storage.tables.contract import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
    operaciones_fuera_sistema,
    referidos,
    referidos_alias,
    sector_pagadores,
    tipo_cambio,
)
from toolbox_cli.storage.tables.reportes import kpi, kpi_acumulado

PARAMS = {"desde": date(2019, 7, 1), "hasta": date(2024, 3, 31),
          "fecha_corte": date(2024, 3, 31), "dry_run": False}

_DEFAULTS = {
    "Estado": "DESEMBOLSADO", "FacturasGeneradas": "F001-1", "DeudaAnterior": 0,
    "MontoComisionEstructuracion": 0, "ComisionEstructuracionIGV": 0, "MontoCobrar": 0,
    "InteresConIGV": 0, "GastosContrato": 0, "GastoVigenciaPoder": 0, "ServicioCobranza": 0,
    "ServicioCustodia": 0, "GastosDiversosIGV": 0, "MontoTotalFacturado": 0,
    "FinanciamientoPorc": Decimal("90"),
}


def _doc(det: int, **values: object) -> dict[str, object]:
    return {"IdLiquidacionDet": det, "IdLiquidacionCab": det, **_DEFAULTS, **values}


DOC_A = _doc(
    1, CodigoLiquidacion="LIQ2403000101", NroDocumento="E001- 123", RUCCliente="20111111111 ",
    RazonSocialCliente="CLIENTE UNO SAC", RUCPagador="2022222 2222",
    RazonSocialPagador="PAGADOR DOS SA", Moneda="PEN", TipoOperacion="FACTORING",
    Ejecutivo="Perez, Ana", FechaOperacion=date(2024, 3, 4), NetoConfirmado=Decimal("10000"),
    FondoResguardo=Decimal("1000"), MontoDesembolso=Decimal("8800"), DiasEfectivo=30,
    ComisionEstructuracionConIGV=Decimal("118"), Interes=Decimal("150"),
    GastosDiversosConIGV=Decimal("59"), TasaNominalMensualPorc=Decimal("1.5"),
)
DOC_B = _doc(
    2, CodigoLiquidacion="LIQ2403000102-001-R", NroDocumento="F002-456",
    RUCCliente="20555555555", RazonSocialCliente="CLIENTE CINCO SAC", RUCPagador="20444444444",
    RazonSocialPagador="PAGADOR CUATRO SA", Moneda="USD", TipoOperacion="CONFIRMING",
    Ejecutivo="Rojas, Carlos", FechaOperacion=date(2024, 3, 12), NetoConfirmado=Decimal("5000"),
    FondoResguardo=Decimal("500"), MontoDesembolso=Decimal("4400"), DiasEfectivo=45,
    ComisionEstructuracionConIGV=Decimal("59"), Interes=Decimal("80"),
    GastosDiversosConIGV=Decimal("0"), TasaNominalMensualPorc=Decimal("0.012"),
)
DOC_D = _doc(
    3, CodigoLiquidacion="LIQ099-2024", NroDocumento="E001-9", RUCCliente="20333333333",
    RazonSocialCliente="CLIENTE TRES SAC", RUCPagador="20222222222",
    RazonSocialPagador="PAGADOR DOS SA", Moneda="PEN", TipoOperacion="FACTORING",
    Ejecutivo="Perez, Ana", FechaOperacion=date(2024, 3, 20), NetoConfirmado=Decimal("1"),
    FondoResguardo=Decimal("0"), MontoDesembolso=Decimal("1"), DiasEfectivo=60,
    ComisionEstructuracionConIGV=0, Interes=0, GastosDiversosConIGV=0,
    TasaNominalMensualPorc=Decimal("1"),
)
OFF_C = {
    "Hoja": "PEN", "Fila": 1, "CodigoLiquidacion": "LIQ099-2024", "NroDocumento": "E001-9",
    "RUCCliente": "20333333333", "RazonSocialCliente": "CLIENTE TRES SAC",
    "RUCPagador": "20222222222", "RazonSocialPagador": "PAGADOR DOS SA", "Moneda": "PEN",
    "TipoOperacion": "Factoring", "Ejecutivo": "PEREZ, ANA", "FechaOperacion": date(2024, 3, 20),
    "NetoConfirmado": Decimal("2000"), "FondoResguardo": Decimal("200"),
    "MontoDesembolso": Decimal("1780"), "DiasEfectivo": 60,
    "ComisionEstructuracionConIGV": Decimal("23.60"), "Interes": Decimal("40"),
    "GastosDiversosConIGV": Decimal("11.80"), "TasaNominalMensualPorc": Decimal("1.5"),
    "MontoPago": 0, "Estado": "", "FacturasGeneradas": "", **{
        k: 0 for k in ("MontoComisionEstructuracion", "ComisionEstructuracionIGV", "MontoCobrar",
                       "InteresConIGV", "GastosContrato", "GastoVigenciaPoder",
                       "ServicioCobranza", "ServicioCustodia", "GastosDiversosIGV",
                       "MontoTotalFacturado", "FinanciamientoPorc")},
}


def seed_worked_example(engine, *, docs=(DOC_A, DOC_B, DOC_D), fx=True) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(insert(colocaciones), [dict(d) for d in docs])
        conn.execute(insert(operaciones_fuera_sistema), [OFF_C])
        if fx:
            conn.execute(insert(tipo_cambio), [
                {"TipoCambioFecha": "2024-03-04", "TipoCambioCompra": Decimal("3.700"),
                 "TipoCambioVenta": Decimal("3.710")},
                {"TipoCambioFecha": "2024-03-12", "TipoCambioCompra": Decimal("3.750"),
                 "TipoCambioVenta": Decimal("3.760")},
            ])
        conn.execute(insert(referidos), [{"CodigoLiquidacion": "LIQ2403000101",
                                          "Referencia": "leo", "Ejecutivo": "Perez, Ana",
                                          "Mes": date(2024, 3, 1)}])
        conn.execute(insert(referidos_alias), [{"Alias": "LEO", "Canonico": "Leonardo, Quispe"}])
        conn.execute(insert(sector_pagadores), [{"RUCPagador": "20222222222",
                                                 "Sector": "Comercio", "GrupoEco": None}])


def stored(engine, table) -> list[dict]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def run(settings, engines, task="kpi", **params):  # type: ignore[no-untyped-def]
    return run_named(task, settings, engines, **{**PARAMS, **params})


# Stored values of §7.3: DECIMAL(18,2) money rounded half-up, DECIMAL(18,6) rates.
STORED = {
    "LIQ2403000101": {
        "NroDocumento": "E001-123", "RUCCliente": "20111111111", "RUCPagador": "20222222222",
        "TipoOperacion": "Factoring", "Referencia": "Leonardo, Quispe", "Sector": "Comercio",
        "GrupoEco": "PAGADOR DOS SA", "FueraSistema": "no", "MesSemana": "Semana 2",
        "Mes": "2024-03", "Año": "2024", "MesAño": "marzo-2024",
        "FechaOperacion": datetime(2024, 3, 4), "TipoCambioFecha": datetime(2024, 3, 4),
        "TasaNominalMensualPorc": Decimal("0.015000"), "TipoCambioVenta": Decimal("3.710000"),
        "ColocacionSoles": Decimal("10000.00"), "MontoDesembolsoSoles": Decimal("8800.00"),
        "Ingresos": Decimal("300.00"), "CostosFondo": Decimal("95.28"),
        "CostosFondoSoles": Decimal("95.28"), "TotalIngresos": Decimal("250.00"),
        "Utilidad": Decimal("154.72"), "MontoNegociado": Decimal("9000.00"),
        "MontoNegociadoSoles": Decimal("9000.00"), "MontoPago": Decimal("0.00"),
        "DiasEfectivo": 30,
    },
    "LIQ2403000102-001": {
        "TipoOperacion": "Confirming", "Referencia": "Rojas, Carlos", "Sector": None,
        "GrupoEco": "PAGADOR CUATRO SA", "FueraSistema": "no", "MesSemana": "Semana 3",
        "TasaNominalMensualPorc": Decimal("0.012000"), "TipoCambioVenta": Decimal("3.760000"),
        "TipoCambioCompra": Decimal("3.750000"), "ColocacionSoles": Decimal("18800.00"),
        "MontoDesembolsoSoles": Decimal("16544.00"), "IngresosSoles": Decimal("488.80"),
        "CostosFondo": Decimal("61.91"), "CostosFondoSoles": Decimal("232.78"),
        "TotalIngresosSoles": Decimal("488.80"), "Utilidad": Decimal("256.02"),
        "MontoNegociadoSoles": Decimal("16920.00"),
    },
    "LIQ099-2024": {
        "Ejecutivo": "Perez, Ana", "Referencia": "Perez, Ana", "FueraSistema": "si",
        "MesSemana": "Semana 4", "TipoCambioFecha": datetime(2024, 3, 12),
        "ColocacionSoles": Decimal("2000.00"), "Ingresos": Decimal("70.00"),
        "CostosFondo": Decimal("38.76"), "TotalIngresos": Decimal("60.00"),
        "Utilidad": Decimal("21.24"), "MontoNegociadoSoles": Decimal("1800.00"),
    },
}


def test_kpi_task_stores_the_worked_example(engines, toolbox_env):
    seed_worked_example(engines.source)
    outcome = run(toolbox_env, engines)

    assert outcome.status == "success", outcome.error_message
    assert outcome.rows == {"kpi": 3}
    rows = stored(engines.datamart, kpi)
    assert [r["CodigoLiquidacion"] for r in rows] == list(STORED)  # in-system, then off-system
    for row in rows:
        for column, value in STORED[row["CodigoLiquidacion"]].items():
            assert row[column] == value, column
    with engines.datamart.connect() as conn:
        total = conn.execute(select(func.sum(kpi.c.ColocacionSoles))).scalar_one()
    assert Decimal(total) == Decimal("30800.00")
    # 'PEREZ, ANA' was taken as 'Perez, Ana': only the letter case differs, no warning.
    assert not any("PEREZ, ANA" in w for w in outcome.warnings)


@pytest.mark.parametrize("chunk_size", [1, 2])
def test_kpi_streams_in_keyset_chunks_with_the_same_result(engines, toolbox_env, chunk_size):
    seed_worked_example(engines.source)
    small = toolbox_env.model_copy(update={"chunk_size": chunk_size})
    outcome = run(small, engines)
    assert outcome.status == "success", outcome.error_message
    assert [r["CodigoLiquidacion"] for r in stored(engines.datamart, kpi)] == list(STORED)


def test_a_missing_payments_column_fails_the_run_in_one_line(engines, toolbox_env):
    seed_worked_example(engines.source)
    assert run(toolbox_env, engines).status == "success"
    before = stored(engines.datamart, kpi)
    with engines.source.begin() as conn:  # a payments column goes away: only chunks read it
        conn.exec_driver_sql("ALTER TABLE colocaciones_pagos RENAME COLUMN MontoPago TO Monto")
    outcome = run(toolbox_env, engines)
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "colocaciones_pagos" in outcome.error_message
    assert "\n" not in outcome.error_message
    assert stored(engines.datamart, kpi) == before


def test_dry_run_computes_but_writes_nothing(engines, toolbox_env):
    seed_worked_example(engines.source)
    outcome = run(toolbox_env, engines, dry_run=True)
    assert outcome.status == "success" and outcome.rows == {"kpi": 3}
    assert stored(engines.datamart, kpi) == []


def test_date_range_filters_in_system_rows_only(engines, toolbox_env):
    seed_worked_example(engines.source)
    outcome = run(toolbox_env, engines, hasta=date(2024, 3, 11))
    assert outcome.status == "success", outcome.error_message
    # A is in range; B is after hasta; the off-system row C ignores the range (legacy §2.4).
    codes = [r["CodigoLiquidacion"] for r in stored(engines.datamart, kpi)]
    assert codes == ["LIQ2403000101", "LIQ099-2024"]


def test_usd_row_without_any_rate_stores_null_soles_and_warns(engines, toolbox_env):
    early = _doc(4, **{k: v for k, v in DOC_B.items() if k not in ("IdLiquidacionDet",
                                                                     "IdLiquidacionCab")})
    early["CodigoLiquidacion"], early["FechaOperacion"] = "LIQ2403000199", date(2024, 3, 1)
    seed_worked_example(engines.source, docs=(DOC_A, DOC_B, DOC_D, early))
    outcome = run(toolbox_env, engines)
    assert outcome.status == "success", outcome.error_message
    row = next(r for r in stored(engines.datamart, kpi)
               if r["CodigoLiquidacion"] == "LIQ2403000199")
    for column in ("ColocacionSoles", "Utilidad", "MontoNegociadoSoles", "TipoCambioVenta"):
        assert row[column] is None, column
    assert row["CostosFondo"] == Decimal("61.91")
    message = next(w for w in outcome.warnings if "no exchange rate on or before" in w)
    assert message.startswith("1 USD row has") and "IdLiquidacionDet 4" in message


def test_bad_source_row_fails_the_run_and_keeps_the_previous_table(engines, toolbox_env):
    seed_worked_example(engines.source)
    assert run(toolbox_env, engines).status == "success"
    with engines.source.begin() as conn:
        conn.execute(update(colocaciones).where(colocaciones.c.IdLiquidacionDet == 2)
                     .values(Moneda="EUR"))
    outcome = run(toolbox_env, engines)
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "IdLiquidacionDet 2" in outcome.error_message and "EUR" in outcome.error_message
    assert len(stored(engines.datamart, kpi)) == 3


PAGOS = [
    {"IdLiquidacionPago": 10, "IdLiquidacionDet": 1, "FechaPago": date(2024, 3, 20),
     "MontoPago": Decimal("4000.00"), "TipoPago": " pago parcial ",
     "SaldoDeuda": Decimal("6000.00"), "DiasMora": 0},
    {"IdLiquidacionPago": 9, "IdLiquidacionDet": 1, "FechaPago": date(2024, 3, 25),
     "MontoPago": Decimal("5000.00"), "TipoPago": "PAGO PARCIAL",
     "SaldoDeuda": Decimal("1000.00"), "DiasMora": 3, "ObservacionPago": "segundo"},
    # After the cut-off of PARAMS: not part of the state on 2024-03-31.
    {"IdLiquidacionPago": 11, "IdLiquidacionDet": 1, "FechaPago": date(2024, 4, 5),
     "MontoPago": Decimal("1000.00"), "TipoPago": "PAGO TOTAL", "SaldoDeuda": Decimal("0")},
    {"IdLiquidacionPago": 12, "IdLiquidacionDet": 2, "FechaPago": date(2024, 3, 28),
     "MontoPago": Decimal("100.00"), "TipoPago": "PAGO TOTAL", "SaldoDeuda": Decimal("0"),
     "ExcesoPago": Decimal("2.50")},
]


def test_kpi_acumulado_has_one_row_per_document_with_its_last_payment(engines, toolbox_env):
    seed_worked_example(engines.source)
    with engines.source.begin() as conn:
        keys = {k for p in PAGOS for k in p}
        conn.execute(insert(colocaciones_pagos), [{k: p.get(k) for k in keys} for p in PAGOS])
        conn.execute(insert(colocaciones_devoluciones), [
            {"IdLiquidacionDevolucion": 1, "IdLiquidacionDet": 2,
             "FechaDesembolso": date(2024, 3, 29), "MontoDevolucion": Decimal("2.50"),
             "EstadoDevolucion": 1, "DescuentoDevolucion": Decimal("0.10")},
        ])
    outcome = run(toolbox_env, engines, task="kpi-acumulado")
    assert outcome.status == "success", outcome.error_message
    assert outcome.rows == {"kpi_acumulado": 3}
    rows = {r["CodigoLiquidacion"]: r for r in stored(engines.datamart, kpi_acumulado)}
    a, b = rows["LIQ2403000101"], rows["LIQ2403000102-001"]
    assert a["MontoPago"] == Decimal("9000.00") and a["MontoPagoSoles"] == Decimal("9000.00")
    assert (a["TipoPago"], a["SaldoDeuda"], a["DiasMora"]) == ("PAGO PARCIAL",
                                                               Decimal("1000.00"), 3)
    assert a["FechaPago"] == datetime(2024, 3, 25) and a["ObservacionPago"] == "segundo"
    assert b["MontoPagoSoles"] == Decimal("376.00") and b["ExcesoPago"] == Decimal("2.50")
    assert (b["MontoDevolucion"], b["EstadoDevolucion"]) == (Decimal("2.50"), "1")
    assert b["FechaDesembolso"] == datetime(2024, 3, 29)
    assert rows["LIQ099-2024"]["SaldoDeuda"] == Decimal("0.00")
    assert rows["LIQ099-2024"]["GastosDiversosSinIGV"] is None
    assert any("1 document has several payments" in w for w in outcome.warnings)

    # A later cut-off sees the third payment.
    later = run(toolbox_env, engines, task="kpi-acumulado", fecha_corte=date(2024, 4, 30))
    assert later.status == "success"
    a = next(r for r in stored(engines.datamart, kpi_acumulado)
             if r["CodigoLiquidacion"] == "LIQ2403000101")
    assert a["MontoPago"] == Decimal("10000.00") and a["TipoPago"] == "PAGO TOTAL"


def test_off_system_rows_are_read_pen_sheet_first(engines):
    with engines.source.begin() as conn:
        conn.execute(insert(operaciones_fuera_sistema), [
            dict(OFF_C, Hoja="USD", Fila=1, CodigoLiquidacion="U1"),
            dict(OFF_C, Hoja="PEN", Fila=2, CodigoLiquidacion="P2"),
            dict(OFF_C, Hoja="PEN", Fila=1, CodigoLiquidacion="P1"),
        ])
    whole = pl.concat(list(sources.iter_operaciones_fuera_sistema(engines.source)))
    assert whole["CodigoLiquidacion"].to_list() == ["P1", "P2", "U1"]
    # Streamed in pages of any size, the order and the rows are the same.
    for size in (1, 2, 3):
        pages = list(sources.iter_operaciones_fuera_sistema(
            engines.source, sources.FUERA_SISTEMA_KEYS, chunk_size=size))
        assert all(p.height <= size for p in pages)
        rows = pl.concat(pages)
        assert rows["CodigoLiquidacion"].to_list() == ["P1", "P2", "U1"]
        assert set(rows.columns) == set(sources.FUERA_SISTEMA_KEYS)


def test_cli_kpi_dry_run_reports_counts_as_json(engines, toolbox_env):
    from toolbox_cli.cli import app
    from toolbox_cli.cli.common import reset_settings

    seed_worked_example(engines.source)
    reset_settings()
    result = CliRunner().invoke(app, ["kpi", "--hasta", "2024-03-31", "--fecha-corte",
                                      "2024-03-31", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "success" and data["rows"] == {"kpi": 3}
    assert stored(engines.datamart, kpi) == []
    reset_settings()
    bad = CliRunner().invoke(app, ["kpi-acumulado", "--desde", "2024-03-31", "--hasta",
                                   "2024-03-01"])
    assert bad.exit_code == 2


def test_off_system_row_without_payer_ruc_is_dropped_and_supersedes_nothing(engines, toolbox_env):
    seed_worked_example(engines.source)
    with engines.source.begin() as conn:
        conn.execute(update(operaciones_fuera_sistema).values(RUCPagador=" "))
    outcome = run(toolbox_env, engines)
    assert outcome.status == "success", outcome.error_message
    rows = stored(engines.datamart, kpi)
    assert [(r["CodigoLiquidacion"], r["FueraSistema"]) for r in rows] == [
        ("LIQ2403000101", "no"), ("LIQ2403000102-001", "no"), ("LIQ099-2024", "no")]


@pytest.mark.parametrize("task", ["kpi", "kpi-acumulado", "tablas-reportes"])
def test_a_document_without_an_operation_date_fails_the_kpi_naming_it(demo, toolbox_env, task):
    """Decision 23 (issue 20, item 3): the date range filtered such documents out before the
    check that names them, and the run dropped them silently (5 081 → 5 076 rows)."""
    with demo.source.connect() as conn:
        ids = conn.execute(select(colocaciones.c.IdLiquidacionDet)
                           .order_by(colocaciones.c.IdLiquidacionDet.desc()).limit(5)
                           ).scalars().all()
    with demo.source.begin() as conn:
        conn.execute(colocaciones.update().where(colocaciones.c.IdLiquidacionDet.in_(ids))
                     .values(FechaOperacion=None))
    outcome = run_named(task, toolbox_env, demo, as_of=DEMO_TODAY)
    assert outcome.status == "failed"
    assert "has no FechaOperacion; fix the source row" in outcome.error_message
    assert "colocaciones IdLiquidacionDet" in outcome.error_message


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_document_whose_operation_date_is_not_a_date_fails_the_kpi_naming_it(demo, toolbox_env):
    """SQLite keeps any text in a DATE column; the range filter must not drop it either."""
    with demo.source.connect() as conn:
        last = conn.execute(select(func.max(colocaciones.c.IdLiquidacionDet))).scalar_one()
    with demo.source.begin() as conn:
        conn.exec_driver_sql("UPDATE colocaciones SET \"FechaOperacion\" = 'sin fecha' "
                             "WHERE \"IdLiquidacionDet\" = ?", (last,))
    outcome = run_named("kpi", toolbox_env, demo, as_of=DEMO_TODAY)
    assert outcome.status == "failed"
    assert outcome.error_message == (
        f"colocaciones IdLiquidacionDet={last} has FechaOperacion 'sin fecha', which is not a "
        "date; fix or remove that row")
