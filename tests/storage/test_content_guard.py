"""Wrong content is never published (issue 20, items 1 and 2): a source column coerced in
too many rows (decision 21) and control totals that move too far or change sign (decision
22) fail the run before any swap, on SQLite and MariaDB; the limits at their boundary and one
step either side, from the decisions' wording: "more than" the limit fails, the limit itself
passes (``TOOLBOX_MAX_COERCED_PERCENT`` 5, ``TOOLBOX_MAX_TOTAL_CHANGE_PERCENT`` 20 and its
per-table overrides), and a total that changes sign fails whatever the limit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from tests.support.runs import run_on_demo
from toolbox_cli.settings import load_settings
from toolbox_cli.storage.guard import Coercions, ShrinkGuard, guard_for
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.cxc import cxc_acumulado_dim
from toolbox_cli.storage.tables.reportes import kpi

# ------------------------------------------------------------------ the rules, at their limits


def test_a_column_coerced_in_more_than_five_percent_of_the_rows_trips_the_guard() -> None:
    """Decision 21: "more than" 5 %: 50 of 1 000 passes, 51 trips; the limit is a setting."""
    guard = ShrinkGuard()
    below = Coercions("colocaciones", "NetoConfirmado", 49, 1000, "colocaciones Id=7")
    at_limit = Coercions("colocaciones", "NetoConfirmado", 50, 1000, "colocaciones Id=7")
    over = Coercions("colocaciones", "NetoConfirmado", 51, 1000, "colocaciones Id=7")
    assert guard.broken_columns([below]) == []
    assert guard.broken_columns([at_limit]) == []
    (found,) = guard.broken_columns([over])
    assert found.describe() == (
        "colocaciones.NetoConfirmado needed coercion in 51 of the 1,000 rows read (5.1%; the "
        "limit is 5%), e.g. colocaciones Id=7: the source is broken, not untidy")
    assert ShrinkGuard(coerced_percent=5.2).broken_columns([over]) == []
    assert guard.broken_columns([Coercions("t", "c", 0, 0, "")]) == []  # nothing read


@pytest.mark.parametrize(("old", "new", "trips"), [
    (1000.0, 801.0, False),  # 19.9 %: inside the limit
    (1000.0, 800.0, False),  # 20 % exactly: the limit itself passes
    (1000.0, 799.0, True),  # just past it
    (1000.0, 1199.0, False),
    (1000.0, 1200.0, False),
    (1000.0, 1201.0, True),  # a rise is a move too
    (-1000.0, -1200.0, False),  # a negative total moves like a positive one
    (1000.0, -1.0, True),  # a change of sign trips whatever its size
    (-5.0, 5.0, True),
    (1000.0, 0.0, True),  # a currency gone from the table: its total is 0
])
def test_a_control_total_that_moves_more_than_twenty_percent_trips_the_guard(old, new, trips):
    guard = ShrinkGuard()
    moved = guard.moved_totals({"kpi": 10}, {"kpi": {("NetoConfirmado", "PEN"): old}},
                               {"kpi": {("NetoConfirmado", "PEN"): new}})
    assert bool(moved) is trips


@pytest.mark.parametrize(("new", "trips"), [
    (501.0, False), (500.0, False), (499.0, True),  # 50 % down: the override's limit
    (1499.0, False), (1500.0, False), (1501.0, True),  # and up
])
def test_a_per_table_total_limit_replaces_the_default_for_that_table_only(new, trips):
    """``TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES={"saldos": 50}``; kpi keeps the default 20."""
    guard = ShrinkGuard(total_per_table={"saldos": 50})
    live = {"saldos": {("SaldoTotalCaja", ""): 1000.0}, "kpi": {("NetoConfirmado", "PEN"): 1000.0}}
    moved = guard.moved_totals({"saldos": 9, "kpi": 9}, live, {
        "saldos": {("SaldoTotalCaja", ""): new}, "kpi": {("NetoConfirmado", "PEN"): 799.0}})
    assert [(m.table, m.limit) for m in moved] == \
        ([("saldos", 50.0)] if trips else []) + [("kpi", 20.0)]


@pytest.mark.parametrize(("old", "new", "trips"), [
    (1000.0, -1.0, True),  # 100.1 %, well inside 500 %: refused for its sign alone
    (-1000.0, 1.0, True),
    (1000.0, 0.0, False),  # down to nothing is no change of sign (and 100 % ≤ 500 %)
    (1000.0, 6000.0, False),  # 500 %: the limit itself
    (1000.0, 6001.0, True),
])
def test_a_total_that_changes_sign_trips_the_guard_whatever_the_limit(old, new, trips):
    """Decision 22: "moves by more than the limit ... or change sign"; a limit of 500 %
    leaves the sign as the only reason to refuse a small total."""
    guard = ShrinkGuard(total_percent=500)
    moved = guard.moved_totals({"kpi": 9}, {"kpi": {("NetoConfirmado", "PEN"): old}},
                               {"kpi": {("NetoConfirmado", "PEN"): new}})
    assert bool(moved) is trips
    if trips and abs(new) < abs(old):
        assert "changes sign" in moved[0].describe()


def test_the_total_and_coercion_limits_are_read_from_the_settings(clean_env, monkeypatch):
    def judged(settings):  # type: ignore[no-untyped-def]
        guard = guard_for(settings, allow_shrink=False)

        def moved(table: str, column: str, new: float) -> bool:
            return bool(guard.moved_totals({table: 9}, {table: {(column, ""): 1000.0}},
                                           {table: {(column, ""): new}}))

        def broken(count: int) -> bool:
            return bool(guard.broken_columns([Coercions("colocaciones", "X", count, 1000, "")]))
        return moved, broken

    moved, broken = judged(load_settings())  # README: 20 % for totals, 5 % for coercion
    assert (moved("kpi", "NetoConfirmado", 800.0), moved("kpi", "NetoConfirmado", 799.0)) == \
        (False, True)
    assert (broken(50), broken(51)) == (False, True)
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT", "10")
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES", '{"saldos": 50}')
    monkeypatch.setenv("TOOLBOX_MAX_COERCED_PERCENT", "10")
    moved, broken = judged(load_settings())
    assert (moved("kpi", "NetoConfirmado", 900.0), moved("kpi", "NetoConfirmado", 899.0)) == \
        (False, True)
    assert (moved("saldos", "SaldoTotalCaja", 500.0),
            moved("saldos", "SaldoTotalCaja", 499.0)) == (False, True)
    assert (broken(100), broken(101)) == (False, True)


def test_a_total_is_judged_only_against_a_live_table_with_rows() -> None:
    guard = ShrinkGuard(total_per_table={"saldos": 50})
    live = {("SaldoTotalCaja", ""): 1000.0}
    assert guard.moved_totals({"saldos": 0}, {"saldos": live},
                              {"saldos": {("SaldoTotalCaja", ""): -5.0}}) == []  # a first fill
    assert guard.moved_totals({"saldos": 9}, {"saldos": live},
                              {"saldos": {("SaldoTotalCaja", ""): 510.0}}) == []  # per table
    assert guard.moved_totals({"kpi": 9}, {"kpi": {}},
                              {"kpi": {("NetoConfirmado", "USD"): 5.0}}) == []  # a new currency


# ------------------------------------------------------------------ through the runner


def _null(demo, table, column, key, how_many):  # type: ignore[no-untyped-def]
    """``column`` set NULL in the first ``how_many`` rows of ``table`` by ``key``."""
    with demo.source.connect() as conn:
        ids = conn.execute(select(table.c[key]).order_by(table.c[key]).limit(how_many)
                           ).scalars().all()
    with demo.source.begin() as conn:
        conn.execute(update(table).where(table.c[key].in_(ids)).values({column: None}))


def _rows(demo, table) -> int:  # type: ignore[no-untyped-def]
    with demo.source.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _stored(demo, table) -> list[tuple]:  # type: ignore[no-untyped-def]
    with demo.datamart.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]


@pytest.mark.parametrize(("table", "column", "key"), [
    (src.colocaciones, "DeudaAnterior", "IdLiquidacionDet"),  # a document amount
    (src.colocaciones_pagos, "DiasMora", "IdLiquidacionPago"),  # a payment's days
])
def test_tablas_cxc_fails_past_five_percent_of_a_coerced_column(demo, toolbox_env, table,
                                                                 column, key):
    limit = _rows(demo, table) * 5 // 100
    _null(demo, table, column, key, limit)
    assert run_on_demo(toolbox_env, demo, "tablas-cxc").status == "success"  # 5 %: the limit
    before = _stored(demo, cxc_acumulado_dim)
    _null(demo, table, column, key, limit + 1)
    failed = run_on_demo(toolbox_env, demo, "tablas-cxc")
    assert failed.error_type == "GuardTripped"
    assert failed.error_message.startswith(
        f"{table.name}.{column} needed coercion in {limit + 1:,} of the {_rows(demo, table):,} "
        "rows read")
    assert _stored(demo, cxc_acumulado_dim) == before


def test_a_null_neto_confirmado_is_refused_by_both_jobs_and_no_table_changes(demo, toolbox_env):
    """The issue's example: `update colocaciones set NetoConfirmado=NULL`."""
    for task in ("tablas-cxc", "kpi"):
        assert run_on_demo(toolbox_env, demo, task).status == "success"
    before = (_stored(demo, cxc_acumulado_dim), _stored(demo, kpi))
    with demo.source.begin() as conn:
        conn.execute(update(src.colocaciones).values(NetoConfirmado=None))
    for task in ("tablas-cxc", "kpi"):
        outcome = run_on_demo(toolbox_env, demo, task)
        assert outcome.error_type == "GuardTripped", task
        assert outcome.error_message.startswith("colocaciones.NetoConfirmado needed coercion "
                                                "in "), task
        assert "rows read (100.0%; the limit is 5%)" in outcome.error_message
    assert (_stored(demo, cxc_acumulado_dim), _stored(demo, kpi)) == before


