"""The guard before every swap: an empty or shrunk result fails the run and keeps every table,
per-table limits, first fills, dry runs judged alike.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text

from tests.support.runs import run_on_demo
from toolbox_cli import ledger
from toolbox_cli.errors import EXIT_FAILED, EXIT_USAGE
from toolbox_cli.settings import load_settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.reportes import kpi
from toolbox_cli.tasks.tablas_cxc import CXC_TABLES

REPORT_TABLES = ("kpi", "nuevos_clientes_nuevos_pagadores", "saldos")


SUMS = {"kpi": "ColocacionSoles", "nuevos_clientes_nuevos_pagadores": None, "saldos": "SaldoTotalCaja",
        "cxc_pagos_fact": "MontoPago", "cxc_dev_fact": "MontoDevolucion",
        "cxc_acumulado_dim": "SaldoTotalPen"}


def fingerprint(engines: Engines, tables) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """Row count and money sum of each datamart table, as a dashboard would total it."""
    out = {}
    with engines.datamart.connect() as conn:
        for name in tables:
            column = SUMS[name]
            total = conn.execute(text(f"SELECT SUM({column}) FROM {name}")).scalar() if column else None
            count = conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one()
            out[name] = (count, str(total))
    return out






@pytest.mark.parametrize(("task", "tables"), [("tablas-reportes", REPORT_TABLES),
                                              ("tablas-cxc", CXC_TABLES)])
def test_emptied_colocaciones_fails_the_refresh_and_keeps_every_table(
        demo, toolbox_env, task, tables):
    assert run_on_demo(toolbox_env, demo, task).status == "success"
    before = fingerprint(demo, tables)
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    outcome = run_on_demo(toolbox_env, demo, task)
    assert (outcome.status, outcome.exit_code) == ("failed", EXIT_FAILED)
    assert "colocaciones" in outcome.error_message and "empty" in outcome.error_message
    assert fingerprint(demo, tables) == before
    # --allow-shrink lets the run through, and the ledger says so.
    through = run_on_demo(toolbox_env, demo, task, allow_shrink=True)
    assert through.status == "success", through.error_message
    stored = ledger.get_run(demo.datamart, through.run_id)
    assert stored.params["allow_shrink"] is True
    assert any("--allow-shrink" in w for w in stored.warnings)
    assert fingerprint(demo, tables) != before


def test_truncated_source_trips_the_guard_with_table_counts_and_what_to_do(demo, toolbox_env):
    assert run_on_demo(toolbox_env, demo, "tablas-reportes").status == "success"
    before = fingerprint(demo, REPORT_TABLES)
    with demo.source.begin() as conn:  # a broken ETL copy: most operations missing
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 200))
    outcome = run_on_demo(toolbox_env, demo, "tablas-reportes")
    assert (outcome.status, outcome.exit_code, outcome.error_type) == \
        ("failed", EXIT_FAILED, "GuardTripped")
    live = before["kpi"][0]
    assert "kpi: " in outcome.error_message and f"{live:,} in the live table" in outcome.error_message
    assert "limit is 20%" in outcome.error_message and "--allow-shrink" in outcome.error_message
    assert "\n" not in outcome.error_message
    assert fingerprint(demo, REPORT_TABLES) == before
    with demo.datamart.connect() as conn:
        staging = [t for t in conn.dialect.get_table_names(conn) if "__stg_" in t]
    assert staging == []


def test_small_shrink_passes_and_per_table_limits_apply(demo, monkeypatch):
    settings = load_settings()
    assert run_on_demo(settings, demo, "kpi").status == "success"
    with demo.datamart.connect() as conn:
        live = conn.execute(select(func.count()).select_from(kpi)).scalar_one()
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 900))
    assert run_on_demo(settings, demo, "kpi").status == "success"  # about 10 % fewer: under 20 %
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 500))
    assert run_on_demo(settings, demo, "kpi").error_type == "GuardTripped"
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"kpi": 60}')
    # The row count may now shrink; its control totals fell as far and still trip the guard.
    totals = run_on_demo(load_settings(), demo, "kpi")
    assert totals.error_type == "GuardTripped"
    assert totals.error_message.startswith("the total kpi.NetoConfirmado (")
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES", '{"kpi": 60}')
    assert run_on_demo(load_settings(), demo, "kpi").status == "success"
    with demo.datamart.connect() as conn:
        assert conn.execute(select(func.count()).select_from(kpi)).scalar_one() < live * 0.8


def test_unknown_table_in_the_shrink_overrides_is_a_configuration_error(demo, monkeypatch):
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"kpii": 60}')
    outcome = run_on_demo(load_settings(), demo, "kpi")
    assert outcome.exit_code == EXIT_USAGE and "kpii" in outcome.error_message


def test_first_refresh_into_an_empty_table_is_not_guarded(demo, toolbox_env):
    outcome = run_on_demo(toolbox_env, demo, "tablas-reportes")
    assert outcome.status == "success" and outcome.warnings_count >= 0
    assert not any("--allow-shrink" in w for w in outcome.warnings)


def test_a_dry_run_judges_the_guard_like_a_real_run(demo, toolbox_env):
    assert run_on_demo(toolbox_env, demo, "kpi").status == "success"
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 200))
    outcome = run_on_demo(toolbox_env, demo, "kpi", dry_run=True)
    assert outcome.error_type == "GuardTripped" and "a real run would" in outcome.error_message
