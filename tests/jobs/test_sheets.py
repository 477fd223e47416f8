"""Live sources: ``toolbox import KIND URL`` and the ``hojas`` task against a real HTTP stub
on 127.0.0.1 serving the analysts' sheets as an Apps Script web app (JSON) and as a
published CSV, plus the ways a sheet fails (500, timeout, sign-in page, HTML, empty,
truncated JSON, a missing header, a bad row). Runs on SQLite and, under ``-m production``,
on MariaDB (the ``toolbox_env``/``engines`` fixtures).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from tests.support.loopback import QuietHandler, loopback, serving
from tests.support.paths import EXAMPLES
from tests.support.progress import Recorder, Step
from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.demo import seed_demo
from toolbox_cli.errors import ConfigError
from toolbox_cli.imports.sheets import configured_sheets, display_url
from toolbox_cli.registry import get_task
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings, secrets_of
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.contract import (
    operaciones_fuera_sistema,
    referidos,
    saldos_caja,
    sector_pagadores,
)

KEY = "AKfycbx" + "Q" * 30  # an Apps Script deployment id: a secret


def js_date(iso: str) -> dict[str, str]:
    return {"f_jsdate__java_util_Date": iso}


SECTORES_JSON = [
    {"RUC": 20100000001, "SECTOR": "Minería", "GRUPO ECO.": "Grupo Andino"},
    {"RUC": "20100000002", "SECTOR": "Construcción", "GRUPO ECO.": ""},
    {"RUC": 20600000011.0, "SECTOR": " Textil ", "GRUPO ECO.": None},
]
SALDOS_JSON = [
    {"FechaOperacion": js_date("2024-03-01T05:00:00.000Z"), "EvolucionCaja": "1,234.50",
     "CostoExcesoCaja": 12.3, "IngresoNoRecibidoPorExcesoCaja": "-",
     "MontoOvernight": "500,000.00", "IngresosOvernightNeto": 85.4,
     "SaldoTotalCaja": 1500000},
    {"FechaOperacion": "04/03/2024", "EvolucionCaja": -2000, "CostoExcesoCaja": "10.00",
     "IngresoNoRecibidoPorExcesoCaja": 4.5, "MontoOvernight": 450000,
     "IngresosOvernightNeto": "77.10", "SaldoTotalCaja": "1,480,250.75"},
]
REFERIDOS_CSV = "\ufeff" + (EXAMPLES / "referidos.csv").read_text(encoding="utf-8-sig")
LOGIN_PAGE = (b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
              b'<form action="https://accounts.google.com/ServiceLogin">Sign in</form></body></html>')


class SheetStub:
    """``/macros/s/<KEY><name>/exec`` answers ``routes[name]``: (status, content type, body),
    or one of the behaviours ``slow`` (past the client's timeout) and ``500-once``. The
    name is inside the deployment id, as it would be: a path segment is a secret."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.behaviour: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.slow_seconds = 1.0
        stub = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                name = self.path.split("?", 1)[0].split("/")[3].removeprefix(KEY)
                stub.hits[name] += 1
                mode = stub.behaviour.get(name, "")
                if mode == "slow":
                    time.sleep(stub.slow_seconds)
                if mode == "500" or (mode == "500-once" and stub.hits[name] == 1):
                    return self._send(500, "text/html", b"<html>Error</html>")
                status, kind, body = stub.routes.get(name, (404, "text/html", b"<html>404</html>"))
                return self._send(status, kind, body)

            def _send(self, status: int, kind: str, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = loopback(Handler)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/macros/s/{KEY}{name}/exec"

    def json(self, name: str, value: object) -> str:
        self.routes[name] = (200, "application/json; charset=utf-8", json.dumps(value).encode())
        return self.url(name)

    def csv(self, name: str, text: str) -> str:
        self.routes[name] = (200, "text/csv; charset=utf-8", text.encode("utf-8"))
        return self.url(name)


@pytest.fixture
def stub() -> Iterator[SheetStub]:
    server = SheetStub()
    with serving(server.server):
        yield server


@pytest.fixture
def settings(toolbox_env: Settings) -> Settings:
    return toolbox_env.model_copy(update={
        "sheets_timeout_seconds": 0.4, "sheets_attempts": 2, "sheets_backoff_seconds": 0.01,
    })


def import_url(kind: str, url: str, *args: str, env: dict[str, str] | None = None):
    reset_settings()
    return CliRunner().invoke(app, ["import", kind, url, *args],
                              env={"TOOLBOX_SHEETS_TIMEOUT_SECONDS": "0.4",
                                   "TOOLBOX_SHEETS_ATTEMPTS": "2",
                                   "TOOLBOX_SHEETS_BACKOFF_SECONDS": "0.01", **(env or {})})


def rows_of(engines: Engines, table) -> list[dict]:
    with engines.source.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


# ----------------------------------------------------------------------------- toolbox import URL


def test_apps_script_json_is_imported_like_a_file(engines, stub) -> None:
    result = import_url("sectores", stub.json("sectores", SECTORES_JSON))
    assert result.exit_code == 0, result.output
    got = {(r["RUCPagador"], r["Sector"], r["GrupoEco"]) for r in rows_of(engines, sector_pagadores)}
    assert got == {("20100000001", "Minería", "Grupo Andino"),
                   ("20100000002", "Construcción", None),
                   ("20600000011", "Textil", None)}
    assert KEY not in result.output  # the URL is shown without its key
    run = ledger.recent_runs(engines.datamart, task="import:sectores", limit=1)[0]
    assert KEY not in json.dumps(run.params)


def test_saldos_json_reads_apps_script_dates_and_display_numbers(engines, stub) -> None:
    result = import_url("saldos", stub.json("saldos", {"data": SALDOS_JSON}))
    assert result.exit_code == 0, result.output
    got = sorted(rows_of(engines, saldos_caja), key=lambda r: r["FechaOperacion"])
    assert [r["FechaOperacion"] for r in got] == [date(2024, 3, 1), date(2024, 3, 4)]
    first, second = got
    assert Decimal(str(first["EvolucionCaja"])) == Decimal("1234.50")
    assert Decimal(str(first["IngresoNoRecibidoPorExcesoCaja"])) == 0  # "-" is zero
    assert Decimal(str(first["SaldoTotalCaja"])) == Decimal("1500000")
    assert Decimal(str(second["SaldoTotalCaja"])) == Decimal("1480250.75")
    assert Decimal(str(second["EvolucionCaja"])) == Decimal("-2000")


def test_published_csv_with_a_bom_is_recognised_from_the_answer(engines, stub) -> None:
    result = import_url("referidos", stub.csv("referidos", REFERIDOS_CSV))
    assert result.exit_code == 0, result.output
    from_file = import_url("referidos", str(EXAMPLES / "referidos.csv"), "--dry-run")
    assert from_file.exit_code == 0
    stored = {(r["CodigoLiquidacion"], r["Referencia"]) for r in rows_of(engines, referidos)}
    assert ("LIQ2403000101", "Leo") in stored and len(stored) >= 2


def test_off_system_sheet_from_a_url_replaces_its_own_sheet(engines, stub) -> None:
    text = (EXAMPLES / "fuera_sistema_pen.csv").read_text(encoding="utf-8-sig")
    result = import_url("fuera-sistema", stub.csv("pen", text), "--hoja", "PEN")
    assert result.exit_code == 0, result.output
    rows = rows_of(engines, operaciones_fuera_sistema)
    assert rows and {r["Hoja"] for r in rows} == {"PEN"}


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ((200, "text/html; charset=utf-8", LOGIN_PAGE), "Google answered with its sign-in page"),
        ((200, "text/html", b"<html><body>Hello</body></html>"), "is an HTML page"),
        ((200, "application/json", b""), "the answer is empty"),
        ((200, "application/json", b'[{"RUC": "20100000001", "SECTOR": "Min'),
         "the JSON answer is cut or malformed"),
        ((200, "application/json", b'{"rows": 3}'), "not a list of rows"),
        ((200, "application/json", b"[]"), "no data rows"),
        ((404, "text/html", b"<html>nope</html>"), "cannot read the sheet: HTTP 404"),
    ],
)
def test_what_is_not_a_sheet_is_one_line_and_changes_nothing(engines, stub, route, expected
                                                              ) -> None:
    with engines.source.begin() as conn:
        conn.execute(insert(sector_pagadores), [{"RUCPagador": "20100000001", "Sector": "Old"}])
    stub.routes["bad"] = route
    result = import_url("sectores", stub.url("bad"))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output and KEY not in result.output
    assert [r["Sector"] for r in rows_of(engines, sector_pagadores)] == ["Old"]