def test_totals_that_change_sign_trip_even_where_coercion_is_allowed(demo, toolbox_env,
                                                                   monkeypatch):
    """With the coercion limit lifted, the totals guard still sees the damage: SaldoTotal
    turns negative (14.57 M → −196.8 M in the issue)."""
    assert run_on_demo(toolbox_env, demo, "tablas-cxc").status == "success"
    with demo.source.begin() as conn:
        conn.execute(update(src.colocaciones).values(NetoConfirmado=None))
    monkeypatch.setenv("TOOLBOX_MAX_COERCED_PERCENT", "100")
    outcome = run_on_demo(load_settings(), demo, "tablas-cxc")
    assert outcome.error_type == "GuardTripped"
    assert outcome.error_message.startswith("the total cxc_acumulado_dim.SaldoTotal (")
    assert "changes sign" in outcome.error_message
    assert "no table was replaced" in outcome.error_message


def test_a_dry_run_reports_and_allow_shrink_lets_through_a_moved_total(demo, toolbox_env):
    assert run_on_demo(toolbox_env, demo, "tablas-cxc").status == "success"
    with demo.source.begin() as conn:  # a third of the documents lose their amount
        conn.execute(update(src.colocaciones)
                     .where(src.colocaciones.c.IdLiquidacionDet % 3 == 0)
                     .values(NetoConfirmado=src.colocaciones.c.NetoConfirmado / 10))
    dry = run_on_demo(toolbox_env, demo, "tablas-cxc", dry_run=True)
    assert dry.error_type == "GuardTripped" and "a real run would replace nothing" in \
        dry.error_message
    allowed = run_on_demo(toolbox_env, demo, "tablas-cxc", allow_shrink=True)
    assert allowed.status == "success"
    assert any(w.startswith("the total cxc_acumulado_dim.") and
               w.endswith("swapped in because --allow-shrink was given")
               for w in allowed.warnings)
