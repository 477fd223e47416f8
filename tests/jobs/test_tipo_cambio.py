"""``tipo-cambio`` against a real HTTP stub on 127.0.0.1 (no network, no mocks of urllib).

The stub answers good rates, 500s, empty bodies, non-JSON, slow answers beyond the timeout
and answers for another date, per requested date, and counts the requests it received.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from tests.support.cli import ToolboxRunner
from tests.support.loopback import QuietHandler, loopback, serving
from tests.support.progress import Recorder, Step
from tests.support.rates import fetch_rates, stored_rates
from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import InputError, LockLost
from toolbox_cli.pipelines.tipo_cambio import fill
from toolbox_cli.registry import get_task
from toolbox_cli.remote.tipo_cambio import (
    BadAnswer,
    backoff_delay,
    fetcher_from,
    missing_dates,
    parse_answer,
)
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.contract import tipo_cambio


def rate_for(day: date) -> tuple[str, str]:
    """The stub's rate of a day, so that stored values can be checked exactly."""
    return f"3.{700 + day.day:03d}", f"3.{710 + day.day:03d}"


class RateStub:
    """Per-date behaviour: ok, 500, 500-once, empty, text, slow, wrong-date, 404, no-venta."""

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0  # added to every answer (to observe concurrency)
        self.slow_seconds = 1.5
        self._lock = threading.Lock()
        stub = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                fecha = parse_qs(urlparse(self.path).query).get("fecha", [""])[0]
                with stub._lock:
                    stub.hits[fecha] += 1
                    hit = stub.hits[fecha]
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    stub.answer(self, fecha, hit)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

        self.server = loopback(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tipo-cambio-sunat?fecha={{fecha}}"

    def answer(self, handler: BaseHTTPRequestHandler, fecha: str, hit: int) -> None:
        mode = self.behaviour.get(fecha, "ok")
        if self.delay:
            time.sleep(self.delay)
        if mode == "500" or (mode == "500-once" and hit == 1):
            return self._send(handler, 500, b'{"error": "boom"}')
        if mode == "404":
            return self._send(handler, 404, b'{"error": "not found"}')
        if mode == "empty":
            return self._send(handler, 200, b"")
        if mode == "text":
            return self._send(handler, 200, b"<html>maintenance</html>")
        if mode == "slow":
            time.sleep(self.slow_seconds)
        day = date.fromisoformat(fecha)
        if mode == "wrong-date":
            day = day - timedelta(days=1)  # the legacy stored this date instead (§6.21)
        compra, venta = rate_for(day)
        body: dict[str, object] = {"fecha": day.isoformat(), "compra": float(compra),
                                   "venta": float(venta), "origen": "SUNAT", "moneda": "USD"}
        if mode == "no-venta":
            del body["venta"]
        return self._send(handler, 200, json.dumps(body).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer


@pytest.fixture
def stub() -> Iterator[RateStub]:
    server = RateStub()
    with serving(server.server):
        yield server


@pytest.fixture
def settings(toolbox_env: Settings, stub: RateStub) -> Settings:
    # Small waits: a retry after 0.01 s, a 0.3 s timeout, two tries per date.
    return toolbox_env.model_copy(update={
        "tipo_cambio_provider": "apis-net-pe",
        "tipo_cambio_url": stub.url,
        "tipo_cambio_concurrency": 3,
        "tipo_cambio_pause_seconds": 0.01,
        "tipo_cambio_timeout_seconds": 0.3,
        "tipo_cambio_attempts": 2,
        "tipo_cambio_backoff_seconds": 0.01,
    })


def days(first: date, last: date) -> list[str]:
    return [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]


# ----------------------------------------------------------------------------- pure rules


def test_missing_dates_are_every_calendar_day_not_stored() -> None:
    got = missing_dates(date(2024, 2, 27), date(2024, 3, 2), {"2024-02-28", "2024-03-01"})
    assert got == [date(2024, 2, 27), date(2024, 2, 29), date(2024, 3, 2)]  # leap day, weekend
    assert missing_dates(date(2024, 3, 1), date(2024, 3, 1), {"2024-03-01"}) == []


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]


def test_answer_for_the_requested_date_is_parsed() -> None:
    rate = parse_answer(date(2024, 3, 4), b'{"fecha": "2024-03-04", "compra": 3.7, "venta": "3.71"}')
    assert (rate.fecha, rate.compra, rate.venta) == (date(2024, 3, 4), Decimal("3.7"), Decimal("3.71"))
    v2 = parse_answer(date(2024, 3, 4), b'{"fecha": "04/03/2024", "precioCompra": 3.7, "precioVenta": 3.71}')
    assert v2.venta == Decimal("3.71")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty answer"),
        (b"  \n", "empty answer"),
        (b"<html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"compra": 3.7, "venta": 3.71}', "no 'fecha'"),
        (b'{"fecha": "2024-03-03", "compra": 3.7, "venta": 3.71}',
         "answered for 2024-03-03 instead of 2024-03-04"),
        (b'{"fecha": "2024-03-04", "compra": 3.7}', "no 'venta'"),
        (b'{"fecha": "2024-03-04", "compra": 3.7, "venta": null}', "not a number"),
        (b'{"fecha": "2024-03-04", "compra": 3.7, "venta": 0}', "not a plausible"),
        (b'{"fecha": "2024-03-04", "compra": 3.7, "venta": "abc"}', "not a number"),
    ],
)
def test_unusable_answers_are_failures(body: bytes, reason: str) -> None:
    with pytest.raises(BadAnswer, match=reason):
        parse_answer(date(2024, 3, 4), body)


