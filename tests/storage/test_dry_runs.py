"""A dry run is recorded as one and never stands for a task's refresh: not in list, freshness,
the schedule nor monitoring.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from tests.support.runs import run_on_demo
from toolbox_cli import ledger
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.ledger import runs as runs_table


def test_dry_runs_are_recorded_as_such_and_never_stand_for_a_refresh(demo, toolbox_env, cli):
    real = run_on_demo(toolbox_env, demo, "kpi")
    with demo.source.begin() as conn:  # the next real run fails on a bad row
        conn.execute(update(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet == 5)
                     .values(Moneda="EUR"))
    failed = run_on_demo(toolbox_env, demo, "kpi")
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
    assert runs[0]["rows_written"] == real.rows  # what a real run writes, counted
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
    # The tables' age runs from the real success, not from the dry run after it: moved an
    # hour back, the real run's end is what list reports (one second could be both).
    an_hour_earlier = ledger.get_run(demo.datamart, real.run_id).finished_at - timedelta(hours=1)
    with demo.datamart.begin() as conn:
        conn.execute(update(runs_table).where(runs_table.c.id == real.run_id)
                     .values(finished_at=an_hour_earlier))
    ended = json.loads(cli("status", str(real.run_id), "--json").stdout)["finished_at"]
    kpi = {t["task"]: t for t in json.loads(cli("list", "--json").stdout)}["kpi"]
    assert kpi["refreshed_at"] == ended
    assert kpi["age_seconds"] >= 3600


def test_schedule_show_ignores_cron_dry_runs(demo, toolbox_env, monkeypatch, cli):
    monkeypatch.setenv("TOOLBOX_TRIGGER", "cron")
    monkeypatch.setenv("TOOLBOX_SLOT", "07:00")
    real = run_on_demo(toolbox_env, demo, "tablas-reportes")
    run_on_demo(toolbox_env, demo, "tablas-reportes", dry_run=True)
    monkeypatch.delenv("TOOLBOX_TRIGGER")
    monkeypatch.delenv("TOOLBOX_SLOT")
    shown = json.loads(cli("schedule", "show", "--json", "--host-tz", "UTC").stdout)
    slot = next(r for r in shown if r["task_name"] == "tablas-reportes" and r["lima_time"] == "07:00")
    assert slot["last_run"]["id"] == real.run_id
