"""``tablas-cxc`` end to end through the runner on a real database (SQLite, and MariaDB with
``-m production``): the worked example of cxc.md §7 and its variants as stored rows."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert, inspect, select, text
from typer.testing import CliRunner

from tests.support.cxc_example import (
    CODIGOS,
    DEV_FACT_COLUMNS,
    DEVOLUCION_RAW,
    DIM_COLUMNS,
    EXPECTED_DEV_FACT,
    EXPECTED_DIM,
    EXPECTED_PAGOS_FACT,
    FECHA_CORTE,
    PAGO_D1_SEGUNDO,
    PAGO_D2_MINUSCULAS,
    PAGOS_FACT_COLUMNS,
    RATES,
    SECTORES,
    SUM_SALDO_TOTAL_PEN,
    documento,
    documentos_raw,
    native_devolucion,
    native_documento,
    native_pago,
    native_rate,
    pago,
    pagos_raw,
)
from tests.support.runs import run_named
from toolbox_cli.cli import app
from toolbox_cli.runner import RunOutcome
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.cxc import cxc_acumulado_dim
from toolbox_cli.tasks.tablas_cxc import CXC_TABLES


@pytest.fixture(autouse=True)
def _worked_examples_are_small(clean_env, monkeypatch):  # type: ignore[no-untyped-def]
    """The worked examples are books of a few hand-made rows that leave the columns they do
    not need blank, on purpose: decision 21's limit is off here and tested on its own
    (tests/storage/test_coercion_limit.py)."""
    monkeypatch.setenv("TOOLBOX_MAX_COERCED_PERCENT", "100")


# ---------------------------------------------------------------- helpers


def seed(engines: Engines, *, extra_pagos: list[dict[str, Any]] = (),  # type: ignore[assignment]
         extra_docs: list[dict[str, Any]] = (), rates: bool = True,  # type: ignore[assignment]
         sectores: bool = True) -> None:
    """The §7 example in the source tables, as native DATE/DECIMAL values."""
    rows = {
        src.colocaciones: [native_documento(d) for d in documentos_raw() + list(extra_docs)],
        src.colocaciones_pagos: [native_pago(p) for p in pagos_raw() + list(extra_pagos)],
        src.colocaciones_devoluciones: [native_devolucion(DEVOLUCION_RAW)],
        src.tipo_cambio: [native_rate(r) for r in RATES] if rates else [],
        src.sector_pagadores: SECTORES if sectores else [],
        src.cxc_codigos_especiales: CODIGOS,
    }
    with engines.source.begin() as conn:
        for table, values in rows.items():
            if values:
                conn.execute(insert(table), values)


def add(engines: Engines, table: Any, *rows: dict[str, Any]) -> None:
    with engines.source.begin() as conn:
        conn.execute(insert(table), list(rows))


def run_cxc(settings: Settings, engines: Engines, **params: Any) -> RunOutcome:
    return run_named("tablas-cxc", settings, engines, **{"fecha_corte": FECHA_CORTE, **params})


def table_rows(engines: Engines, name: str) -> list[dict[str, Any]]:
    table = cxc_acumulado_dim.metadata.tables[name]
    with engines.datamart.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
    for r in rows:
        r.pop("id")
    key = {"cxc_pagos_fact": "IdLiquidacionPago", "cxc_dev_fact": "IdLiquidacionDevolucion",
           "cxc_acumulado_dim": "IdLiquidacionDet"}[name]
    return sorted(rows, key=lambda r: r[key])


def snapshot(engines: Engines) -> dict[str, list[dict[str, Any]]]:
    return {name: table_rows(engines, name) for name in CXC_TABLES}


def dim(engines: Engines) -> dict[int, dict[str, Any]]:
    return {r["IdLiquidacionDet"]: r for r in table_rows(engines, "cxc_acumulado_dim")}


def derived(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in DIM_COLUMNS)


def expected(det: int) -> tuple[Any, ...]:
    values = EXPECTED_DIM[det]
    return (Decimal(values[0]), Decimal(values[1])) + values[2:]


def stored_sum_saldo_total_pen(engines: Engines) -> Decimal:
    with engines.datamart.connect() as conn:
        total = conn.execute(text("SELECT SUM(SaldoTotalPen) FROM cxc_acumulado_dim")).scalar()
    return Decimal(str(total)).quantize(Decimal("0.01"))


# The same balance computed directly in SQL over the source tables (decisions 2, 3, 10):
# current payment = last by FechaPago then id; MontoPago summed; run rate = the latest on or
# before the cut-off. Independent of the Python code, so it checks the whole pipeline.
DIRECT_SUM_SQL = """
SELECT SUM(ROUND(CASE WHEN UPPER(TRIM(s.Moneda)) = 'PEN' THEN s.saldo
                      ELSE s.saldo * (SELECT t.TipoCambioVenta FROM tipo_cambio t
                                      WHERE t.TipoCambioFecha <= :corte
                                      ORDER BY t.TipoCambioFecha DESC LIMIT 1) END, 2))
