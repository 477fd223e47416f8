"""What the SQLite source reader refuses, pinned before its read path changes (issue 24).

SQLite keeps whatever a permissive source wrote: text in a NUMERIC or INTEGER column (a
number-looking text is turned into the number on the insert, anything else stays text), a
fraction in DiasEfectivo, text in a DATE column. Each of these fails the run with the
source table, the row's key, the column and the value, and the datamart keeps its tables.
Expected messages are the contract the README gives ("text in a number column, a date that
is not a date fails the run"), written out here, not read off the code.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.support.runs import run_on_demo
from toolbox_cli.storage.tables import contract as src

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _put(demo, table, column: str, key: str, value: object, which: str = "min") -> int:  # type: ignore[no-untyped-def]
    """Store ``value`` raw (no type conversion by SQLAlchemy) in ``column`` of the row with
    the smallest (or largest) ``key``; that key."""
    pick = func.min if which == "min" else func.max
    with demo.source.connect() as conn:
        row_key = conn.execute(select(pick(table.c[key]))).scalar_one()
    with demo.source.begin() as conn:
        conn.exec_driver_sql(f'UPDATE "{table.name}" SET "{column}" = ? WHERE "{key}" = ?',
                             (value, row_key))
    return int(row_key)


def _text_cell(table: str, key: str, row_key: int, column: str, value: object) -> str:
    return (f"{table} {key}={row_key} has {column} {value!r}, text in a numeric column; "
            "store the number itself (e.g. 1234.50) and run again")


@pytest.mark.parametrize(("task", "table", "column", "key"), [
    ("kpi", src.colocaciones, "NetoConfirmado", "IdLiquidacionDet"),
    ("kpi-acumulado", src.colocaciones, "MontoDesembolso", "IdLiquidacionDet"),
    ("kpi", src.colocaciones_pagos, "MontoPago", "IdLiquidacionPago"),
    ("tablas-cxc", src.colocaciones_pagos, "MontoPago", "IdLiquidacionPago"),
    ("tablas-cxc", src.colocaciones_devoluciones, "MontoDevolucion", "IdLiquidacionDevolucion"),
    ("tablas-reportes", src.saldos_caja, "SaldoTotalCaja", "id"),
])
@pytest.mark.parametrize("value", ["1.234,50", "", "S/ 100"])
def test_text_in_a_numeric_source_column_fails_naming_table_row_column_and_value(
        demo, toolbox_env, task, table, column, key, value):
    row_key = _put(demo, table, column, key, value)
    outcome = run_on_demo(toolbox_env, demo, task)
    assert outcome.status == "failed"
    assert outcome.error_message == _text_cell(table.name, key, row_key, column, value)


def test_a_number_written_as_text_is_read_as_the_number(demo, toolbox_env):
    """SQLite's NUMERIC affinity turns '8800.50' into 8800.5 on the insert: nothing to refuse,
    and the computed row carries the number."""
    row_key = _put(demo, src.colocaciones, "MontoDesembolso", "IdLiquidacionDet", "8800.50")
    outcome = run_on_demo(toolbox_env, demo, "kpi")
    assert outcome.status == "success", outcome.error_message
    with demo.datamart.connect() as conn:
        stored = conn.exec_driver_sql(
            'SELECT "MontoDesembolso" FROM kpi WHERE "CodigoLiquidacion" = (SELECT '
            '"CodigoLiquidacion" FROM colocaciones WHERE "IdLiquidacionDet" = ?) '
            'AND "NroDocumento" = (SELECT "NroDocumento" FROM colocaciones '
            'WHERE "IdLiquidacionDet" = ?)', (row_key, row_key)).scalars().all()
    assert 8800.5 in stored


def test_text_in_an_integer_source_column_fails_naming_its_row(demo, toolbox_env):
    """DiasEfectivo is an INTEGER column: text there is refused like in a DECIMAL one."""
    row_key = _put(demo, src.colocaciones, "DiasEfectivo", "IdLiquidacionDet", "treinta")
    outcome = run_on_demo(toolbox_env, demo, "kpi")
    assert outcome.status == "failed"
    assert outcome.error_message == _text_cell("colocaciones", "IdLiquidacionDet", row_key,
                                               "DiasEfectivo", "treinta")


def test_the_first_row_with_text_is_named_and_in_it_the_first_column(demo, toolbox_env):
    """Two bad rows: the one first in key order is named, and in it the first of its bad
    columns in the table's order (NetoConfirmado comes before MontoDesembolso)."""
    last = _put(demo, src.colocaciones, "NetoConfirmado", "IdLiquidacionDet", "x", which="max")
    first = _put(demo, src.colocaciones, "MontoDesembolso", "IdLiquidacionDet", "y")
    _put(demo, src.colocaciones, "NetoConfirmado", "IdLiquidacionDet", "z")
    outcome = run_on_demo(toolbox_env, demo, "kpi")
    assert outcome.status == "failed"
    assert last != first
    assert outcome.error_message == _text_cell("colocaciones", "IdLiquidacionDet", first,
                                               "NetoConfirmado", "z")