def test_a_server_error_is_retried_and_a_timeout_is_named(engines, stub) -> None:
    url = stub.json("flaky", SECTORES_JSON)
    stub.behaviour["flaky"] = "500-once"
    assert import_url("sectores", url).exit_code == 0
    assert stub.hits["flaky"] == 2
    stub.behaviour["slow"] = "slow"
    slow = import_url("sectores", stub.json("slow", SECTORES_JSON))
    assert slow.exit_code == 2
    assert "no answer within 0.4 s (after 2 tries)" in slow.stderr


def test_an_import_from_a_url_shows_its_reading_its_retry_and_the_rows_received(
        engines, stub, monkeypatch) -> None:
    """``toolbox import KIND URL`` is not run through ``run_spec_command``: it asks
    ``progress_for`` for its display itself, with its ``--json``, and feeds it."""
    from toolbox_cli.cli import progress as display

    recorder, asked = Recorder(), []

    def recording(console, *, json_output, quiet):  # type: ignore[no-untyped-def]
        asked.append(json_output)
        return recorder

    monkeypatch.setattr(display, "progress_for", recording)
    url = stub.json("flaky", SECTORES_JSON)
    stub.behaviour["flaky"] = "500-once"
    assert import_url("sectores", url).exit_code == 0
    label = display_url(url)
    assert recorder.phases["sector_pagadores"] == [
        f"reading {label}", f"attempt 2 of 2 after HTTP 500, reading {label}",
        f"{len(SECTORES_JSON)} rows received from {label}; validating and writing"]
    assert stub.hits["flaky"] == 2 and "sector_pagadores" in recorder.finished
    assert KEY not in json.dumps(recorder.phases)
    assert import_url("sectores", url, "--json").exit_code == 0
    assert asked == [False, True]


