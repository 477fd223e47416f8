"""Failures reach a person (issue 13): notifications, health pings, cron mail, freshness,
never-fired schedules and metrics. Real components on loopback only: an HTTP stub on
127.0.0.1 receives Apprise's ``json://`` notifications and the pings; the cron wrapper runs
for real; SQLite and (``-m production``) MariaDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from crontab import CronTab
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, insert, update
from typer.testing import CliRunner

from toolbox_cli import alerts, freshness, ledger, monitor, schedule
from toolbox_cli import crontab_entries as entries
from toolbox_cli.cli import app
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.demo import seed_demo
from toolbox_cli.registry import get_task
from toolbox_cli.runner import run_task
from toolbox_cli.settings import load_settings
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.ledger import runs as runs_table
from toolbox_cli.storage.tables.ledger import schedule_installs

REPO = Path(__file__).resolve().parents[1]
LIMA = ZoneInfo("America/Lima")
TOKEN = "hook-T0ken-9f3a"  # a secret inside the notification URL: never in what is sent
TODAY = datetime(2024, 3, 31).date()


class Stub:
    """An HTTP server on 127.0.0.1 that records every request (GET pings, POST notifications)."""

    def __init__(self, *, delay: float = 0.0, status: int = 200) -> None:
        self.requests: list[dict] = []
        self.delay, self.status = delay, status
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers), "body": body})
                time.sleep(stub.delay)
                self.send_response(stub.status)
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def notifications(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["method"] == "POST"]

    def pings(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "GET"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def alerting(engines, monkeypatch, stub):  # type: ignore[no-untyped-def]
    """Notifications and pings to the stub; a small demo book."""
    monkeypatch.setenv("TOOLBOX_NOTIFY_URLS", f"json://127.0.0.1:{stub.port}/hook/{TOKEN}")
    monkeypatch.setenv("TOOLBOX_PING_URL", f"http://127.0.0.1:{stub.port}/ping/{TOKEN}/{{task}}")
    seed_demo(engines.source, operations=200, seed=4, today=TODAY)
    return engines


def run(task: str, engines, **params):  # type: ignore[no-untyped-def]
    base = {"hasta": TODAY, "fecha_corte": TODAY, "dry_run": False}
    return run_task(get_task(task), load_settings(), {**base, **params}, engines=engines)


def _secret_free(stub: Stub, engines) -> None:  # type: ignore[no-untyped-def]
    password = engines.datamart.url.password
    for request in stub.requests:
        blob = request["body"].decode() + json.dumps(request["headers"])
        assert TOKEN not in blob
        if password:
            assert str(password) not in blob


# ----------------------------------------------------------------------------- notifications


def test_a_failed_run_is_notified_in_spanish_and_its_recovery_once(alerting, stub):
    with alerting.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    failed = run("tablas-reportes", alerting)
    assert failed.status == "failed"
    (sent,) = stub.notifications()
    assert sent["title"] == "toolbox: tablas-reportes falló" and sent["type"] == "failure"
    body = sent["message"]
    assert "Tarea: tablas-reportes" in body and "colocaciones" in body
    assert f"Ejecución: {failed.run_id} (toolbox status {failed.run_id})" in body
    assert "(hora de Lima)" in body and "-05:00" in body and "Qué hacer:" in body
    _secret_free(stub, alerting)

    seed_demo(alerting.source, operations=200, seed=4, today=TODAY)
    assert run("tablas-reportes", alerting).status == "success"
    assert run("tablas-reportes", alerting).status == "success"
    titles = [n["title"] for n in stub.notifications()]
    assert titles == ["toolbox: tablas-reportes falló", "toolbox: tablas-reportes se recuperó"]


def test_a_tripped_guard_says_what_to_do(alerting, stub):
    assert run("kpi", alerting).status == "success"
    with alerting.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 20))
    assert run("kpi", alerting).error_type == "GuardTripped"
    (sent,) = stub.notifications()
    assert "ninguna tabla fue reemplazada" in sent["message"]
    assert "--allow-shrink" in sent["message"]


def test_a_crash_found_by_any_reader_is_notified_once(alerting, stub):
    run_id = ledger.start_run(alerting.datamart, "tablas-cxc", trigger="cron", slot="08:00",
                              params={}, tables=["cxc_pagos_fact"])
    with alerting.datamart.begin() as conn:
        conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(pid=2**22 + 7))
    cli = CliRunner()
    for _ in range(2):
        reset_settings()
        assert cli.invoke(app, ["status"]).exit_code == 0
    reset_settings()
    (sent,) = stub.notifications()
    assert "tablas-cxc" in sent["title"] and "crashed" in sent["title"]
    assert f"Ejecución: {run_id}" in sent["message"]


def test_a_missed_slot_is_notified_once(alerting, stub, monkeypatch):
    now = datetime.now(UTC)
    due = now - timedelta(hours=1)
    expr = f"{due.astimezone(LIMA).minute} {due.astimezone(LIMA).hour} * * *"
    monkeypatch.setenv("TOOLBOX_SCHEDULE_SLOTS", json.dumps({"tablas-cxc": [expr]}))
    with alerting.datamart.begin() as conn:  # cron ran this slot before: it is watched
        conn.execute(insert(runs_table).values(
            task="tablas-cxc", status="success", trigger="cron", slot="00:00", params="{}",
            host="h", pid=1, started_at=(now - timedelta(hours=2)).replace(tzinfo=None),
            finished_at=(now - timedelta(hours=30)).replace(tzinfo=None), warnings_count=0,
            version="t"))
    cli = CliRunner()
    for _ in range(2):
        reset_settings()
        assert cli.invoke(app, ["list"]).exit_code == 0
    reset_settings()
    titles = [n["title"] for n in stub.notifications()]
    label = f"{due.astimezone(LIMA):%H:%M}"
    assert titles == [f"toolbox: tablas-cxc no se ejecutó a las {label}"]


def test_dry_runs_and_interactive_runs_send_nothing(alerting, stub):
    with alerting.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    assert run("kpi", alerting, dry_run=True).status == "failed"
    CliRunner().invoke(app, ["import", "sectores", str(REPO / "examples" / "nope.csv")])
    assert stub.requests == []


@pytest.mark.parametrize("broken", ["down", "slow"])
def test_an_unreachable_or_slow_receiver_changes_nothing(engines, monkeypatch, broken):
    seed_demo(engines.source, operations=200, seed=4, today=TODAY)
    slow = Stub(delay=5.0) if broken == "slow" else None
    port = slow.port if slow else _free_port()
    try:
        monkeypatch.setenv("TOOLBOX_NOTIFY_URLS", f"json://127.0.0.1:{port}/hook?rto=1&cto=1")
        monkeypatch.setenv("TOOLBOX_PING_URL", f"http://127.0.0.1:{port}/ping/{{task}}")
        monkeypatch.setenv("TOOLBOX_PING_TIMEOUT_SECONDS", "1")
        ok = run("kpi", engines)
        with engines.source.begin() as conn:
            conn.execute(delete(src.colocaciones))
        failed = run("kpi", engines)
    finally:
        if slow:
            slow.close()
    assert (ok.status, ok.exit_code) == ("success", 0)
    assert (failed.status, failed.exit_code) == ("failed", 1)
    assert ledger.get_run(engines.datamart, failed.run_id).status == "failed"


def test_notify_test_reports_whether_it_got_through(engines, monkeypatch, stub):
    cli = CliRunner()
    reset_settings()
    nothing = cli.invoke(app, ["notify", "--test"])
    assert nothing.exit_code == 2 and "TOOLBOX_NOTIFY_URLS is not set" in nothing.stderr
    monkeypatch.setenv("TOOLBOX_NOTIFY_URLS", f"json://127.0.0.1:{stub.port}/hook/{TOKEN}")
    reset_settings()
    sent = cli.invoke(app, ["notify", "--test"])
    assert sent.exit_code == 0, sent.output
    assert stub.notifications()[0]["title"] == "toolbox: prueba de notificación"
    monkeypatch.setenv("TOOLBOX_NOTIFY_URLS", f"json://127.0.0.1:{_free_port()}/hook/{TOKEN}")
    reset_settings()
    lost = cli.invoke(app, ["notify", "--test"])
    reset_settings()
    assert lost.exit_code == 1 and "not delivered" in lost.stderr
    assert TOKEN not in lost.output


def test_config_masks_the_notification_and_ping_urls(engines, monkeypatch):
    monkeypatch.setenv("TOOLBOX_NOTIFY_URLS", f"tgram://{TOKEN}/chat")
    monkeypatch.setenv("TOOLBOX_PING_URL", f"https://hc-ping.com/{TOKEN}/{{task}}")
    reset_settings()
    result = CliRunner().invoke(app, ["config", "--json"])
    reset_settings()
    assert result.exit_code == 0 and TOKEN not in result.output
    assert json.loads(result.stdout)["notify_urls"] == "********"


# ----------------------------------------------------------------------------- pings


def test_pings_bracket_a_run_with_its_rid(alerting, stub):
    outcome = run("kpi", alerting)
    start, end = stub.pings()
    assert start["path"].startswith(f"/ping/{TOKEN}/kpi/start?rid=")
    assert end["path"].startswith(f"/ping/{TOKEN}/kpi?rid=")
    assert start["path"].split("rid=")[1] == end["path"].split("rid=")[1]
    assert start["headers"]["X-Toolbox-Run"] == str(outcome.run_id)
    with alerting.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    run("kpi", alerting)
    assert stub.pings()[-1]["path"].startswith(f"/ping/{TOKEN}/kpi/fail?rid=")


def test_ping_url_keeps_a_query_and_quotes_the_task():
    url = alerts.ping_url("https://hc.example/p/KEY/{task}?create=1", "import:x", "fail", "R")
    assert url == "https://hc.example/p/KEY/import%3Ax/fail?create=1&rid=R"


# ----------------------------------------------------------------------------- cron mail


def _wrapper_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(f"TOOLBOX_DATABASE_URL={db_url}\nTOOLBOX_DATA_DIR={tmp_path / 'data'}\n"
                        f"TOOLBOX_LOG_DIR={tmp_path / 'logs'}\n"
                        f"TOOLBOX_METRICS_TEXTFILE={tmp_path / 'metrics' / 'toolbox.prom'}\n")
    env_file.chmod(0o600)
    (tmp_path / "metrics").mkdir()
    return {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TOOLBOX_ENV_FILE": str(env_file)}


def test_the_cron_wrapper_is_silent_on_success_and_summarises_a_failure(engines, db_url, tmp_path):
    seed_demo(engines.source, operations=100, seed=2, today=TODAY)
    env = _wrapper_env(tmp_path, db_url)
    wrapper = REPO / "scripts" / "toolbox-cron"
    ok = subprocess.run([str(wrapper), "07:00", "kpi"], env=env, capture_output=True, text=True,
                        timeout=180)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    prom = (tmp_path / "metrics" / "toolbox.prom").read_text()
    assert 'toolbox_last_run_status{status="success",task="kpi"} 1.0' in prom

    with engines.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    failed = subprocess.run([str(wrapper), "07:00", "kpi"], env=env, capture_output=True,
                            text=True, timeout=180)
    assert failed.returncode == 1
    run_id = ledger.recent_runs(engines.datamart, task="kpi", limit=1)[0].id
    log = next(p for p in sorted((tmp_path / "logs").glob("kpi-*.log"))
               if f"run {run_id}" in p.read_text())
    assert failed.stdout.splitlines() == [
        "toolbox: kpi failed (slot 07:00 Lima, exit code 1)",
        f"  run:    {run_id}",
        f"  error:  {ledger.get_run(engines.datamart, run_id).error_message}",
        f"  log:    {log}",
        f"  more:   toolbox status {run_id}",
    ]
    assert failed.stderr == ""


def test_the_cron_wrapper_summarises_a_database_that_is_not_there(tmp_path):
    env = _wrapper_env(tmp_path, f"sqlite:///{tmp_path / 'missing.db'}")
    result = subprocess.run([str(REPO / "scripts" / "toolbox-cron"), "18:00", "tablas-reportes"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == "toolbox: tablas-reportes usage or configuration error (slot 18:00 Lima, exit code 2)"
    assert lines[1] == "  run:    not recorded in the ledger"
    assert "no toolbox database at" in lines[2]


def test_install_mailto_covers_only_the_toolbox_entries(tmp_path):
    foreign = "MAILTO=root\n0 1 * * * /usr/bin/foreign-one\n"
    path = tmp_path / "crontab"
    path.write_text(foreign)
    slots = schedule.configured_slots({"kpi": ["0 7 * * *"]}, {})
    plan = entries.build_plan(slots, business=LIMA, host=ZoneInfo("UTC"),
                               now=datetime.now(UTC), project_dir=Path("/opt/toolbox"),
                               mailto="datos@empresa.pe")
    for _ in range(2):  # idempotent
        tab = CronTab(tabfile=str(path))
        entries.apply_plan(tab, plan)
        entries.write_crontab(tab, path)
    text = path.read_text()
    assert text.count("MAILTO=datos@empresa.pe") == 1
    effective = {job.command: job.env.all().get("MAILTO") for job in CronTab(tabfile=str(path)).crons}
    assert effective == {"/usr/bin/foreign-one": "root",
                         "/opt/toolbox/scripts/toolbox-cron 07:00 kpi": "datos@empresa.pe"}
    # A foreign entry below the block: the block moves to the end, the entry keeps root.
    path.write_text(text + "5 1 * * * /usr/bin/foreign-two\n")
    tab = CronTab(tabfile=str(path))
    entries.apply_plan(tab, plan)
    entries.write_crontab(tab, path)
    effective = {job.command: job.env.all().get("MAILTO") for job in CronTab(tabfile=str(path)).crons}
    assert effective["/usr/bin/foreign-two"] == "root"
    tab = CronTab(tabfile=str(path))
    entries.remove_entries(tab)
    entries.write_crontab(tab, path)
    # (a blank line may stay where the block was before it moved)
    assert [line for line in path.read_text().splitlines() if line] == \
        [*foreign.splitlines(), "5 1 * * * /usr/bin/foreign-two"]
    with pytest.raises(Exception, match="not a mail address"):
        entries.build_plan(slots, business=LIMA, host=ZoneInfo("UTC"), now=datetime.now(UTC),
                            mailto="ops@x\nMAILTO=evil")


# ----------------------------------------------------------------------------- freshness


def test_max_age_is_the_longest_gap_between_slots_plus_grace():
    slots = schedule.configured_slots({"tablas-reportes": ["0 7 * * *", "0 18 * * *"],
                                       "tipo-cambio": ["30 6 * * *"], "kpi": []}, {})
    now = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    grace = timedelta(minutes=15)
    age = lambda task, **o: freshness.max_age(task, slots, zone=LIMA, now=now, grace=grace,  # noqa: E731
                                              overrides=o)
    assert age("tablas-reportes") == timedelta(hours=13, minutes=15)
    assert age("tipo-cambio") == timedelta(hours=24, minutes=15)
    assert age("kpi") is None
    assert age("kpi", kpi=90) == timedelta(minutes=90)


def test_a_task_older_than_its_limit_is_stale_in_list_and_check(engines, monkeypatch):
    finished = (datetime.now(UTC) - timedelta(hours=30)).replace(tzinfo=None)
    with engines.datamart.begin() as conn:
        conn.execute(insert(runs_table).values(
            task="tipo-cambio", status="success", trigger="manual", params="{}", host="h", pid=1,
            started_at=finished, finished_at=finished, warnings_count=0, version="t"))
    cli = CliRunner()
    reset_settings()
    listed = {t["task"]: t for t in json.loads(cli.invoke(app, ["list", "--json"]).stdout)}
    assert listed["tipo-cambio"]["stale"] is True
    assert listed["tipo-cambio"]["max_age_seconds"] == (24 * 60 + 15) * 60
    assert listed["tipo-cambio"]["refreshed_at"].endswith("-05:00")
    assert listed["kpi"]["stale"] is False and listed["kpi"]["age_seconds"] is None
    table = cli.invoke(app, ["list"], env={"COLUMNS": "140"}).stdout
    assert "stale" in table
    check = cli.invoke(app, ["status", "--check", "--json"])
    assert check.exit_code == 1
    kinds = [(p["kind"], p["task"]) for p in json.loads(check.stdout)["problems"]]
    assert ("stale", "tipo-cambio") in kinds
    monkeypatch.setenv("TOOLBOX_MAX_AGE_MINUTES", '{"tipo-cambio": 3000}')
    reset_settings()
    assert cli.invoke(app, ["status", "--check"]).exit_code == 0
    reset_settings()


def test_an_installed_slot_that_never_fires_is_a_problem_until_cron_runs_it(engines):
    db = engines.datamart
    installed = datetime(2026, 11, 28, 10, 0)  # 05:00 Lima; the 07:00 slot is due at 12:00 UTC
    ledger.record_install(db, "crontab", [("tablas-reportes", "07:00", "0 7 * * *")])
    with db.begin() as conn:
        conn.execute(update(schedule_installs).values(installed_at=installed))
    check = lambda now: [p for p in monitor.check_problems(  # noqa: E731
        db, [], now, timedelta(minutes=15), zone=LIMA) if p.kind == "never-fired"]
    assert check(datetime(2026, 11, 28, 12, 10)) == []  # not due + grace yet
    (problem,) = check(datetime(2026, 11, 28, 12, 20))
    assert problem.task == "tablas-reportes" and "has not fired it" in problem.message
    with db.begin() as conn:
        conn.execute(insert(runs_table).values(
            task="tablas-reportes", status="success", trigger="cron", slot="07:00", params="{}",
            host=ledger.hostname(), pid=1, started_at=datetime(2026, 11, 28, 12, 0, 4),
            warnings_count=0, version="t"))
    assert check(datetime(2026, 11, 28, 12, 20)) == []
    ledger.record_install(db, "crontab", [])  # schedule remove
    assert ledger.installed_slots(db) == []


def test_schedule_install_records_its_time(engines, monkeypatch, tmp_path):
    path = tmp_path / "toolbox"
    reset_settings()
    result = CliRunner().invoke(app, ["schedule", "install", "--file", str(path), "--user", "root",
                                      "--host-tz", "UTC", "--mailto", "datos@empresa.pe"])
    reset_settings()
    assert result.exit_code == 0, result.output
    assert "MAILTO=datos@empresa.pe" in path.read_text()
    recorded = ledger.installed_slots(engines.datamart)
    assert {(s.task, s.slot, s.target) for s in recorded} >= {("tablas-reportes", "07:00", str(path))}


# ----------------------------------------------------------------------------- metrics


def test_metrics_parse_back_and_the_textfile_is_written(engines, tmp_path):
    seed_demo(engines.source, operations=100, seed=2, today=TODAY)
    ok = run("tablas-reportes", engines)
    with engines.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    run("tablas-reportes", engines)
    run("tablas-reportes", engines, dry_run=True)  # dry runs do not count
    reset_settings()
    text = CliRunner().invoke(app, ["metrics"]).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    task = (("task", "tablas-reportes"),)
    assert samples[("toolbox_runs_total", (("status", "success"),) + task)] == 1
    assert samples[("toolbox_runs_total", (("status", "failed"),) + task)] == 1
    assert samples[("toolbox_last_run_status", (("status", "failed"),) + task)] == 1
    assert samples[("toolbox_last_run_status", (("status", "success"),) + task)] == 0
    stored = ledger.get_run(engines.datamart, ok.run_id)
    assert samples[("toolbox_last_success_timestamp_seconds", task)] == \
        stored.finished_at.replace(tzinfo=UTC).timestamp()
    assert ("toolbox_table_max_age_seconds", task) in samples
    path = tmp_path / "toolbox.prom"
    assert CliRunner().invoke(app, ["metrics", "--textfile", str(path)]).exit_code == 0
    reset_settings()
    assert path.read_text().splitlines()[-1] != "" and "toolbox_runs_total" in path.read_text()


def test_metrics_time_of_the_last_run(engines):
    # Failed runs have a duration and a status, and rows of the tables they wrote.
    seed_demo(engines.source, operations=50, seed=2, today=TODAY)
    run("kpi", engines)
    reset_settings()
    text = CliRunner().invoke(app, ["metrics"]).stdout
    reset_settings()
    rows = [s for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "toolbox_last_run_rows" and s.labels["task"] == "kpi"]
    assert [(s.labels["table"], s.value > 0) for s in rows] == [("kpi", True)]


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_help_mentions_the_channels():
    result = CliRunner().invoke(app, ["--help"])
    assert "notify" in result.output and "metrics" in result.output
    assert os.environ.get("TOOLBOX_NOTIFY_URLS") is None