@pytest.mark.parametrize("task", ["kpi", "kpi-acumulado"])
def test_a_fractional_dias_efectivo_fails_the_kpi_not_truncated(demo, toolbox_env, task):
    """A fraction of a day is an error (answers.md: whole numbers), never cut to 30."""
    row_key = _put(demo, src.colocaciones, "DiasEfectivo", "IdLiquidacionDet", 30.5)
    outcome = run_on_demo(toolbox_env, demo, task)
    assert outcome.status == "failed"
    assert "DiasEfectivo 30.5 is not a whole number of days; fix the source row" \
        in outcome.error_message
    assert f"colocaciones IdLiquidacionDet {row_key}" in outcome.error_message


def test_a_whole_dias_efectivo_stored_as_a_real_is_taken(demo, toolbox_env):
    """30.0 in the INTEGER column is 30 days: SQLite's affinity keeps it an integer."""
    _put(demo, src.colocaciones, "DiasEfectivo", "IdLiquidacionDet", 30.0)
    outcome = run_on_demo(toolbox_env, demo, "kpi")
    assert outcome.status == "success", outcome.error_message


def test_a_payment_date_that_is_not_a_date_fails_naming_the_payment(demo, toolbox_env):
    row_key = _put(demo, src.colocaciones_pagos, "FechaPago", "IdLiquidacionPago", "31/02/2024")
    outcome = run_on_demo(toolbox_env, demo, "tablas-cxc")
    assert outcome.status == "failed"
    assert outcome.error_message == (
        f"colocaciones_pagos IdLiquidacionPago={row_key} has FechaPago '31/02/2024', which is "
        "not a date; fix or remove that row")


def test_a_failed_read_keeps_the_live_tables(demo, toolbox_env):
    assert run_on_demo(toolbox_env, demo, "kpi").status == "success"
    with demo.datamart.connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*), sum(\"MontoDesembolso\") FROM kpi").one()
    _put(demo, src.colocaciones, "NetoConfirmado", "IdLiquidacionDet", "n/a")
    assert run_on_demo(toolbox_env, demo, "kpi").status == "failed"
    with demo.datamart.connect() as conn:
        after = conn.exec_driver_sql("SELECT count(*), sum(\"MontoDesembolso\") FROM kpi").one()
    assert tuple(after) == tuple(before)


@pytest.mark.parametrize(("value", "reason"), [
    (30.5, "is not a whole number (30.5)"),
    (None, "is missing"),
])
def test_tablas_cxc_refuses_a_fractional_or_missing_dias_efectivo(demo, toolbox_env, value,
                                                                  reason):
    """cxc.md: DiasEfectivo is a whole number of days, required; the first bad document in
    id order is named."""
    first = _put(demo, src.colocaciones, "DiasEfectivo", "IdLiquidacionDet", value)
    _put(demo, src.colocaciones, "DiasEfectivo", "IdLiquidacionDet", 7.25, which="max")
    outcome = run_on_demo(toolbox_env, demo, "tablas-cxc")
    assert outcome.status == "failed"
    assert f"IdLiquidacionDet={first}" in outcome.error_message \
        or f"IdLiquidacionDet {first}" in outcome.error_message, outcome.error_message
    assert f"DiasEfectivo {reason}" in outcome.error_message, outcome.error_message


def test_tablas_cxc_takes_whole_days_stored_as_reals(demo, toolbox_env):
    _put(demo, src.colocaciones, "DiasEfectivo", "IdLiquidacionDet", 45.0)
    outcome = run_on_demo(toolbox_env, demo, "tablas-cxc")
    assert outcome.status == "success", outcome.error_message