def test_hojas_shows_each_sheet_read_its_retries_and_its_rows(settings, engines, stub
                                                               ) -> None:
    sheets = {"sectores": stub.json("sectores", SECTORES_JSON),
              "referidos": stub.url("down"), "saldos": stub.json("saldos", SALDOS_JSON)}
    stub.behaviour.update({"down": "500", "saldos": "500-once"})
    recorder = Recorder()
    outcome = run_task(get_task("hojas"), settings.model_copy(update={"sheets": sheets}),
                       progress=recorder)
    assert outcome.exit_code == 1  # referidos failed; the others were stored
    steps = recorder.steps("sheets")
    assert {(s.total, s.unit) for s in steps} == {(len(sheets), "sheets")}
    assert steps[-1] == Step(len(sheets), len(sheets), "", "sheets")
    order = [s.name for s in configured_sheets(settings.model_copy(update={"sheets": sheets}))]
    for number, name in enumerate(order):
        mine = [s for s in steps if re.search(rf"(reading|from) {name}\b", s.detail)]
        assert mine and {s.done for s in mine} == {number}, (name, steps)
    details = recorder.details("sheets")
    assert f"{len(SECTORES_JSON)} rows received from sectores" in details
    assert f"{len(SALDOS_JSON)} rows received from saldos" in details
    assert "attempt 2 of 2 after HTTP 500, reading saldos" in details
    assert "attempt 2 of 2 after HTTP 500, reading referidos" in details
    assert "from referidos" not in details  # no rows came
    assert (stub.hits["sectores"], stub.hits["saldos"], stub.hits["down"]) == (1, 2, 2)
    assert KEY not in details and "sheets" in recorder.finished