FROM (
  SELECT c.Moneda,
         CASE WHEN cur.IdLiquidacionPago IS NULL OR TRIM(COALESCE(cur.TipoPago, '')) = ''
                   THEN c.NetoConfirmado
              WHEN UPPER(TRIM(cur.TipoPago)) = 'PAGO PARCIAL' THEN cur.SaldoDeuda
              ELSE c.NetoConfirmado - (SELECT SUM(p.MontoPago) FROM colocaciones_pagos p
                                       WHERE p.IdLiquidacionDet = c.IdLiquidacionDet)
         END AS saldo
  FROM colocaciones c
  LEFT JOIN colocaciones_pagos cur
    ON cur.IdLiquidacionDet = c.IdLiquidacionDet
   AND NOT EXISTS (SELECT 1 FROM colocaciones_pagos l
                   WHERE l.IdLiquidacionDet = cur.IdLiquidacionDet
                     AND (l.FechaPago > cur.FechaPago
                          OR (l.FechaPago = cur.FechaPago
                              AND l.IdLiquidacionPago > cur.IdLiquidacionPago)))
) s
"""


def direct_sum_saldo_total_pen(engines: Engines, corte: date = FECHA_CORTE) -> Decimal:
    with engines.source.connect() as conn:
        total = conn.execute(text(DIRECT_SUM_SQL), {"corte": corte.isoformat()}).scalar()
    return Decimal(str(total)).quantize(Decimal("0.01"))


def assert_success(outcome: RunOutcome) -> None:
    assert (outcome.status, outcome.exit_code) == ("success", 0), outcome.error_message


# ---------------------------------------------------------------- worked example


def test_worked_example_is_stored_in_all_three_tables(toolbox_env: Settings,
                                                      engines: Engines) -> None:
    seed(engines)
    outcome = run_cxc(toolbox_env, engines)
    assert_success(outcome)
    assert outcome.rows == {"cxc_pagos_fact": 3, "cxc_dev_fact": 1, "cxc_acumulado_dim": 5}

    pagos = {r["IdLiquidacionPago"]: tuple(r[c] for c in PAGOS_FACT_COLUMNS)
             for r in table_rows(engines, "cxc_pagos_fact")}
    assert pagos == EXPECTED_PAGOS_FACT
    devs = [tuple(r[c] for c in DEV_FACT_COLUMNS) for r in table_rows(engines, "cxc_dev_fact")]
    assert devs == [EXPECTED_DEV_FACT]

    rows = dim(engines)
    assert {det: derived(r) for det, r in rows.items()} == {d: expected(d) for d in EXPECTED_DIM}
    assert rows[1001]["NetoConfirmado"] == Decimal("10000.00")
    assert rows[1001]["FechaConfirmado"] == date(2025, 3, 10)
    assert {r["DeudaAnterior"] for r in rows.values()} == {Decimal("0.00")}
    assert {d: (r["DiasVencido"], r["TramoVencido"]) for d, r in rows.items()} == {
        1001: (5, "1-30"), 1002: (0, "Vigente"), 1003: (389, ">180"),
        1004: (0, "Vigente"), 1005: (409, ">180"),
    }
    assert stored_sum_saldo_total_pen(engines) == SUM_SALDO_TOTAL_PEN
    assert direct_sum_saldo_total_pen(engines) == SUM_SALDO_TOTAL_PEN


def test_run_reports_rate_age_and_payers_without_sector(toolbox_env: Settings,
                                                        engines: Engines) -> None:
    seed(engines)
    outcome = run_cxc(toolbox_env, engines)
    assert_success(outcome)
    text_ = "\n".join(outcome.warnings)
    # Yesterday's rate is the normal case: in the run's log, not a warning.
    assert "exchange rate" not in text_
    assert "2 documents whose payer has no sector" in text_ and "20100000002" in text_
    assert "several payments" not in text_


@pytest.mark.parametrize(("corte", "warned"), [
    (date(2025, 3, 21), False),  # the newest rate (2025-03-14) 7 days old: the limit
    (date(2025, 3, 22), True),   # 8 days: more than STALE_RATE_DAYS (cxc §5.2 lesson 8)
])
def test_only_a_rate_older_than_a_week_is_a_warning(toolbox_env: Settings, engines: Engines,
                                                    corte: date, warned: bool) -> None:
    seed(engines)
    outcome = run_cxc(toolbox_env, engines, fecha_corte=corte, allow_future=True)
    assert_success(outcome)
    stale = [w for w in outcome.warnings if w.startswith("exchange rate 3.660000 of 2025-03-14")]
    assert bool(stale) is warned
    if warned:
        assert f"{(corte - date(2025, 3, 14)).days} days old at the cut-off {corte}" in stale[0]


def test_small_chunks_give_the_same_tables(toolbox_env: Settings, engines: Engines) -> None:
    # Keyset chunks of 2 split D1..D5 (and their payments) across three queries.
    seed(engines, extra_pagos=[PAGO_D1_SEGUNDO])
    assert_success(run_cxc(toolbox_env, engines))
    whole = snapshot(engines)
    assert_success(run_cxc(toolbox_env.model_copy(update={"chunk_size": 2}), engines))
    assert snapshot(engines) == whole
    assert len(whole["cxc_acumulado_dim"]) == 5 and len(whole["cxc_pagos_fact"]) == 4


# ---------------------------------------------------------------- variants of §7


def test_no_rate_fails_and_keeps_previous_tables(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines)
    assert_success(run_cxc(toolbox_env, engines))
    before = snapshot(engines)
    with engines.source.begin() as conn:
        conn.execute(delete(src.tipo_cambio))
    add(engines, src.colocaciones_pagos, native_pago(PAGO_D1_SEGUNDO))  # would change tables

    outcome = run_cxc(toolbox_env, engines)
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    assert "no exchange rate on or before 2025-03-15" in outcome.error_message
    # "toolbox" itself may be scrubbed when it is also the test server's password.
    assert "tipo-cambio` or import rates" in outcome.error_message
    assert snapshot(engines) == before


def test_rate_after_the_cutoff_is_not_used(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines)
    outcome = run_cxc(toolbox_env, engines, fecha_corte=date(2025, 3, 13))
    assert_success(outcome)
    assert dim(engines)[1002]["SaldoTotalPen"] == Decimal("18250.00")  # 5000 × 3.65
    assert direct_sum_saldo_total_pen(engines, date(2025, 3, 13)) == \
        stored_sum_saldo_total_pen(engines)


def test_explicit_rate_overrides_the_table(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines, rates=False)
    outcome = run_cxc(toolbox_env, engines, tipo_cambio=3.8)
    assert_success(outcome)
    rows = dim(engines)
    assert (rows[1002]["SaldoTotalPen"], rows[1004]["SaldoTotalPen"]) == (
        Decimal("19000.00"), Decimal("7600.00"))
    assert any("--tipo-cambio" in w for w in outcome.warnings)


def test_cutoff_before_due_date_makes_d4_vigente(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines)
    assert_success(run_cxc(toolbox_env, engines, fecha_corte=date(2025, 3, 14)))
    rows = dim(engines)
    assert (rows[1004]["EstadoCuenta"], rows[1004]["EstadoReal"]) == ("VIGENTE", "VIGENTE")
    for det in (1001, 1003, 1005):
        assert derived(rows[det]) == expected(det)


def test_lower_case_partial_type_is_canonical(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines, extra_pagos=[PAGO_D2_MINUSCULAS])
    outcome = run_cxc(toolbox_env, engines)
    assert_success(outcome)
    d2 = dim(engines)[1002]
    assert (d2["SaldoTotal"], d2["SaldoTotalPen"], d2["TipoPagoReal"]) == (
        Decimal("0.00"), Decimal("0.00"), "PAGO PARCIAL")
    stored = {r["IdLiquidacionPago"]: r["TipoPago"] for r in table_rows(engines, "cxc_pagos_fact")}
    assert stored[9005] == "PAGO PARCIAL"
    assert any("TipoPago re-cased" in w for w in outcome.warnings)
    assert stored_sum_saldo_total_pen(engines) == direct_sum_saldo_total_pen(engines)


def test_two_payments_give_one_row_and_a_warning(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines, extra_pagos=[PAGO_D1_SEGUNDO])
    outcome = run_cxc(toolbox_env, engines)
    assert_success(outcome)
    assert outcome.rows["cxc_pagos_fact"] == 4 and outcome.rows["cxc_acumulado_dim"] == 5
    d1 = dim(engines)[1001]
    assert (d1["TipoPagoReal"], d1["SaldoTotal"], d1["DiasVencido"], d1["TramoVencido"]) == (
        "PAGO TOTAL", Decimal("0.00"), 0, "Vigente")
    assert any("1 document has several payments" in w and "1001" in w
               for w in outcome.warnings)
    assert stored_sum_saldo_total_pen(engines) == direct_sum_saldo_total_pen(engines) == \
        SUM_SALDO_TOTAL_PEN - Decimal("6000.00")


def test_sector_catalogue_unavailable(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines, sectores=False)
    outcome = run_cxc(toolbox_env, engines)
    assert_success(outcome)
    assert {(r["Sector"], r["GrupoEco"]) for r in dim(engines).values()} == {
        ("SIN CLASIFICAR", "")}
    assert any("sector_pagadores is empty" in w for w in outcome.warnings)


def test_catalogue_ruc_is_cleaned_like_the_documents(toolbox_env: Settings,
                                                     engines: Engines) -> None:
    seed(engines, sectores=False)
    add(engines, src.sector_pagadores,
        {"RUCPagador": " 20:100000001", "Sector": "CONSTRUCCION", "GrupoEco": None})
    assert_success(run_cxc(toolbox_env, engines))
    assert {d: (r["Sector"], r["GrupoEco"]) for d, r in dim(engines).items()} == {
        1001: ("CONSTRUCCION", ""), 1002: ("SIN CLASIFICAR", ""), 1003: ("CONSTRUCCION", ""),
        1004: ("SIN CLASIFICAR", ""), 1005: ("CONSTRUCCION", "")}


def test_demo_data_balance_matches_direct_sql(toolbox_env: Settings, engines: Engines) -> None:
    # The demo book has partial and several payments, an overpayment, refunds, USD,
    # payers without a sector, messy RUCs and both code lists.
    from toolbox_cli.demo import seed_demo

    seed_demo(engines.source, operations=400, seed=11, today=FECHA_CORTE)
    outcome = run_cxc(toolbox_env.model_copy(update={"chunk_size": 64}), engines)
    assert_success(outcome)
    assert outcome.rows["cxc_acumulado_dim"] == 400
    assert stored_sum_saldo_total_pen(engines) == direct_sum_saldo_total_pen(engines)
    assert any("several payments" in w for w in outcome.warnings)


# ---------------------------------------------------------------- atomicity, warnings, dry run


def test_failure_in_third_table_leaves_all_three_old_tables(toolbox_env: Settings,
                                                            engines: Engines) -> None:
    settings = toolbox_env.model_copy(update={"chunk_size": 2})
    seed(engines)
    assert_success(run_cxc(settings, engines))
    before = snapshot(engines)
    # New rows for the first two tables, and a document the third table cannot use, in its
    # third chunk: the first two tables are complete and the third half-built when it fails.
    add(engines, src.colocaciones_pagos, native_pago(PAGO_D2_MINUSCULAS))
    add(engines, src.colocaciones_devoluciones,
        native_devolucion(dict(DEVOLUCION_RAW, IdLiquidacionDevolucion=502)))
    add(engines, src.colocaciones, native_documento(
        documento(900, 2000, "LIQ9", "EUR", 10, "2025-01-01", "20100000001")))

    outcome = run_cxc(settings, engines)
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    assert "IdLiquidacionDet=2000" in outcome.error_message and "EUR" in outcome.error_message
    assert snapshot(engines) == before
    leftovers = [t for t in inspect(engines.datamart).get_table_names() if "__" in t]
    assert leftovers == []


def test_orphan_payments_are_kept_and_reported(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines, extra_pagos=[pago(9100, 1500, "2025-03-01", 0, 10, 10, "PAGO TOTAL", 0)])
    outcome = run_cxc(toolbox_env, engines)
    assert_success(outcome)
    assert 9100 in {r["IdLiquidacionPago"] for r in table_rows(engines, "cxc_pagos_fact")}
    assert outcome.rows["cxc_acumulado_dim"] == 5
    assert any("1 payment refers to documents not in colocaciones" in w and "9100" in w
               for w in outcome.warnings)
    assert stored_sum_saldo_total_pen(engines) == SUM_SALDO_TOTAL_PEN


def test_dry_run_counts_and_writes_nothing(toolbox_env: Settings, engines: Engines) -> None:
    seed(engines)
    outcome = run_cxc(toolbox_env, engines, dry_run=True)
    assert_success(outcome)
    assert outcome.rows == {"cxc_pagos_fact": 3, "cxc_dev_fact": 1, "cxc_acumulado_dim": 5}
    assert all(rows == [] for rows in snapshot(engines).values())


# ---------------------------------------------------------------- command line


def test_cli_runs_the_task_and_prints_json(cli: CliRunner, engines: Engines) -> None:
    seed(engines)
    result = cli.invoke(app, ["tablas-cxc", "--fecha-corte", "2025-03-15", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "success"
    assert data["rows"]["cxc_acumulado_dim"] == 5
    assert stored_sum_saldo_total_pen(engines) == SUM_SALDO_TOTAL_PEN


def test_cli_without_rates_exits_1_with_what_to_do(cli: CliRunner, engines: Engines) -> None:
    seed(engines, rates=False)
    result = cli.invoke(app, ["tablas-cxc", "--fecha-corte", "2025-03-15"])
    assert result.exit_code == 1
    assert "tipo-cambio` or import rates" in result.output


def test_cli_help_has_an_example(cli: CliRunner) -> None:
    result = cli.invoke(app, ["tablas-cxc", "--help"])
    assert result.exit_code == 0
    assert "toolbox tablas-cxc --fecha-corte" in result.output