# ----------------------------------------------------------------------------- against the stub


def test_all_good_fills_the_range_with_the_requested_dates(
    settings: Settings, engines: Engines, stub: RateStub
) -> None:
    outcome = fetch_rates(settings, date(2024, 2, 26), date(2024, 3, 4))
    assert outcome.exit_code == 0, outcome.error_message
    got = stored_rates(engines)
    assert sorted(got) == days(date(2024, 2, 26), date(2024, 3, 4))
    compra, venta = rate_for(date(2024, 3, 2))
    assert got["2024-03-02"] == (Decimal(compra), Decimal(venta))
    assert outcome.rows == {"tipo_cambio": 8}
    assert set(stub.hits.values()) == {1}


def test_failures_in_the_middle_keep_successes_report_dates_and_exit_1(
    settings: Settings, engines: Engines, stub: RateStub
) -> None:
    first, last = date(2024, 3, 1), date(2024, 3, 12)
    stub.behaviour.update({
        "2024-03-03": "500", "2024-03-04": "empty", "2024-03-05": "slow",
        "2024-03-06": "wrong-date", "2024-03-07": "text", "2024-03-08": "404",
        "2024-03-09": "500-once", "2024-03-10": "no-venta",
    })
    outcome = fetch_rates(settings, first, last)
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    failed = ["2024-03-03", "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07",
              "2024-03-08", "2024-03-10"]
    assert sorted(stored_rates(engines)) == ["2024-03-01", "2024-03-02", "2024-03-09",
                                       "2024-03-11", "2024-03-12"]
    assert outcome.rows == {"tipo_cambio": 5}
    assert outcome.warnings_count == 7
    by_date = {w.split(":")[0]: w for w in outcome.warnings}
    assert sorted(by_date) == failed
    assert "HTTP 500 (after 2 tries)" in by_date["2024-03-03"]
    assert "empty answer" in by_date["2024-03-04"]
    assert "no answer within 0.3 s (after 2 tries)" in by_date["2024-03-05"]
    assert "answered for 2024-03-05 instead of 2024-03-06" in by_date["2024-03-06"]
    assert "not JSON" in by_date["2024-03-07"] and "HTTP 404" in by_date["2024-03-08"]
    assert outcome.error_message.startswith("7 of 12 missing dates failed (first: 2024-03-03")
    # Transient answers are retried, final ones are not.
    assert (stub.hits["2024-03-03"], stub.hits["2024-03-05"], stub.hits["2024-03-09"]) == (2, 2, 2)
    assert (stub.hits["2024-03-04"], stub.hits["2024-03-06"], stub.hits["2024-03-08"]) == (1, 1, 1)
    # The ledger tells the same story.
    recorded = ledger.get_run(engines.datamart, outcome.run_id)
    assert recorded.status == "failed" and recorded.rows_written == {"tipo_cambio": 5}
    assert recorded.warnings_count == 7

    # The provider recovers: the rerun asks only for the dates still missing.
    stub.behaviour.clear()
    stub.hits.clear()
    again = fetch_rates(settings, first, last)
    assert again.exit_code == 0, again.error_message
    assert sorted(stub.hits) == failed and set(stub.hits.values()) == {1}
    assert sorted(stored_rates(engines)) == days(first, last)
    assert again.rows == {"tipo_cambio": 7}
    # A third run has nothing to do and asks nothing.
    stub.hits.clear()
    third = fetch_rates(settings, first, last)
    assert third.exit_code == 0 and third.rows == {"tipo_cambio": 0} and not stub.hits