def test_a_missing_header_and_a_bad_row_name_the_sheet_row(engines, stub) -> None:
    no_sector = [{"RUC": "20100000001", "GRUPO ECO.": "x"}]
    result = import_url("sectores", stub.json("nosector", no_sector))
    assert result.exit_code == 2
    assert f"{display_url(stub.url('nosector'))}#row 1: SECTOR: missing column" in result.stderr
    bad = [dict(r) for r in SALDOS_JSON] + [dict(SALDOS_JSON[0])]
    bad[2]["FechaOperacion"] = "31/02/2024"
    result = import_url("saldos", stub.json("badrow", bad))
    assert result.exit_code == 2
    assert f"{display_url(stub.url('badrow'))}#row 4: FechaOperacion:" in result.stderr
    assert rows_of(engines, saldos_caja) == []


# ----------------------------------------------------------------------------- the hojas task


def test_hojas_stores_every_sheet_and_one_failing_sheet_keeps_its_table(settings, engines,
                                                                         stub) -> None:
    with engines.source.begin() as conn:
        conn.execute(insert(referidos), [{"Referencia": "Old", "CodigoLiquidacion": "LIQ-OLD",
                                         "Ejecutivo": "Ana", "Mes": date(2024, 1, 1)}])
    sheets = {
        "sectores": stub.json("sectores", SECTORES_JSON),
        "saldos": stub.json("saldos", SALDOS_JSON),
        "referidos": stub.url("down"),
    }
    stub.behaviour["down"] = "500"
    outcome = run_task(get_task("hojas"), settings.model_copy(update={"sheets": sheets}))
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert len(rows_of(engines, sector_pagadores)) == 3
    assert len(rows_of(engines, saldos_caja)) == 2
    assert [r["CodigoLiquidacion"] for r in rows_of(engines, referidos)] == ["LIQ-OLD"]
    assert outcome.rows == {"sector_pagadores": 3, "saldos_caja": 2}
    warning = next(w for w in outcome.warnings if w.startswith("sheet referidos:"))
    assert "HTTP 500 (after 2 tries)" in warning and "its table was not changed" in warning
    assert "1 of 3 sheets failed (referidos; the warnings say why" in (outcome.error_message or "")
    run = ledger.get_run(engines.datamart, outcome.run_id)
    stored = json.dumps([run.params, run.warnings, run.error_message])
    assert KEY not in stored and KEY not in (outcome.error_message or "")


def test_hojas_without_sheets_is_a_config_error_and_a_bad_key_is_named(settings, engines
                                                                       ) -> None:
    outcome = run_task(get_task("hojas"), settings)
    assert (outcome.status, outcome.exit_code, outcome.error_type) == ("failed", 2, "ConfigError")
    assert "TOOLBOX_SHEETS is not set" in (outcome.error_message or "")
    with pytest.raises(ConfigError, match="'sectors' is not a sheet .did you mean sectores"):
        configured_sheets(settings.model_copy(update={"sheets": {"sectors": "https://x/y"}}))
    with pytest.raises(ConfigError, match="not an http"):
        configured_sheets(settings.model_copy(update={"sheets": {"sectores": "file:///etc"}}))


def test_sheet_urls_are_secrets_masked_in_config(settings, stub) -> None:
    url = stub.url("sectores") + "?key=s3cr3tvalue"
    configured = settings.model_copy(update={"sheets": {"sectores": url}})
    assert KEY + "sectores" in secrets_of(configured) and "s3cr3tvalue" in secrets_of(configured)
    port = stub.server.server_address[1]
    assert configured.masked()["sheets"] == {"sectores": f"http://127.0.0.1:{port}/…"}
    reset_settings()
    result = CliRunner().invoke(app, ["config"], env={"TOOLBOX_SHEETS": json.dumps({"sectores": url})})
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and "s3cr3tvalue" not in result.output


def test_report_task_with_hojas_refreshes_its_sheets_first(settings, engines, stub) -> None:
    seed_demo(engines.source, operations=200, seed=3, today=date(2025, 6, 30))
    sheets = {"sectores": stub.json("sectores", SECTORES_JSON),
              "saldos": stub.json("saldos", SALDOS_JSON)}  # saldos: not read by kpi
    configured = settings.model_copy(update={"sheets": sheets, "max_shrink_percent": 100.0})
    outcome = run_task(get_task("kpi"), configured,
                       {"fecha_corte": date(2025, 6, 30), "hojas": True})
    assert outcome.status == "success", outcome.error_message
    assert stub.hits["sectores"] == 1 and stub.hits["saldos"] == 0
    assert outcome.rows["sector_pagadores"] == 3 and outcome.rows["kpi"] > 0
    stub.behaviour["sectores"] = "500"
    failed = run_task(get_task("kpi"), configured,
                      {"fecha_corte": date(2025, 6, 30), "hojas": True})
    assert failed.status == "failed" and failed.exit_code == 1
    assert "--hojas: sheet sectores:" in (failed.error_message or "")
    assert "nothing was computed" in (failed.error_message or "")
    assert "kpi" not in failed.rows  # the task never ran: no count, not even 0


