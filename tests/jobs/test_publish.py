"""``toolbox publish DIR`` and the cron wrapper with TOOLBOX_STATUS_DIR (issue 22, item 3):
the legacy API's JSON shapes field by field, the Redis key, the page's content, atomic
files, on SQLite and MariaDB."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from tests.support.paths import REPO
from tests.support.runs import run_on_demo
from toolbox_cli import ledger
from toolbox_cli.registry import all_tasks
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables import contract as src

STATUS_FIELDS = ["task_id", "status", "result", "ready", "successful", "failed", "error"]


def _read(directory: Path, relative: str) -> Any:
    return json.loads((directory / relative).read_text(encoding="utf-8"))


@pytest.fixture
def runs(demo: Engines, toolbox_env: Settings) -> dict[str, int]:
    """A success, a failure (the documents emptied), a skip (a lock held) and a run still
    running, in the ledger of the demo book."""
    ok = run_on_demo(toolbox_env, demo, "tablas-reportes")
    assert ok.status == "success"
    cxc = run_on_demo(toolbox_env, demo, "tablas-cxc")
    assert cxc.status == "success"
    running = ledger.start_run(demo.datamart, "kpi-acumulado", trigger="manual", slot=None,
                               params={}, tables=["kpi_acumulado"])
    skipped = ledger.record_skipped(demo.datamart, "kpi", trigger="cron", slot="07:00",
                                    params={}, holder="kpi is being written by run 1 (tablas-reportes)")
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones_devoluciones))
        conn.execute(delete(src.colocaciones_pagos))
        conn.execute(delete(src.colocaciones))
    failed = run_on_demo(toolbox_env, demo, "tablas-reportes")
    assert failed.status == "failed"
    return {"ok": ok.run_id, "cxc": cxc.run_id, "running": running, "skipped": skipped,
            "failed": failed.run_id}


def test_the_json_files_have_the_legacy_shapes(cli: Any, runs: dict[str, int], demo: Engines,
                                               tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = cli("publish", str(out))
    assert result.exit_code == 0, result.output
    available = _read(out, "tasks/available.json")
    assert list(available) == ["tasks"]
    by_command = {t["command"]: t for t in available["tasks"]}
    assert set(by_command) == set(all_tasks())
    assert by_command["tablas-reportes"] == {
        "name": "toolbox.tablas_reportes", "command": "tablas-reportes",
        "description": all_tasks()["tablas-reportes"].description,
        "tables": ["kpi", "nuevos_clientes_nuevos_pagadores", "saldos"]}
    assert [by_command[c]["name"] for c in ("tipo-cambio", "kpi-acumulado", "tablas-cxc")] == \
        ["toolbox.tipo_cambio", "toolbox.kpi_acumulado", "toolbox.tablas_cxc"]

    scheduled = _read(out, "tasks/scheduled.json")
    assert scheduled["timezone"] == "America/Lima"
    entries = scheduled["scheduled_tasks"]
    assert [list(e) for e in entries] == [["name", "task", "schedule", "description",
                                           "next_run"]] * len(entries)
    assert {("tablas-reportes 07:00", "toolbox.tablas_reportes", "0 7 * * *"),
            ("tablas-reportes 18:00", "toolbox.tablas_reportes", "0 18 * * *")} <= \
        {(e["name"], e["task"], e["schedule"]) for e in entries}
    assert len(entries) == len(schedule.scheduled_slots(Settings()))
    assert all(e["next_run"].endswith("-05:00") for e in entries)

    ok = _read(out, f"tasks/status/{runs['ok']}.json")
    assert list(ok) == STATUS_FIELDS
    rows = ledger.get_run(demo.datamart, runs["ok"]).rows_written
    assert ok["task_id"] == str(runs["ok"]) and ok["status"] == "SUCCESS"
    assert (ok["ready"], ok["successful"], ok["failed"], ok["error"]) == (True, True, False, None)
    assert ok["result"]["status"] == "success"
    assert ok["result"]["message"] == "Tablas de reportes actualizadas exitosamente"
    assert ok["result"]["records"] == rows and rows["kpi"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-05:00", ok["result"]["timestamp"])

    failed = _read(out, f"tasks/status/{runs['failed']}.json")
    message = ledger.get_run(demo.datamart, runs["failed"]).error_message
    assert failed == {"task_id": str(runs["failed"]), "status": "FAILURE", "result": None,
                      "ready": True, "successful": False, "failed": True, "error": message}
    running = _read(out, f"tasks/status/{runs['running']}.json")
    assert (running["status"], running["ready"], running["failed"]) == ("STARTED", False, False)
    skipped = _read(out, f"tasks/status/{runs['skipped']}.json")
    assert (skipped["status"], skipped["ready"], skipped["successful"], skipped["failed"]) == \
        ("REVOKED", True, False, False)
    assert "being written by run 1" in skipped["error"]

    # The Redis key after the newest finished tablas-reportes run: the failure.
    key = _read(out, "ActualizarTablasReportesCronjob_status.json")
    assert list(key) == ["status", "timestamp", "error"]
    assert key["status"] == "Error" and key["error"] == message
    assert key["timestamp"].endswith("-05:00")
    assert not [p for p in out.rglob(".*")], "no temporary file is left"


def test_the_redis_key_is_active_after_a_success(cli: Any, demo: Engines,
                                                 toolbox_env: Settings, tmp_path: Path) -> None:
    assert cli("publish", str(tmp_path)).exit_code == 0
    assert _read(tmp_path, "ActualizarTablasReportesCronjob_status.json") == {
        "status": "Error", "timestamp": None, "error": "tablas-reportes has not run yet"}
    assert run_on_demo(toolbox_env, demo, "tablas-reportes").status == "success"
    assert cli("publish", str(tmp_path)).exit_code == 0
    key = _read(tmp_path, "ActualizarTablasReportesCronjob_status.json")
    assert (key["status"], key["error"]) == ("Active", None)


def test_the_page_shows_every_task_and_is_self_contained(cli: Any, runs: dict[str, int],
                                                         demo: Engines, tmp_path: Path) -> None:
    assert cli("publish", str(tmp_path)).exit_code == 0
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script|<link|@import|url\(|src=|href=", page, re.I)
    assert '<meta name=viewport content="width=device-width,initial-scale=1">' in page
    for task in all_tasks():
        assert f'id="task-{task}"' in page
    card = page.split('id="task-tablas-cxc"')[1].split("</section>")[0]
    assert ">success</span>" in card and "never refreshed" not in card
    last = ledger.get_run(demo.datamart, runs["cxc"])
    for table, rows in last.rows_written.items():
        assert f"<td>{table}</td><td class=n>{rows:,}</td>" in card
    reportes = page.split('id="task-tablas-reportes"')[1].split("</section>")[0]
    assert ">failed</span>" in reportes
    # The chart: one bar per run of the task, oldest first, coloured by outcome.
    assert re.findall(r'data-status="(\w+)"', reportes) == ["success", "failed"]
    never = page.split('id="task-tipo-cambio"')[1].split("</section>")[0]
    assert "never run" in never and "no runs yet" in never


def test_old_status_files_go_and_bad_targets_are_one_line(cli: Any, runs: dict[str, int],
                                                          tmp_path: Path) -> None:
    stale = tmp_path / "tasks" / "status" / "999999.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    assert cli("publish", str(tmp_path)).exit_code == 0
    assert not stale.exists()
    assert (tmp_path / "tasks" / "status" / f"{runs['ok']}.json").exists()
    afile = tmp_path / "a-file"
    afile.write_text("")
    result = cli("publish", str(afile))
    assert result.exit_code == 2 and f"{afile} is a file; give publish a directory" in result.output
    result = cli("publish")
    assert result.exit_code == 2
    assert "say where to publish: toolbox publish DIR (or set TOOLBOX_STATUS_DIR)" in \
        " ".join(result.output.split())


def test_the_cron_wrapper_publishes_after_every_run(demo: Engines, db_url: str,
                                                    tmp_path: Path) -> None:
    site = tmp_path / "site"
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(f"TOOLBOX_DATABASE_URL={db_url}\nTOOLBOX_LOG_DIR={tmp_path / 'logs'}\n"
                        f"TOOLBOX_STATUS_DIR={site}\n")
    env_file.chmod(0o600)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TOOLBOX_ENV_FILE": str(env_file)}
    done = subprocess.run([str(REPO / "scripts" / "toolbox-cron"), "07:00", "kpi-acumulado",
                           "--hasta", "2024-03-31", "--fecha-corte", "2024-03-31"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, "")
    run = ledger.recent_runs(demo.datamart, task="kpi-acumulado", limit=1)[0]
    status = _read(site, f"tasks/status/{run.id}.json")
    assert (status["task_id"], status["status"]) == (str(run.id), "SUCCESS")
    assert 'id="task-kpi-acumulado"' in (site / "index.html").read_text(encoding="utf-8")