def test_stored_rates_are_never_overwritten(settings: Settings, engines: Engines, stub: RateStub) -> None:
    tipo_cambio.create(engines.source, checkfirst=True)
    with engines.source.begin() as conn:
        conn.execute(insert(tipo_cambio), [{"TipoCambioFecha": "2024-03-02",
                                            "TipoCambioCompra": Decimal("1.1"),
                                            "TipoCambioVenta": Decimal("1.2")}])
    outcome = fetch_rates(settings, date(2024, 3, 1), date(2024, 3, 3))
    assert outcome.exit_code == 0
    assert "2024-03-02" not in stub.hits
    assert stored_rates(engines)["2024-03-02"] == (Decimal("1.100000"), Decimal("1.200000"))


def test_concurrency_is_bounded_by_the_setting(settings: Settings, engines: Engines, stub: RateStub) -> None:
    stub.delay = 0.15
    outcome = fetch_rates(settings, date(2024, 3, 1), date(2024, 3, 9))
    assert outcome.exit_code == 0
    assert 2 <= stub.max_in_flight <= settings.tipo_cambio_concurrency


def test_each_batch_is_committed_before_the_next(
    settings: Settings, engines: Engines, stub: RateStub
) -> None:
    calls = {"n": 0}

    def lose_lock_at_third_batch() -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise LockLost("lost the lock")

    ctx = TaskContext(settings=settings, source=engines.source, datamart=engines.datamart,
                      params={}, today=date(2024, 12, 31), check_alive=lose_lock_at_third_batch)
    missing = [date(2024, 3, 1) + timedelta(n) for n in range(9)]  # three batches of three
    with pytest.raises(LockLost):
        fill(ctx, fetcher_from(settings), missing)
    assert sorted(stored_rates(engines)) == days(date(2024, 3, 1), date(2024, 3, 6))
    assert ctx.rows == {"tipo_cambio": 6}


def test_the_progress_line_counts_the_requests_served_and_names_the_dates_asked(
    settings: Settings, engines: Engines, stub: RateStub
) -> None:
    """What a terminal draws while the provider answers: one line counting the requests
    answered of all the run makes, the dates in flight, and the try a retried one is at."""
    stub.behaviour["2024-03-05"] = "500-once"
    recorder = Recorder()
    outcome = run_task(get_task("tipo-cambio"), settings,
                       {"desde": date(2024, 3, 1), "hasta": date(2024, 3, 9)}, progress=recorder)
    assert outcome.exit_code == 0, outcome.error_message
    asked = sorted(stub.hits)  # every date the stub was asked for (one request each)
    steps = recorder.steps("tipo_cambio")
    assert {(s.total, s.unit) for s in steps} == {(len(asked), "requests")}
    assert [s.done for s in steps] == sorted(s.done for s in steps)  # never goes back
    assert sorted({s.done for s in steps}) == list(range(len(asked) + 1))
    assert steps[-1] == Step(len(asked), len(asked), "", "requests")
    named = {d for s in steps for d in re.findall(r"\d{4}-\d{2}-\d{2}", s.detail)}
    assert sorted(named) == asked
    assert stub.hits["2024-03-05"] == 2
    retried = [s.detail for s in steps if "(attempt" in s.detail]
    assert retried and all(d.startswith("asking 2024-03-05 (attempt 2 of 2 after HTTP 500)")
                           for d in retried)  # named first: a narrow terminal cuts the end
    assert recorder.finished.count("tipo_cambio") == 1  # its line goes when the run ends