# ----------------------------------------------------------------------------- both formats


def _as_apps_script_json(csv_path: Path) -> list[dict[str, object]]:
    """The example file as an Apps Script web app would serve it: dd/mm/YYYY dates as date
    objects (midnight in Lima, in UTC), blank cells as null, the rest as display strings."""
    import csv
    import re

    text = csv_path.read_text(encoding="utf-8-sig")
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    out: list[dict[str, object]] = []
    for row in csv.DictReader(text.splitlines(), delimiter=delimiter):
        item: dict[str, object] = {}
        for key, value in row.items():
            found = re.fullmatch(r"(\d\d)/(\d\d)/(\d{4})", value or "")
            if found:
                d, m, y = found.groups()
                item[key] = js_date(f"{y}-{m}-{d}T05:00:00.000Z")
            else:
                item[key] = value if value != "" else None
        out.append(item)
    return out


@pytest.mark.parametrize(
    ("kind", "example", "table", "args"),
    [
        ("sectores", "sectores.csv", sector_pagadores, ()),
        ("referidos", "referidos.csv", referidos, ()),
        ("saldos", "saldos.csv", saldos_caja, ()),
        ("fuera-sistema", "fuera_sistema_usd.csv", operaciones_fuera_sistema, ("--hoja", "USD")),
    ],
)
def test_each_kind_from_json_and_from_csv_stores_what_the_file_stores(
        engines, stub, kind, example, table, args) -> None:
    path = EXAMPLES / example
    replace = () if kind == "fuera-sistema" else ("--replace", "--allow-shrink")
    assert import_url(kind, str(path), *args, *replace).exit_code == 0

    def snapshot() -> list[tuple]:
        # Every column but a surrogate id (MariaDB does not reuse auto-increment values).
        return sorted(tuple(sorted((k, str(v)) for k, v in r.items() if k != "id"))
                      for r in rows_of(engines, table))

    from_file = snapshot()
    assert from_file
    csv_url = stub.csv(f"{kind}-csv", "\ufeff" + path.read_text(encoding="utf-8-sig"))
    json_url = stub.json(f"{kind}-json", _as_apps_script_json(path))
    for url in (csv_url, json_url):
        with engines.source.begin() as conn:
            conn.execute(table.delete())
        result = import_url(kind, url, *args, *replace)
        assert result.exit_code == 0, result.output
        assert snapshot() == from_file, url


def test_hojas_keeps_the_keys_out_of_its_log(settings, engines, stub) -> None:
    sheets = {"sectores": stub.json("sectores", SECTORES_JSON), "referidos": stub.url("down")}
    stub.behaviour["down"] = "500"
    outcome = run_task(get_task("hojas"), settings.model_copy(update={"sheets": sheets}))
    run = ledger.get_run(engines.datamart, outcome.run_id)
    assert run is not None and run.log_path
    log_text = Path(run.log_path).read_text()
    assert "sheet referidos:" in log_text and KEY not in log_text


def test_a_warning_never_shows_a_secret(settings, engines, caplog) -> None:
    from toolbox_cli.context import TaskContext
    from toolbox_cli.tasks.base import RunFlags

    ctx = TaskContext(settings=settings, source=engines.source, datamart=engines.datamart,
                      params=RunFlags(), today=date(2025, 6, 30), secrets=[KEY])
    with caplog.at_level("WARNING", logger="toolbox"):
        ctx.warn(f"could not read https://script.google.com/macros/s/{KEY}/exec")
    assert KEY not in caplog.text and "macros/s/********/exec" in caplog.text
    assert ctx.warnings == ["could not read https://script.google.com/macros/s/********/exec"]
