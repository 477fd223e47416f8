"""Task `tablas-reportes` through the runner and a real database (SQLite; MariaDB marked
production): the worked example of reportes.md §7, the three-table swap that is all or
nothing, and the `actualizacion_reportes` rows the dashboards read."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, inspect, select, text
from typer.testing import CliRunner

from tests.support.runs import run_named
from toolbox_cli.demo import seed_demo
from toolbox_cli.errors import EXIT_FAILED, EXIT_OK
from toolbox_cli.pipelines.reportes import DETALLE_MAX, detalle_of
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.reportes import (
    actualizacion_reportes,
    kpi,
    nuevos_clientes_nuevos_pagadores,
    saldos,
)


@pytest.fixture(autouse=True)
def _worked_examples_are_small(clean_env, monkeypatch):  # type: ignore[no-untyped-def]
    """The worked examples are books of a few hand-made rows that leave the columns they do
    not need blank, on purpose: decision 21's limit is off here and tested on its own
    (tests/storage/test_coercion_limit.py)."""
    monkeypatch.setenv("TOOLBOX_MAX_COERCED_PERCENT", "100")


MARCH_END = date(2024, 3, 31)
PARAMS = {"desde": date(2019, 7, 1), "hasta": MARCH_END, "fecha_corte": MARCH_END,
          "dry_run": False}
LIMA = ZoneInfo("America/Lima")


def _colocacion(det: int, **fields) -> dict:  # type: ignore[no-untyped-def]
    row = {
        "IdLiquidacionDet": det, "IdLiquidacionCab": det, "Estado": "Vigente",
        "FacturasGeneradas": f"F001-{det:05d}", "CodigoSolicitud": None,
        "DeudaAnterior": 0, "FinanciamientoPorc": 90,
    }
    row.update(fields)
    return row


def load_worked_example(engines: Engines) -> None:
    """The inputs of reportes.md §7.1 in the source tables, plus three days of balances."""
    rows = {
        src.tipo_cambio: [
            {"TipoCambioFecha": "2024-03-04", "TipoCambioCompra": 3.700, "TipoCambioVenta": 3.710},
            {"TipoCambioFecha": "2024-03-12", "TipoCambioCompra": 3.750, "TipoCambioVenta": 3.760},
        ],
        src.colocaciones: [
            _colocacion(1, CodigoLiquidacion="LIQ2403000101", NroDocumento="E001- 123",
                        RUCCliente="20111111111 ", RazonSocialCliente="CLIENTE UNO SAC",
                        RUCPagador="2022222 2222", RazonSocialPagador="PAGADOR DOS SA",
                        Moneda="PEN", TipoOperacion="FACTORING", Ejecutivo="Perez, Ana",
                        FechaOperacion=date(2024, 3, 4), NetoConfirmado=10000,
                        FondoResguardo=1000, MontoDesembolso=8800, DiasEfectivo=30,
                        ComisionEstructuracionConIGV=118, Interes=150,
                        GastosDiversosConIGV=59, TasaNominalMensualPorc=1.5),
            _colocacion(2, CodigoLiquidacion="LIQ2403000102-001-R", NroDocumento="F002-456",
                        RUCCliente="20555555555", RazonSocialCliente="CLIENTE CINCO SAC",
                        RUCPagador="20444444444", RazonSocialPagador="PAGADOR CUATRO SA",
                        Moneda="USD", TipoOperacion="CONFIRMING", Ejecutivo="Rojas, Carlos",
                        FechaOperacion=date(2024, 3, 12), NetoConfirmado=5000,
                        FondoResguardo=500, MontoDesembolso=4400, DiasEfectivo=45,
                        ComisionEstructuracionConIGV=59, Interes=80,
                        GastosDiversosConIGV=0, TasaNominalMensualPorc=0.012),
            _colocacion(3, CodigoLiquidacion="LIQ099-2024", NroDocumento="E001-9",
                        RUCCliente="20333333333", RazonSocialCliente="CLIENTE TRES SAC",
                        RUCPagador="20222222222", RazonSocialPagador="PAGADOR DOS SA",
                        Moneda="PEN", TipoOperacion="FACTORING", Ejecutivo="Perez, Ana",
                        FechaOperacion=date(2024, 3, 20), NetoConfirmado=1, FondoResguardo=0,
                        MontoDesembolso=1, DiasEfectivo=60, ComisionEstructuracionConIGV=0,
                        Interes=0, GastosDiversosConIGV=0, TasaNominalMensualPorc=1),
        ],
        src.operaciones_fuera_sistema: [{
            "Hoja": "PEN", "Fila": 1, "CodigoLiquidacion": "LIQ099-2024",
            "NroDocumento": "E001-9", "RUCCliente": "20333333333",
            "RazonSocialCliente": "CLIENTE TRES SAC", "RUCPagador": "20222222222",
            "RazonSocialPagador": "PAGADOR DOS SA", "Moneda": "PEN", "TipoOperacion": "Factoring",
            "Ejecutivo": "PEREZ, ANA", "FechaOperacion": date(2024, 3, 20),
            "NetoConfirmado": 2000, "FondoResguardo": 200, "MontoDesembolso": 1780,
            "DiasEfectivo": 60, "ComisionEstructuracionConIGV": 23.60, "Interes": 40,
            "GastosDiversosConIGV": 11.80, "TasaNominalMensualPorc": 1.5, "MontoPago": 0,
            "Estado": "", "FacturasGeneradas": "",
        }],
        src.referidos: [{"CodigoLiquidacion": "LIQ2403000101", "Referencia": "leo",
                         "Ejecutivo": "Perez, Ana", "Mes": date(2024, 3, 1)}],
        src.referidos_alias: [{"Alias": "LEO", "Canonico": "Leonardo, Quispe"}],
        src.sector_pagadores: [{"RUCPagador": "20222222222", "Sector": "Comercio",
                                "GrupoEco": None}],
        src.saldos_caja: [
            {"FechaOperacion": date(2024, 3, 2), "EvolucionCaja": 0, "SaldoTotalCaja": 1500.25},
            {"FechaOperacion": date(2024, 3, 1), "EvolucionCaja": -2000.5,
             "SaldoTotalCaja": -500.25, "MontoOvernight": None},
            {"FechaOperacion": date(2024, 3, 2), "EvolucionCaja": 10, "SaldoTotalCaja": 1510.25},
        ],
    }
    with engines.source.begin() as conn:
        for table, table_rows in rows.items():
            conn.execute(table.insert(), table_rows)


def run_tablas_reportes(settings, engines: Engines, **overrides):  # type: ignore[no-untyped-def]
    return run_named("tablas-reportes", settings, engines, **{**PARAMS, **overrides})


def _all(engines: Engines, table, *order) -> list[tuple]:  # type: ignore[no-untyped-def]
    with engines.datamart.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*(order or (table.c.id,))))]


def _actualizaciones(engines: Engines) -> list[tuple]:
    with engines.datamart.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(actualizacion_reportes.c.ultima_actualizacion, actualizacion_reportes.c.estado,
                   actualizacion_reportes.c.detalle)
            # The legacy column keeps whole seconds on MariaDB, so two runs of one test can
            # tie; these tests run Success before Error, and 'Success' > 'Error'.
            .order_by(actualizacion_reportes.c.ultima_actualizacion,
                      actualizacion_reportes.c.estado.desc()))]


def _fingerprint(engines: Engines) -> dict[str, str]:
    """A digest of every row of the three tables (ids included)."""
    out = {}
    for table in (kpi, nuevos_clientes_nuevos_pagadores, saldos):
        digest = hashlib.sha256()
        for row in _all(engines, table):
            digest.update(repr(row).encode())
        out[table.name] = f"{len(_all(engines, table))}:{digest.hexdigest()}"
    return out


def _staging_left(engines: Engines) -> list[str]:
    return [t for t in inspect(engines.datamart).get_table_names() if "__stg_" in t or "__old_" in t]


def test_worked_example_fills_the_three_tables_and_logs_success(engines, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    load_worked_example(engines)
    outcome = run_tablas_reportes(toolbox_env, engines)
    assert (outcome.status, outcome.exit_code) == ("success", EXIT_OK), outcome.error_message
    assert outcome.rows == {"kpi": 3, "nuevos_clientes_nuevos_pagadores": 4, "saldos": 3}

    march = datetime(2024, 3, 1)
    nuevos = {row[1:] for row in _all(engines, nuevos_clientes_nuevos_pagadores)}
    assert nuevos == {  # reportes.md §7.4
        (march, "Perez, Ana", "20111111111", None, "Factoring", "CLIENTE UNO SAC"),
        (march, "Perez, Ana", "20333333333", None, "Factoring", "CLIENTE TRES SAC"),
        (march, "Perez, Ana", None, "20222222222", "Factoring", "PAGADOR DOS SA"),
        (march, "Rojas, Carlos", None, "20444444444", "Confirming", "PAGADOR CUATRO SA"),
    }
    # Saldos pass through in input order, duplicated day and negatives kept, PEN as given.
    assert [row[1:] for row in _all(engines, saldos)] == [
        (datetime(2024, 3, 2), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"),
         Decimal("0.00"), Decimal("0.00"), Decimal("1500.25")),
        (datetime(2024, 3, 1), Decimal("-2000.50"), Decimal("0.00"), Decimal("0.00"),
         Decimal("0.00"), Decimal("0.00"), Decimal("-500.25")),
        (datetime(2024, 3, 2), Decimal("10.00"), Decimal("0.00"), Decimal("0.00"),
         Decimal("0.00"), Decimal("0.00"), Decimal("1510.25")),
    ]
    with engines.datamart.connect() as conn:
        codes = set(conn.execute(select(kpi.c.CodigoLiquidacion)).scalars())
    assert codes == {"LIQ2403000101", "LIQ2403000102-001", "LIQ099-2024"}

    ((when, estado, detalle),) = _actualizaciones(engines)
    assert (estado, detalle) == ("Success", None)
    lima_now = datetime.now(LIMA).replace(tzinfo=None)
    assert abs(lima_now - when) < timedelta(minutes=2)  # Lima wall time, not UTC
    assert not _staging_left(engines)


def test_failure_while_building_the_third_table_keeps_all_three_old_tables(
        engines, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    seed_demo(engines.source, operations=1000, seed=5, today=MARCH_END)
    first = run_tablas_reportes(toolbox_env, engines)
    assert first.status == "success", first.error_message
    assert all(first.rows[name] > 0 for name in ("kpi", "nuevos_clientes_nuevos_pagadores",
                                                 "saldos"))
    before = _fingerprint(engines)

    # Change what the first two tables would become (within the shrink guard's limit), then
    # break the third one's source: kpi and nuevos_clientes are built in staging, reading
    # saldos_caja fails, nothing is swapped in.
    with engines.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 900))
        conn.exec_driver_sql("ALTER TABLE saldos_caja RENAME COLUMN EvolucionCaja TO Evolucion")

    second = run_tablas_reportes(toolbox_env, engines)
    assert (second.status, second.exit_code) == ("failed", EXIT_FAILED)
    assert "saldos_caja" in second.error_message
    assert _fingerprint(engines) == before
    assert not _staging_left(engines)

    (ok, error) = _actualizaciones(engines)
    assert ok[1:] == ("Success", None)
    assert error[1] == "Error" and "saldos_caja" in error[2] and len(error[2]) <= DETALLE_MAX


def test_new_clients_on_demo_data_are_first_factoring_months(engines, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    seed_demo(engines.source, operations=1000, seed=11, today=MARCH_END)
    outcome = run_tablas_reportes(toolbox_env, engines)
    assert outcome.status == "success", outcome.error_message
    with engines.datamart.connect() as conn:
        first_factoring = dict(conn.execute(
            select(kpi.c.RUCCliente, func.min(kpi.c.Mes))
            .where(kpi.c.TipoOperacion == "Factoring", kpi.c.Mes >= "2019-07")
            .group_by(kpi.c.RUCCliente)).all())
        first_any = dict(conn.execute(
            select(kpi.c.RUCPagador, func.min(kpi.c.Mes))
            .where(kpi.c.TipoOperacion.in_(["Factoring", "Confirming", "Capital de Trabajo"]),
                   kpi.c.Mes >= "2019-07")
            .group_by(kpi.c.RUCPagador)).all())
        nuevos = conn.execute(select(nuevos_clientes_nuevos_pagadores)).mappings().all()
        saldos_count = conn.execute(select(func.count()).select_from(saldos)).scalar_one()
    with engines.source.connect() as conn:
        source_days = conn.execute(select(func.count()).select_from(src.saldos_caja)).scalar_one()
    clients = {r["RUCCliente"]: r for r in nuevos if r["RUCCliente"]}
    payers = {r["RUCPagador"]: r for r in nuevos if r["RUCPagador"]}
    assert len(clients) + len(payers) == len(nuevos)  # each RUC credited once
    assert {ruc: f"{r['FechaOperacion']:%Y-%m}" for ruc, r in clients.items()} == first_factoring
    assert {ruc: f"{r['FechaOperacion']:%Y-%m}" for ruc, r in payers.items()} == first_any
    assert all(r["RazonSocial"] for r in nuevos)
    assert saldos_count == source_days


def test_dry_run_counts_and_writes_nothing(engines, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    load_worked_example(engines)
    outcome = run_tablas_reportes(toolbox_env, engines, dry_run=True)
    assert outcome.status == "success", outcome.error_message
    assert outcome.rows == {"kpi": 3, "nuevos_clientes_nuevos_pagadores": 4, "saldos": 3}
    assert _all(engines, kpi) == [] and _all(engines, saldos) == []
    assert _actualizaciones(engines) == []


# SQLite keeps any text in a DATE column, as a permissive source might; MariaDB refuses it.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_bad_balance_row_fails_the_run_and_logs_error(engines, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    load_worked_example(engines)
    assert run_tablas_reportes(toolbox_env, engines).status == "success"
    before = _fingerprint(engines)
    # A day the sheet typed in the wrong format, stored as text by a permissive source.
    with engines.source.begin() as conn:
        conn.execute(text("INSERT INTO saldos_caja (FechaOperacion, SaldoTotalCaja) "
                          "VALUES ('31/02/2024', 1)"))
    outcome = run_tablas_reportes(toolbox_env, engines)
    assert outcome.status == "failed"
    assert "saldos_caja id=4" in outcome.error_message and "'31/02/2024'" in outcome.error_message
    assert _fingerprint(engines) == before
    assert [a[1] for a in _actualizaciones(engines)] == ["Success", "Error"]


def test_detalle_is_cut_to_the_column_size() -> None:
    long = detalle_of(ValueError("x" * 1000))
    assert len(long) == DETALLE_MAX and long.endswith("…")
    assert detalle_of(ValueError("short")) == "short"
    assert detalle_of(KeyboardInterrupt()) == "KeyboardInterrupt"


def test_cli_runs_the_task_and_prints_rows_per_table(engines, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    from toolbox_cli.cli import app
    from toolbox_cli.cli.common import reset_settings

    load_worked_example(engines)
    reset_settings()
    result = CliRunner().invoke(app, ["tablas-reportes", "--hasta", "2024-03-31",
                                      "--fecha-corte", "2024-03-31", "--json"])
    reset_settings()
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "success"
    assert data["rows"] == {"kpi": 3, "nuevos_clientes_nuevos_pagadores": 4, "saldos": 3}


def test_cli_rejects_hasta_before_desde(toolbox_env) -> None:  # type: ignore[no-untyped-def]
    from toolbox_cli.cli import app
    from toolbox_cli.cli.common import reset_settings

    reset_settings()
    result = CliRunner().invoke(app, ["tablas-reportes", "--desde", "2024-03-01",
                                      "--hasta", "2024-01-31"])
    reset_settings()
    assert result.exit_code == 2
    assert "swap" in result.output
