"""Failures reach a person: notifications in Spanish through Apprise, once per event, and
health pings, against a loopback receiver.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, update
from typer.testing import CliRunner

from tests.support.loopback import free_port
from tests.support.paths import REPO
from tests.support.runs import run_named
from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.demo import seed_demo
from toolbox_cli.monitoring import alerts
from toolbox_cli.settings import load_settings
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.ledger import runs as runs_table

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


@pytest.fixture
def alerting(engines, monkeypatch, stub):  # type: ignore[no-untyped-def]
    """Notifications and pings to the stub; a small demo book."""
    monkeypatch.setenv("TOOLBOX_NOTIFY_URLS", f"json://127.0.0.1:{stub.port}/hook/{TOKEN}")
    monkeypatch.setenv("TOOLBOX_PING_URL", f"http://127.0.0.1:{stub.port}/ping/{TOKEN}/{{task}}")
    seed_demo(engines.source, operations=200, seed=4, today=TODAY)
    return engines


def run(task: str, engines, **params):  # type: ignore[no-untyped-def]
    return run_named(task, load_settings(), engines, as_of=TODAY, **params)


def _secret_free(stub: Stub, engines) -> None:  # type: ignore[no-untyped-def]
    password = engines.datamart.url.password
    for request in stub.requests:
        blob = request["body"].decode() + json.dumps(request["headers"])
        assert TOKEN not in blob
        if password:
            assert str(password) not in blob


# English words the toolbox's messages use; none may reach a notification (commands,
# options, table and column names are not words of either language).
ENGLISH = {"the", "rows", "row", "new", "table", "tables", "failed", "crashed", "success",
           "against", "is", "in", "of", "and", "fewer", "limit", "live", "empty", "source",
           "nothing", "run", "was", "database", "file", "cannot", "reach", "not", "set"}


def _spanish_only(text: str) -> None:
    commands = re.sub(r"toolbox [\w -]+|--[\w-]+|\b\w+_\w+\b|/\S+", " ", text)
    english = sorted({w for w in re.findall(r"[A-Za-z]+", commands)} & ENGLISH)
    assert not english, f"English in a notification: {english}\n{text}"


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
    where = "el archivo SQLite" if alerting.source.dialect.name == "sqlite" else "la base de datos"
    assert f"Detalle: la tabla fuente colocaciones en {where} " in body
    assert "está vacía" in body
    _spanish_only(sent["title"] + "\n" + body)
    _secret_free(stub, alerting)

    seed_demo(alerting.source, operations=200, seed=4, today=TODAY)
    assert run("tablas-reportes", alerting).status == "success"
    assert run("tablas-reportes", alerting).status == "success"
    titles = [n["title"] for n in stub.notifications()]
    assert titles == ["toolbox: tablas-reportes falló", "toolbox: tablas-reportes se recuperó"]
    recovered = stub.notifications()[1]["message"]
    assert f"después de la ejecución {failed.run_id}, que falló" in recovered
    _spanish_only(recovered)


def test_a_tripped_guard_says_what_to_do(alerting, stub):
    assert run("kpi", alerting).status == "success"
    with alerting.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet > 20))
    assert run("kpi", alerting).error_type == "GuardTripped"
    (sent,) = stub.notifications()
    assert "ninguna tabla fue reemplazada" in sent["message"]
    assert "--allow-shrink" in sent["message"]
    # The guard's finding itself, in Spanish with the digits as the toolbox writes them.
    assert re.search(r"Detalle: kpi: [\d,]+ filas nuevas frente a [\d,]+ en la tabla publicada "
                     r"\(\d+ % menos; el límite es 20 %\)", sent["message"]), sent["message"]
    _spanish_only(sent["message"])


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
    assert sent["title"] == "toolbox: tablas-cxc terminó de forma anormal"
    assert f"Ejecución: {run_id}" in sent["message"]
    assert f"Detalle: el proceso {2**22 + 7} en " in sent["message"]
    _spanish_only(sent["title"] + "\n" + sent["message"])


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


def test_dry_runs_and_imports_send_nothing_while_a_failed_scheduled_run_is_notified(
        alerting, stub, tmp_path):
    """Imports are interactive: the person who ran one sees its outcome, so neither a
    rejected file nor a good one notifies or pings; a failed dry run neither. The failed
    real run of a scheduled task at the end proves the receiver was listening."""
    with alerting.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    assert run("kpi", alerting, dry_run=True).status == "failed"
    bad = tmp_path / "sectores.csv"
    bad.write_text("RUC,SECTOR,GRUPO ECO.\n20100000001,Minería,\n2010000000,Retail,\n",
                   encoding="utf-8")  # line 3: a RUC of 10 digits
    cli = CliRunner()
    reset_settings()
    rejected = cli.invoke(app, ["import", "sectores", str(bad)])
    reset_settings()
    imported = cli.invoke(app, ["import", "sectores", str(REPO / "examples" / "sectores.csv")])
    reset_settings()
    assert rejected.exit_code == 2 and f"{bad}:3: " in rejected.stderr, rejected.output
    assert imported.exit_code == 0, imported.output
    assert [r.status for r in ledger.recent_runs(alerting.datamart, task="import:sectores")] \
        == ["success", "failed"]
    assert stub.requests == []

    failed = run("kpi", alerting)
    assert failed.status == "failed"
    assert [n["title"] for n in stub.notifications()] == ["toolbox: kpi falló"]


@pytest.mark.parametrize("broken", ["down", "slow"])
def test_an_unreachable_or_slow_receiver_changes_nothing(engines, monkeypatch, broken):
    seed_demo(engines.source, operations=200, seed=4, today=TODAY)
    slow = Stub(delay=5.0) if broken == "slow" else None
    port = slow.port if slow else free_port()
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
    monkeypatch.setenv("TOOLBOX_NOTIFY_URLS", f"json://127.0.0.1:{free_port()}/hook/{TOKEN}")
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


def test_help_lists_the_notify_and_metrics_commands_with_what_they_do():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    help_text = " ".join(result.output.split())
    assert "notify Send a test notification to every URL of TOOLBOX_NOTIFY_URLS." in help_text
    assert "metrics The Prometheus text exposition of every task, read from the ledger." \
        in help_text
