"""The guard before every swap: an empty or shrunk result fails the run and keeps every table,
per-table limits, first fills, dry runs judged alike; the shrink limit at its boundary and one
row either side, in the pure rule and through a run.

The expected values come from the rule (README "The guard", ``TOOLBOX_MAX_SHRINK_PERCENT``):
a new table with *more than* the limit percent fewer rows than the live one (default 20,
per table ``TOOLBOX_MAX_SHRINK_PERCENT_TABLES``), or empty while the live one has rows, is
refused; an empty or missing live table is a first fill and is never guarded.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, func, select, text

from tests.support.runs import run_on_demo
from toolbox_cli import ledger
from toolbox_cli.errors import EXIT_FAILED, EXIT_USAGE
from toolbox_cli.settings import load_settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.guard import Coerced, Shrink, ShrinkGuard, TotalMove, guard_for
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.reportes import kpi, saldos
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


# ------------------------------------------------------------------ the rule, at its limit


@pytest.mark.parametrize(("new", "refused"), [
    (801, False),  # 19.9 % fewer: inside the limit
    (800, False),  # 20 % fewer, the limit itself: only "more than" the limit is refused
    (799, True),  # 20.1 % fewer: one row past it
])
def test_a_table_with_more_than_twenty_percent_fewer_rows_is_refused(new, refused):
    found = ShrinkGuard().shrinks({"kpi": 1000}, {"kpi": new})
    assert [(f.table, f.live, f.new, f.limit) for f in found] == \
        ([("kpi", 1000, new, 20.0)] if refused else [])


@pytest.mark.parametrize(("new", "refused"), [(501, False), (500, False), (499, True)])
def test_a_per_table_shrink_limit_replaces_the_default_for_that_table_only(new, refused):
    """``{"saldos": 50}``: saldos may lose half its rows, not one more; kpi keeps 20 %."""
    guard = ShrinkGuard(per_table={"saldos": 50})
    found = guard.shrinks({"saldos": 1000, "kpi": 1000}, {"saldos": new, "kpi": 799})
    assert [(f.table, f.limit) for f in found] == \
        ([("saldos", 50.0), ("kpi", 20.0)] if refused else [("kpi", 20.0)])


def test_an_empty_new_table_is_refused_whatever_the_limit():
    # Even a limit of 100 % lets a table keep one row in 1 000, never none.
    lenient = ShrinkGuard(default_percent=100)
    assert lenient.shrinks({"kpi": 1000}, {"kpi": 1}) == []
    (empty,) = lenient.shrinks({"kpi": 1000}, {"kpi": 0})
    assert empty.describe() == \
        "kpi: the new content is empty while the live table has 1,000 rows"
    assert [f.table for f in ShrinkGuard(per_table={"saldos": 100}).shrinks(
        {"saldos": 1}, {"saldos": 0})] == ["saldos"]


def test_an_empty_or_missing_live_table_is_never_guarded():
    strict = ShrinkGuard(default_percent=0)  # no row may go, where there is something to keep
    assert strict.shrinks({"kpi": 1000}, {"kpi": 999})[0].new == 999
    assert strict.shrinks({"kpi": 1000}, {"kpi": 1000}) == []
    assert strict.shrinks({"kpi": 0}, {"kpi": 0}) == []  # an empty live table
    assert strict.shrinks({}, {"kpi": 0}) == []  # no live table at all: a first fill


def test_the_shrink_limits_are_read_from_the_settings(clean_env, monkeypatch):
    default = guard_for(load_settings(), allow_shrink=False)  # README: default 20
    assert default.shrinks({"kpi": 1000}, {"kpi": 800}) == []
    assert [f.new for f in default.shrinks({"kpi": 1000}, {"kpi": 799})] == [799]
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT", "10")
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"saldos": 50}')
    guard = guard_for(load_settings(), allow_shrink=False)
    live = {"kpi": 1000, "saldos": 1000}
    assert guard.shrinks(live, {"kpi": 900, "saldos": 500}) == []
    assert [(f.table, f.limit) for f in guard.shrinks(live, {"kpi": 899, "saldos": 499})] == \
        [("kpi", 10.0), ("saldos", 50.0)]


# A refusal one step past the limit must not read '20% fewer; the limit is 20%'.
@pytest.mark.parametrize("finding", [
    Shrink("saldos", 1000, 799, 20.0),  # 20.1 % fewer
    TotalMove("kpi", "NetoConfirmado", "PEN", 1000.0, 799.0, 20.0),  # moves 20.1 %
    Coerced("colocaciones", "NetoConfirmado", 5001, 100_000, "Id=7", 5.0),  # 5.001 %
], ids=["shrink", "total", "coercion"])
def test_a_refusal_one_step_past_the_limit_says_it_is_past_the_limit(finding):
    """A person reads the refusal: the share it names must be over the limit it names."""
    text = finding.describe()
    share = float(re.search(r"(?:\(|moves )([\d.]+)%", text).group(1))
    limit = float(re.search(r"the limit is ([\d.]+)%", text).group(1))
    assert share > limit, text


# ------------------------------------------------------------------ through the runner


def _saldos_caja_ids(engines: Engines) -> list[int]:
    with engines.source.connect() as conn:
        return list(conn.execute(select(src.saldos_caja.c.id).order_by(src.saldos_caja.c.id))
                    .scalars())


def _saldos_caja_rows(engines: Engines, ids: list[int]) -> list[dict]:
    with engines.source.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(src.saldos_caja).where(src.saldos_caja.c.id.in_(ids))).mappings()]


def _keep_saldos_caja(engines: Engines, count: int) -> list[dict]:
    """Keep the first ``count`` rows of ``saldos_caja``; the others are returned, removed."""
    gone = _saldos_caja_ids(engines)[count:]
    rows = _saldos_caja_rows(engines, gone)
    with engines.source.begin() as conn:
        conn.execute(delete(src.saldos_caja).where(src.saldos_caja.c.id.in_(gone)))
    return rows


def _put_back(engines: Engines, rows: list[dict]) -> None:
    with engines.source.begin() as conn:
        conn.execute(src.saldos_caja.insert(), rows)


def _saldos_rows(engines: Engines) -> int:
    with engines.datamart.connect() as conn:
        return conn.execute(select(func.count()).select_from(saldos)).scalar_one()


def test_a_refresh_at_the_shrink_limit_is_swapped_in_and_one_row_fewer_is_refused(
        demo, monkeypatch):
    """``saldos`` has one row per ``saldos_caja`` row, so the source sets its count exactly:
    1 000 live rows, 799 refused, 800 (20 % fewer) swapped in; then ``{"saldos": 50}``:
    399 of those 800 refused, 400 swapped in."""
    # The row count alone is judged here: the balances' total may move as far as it likes.
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES", '{"saldos": 100}')
    _keep_saldos_caja(demo, 1000)
    first = run_on_demo(load_settings(), demo, "tablas-reportes")
    assert (first.status, first.rows["saldos"]) == ("success", 1000), first.error_message

    held = _keep_saldos_caja(demo, 799)
    refused = run_on_demo(load_settings(), demo, "tablas-reportes")
    assert (refused.status, refused.error_type) == ("failed", "GuardTripped")
    assert refused.error_message.startswith(
        "saldos: 799 new rows against 1,000 in the live table (")
    assert _saldos_rows(demo) == 1000  # nothing swapped in
    _put_back(demo, held[:1])
    at_limit = run_on_demo(load_settings(), demo, "tablas-reportes")
    assert at_limit.status == "success", at_limit.error_message
    assert _saldos_rows(demo) == 800

    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"saldos": 50}')
    held = _keep_saldos_caja(demo, 399)
    refused = run_on_demo(load_settings(), demo, "tablas-reportes")
    assert refused.error_type == "GuardTripped"
    assert refused.error_message.startswith(
        "saldos: 399 new rows against 800 in the live table (")
    assert "the limit is 50%" in refused.error_message
    assert _saldos_rows(demo) == 800
    _put_back(demo, held[:1])
    assert run_on_demo(load_settings(), demo, "tablas-reportes").status == "success"
    assert _saldos_rows(demo) == 400


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
    assert outcome.status == "success", outcome.error_message
    # Every table swapped in whole: what the run counted is what the tables hold.
    assert {t: count for t, (count, _) in fingerprint(demo, REPORT_TABLES).items()} == \
        outcome.rows
    assert not any("--allow-shrink" in w for w in outcome.warnings)


def test_a_dry_run_judges_the_guard_like_a_real_run(demo, toolbox_env):
    assert run_on_demo(toolbox_env, demo, "kpi").status == "success"
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 200))
    outcome = run_on_demo(toolbox_env, demo, "kpi", dry_run=True)
    assert outcome.error_type == "GuardTripped" and "a real run would" in outcome.error_message