def test_unreachable_provider_fails_every_date_without_traceback(
    settings: Settings, engines: Engines, stub: RateStub
) -> None:
    port = stub.server.server_address[1]
    stub.server.shutdown()
    stub.server.server_close()
    dead = settings.model_copy(update={"tipo_cambio_url": f"http://127.0.0.1:{port}/x?fecha={{fecha}}"})
    outcome = fetch_rates(dead, date(2024, 3, 1), date(2024, 3, 2))
    assert (outcome.exit_code, outcome.warnings_count) == (1, 2)
    assert "cannot reach the provider" in outcome.warnings[0]
    assert stored_rates(engines) == {}


def test_url_without_placeholder_and_bad_ranges_fail_clearly(
    settings: Settings, engines: Engines
) -> None:
    bad = settings.model_copy(update={"tipo_cambio_url": "http://127.0.0.1:9/x"})
    outcome = fetch_rates(bad, date(2024, 3, 1), date(2024, 3, 2))
    assert outcome.exit_code == 1 and "no {fecha} placeholder" in outcome.error_message
    # Bad ranges are bad arguments: refused (exit 2) before any run starts.
    with pytest.raises(InputError, match="is after --hasta"):
        fetch_rates(settings, date(2024, 3, 2), date(2024, 3, 1))
    future = date.today() + timedelta(days=400)
    with pytest.raises(InputError, match="in the future"):
        fetch_rates(settings, date(2024, 3, 2), future)


# ----------------------------------------------------------------------------- command line


@pytest.fixture
def cli(cli: ToolboxRunner, toolbox_env: Settings, stub: RateStub,
        monkeypatch: pytest.MonkeyPatch) -> ToolboxRunner:
    """The CLI on the test's database, asking the stub (apis-net-pe), once, without pauses."""
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_PROVIDER", "apis-net-pe")
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_URL", stub.url)
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_ATTEMPTS", "1")
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_PAUSE_SECONDS", "0")
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_TIMEOUT_SECONDS", "0.5")
    return cli


def test_cli_reports_failed_dates_and_exits_1(cli: CliRunner, engines: Engines, stub: RateStub) -> None:
    stub.behaviour["2024-03-02"] = "500"
    result = cli.invoke(app, ["tipo-cambio", "--desde", "2024-03-01", "--hasta", "2024-03-03"])
    assert result.exit_code == 1
    assert "tipo_cambio=2" in result.stdout
    assert "2024-03-02: HTTP 500 (after 1 try)" in result.stderr  # the warning, as it came
    assert "1 warning (toolbox status 1 --warnings)" in result.stdout
    assert "1 of 3 missing dates failed" in result.stderr
    stub.behaviour.clear()
    result = cli.invoke(app, ["tipo-cambio", "--desde", "2024-03-01", "--hasta", "2024-03-03",
                              "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rows"] == {"tipo_cambio": 1}


def test_cli_dry_run_requests_nothing(cli: CliRunner, engines: Engines, stub: RateStub) -> None:
    result = cli.invoke(app, ["tipo-cambio", "--desde", "2024-03-01", "--hasta", "2024-03-05",
                              "--dry-run", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rows"] == {"tipo_cambio": 5}
    assert not stub.hits and stored_rates(engines) == {}


def test_cli_rejects_reversed_range(cli: CliRunner) -> None:
    result = cli.invoke(app, ["tipo-cambio", "--desde", "2024-03-05", "--hasta", "2024-03-01"])
    assert result.exit_code == 2 and "is after --hasta" in result.stderr
    result = cli.invoke(app, ["tipo-cambio", "--hasta", "2999-01-01"])
    assert result.exit_code == 2 and "in the future" in result.stderr
    help_text = cli.invoke(app, ["tipo-cambio", "--help"]).output
    assert "Example: toolbox tipo-cambio" in help_text
