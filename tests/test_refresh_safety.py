"""Refreshes that cannot be fooled (issue 12), on SQLite and (``-m production``) MariaDB:
the shrink guard, honest dry runs, table locks, a safe demo, no silent databases, import
modes, fidelity of spellings.

Each test reproduces what a user saw on the previous main and checks what happens now.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, insert, select, text, update
from typer.testing import CliRunner

from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.demo import seed_demo
from toolbox_cli.errors import EXIT_FAILED, EXIT_LOCKED, EXIT_USAGE
from toolbox_cli.registry import get_task
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings, load_settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.lock import lock_for
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.ledger import runs as runs_table
from toolbox_cli.storage.tables.reportes import kpi
from toolbox_cli.tasks.tablas_cxc import CXC_TABLES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TODAY = date(2024, 3, 31)
REPORT_TABLES = ("kpi", "nuevos_clientes_nuevos_pagadores", "saldos")
SUMS = {"kpi": "ColocacionSoles", "nuevos_clientes_nuevos_pagadores": None, "saldos": "SaldoTotalCaja",
        "cxc_pagos_fact": "MontoPago", "cxc_dev_fact": "MontoDevolucion",
        "cxc_acumulado_dim": "SaldoTotalPen"}


@pytest.fixture
def cli(monkeypatch):
    def invoke(*args: str, **env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_settings()
        result = CliRunner().invoke(app, list(args))
        reset_settings()
        return result

    return invoke


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


def run(settings: Settings, engines: Engines, task: str, **params):  # type: ignore[no-untyped-def]
    spec = get_task(task)
    taken = {f.name for f in dataclasses.fields(spec.params)}
    base = {k: v for k, v in {"fecha_corte": TODAY, "hasta": TODAY, "dry_run": False}.items()
            if k in taken}
    return run_task(spec, settings, {**base, **params}, engines=engines)


@pytest.fixture
def demo(engines: Engines) -> Engines:
    seed_demo(engines.source, operations=1000, seed=8, today=TODAY)
    return engines


# ----------------------------------------------------------------------------- 1. the guard


@pytest.mark.parametrize(("task", "tables"), [("tablas-reportes", REPORT_TABLES),
                                              ("tablas-cxc", CXC_TABLES)])
def test_emptied_colocaciones_fails_the_refresh_and_keeps_every_table(
        demo, toolbox_env, task, tables):
    assert run(toolbox_env, demo, task).status == "success"
    before = fingerprint(demo, tables)
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    outcome = run(toolbox_env, demo, task)
    assert (outcome.status, outcome.exit_code) == ("failed", EXIT_FAILED)
    assert "colocaciones" in outcome.error_message and "empty" in outcome.error_message
    assert fingerprint(demo, tables) == before
    # --allow-shrink lets the run through, and the ledger says so.
    through = run(toolbox_env, demo, task, allow_shrink=True)
    assert through.status == "success", through.error_message
    stored = ledger.get_run(demo.datamart, through.run_id)
    assert stored.params["allow_shrink"] is True
    assert any("--allow-shrink" in w for w in stored.warnings)
    assert fingerprint(demo, tables) != before


def test_truncated_source_trips_the_guard_with_table_counts_and_what_to_do(demo, toolbox_env):
    assert run(toolbox_env, demo, "tablas-reportes").status == "success"
    before = fingerprint(demo, REPORT_TABLES)
    with demo.source.begin() as conn:  # a broken ETL copy: most operations missing
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 200))
    outcome = run(toolbox_env, demo, "tablas-reportes")
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
    assert run(settings, demo, "kpi").status == "success"
    with demo.datamart.connect() as conn:
        live = conn.execute(select(func.count()).select_from(kpi)).scalar_one()
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 900))
    assert run(settings, demo, "kpi").status == "success"  # about 10 % fewer: under 20 %
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 500))
    assert run(settings, demo, "kpi").error_type == "GuardTripped"
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"kpi": 60}')
    assert run(load_settings(), demo, "kpi").status == "success"
    with demo.datamart.connect() as conn:
        assert conn.execute(select(func.count()).select_from(kpi)).scalar_one() < live * 0.8


def test_unknown_table_in_the_shrink_overrides_is_a_configuration_error(demo, monkeypatch):
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"kpii": 60}')
    outcome = run(load_settings(), demo, "kpi")
    assert outcome.exit_code == EXIT_USAGE and "kpii" in outcome.error_message


def test_first_refresh_into_an_empty_table_is_not_guarded(demo, toolbox_env):
    outcome = run(toolbox_env, demo, "tablas-reportes")
    assert outcome.status == "success" and outcome.warnings_count >= 0
    assert not any("--allow-shrink" in w for w in outcome.warnings)


def test_a_dry_run_judges_the_guard_like_a_real_run(demo, toolbox_env):
    assert run(toolbox_env, demo, "kpi").status == "success"
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 200))
    outcome = run(toolbox_env, demo, "kpi", dry_run=True)
    assert outcome.error_type == "GuardTripped" and "a real run would" in outcome.error_message


# ----------------------------------------------------------------------------- 2. dry runs


def test_dry_runs_are_recorded_as_such_and_never_stand_for_a_refresh(demo, toolbox_env, cli):
    real = run(toolbox_env, demo, "kpi")
    with demo.source.begin() as conn:  # the next real run fails on a bad row
        conn.execute(update(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet == 5)
                     .values(Moneda="EUR"))
    failed = run(toolbox_env, demo, "kpi")
    assert failed.status == "failed"
    with demo.source.begin() as conn:
        conn.execute(update(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet == 5)
                     .values(Moneda="PEN"))
    dry = cli("kpi", "--dry-run", "--hasta", "2024-03-31", "--fecha-corte", "2024-03-31")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing written" in dry.stdout

    runs = json.loads(cli("status", "--json").stdout)
    assert [(r["task"], r["status"], r["dry_run"]) for r in runs[:3]] == [
        ("kpi", "success", True), ("kpi", "failed", False), ("kpi", "success", False)]
    assert runs[0]["rows_written"]["kpi"] > 0
    one = cli("status", str(runs[0]["id"]))
    assert "dry run" in one.stdout and "counted, not written" in one.stdout
    assert json.loads(cli("status", str(runs[0]["id"]), "--json").stdout)["dry_run"] is True
    assert " dry" in cli("status").stdout

    listed = {t["task"]: t for t in json.loads(cli("list", "--json").stdout)}
    assert listed["kpi"]["last_run"]["id"] == failed.run_id
    check = cli("status", "--check", "--json")
    assert check.exit_code == 1
    problems = json.loads(check.stdout)["problems"]
    assert [(p["kind"], p["run_id"]) for p in problems] == [("failed", failed.run_id)]
    assert real.run_id < failed.run_id


def test_schedule_show_ignores_cron_dry_runs(demo, toolbox_env, monkeypatch, cli):
    monkeypatch.setenv("TOOLBOX_TRIGGER", "cron")
    monkeypatch.setenv("TOOLBOX_SLOT", "07:00")
    real = run(toolbox_env, demo, "tablas-reportes")
    run(toolbox_env, demo, "tablas-reportes", dry_run=True)
    monkeypatch.delenv("TOOLBOX_TRIGGER")
    monkeypatch.delenv("TOOLBOX_SLOT")
    shown = json.loads(cli("schedule", "show", "--json", "--host-tz", "UTC").stdout)
    slot = next(r for r in shown if r["task_name"] == "tablas-reportes" and r["lima_time"] == "07:00")
    assert slot["last_run"]["id"] == real.run_id


# ----------------------------------------------------------------------------- 3. table locks


def test_a_run_cannot_start_while_another_task_holds_one_of_its_tables(demo, toolbox_env):
    """kpi and tablas-reportes both write kpi: the second is skipped, naming the holder."""
    holder_run = ledger.start_run(demo.datamart, "tablas-reportes", trigger="cron", slot="07:00",
                                  params={}, tables=list(REPORT_TABLES))
    lock = lock_for(demo.datamart, sorted(REPORT_TABLES))
    assert lock.acquire(wait=False)
    try:
        outcome = run(toolbox_env, demo, "kpi")
        other = run(toolbox_env, demo, "tablas-cxc")  # writes none of those tables
    finally:
        lock.release()
    assert (outcome.status, outcome.exit_code) == ("skipped", EXIT_LOCKED)
    message = outcome.error_message
    assert f"kpi is locked by run {holder_run} (tablas-reportes, host " in message
    assert f"pid {os.getpid()}" in message and "-05:00" in message and "--wait" in message
    stored = ledger.get_run(demo.datamart, outcome.run_id)
    assert stored.status == "skipped" and stored.error_message == message
    assert other.status == "success", other.error_message


def test_locks_are_taken_per_table_in_a_fixed_order(demo):
    first = lock_for(demo.datamart, ["saldos", "kpi"])
    second = lock_for(demo.datamart, ["kpi"])
    assert first.acquire(wait=False)
    try:
        assert not second.acquire(wait=False) and second.blocked_on == "kpi"
        third = lock_for(demo.datamart, ["cxc_dev_fact"])
        assert third.acquire(wait=False)
        third.release()
    finally:
        first.release()
    assert second.acquire(wait=False)
    second.release()


# ----------------------------------------------------------------------------- 4. demo


def test_demo_refuses_to_replace_imported_rows_unless_forced(engines, cli):
    first = cli("demo", "--operations", "50")
    assert first.exit_code == 0, first.output
    again = cli("demo", "--operations", "60")  # only demo rows: fine
    assert again.exit_code == 0, again.output
    assert cli("import", "sectores", str(EXAMPLES / "sectores.csv")).exit_code == 0
    with engines.source.connect() as conn:
        sectors = conn.execute(select(src.sector_pagadores)).all()
    refused = cli("demo", "--operations", "50")
    assert refused.exit_code == EXIT_USAGE
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "sector_pagadores" in refused.stderr and "import:sectores" in refused.stderr
    assert "--force" in refused.stderr
    with engines.source.connect() as conn:
        assert conn.execute(select(src.sector_pagadores)).all() == sectors
    forced = cli("demo", "--operations", "50", "--force")
    assert forced.exit_code == 0, forced.output
    demos = [r for r in ledger.recent_runs(engines.datamart, task="demo")]
    assert [r.status for r in demos] == ["success", "failed", "success", "success"]
    assert demos[1].error_type == "Refused"


def test_demo_refuses_rows_it_never_wrote(engines, cli):
    with engines.source.begin() as conn:  # an ETL copy filled the operations table
        conn.execute(insert(src.colocaciones).values(IdLiquidacionDet=1, IdLiquidacionCab=1))
    refused = cli("demo", "--operations", "20")
    assert refused.exit_code == EXIT_USAGE and "colocaciones holds 1 rows" in refused.stderr


# ----------------------------------------------------------------------------- 5. no silent databases


def test_a_command_in_the_wrong_directory_creates_nothing(tmp_path, monkeypatch, cli):
    for key in [k for k in os.environ if k.startswith("TOOLBOX_") and not k.startswith("TOOLBOX_TEST")]:
        monkeypatch.delenv(key)
    elsewhere = tmp_path / "some-other-dir"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for args in (["status"], ["list"], ["kpi"], ["import", "sectores", str(EXAMPLES / "sectores.csv")]):
        result = cli(*args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert f"no toolbox database at {elsewhere / 'data' / 'toolbox.db'}; run toolbox db init" \
            in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert list(elsewhere.iterdir()) == []


def test_a_mistyped_sqlite_path_creates_no_directories(tmp_path, cli, toolbox_env):
    url = f"sqlite:///{tmp_path}/no/such/dir/toolbox.db"
    result = cli("status", TOOLBOX_DATABASE_URL=url)
    assert result.exit_code == EXIT_USAGE and "no toolbox database at" in result.stderr
    assert not (tmp_path / "no").exists()


def test_a_database_without_a_toolbox_table_names_it(engines, cli):
    with engines.source.begin() as conn:
        conn.exec_driver_sql("DROP TABLE referidos_alias")
    result = cli("kpi")
    assert result.exit_code == EXIT_USAGE
    assert "source table referidos_alias is missing" in result.stderr
    assert "run toolbox db init" in result.stderr
    assert "OperationalError" not in result.output and "ProgrammingError" not in result.output


def test_a_database_with_no_toolbox_tables_is_refused(toolbox_env, cli, db_url):
    engine = create_engine(db_url)  # an existing, empty database (or SQLite file)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    engine.dispose()
    result = cli("status")
    assert result.exit_code == EXIT_USAGE
    assert "has no toolbox tables; run toolbox db init" in result.stderr


def test_an_old_ledger_is_refused_until_db_init_upgrades_it(engines, cli):
    """A ledger from before migrations (no dry_run column, no version row) keeps its rows."""
    with engines.datamart.begin() as conn:
        conn.execute(insert(runs_table).values(
            task="kpi", status="success", trigger="cron", host="h", pid=1,
            started_at=ledger.utcnow(), warnings_count=0, version="0.1.0"))
        for table in ("toolbox_schema_version", "toolbox_schedule_installs", "toolbox_notifications"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
    if engines.datamart.dialect.name == "sqlite":
        with engines.datamart.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN tables")
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN dry_run")
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN retry_of")
    else:
        with engines.datamart.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN tables, DROP COLUMN dry_run, "
                                 "DROP COLUMN retry_of")
    refused = cli("status")
    assert refused.exit_code == EXIT_USAGE
    assert "ledger" in refused.stderr and "run toolbox db init to upgrade it" in refused.stderr
    upgraded = cli("--debug", "db", "init")
    assert upgraded.exit_code == 0, upgraded.output
    runs = json.loads(cli("status", "--json").stdout)
    assert [(r["task"], r["dry_run"]) for r in runs] == [("kpi", False)]


def test_the_head_revision_in_code_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from toolbox_cli.storage.schema import LEDGER_HEAD, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == LEDGER_HEAD


# ----------------------------------------------------------------------------- 6. import modes


def test_a_three_row_saldos_import_keeps_the_rest_of_the_history(engines, cli, tmp_path):
    seed_demo(engines.source, operations=50, seed=1, today=TODAY)
    with engines.source.connect() as conn:
        history = conn.execute(select(func.count()).select_from(src.saldos_caja)).scalar_one()
        days = conn.execute(select(src.saldos_caja.c.FechaOperacion)
                            .order_by(src.saldos_caja.c.FechaOperacion).limit(2)).scalars().all()
    header = ("FechaOperacion,EvolucionCaja,CostoExcesoCaja,IngresoNoRecibidoPorExcesoCaja,"
              "MontoOvernight,IngresosOvernightNeto,SaldoTotalCaja")
    path = tmp_path / "saldos.csv"
    path.write_text(f"{header}\n{days[0]:%d/%m/%Y},1,2,3,4,5,6\n{days[1]:%d/%m/%Y},1,2,3,4,5,7\n"
                    "01/04/2099,1,2,3,4,5,8\n", encoding="utf-8")
    result = cli("import", "saldos", str(path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["import"]
    assert (report["added"], report["replaced"], report["kept"]) == (1, 2, history - 2)
    with engines.source.connect() as conn:
        assert conn.execute(select(func.count()).select_from(src.saldos_caja)).scalar_one() == history + 1
        totals = dict(conn.execute(select(src.saldos_caja.c.FechaOperacion,
                                          src.saldos_caja.c.SaldoTotalCaja)
                                   .where(src.saldos_caja.c.FechaOperacion.in_(days))).all())
    assert totals == {days[0]: Decimal("6.00"), days[1]: Decimal("7.00")}


def test_a_wrong_stored_rate_is_corrected_with_overwrite(engines, cli, tmp_path):
    with engines.source.begin() as conn:
        conn.execute(insert(src.tipo_cambio).values(
            TipoCambioFecha="2024-03-04", TipoCambioCompra=Decimal("37.0"),
            TipoCambioVenta=Decimal("37.1")))
    path = tmp_path / "tc.csv"
    path.write_text("FECHA,COMPRA,VENTA\n04/03/2024,3.700,3.710\n05/03/2024,3.705,3.712\n")
    kept = json.loads(cli("import", "tipo-cambio", str(path), "--json").stdout)["import"]
    assert (kept["added"], kept["conflicts"]) == (1, 1)
    fixed = cli("import", "tipo-cambio", str(path), "--overwrite", "--json")
    assert fixed.exit_code == 0, fixed.output
    report = json.loads(fixed.stdout)["import"]
    assert (report["mode"], report["replaced"], report["added"]) == ("overwrite", 2, 0)
    with engines.source.connect() as conn:
        venta = conn.execute(select(src.tipo_cambio.c.TipoCambioVenta)
                             .where(src.tipo_cambio.c.TipoCambioFecha == "2024-03-04")).scalar_one()
    assert venta == Decimal("3.710000")
    misplaced = cli("import", "sectores", str(EXAMPLES / "sectores.csv"), "--overwrite")
    assert misplaced.exit_code == EXIT_USAGE and "only applies to" in misplaced.stderr


def test_a_sector_merge_keeps_the_other_payers(engines, cli, tmp_path):
    assert cli("import", "sectores", str(EXAMPLES / "sectores.csv")).exit_code == 0
    with engines.source.connect() as conn:
        before = dict(conn.execute(select(src.sector_pagadores.c.RUCPagador,
                                          src.sector_pagadores.c.Sector)).all())
    ruc = sorted(before)[0]
    path = tmp_path / "s.csv"
    path.write_text(f"RUC,SECTOR,GRUPO ECO.\n{ruc},Pesca,\n20999999999,Minería,\n")
    report = json.loads(cli("import", "sectores", str(path), "--json").stdout)["import"]
    assert (report["added"], report["replaced"], report["kept"]) == (1, 1, len(before) - 1)
    with engines.source.connect() as conn:
        after = dict(conn.execute(select(src.sector_pagadores.c.RUCPagador,
                                         src.sector_pagadores.c.Sector)).all())
    assert after == {**before, ruc: "Pesca", "20999999999": "Minería"}


# ----------------------------------------------------------------------------- 8. fidelity


def test_tipo_pago_reads_the_same_in_kpi_acumulado_and_the_cxc_tables(demo, toolbox_env):
    with demo.source.begin() as conn:
        det = conn.execute(select(src.colocaciones_pagos.c.IdLiquidacionDet)
                           .order_by(src.colocaciones_pagos.c.IdLiquidacionPago).limit(1)).scalar_one()
        conn.execute(update(src.colocaciones_pagos).where(src.colocaciones_pagos.c.IdLiquidacionDet == det)
                     .values(TipoPago=" Pago Total "))
    assert run(toolbox_env, demo, "kpi-acumulado").status == "success"
    assert run(toolbox_env, demo, "tablas-cxc").status == "success"
    with demo.datamart.connect() as conn:
        acumulado = conn.execute(text(
            "SELECT TipoPago FROM kpi_acumulado k JOIN cxc_acumulado_dim d "
            "ON d.CodigoLiquidacion = k.CodigoLiquidacion AND d.NroDocumento = k.NroDocumento "
            f"WHERE d.IdLiquidacionDet = {det}")).scalars().all()
        facts = conn.execute(text(
            f"SELECT DISTINCT TipoPago FROM cxc_pagos_fact WHERE IdLiquidacionDet = {det}")).scalars().all()
        real = conn.execute(text(
            f"SELECT TipoPagoReal FROM cxc_acumulado_dim WHERE IdLiquidacionDet = {det}")).scalar_one()
    assert facts == ["PAGO TOTAL"] and real == "PAGO TOTAL"
    assert set(acumulado) <= {"PAGO TOTAL"}


def test_off_system_dias_mora_null_is_zero_in_kpi_acumulado(demo, toolbox_env):
    with demo.source.begin() as conn:
        conn.execute(update(src.operaciones_fuera_sistema).values(DiasMora=None))
    assert run(toolbox_env, demo, "kpi-acumulado").status == "success"
    with demo.datamart.connect() as conn:
        values = conn.execute(text(
            "SELECT DISTINCT DiasMora FROM kpi_acumulado WHERE FueraSistema = 'si'")).scalars().all()
    assert values == [0]


# ----------------------------------------------------------------------------- 9. status filters


def test_status_refuses_unknown_filters_listing_the_valid_ones(engines, cli):
    bad_status = cli("status", "--status", "sucess")
    assert bad_status.exit_code == EXIT_USAGE
    assert "unknown status 'sucess'; use one of: running, success, failed, skipped, crashed" \
        in bad_status.stderr
    bad_task = cli("status", "--task", "kpii")
    assert bad_task.exit_code == EXIT_USAGE
    assert "unknown task 'kpii' (did you mean kpi?)" in bad_task.stderr
    assert "tablas-cxc" in bad_task.stderr
    assert cli("status", "--task", "kpi", "--status", "failed").exit_code == 0
