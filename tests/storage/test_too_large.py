"""Numbers too large for their column are input errors naming where they are (issue 20,
item 8): a source amount (table, key, column), a computed amount (table, column, row), a
file's cell (file, line, column); never Decimal's InvalidOperation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from tests.support.runs import run_on_demo
from tests.support.selftest import frames, names, selftest_items
from toolbox_cli.errors import TaskFailed
from toolbox_cli.jobs.imports import import_job
from toolbox_cli.runner import run_task
from toolbox_cli.storage import writer
from toolbox_cli.storage.tables import contract as src


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("task", "table", "column", "key"), [
    ("kpi", src.colocaciones, "NetoConfirmado", "IdLiquidacionDet"),  # the example
    ("tablas-cxc", src.colocaciones_pagos, "MontoPago", "IdLiquidacionPago"),
    ("tablas-reportes", src.saldos_caja, "SaldoTotalCaja", "id"),
])
def test_a_source_amount_beyond_its_decimal_fails_naming_the_row(demo, toolbox_env, task, table,
                                                                 column, key):
    """SQLite keeps any number in a DECIMAL column (MariaDB refuses it at the insert)."""
    with demo.source.begin() as conn:
        first = conn.execute(select(func.min(table.c[key]))).scalar_one()
        conn.execute(update(table).where(table.c[key] == first).values({column: 1e30}))
    outcome = run_on_demo(toolbox_env, demo, task)
    assert outcome.status == "failed"
    assert outcome.error_message == (
        f"{table.name} {key}={first}: 1e+30 is too large for {table.name}.{column}, a "
        "DECIMAL(18,2) (at most 16 digits before the decimal point); fix that row")


def test_a_computed_amount_beyond_its_decimal_fails_and_keeps_the_table(engines) -> None:
    """The writer's own check, on both backends; the boundary is 10**16 for DECIMAL(18,2)."""
    def write(amount: float) -> dict[str, int]:
        with writer.replacing(engines.datamart, [selftest_items], tag="t1",
                              locked={"selftest_items"}, judge=lambda *_: None) as out:
            for frame in frames([{"name": "a", "amount": 1.0}, {"name": "b", "amount": amount}]):
                out.add(selftest_items, frame)
        return out.counts

    assert write(9_999_999_999_999_998.0) == {"selftest_items": 2}  # fits
    with pytest.raises(TaskFailed, match=r"1e\+16 is too large for selftest_items\.amount"):
        write(1e16)
    with pytest.raises(TaskFailed, match=r"1e\+30 is too large"):
        write(-1e30)
    assert names(engines.datamart) == ["a", "b"]


def _csv(tmp_path: Path, name: str, header: str, row: str) -> Path:
    path = tmp_path / name
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    return path


SALDOS_HEADER = ("FechaOperacion,EvolucionCaja,CostoExcesoCaja,IngresoNoRecibidoPorExcesoCaja,"
                 "MontoOvernight,IngresosOvernightNeto,SaldoTotalCaja")


@pytest.mark.parametrize(("kind", "header", "row", "where"), [
    ("saldos", SALDOS_HEADER, "01/03/2024,1,2,3,4,5,1e308",  # the example
     "saldos.csv:2: SaldoTotalCaja: 1e+308 is too large for saldos_caja.SaldoTotalCaja, a "
     "DECIMAL(18,2)"),
    ("saldos", SALDOS_HEADER, "01/03/2024,-1e17,2,3,4,5,6",
     "saldos.csv:2: EvolucionCaja: -1e+17 is too large for saldos_caja.EvolucionCaja"),
])
def test_a_file_cell_beyond_its_decimal_rejects_the_file(tmp_path, engines, toolbox_env, kind,
                                                        header, row, where) -> None:
    path = _csv(tmp_path, f"{kind}.csv", header, row)
    job = import_job(kind, path)
    done = job.finish(run_task(job.spec, toolbox_env, job.params, engines=engines))
    assert done.exit_code == 2
    assert any(where in e for e in done.errors), done.errors
