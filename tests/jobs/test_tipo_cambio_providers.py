"""``tipo-cambio`` with the decolecta provider, against a real HTTP stub on 127.0.0.1.

The stub checks ``Authorization: Bearer KEY`` (401 without it or with another key), serves
``?date=`` (404 for a day without a rate) and ``?month=&year=`` (only the days with a rate:
weekends and the stub's holidays are absent), and counts the requests it received. Every
test runs on SQLite and, under ``-m production``, on MariaDB (the ``db_url`` fixture).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from tests.support.cli import ToolboxRunner
from tests.support.loopback import QuietHandler, loopback, serving
from tests.support.progress import Recorder
from tests.support.rates import fetch_rates, stored_rates
from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.clock import business_today
from toolbox_cli.errors import ConfigError
from toolbox_cli.registry import get_task
from toolbox_cli.remote.tipo_cambio import by_month, fetcher_from, with_query
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings, load_settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.ledger import notifications, runs

KEY = f"sk_test.{uuid.uuid4().hex}"
HOLIDAYS = {"2024-03-28", "2024-03-29", "2024-05-01"}  # Holy Thursday and Friday, Labour Day


def published(day: date) -> bool:
    return day.weekday() < 5 and day.isoformat() not in HOLIDAYS


def entry(day: date, **changes: str) -> dict[str, str]:
    """The stub's rate of a day (buy 3.7DD, sell 3.7(40+DD)), so stored values can be checked."""
    buy, sell = f"3.{700 + day.day:03d}", f"3.{740 + day.day:03d}"
    return {"buy_price": buy, "sell_price": sell, "base_currency": "USD",
            "quote_currency": "PEN", "date": day.isoformat(), **changes}


class DecolectaStub:
    """``GET /v1/tipo-cambio/sunat?date=…`` or ``?month=&year=``, with a Bearer key."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []  # the query of every request, in order
        self.authorizations: list[str | None] = []
        self.entries: dict[str, dict[str, str]] = {}  # per date: an entry to answer instead
        self.echo: set[str] = set()  # per date: answer a text quoting the Authorization header
        self._lock = threading.Lock()
        stub = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                auth = self.headers.get("Authorization")
                with stub._lock:
                    stub.requests.append(query)
                    stub.authorizations.append(auth)
                if url.path != "/v1/tipo-cambio/sunat":
                    return self._send(404, {"message": "not found"})
                if auth != f"Bearer {KEY}":
                    return self._send(401, {"message": "Unauthorized"})
                if "date" in query:
                    day = date.fromisoformat(query["date"])
                    if query["date"] in stub.echo:
                        return self._send(200, f"<html>debug: Authorization={auth}</html>")
                    if not published(day):
                        return self._send(404, {"message": "No se encontró tipo de cambio"})
                    return self._send(200, stub.entry_for(day))
                year, month = int(query["year"]), int(query["month"])
                day, days = date(year, month, 1), []
                while day.month == month:
                    if published(day):
                        days.append(stub.entry_for(day))
                    day += timedelta(days=1)
                return self._send(200, days)

            def _send(self, status: int, body: object) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = loopback(Handler)

    def entry_for(self, day: date) -> dict[str, str]:
        return self.entries.get(day.isoformat(), entry(day))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/tipo-cambio/sunat"

    def months_asked(self) -> list[tuple[str, str]]:
        return [(q["year"], q["month"]) for q in self.requests if "month" in q]

    def dates_asked(self) -> list[str]:
        return [q["date"] for q in self.requests if "date" in q]


@pytest.fixture
def stub() -> Iterator[DecolectaStub]:
    server = DecolectaStub()
    with serving(server.server):
        yield server


@pytest.fixture
def settings(toolbox_env: Settings, stub: DecolectaStub) -> Settings:
    assert toolbox_env.tipo_cambio_provider == "decolecta"  # the default
    return toolbox_env.model_copy(update={
        "tipo_cambio_url": stub.url,
        "tipo_cambio_token": SecretStr(KEY),
        "tipo_cambio_concurrency": 3,
        "tipo_cambio_pause_seconds": 0.0,
        "tipo_cambio_timeout_seconds": 2.0,
        "tipo_cambio_attempts": 2,
        "tipo_cambio_backoff_seconds": 0.01,
    })


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


# ----------------------------------------------------------------------------- pure rules


def test_months_with_three_or_more_missing_dates_are_one_request() -> None:
    missing = [date(2024, 1, 30), date(2024, 1, 31), *days(date(2024, 2, 1), date(2024, 2, 3)),
               date(2024, 3, 31)]
    asks = by_month(missing)
    assert [(a.month, len(a.dates)) for a in asks] == [(None, 1), (None, 1), ((2024, 2), 3),
                                                       (None, 1)]
    assert asks[2].what == "2024-02 (month, 3 missing dates)"


def test_the_base_url_keeps_its_own_query_string() -> None:
    assert with_query("http://h/v1/tipo-cambio/sunat", date="2024-03-04") == \
        "http://h/v1/tipo-cambio/sunat?date=2024-03-04"
    assert with_query("http://h/x?source=mirror&date=old", month="3", year="2024") == \
        "http://h/x?source=mirror&date=old&month=3&year=2024"
    assert with_query("http://h/x?date=old&k=1", date="2024-03-04") == "http://h/x?k=1&date=2024-03-04"


# ----------------------------------------------------------------------------- against the stub


def test_a_month_request_fills_the_month_and_leaves_its_gaps_absent(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    outcome = fetch_rates(settings, date(2024, 3, 1), date(2024, 3, 31))
    assert outcome.exit_code == 0, outcome.error_message
    assert stub.requests == [{"month": "3", "year": "2024"}]
    assert set(stub.authorizations) == {f"Bearer {KEY}"}
    got = stored_rates(engines)
    expected = [d for d in days(date(2024, 3, 1), date(2024, 3, 31)) if published(d)]
    assert sorted(got) == [d.isoformat() for d in expected]  # weekends, 28 and 29 absent
    assert len(got) == 19 and "2024-03-02" not in got and "2024-03-28" not in got
    assert got["2024-03-04"] == (Decimal("3.704"), Decimal("3.744"))
    assert got["2024-03-27"] == (Decimal("3.727"), Decimal("3.767"))
    assert outcome.rows == {"tipo_cambio": 19}
    assert outcome.warnings_count == 0  # the gaps are no failures, not even warnings
    # The gaps stay missing, and the next run does not ask for them again: only the range's
    # last day (Sunday 31), whose rate could have come later that day.
    again = fetch_rates(settings, date(2024, 3, 1), date(2024, 3, 31))
    assert (again.exit_code, again.rows, again.warnings_count) == (0, {"tipo_cambio": 0}, 0)
    assert stub.requests[1:] == [{"date": "2024-03-31"}]


def test_after_a_backfill_a_daily_run_asks_only_for_the_new_days(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    assert fetch_rates(settings, date(2024, 1, 1), date(2024, 4, 30)).exit_code == 0
    assert len(stub.requests) == 4
    # The next days' runs: the weekends and holidays of January–April are settled.
    assert fetch_rates(settings, date(2024, 1, 1), date(2024, 5, 1)).exit_code == 0
    assert stub.requests[4:] == [{"date": "2024-05-01"}]  # a holiday: no rate
    assert fetch_rates(settings, date(2024, 1, 1), date(2024, 5, 2)).exit_code == 0
    # 1 May was the last day of the previous run's range: asked once more.
    assert sorted(q["date"] for q in stub.requests[5:]) == ["2024-05-01", "2024-05-02"]
    assert "2024-05-02" in stored_rates(engines) and "2024-05-01" not in stored_rates(engines)
    # --recheck asks for every missing date again (January–April: one request per month).
    outcome = run_task(get_task("tipo-cambio"), settings,
                       {"desde": date(2024, 1, 1), "hasta": date(2024, 5, 2), "recheck": True})
    assert outcome.exit_code == 0
    # (Requests go three at a time, so they arrive in any order.)
    assert sorted(int(q["month"]) for q in stub.requests[7:] if "month" in q) == [1, 2, 3, 4]


def test_a_backfill_since_2019_takes_one_request_per_month(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    today = business_today(settings)
    outcome = fetch_rates(settings, date(2019, 7, 1), today)
    assert outcome.exit_code == 0, outcome.error_message
    months = (today.year - 2019) * 12 + today.month - 7  # the whole months before this one
    this_month = 1 if today.day >= 3 else today.day  # 1–2 dates are asked one by one
    assert len(stub.requests) == months + this_month
    assert len(stub.months_asked()) == months + (1 if today.day >= 3 else 0)
    assert len(stub.requests) < 100 < len(days(date(2019, 7, 1), today)) // 20
    expected = [d.isoformat() for d in days(date(2019, 7, 1), today) if published(d)]
    assert sorted(stored_rates(engines)) == expected
    assert outcome.rows == {"tipo_cambio": len(expected)}


def test_a_range_of_several_months_is_one_request_per_month_and_short_months_per_date(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    outcome = fetch_rates(settings, date(2024, 1, 30), date(2024, 5, 2))
    assert outcome.exit_code == 0, outcome.error_message
    assert sorted(stub.months_asked()) == [("2024", "2"), ("2024", "3"), ("2024", "4")]
    # January 30-31 and May 1-2 are two dates each: asked one by one. May 1 is a holiday:
    # the provider answers 404, which is a date without a rate, not a failure.
    assert sorted(stub.dates_asked()) == ["2024-01-30", "2024-01-31", "2024-05-01", "2024-05-02"]
    assert len(stub.requests) == 7
    got = stored_rates(engines)
    assert "2024-05-01" not in got and got["2024-05-02"] == (Decimal("3.702"), Decimal("3.742"))
    assert got["2024-01-31"] == (Decimal("3.731"), Decimal("3.771"))
    assert outcome.warnings_count == 0


def test_the_progress_line_counts_month_and_date_requests_as_the_stub_served_them(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    recorder = Recorder()
    outcome = run_task(get_task("tipo-cambio"), settings,
                       {"desde": date(2024, 1, 30), "hasta": date(2024, 5, 2)}, progress=recorder)
    assert outcome.exit_code == 0, outcome.error_message
    steps = recorder.steps("tipo_cambio")
    served = len(stub.requests)
    assert {(s.total, s.unit) for s in steps} == {(served, "requests")}
    assert (steps[-1].done, steps[-1].detail) == (served, "")
    months = {f"{year}-{int(month):02d}" for year, month in stub.months_asked()}
    named = {x for s in steps for x in re.findall(r"\d{4}-\d{2}(?:-\d{2})?", s.detail)}
    assert named == months | set(stub.dates_asked())
    assert "tipo_cambio" in recorder.finished


def test_bad_entries_of_a_month_fail_their_dates_only(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    stub.entries["2024-03-04"] = entry(date(2024, 3, 4), base_currency="EUR")
    stub.entries["2024-03-05"] = entry(date(2024, 3, 5), sell_price="3,745")
    outcome = fetch_rates(settings, date(2024, 3, 1), date(2024, 3, 31))
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    assert outcome.warnings == [
        "2024-03-04: rate is for EUR/PEN, not USD/PEN; not stored",
        "2024-03-05: sell_price is '3,745', not a number",
    ]
    assert outcome.error_message.startswith("2 of 31 missing dates failed (first: 2024-03-04")
    assert len(stored_rates(engines)) == 17 and outcome.rows == {"tipo_cambio": 17}
    # Fixed at the provider: the next run stores the two dates.
    stub.entries.clear()
    again = fetch_rates(settings, date(2024, 3, 1), date(2024, 3, 31))
    assert again.exit_code == 0 and again.rows == {"tipo_cambio": 2}


def test_a_month_answer_with_another_month_is_not_stored(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    stub.entries["2024-03-04"] = entry(date(2024, 2, 29))
    outcome = fetch_rates(settings, date(2024, 3, 1), date(2024, 3, 31))
    assert outcome.exit_code == 1 and stored_rates(engines) == {}
    assert outcome.warnings == ["2024-03 (month, 31 missing dates): answer for 2024-03 has an "
                                "entry for 2024-02-29; not stored"]


def test_a_wrong_key_fails_in_one_line_naming_the_token_and_stops_asking(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    wrong = settings.model_copy(update={"tipo_cambio_token": SecretStr("sk_wrong")})
    outcome = fetch_rates(wrong, date(2019, 7, 1), date(2024, 12, 31))  # 66 month requests to make
    total = len(days(date(2019, 7, 1), date(2024, 12, 31)))
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    message = outcome.error_message
    assert "\n" not in message and "TOOLBOX_TIPO_CAMBIO_TOKEN is missing or wrong" in message
    assert message.startswith("HTTP 401: the provider refused the key")
    assert message.endswith(f"stopped asking: 0 stored, {total} of {total} missing dates not fetched")
    assert outcome.warnings_count == 0  # one message, not one per month
    assert len(stub.requests) <= settings.tipo_cambio_concurrency  # the first batch only
    assert "sk_wrong" not in json.dumps(outcome.as_dict())


def test_a_404_is_a_date_without_a_rate_but_a_failure_for_a_month(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    wrong_path = settings.model_copy(update={"tipo_cambio_url": stub.url + "/v2"})
    outcome = fetch_rates(wrong_path, date(2024, 3, 1), date(2024, 4, 2))
    assert outcome.exit_code == 1 and stored_rates(engines) == {}
    assert outcome.warnings == ["2024-03 (month, 31 missing dates): HTTP 404 for a whole month; "
                                "is TOOLBOX_TIPO_CAMBIO_URL the right base URL?"]  # April: absent


def test_apis_net_pe_against_an_endpoint_wanting_a_key_stops_and_says_what_to_set(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    legacy = settings.model_copy(update={"tipo_cambio_provider": "apis-net-pe",
                                         "tipo_cambio_url": stub.url + "?fecha={fecha}"})
    outcome = fetch_rates(legacy, date(2024, 3, 1), date(2024, 3, 31))
    assert outcome.exit_code == 1 and outcome.warnings_count == 0
    assert outcome.error_message.startswith(
        "HTTP 401: the provider wants a key, and apis-net-pe sends none; set "
        "TOOLBOX_TIPO_CAMBIO_PROVIDER=decolecta and TOOLBOX_TIPO_CAMBIO_TOKEN; stopped asking")
    assert stub.authorizations == [None] * 3  # the key is for decolecta only; one batch


def test_without_a_token_nothing_is_asked(
    settings: Settings, engines: Engines, stub: DecolectaStub
) -> None:
    for token in (None, SecretStr(""), SecretStr("  ")):
        bare = settings.model_copy(update={"tipo_cambio_token": token})
        with pytest.raises(ConfigError, match="TOOLBOX_TIPO_CAMBIO_TOKEN is not set; decolecta "
                           "needs a key .*TOOLBOX_TIPO_CAMBIO_PROVIDER=apis-net-pe"):
            fetcher_from(bare)
        outcome = fetch_rates(bare, date(2024, 3, 1), date(2024, 3, 31))
        assert (outcome.exit_code, outcome.error_type) == (2, "ConfigError")
        assert "\n" not in outcome.error_message
    dry = settings.model_copy(update={"tipo_cambio_token": None})
    assert run_task(get_task("tipo-cambio"), dry, {"desde": date(2024, 3, 1),
                    "hasta": date(2024, 3, 2), "dry_run": True}).exit_code == 2
    assert stub.requests == [] and stored_rates(engines) == {}


def test_unknown_provider_and_a_legacy_template_are_one_line_config_errors(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_PROVIDER", "sunat")
    with pytest.raises(ConfigError, match="^bad setting TOOLBOX_TIPO_CAMBIO_PROVIDER: .*unknown "
                       "provider 'sunat'; use decolecta or apis-net-pe$"):
        load_settings()
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_PROVIDER", " APIS-NET-PE ")
    assert load_settings().tipo_cambio_provider == "apis-net-pe"
    legacy = "https://api.apis.net.pe/v1/tipo-cambio-sunat?fecha={fecha}"
    with pytest.raises(ConfigError, match="placeholder, which is for apis-net-pe"):
        fetcher_from(settings.model_copy(update={"tipo_cambio_url": legacy}))
    with pytest.raises(ConfigError, match="must be an http"):
        fetcher_from(settings.model_copy(update={"tipo_cambio_url": "file:///etc/passwd"}))


# ----------------------------------------------------------------------------- command line


@pytest.fixture
def cli(cli: ToolboxRunner, toolbox_env: Settings, stub: DecolectaStub,
        monkeypatch: pytest.MonkeyPatch) -> ToolboxRunner:
    """The CLI on the test's database, asking the stub (decolecta, with the key), once."""
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_URL", stub.url + "?source=mirror")
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_TOKEN", KEY)
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_ATTEMPTS", "1")
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_PAUSE_SECONDS", "0")
    return cli


def everything_written(engines: Engines, log_dir: Path) -> tuple[str, str]:
    """The ledger's rows (runs, notifications) and every log file's text."""
    with engines.datamart.connect() as conn:
        rows = [dict(r) for t in (runs, notifications)
                for r in conn.execute(select(t)).mappings().all()]
    logs = [p.read_text(encoding="utf-8") for p in sorted(log_dir.rglob("*")) if p.is_file()]
    return json.dumps(rows, default=str), "\n".join(logs)


def test_the_key_is_sent_as_bearer_and_never_shown(
    cli: CliRunner, engines: Engines, stub: DecolectaStub, toolbox_env: Settings
) -> None:
    stub.echo.add("2024-04-01")  # a broken answer quoting the request's header
    result = cli.invoke(app, ["--debug", "tipo-cambio", "--desde", "2024-03-01",
                              "--hasta", "2024-04-02"])
    assert result.exit_code == 1, result.output
    assert "tipo_cambio=20" in result.stdout
    # One batch asks the month and the two April dates at once: in any order.
    assert {"source": "mirror", "month": "3", "year": "2024"} in stub.requests
    assert set(stub.authorizations) == {f"Bearer {KEY}"}
    assert "2024-04-01: answer is not JSON" in result.stderr and "********" in result.stderr
    runs_listed = cli.invoke(app, ["status", "--json"])
    shown = [result.output, runs_listed.output]
    for command in (["config"], ["config", "--json"]):
        config = cli.invoke(app, command)
        assert config.exit_code == 0 and "********" in config.stdout
        shown.append(config.output)
    assert "TOOLBOX_TIPO_CAMBIO_TOKEN" in shown[2] and "environment" in shown[2]
    assert KEY not in "".join(shown)
    recorded = ledger.get_run(engines.datamart, 1)
    assert recorded is not None and recorded.status == "failed"
    in_ledger, in_logs = everything_written(engines, toolbox_env.resolved_log_dir)
    assert "2024-04-01: answer is not JSON" in in_ledger  # the warning is on the ledger
    assert "2024-04-01: answer is not JSON" in in_logs  # and in the run's log file
    assert KEY not in in_ledger and KEY not in in_logs


def test_cli_without_a_key_or_with_a_wrong_one_says_so_in_one_line(
    cli: CliRunner, engines: Engines, stub: DecolectaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    year = ["tipo-cambio", "--desde", "2024-01-01", "--hasta", "2024-12-31"]
    monkeypatch.delenv("TOOLBOX_TIPO_CAMBIO_TOKEN")
    reset_settings()
    result = cli.invoke(app, year)
    assert result.exit_code == 2 and stub.requests == []
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: TOOLBOX_TIPO_CAMBIO_TOKEN is not set")
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_TOKEN", "sk_wrong_key_123")
    reset_settings()
    result = cli.invoke(app, year)
    assert result.exit_code == 1 and result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: HTTP 401: the provider refused the key; "
                                    "TOOLBOX_TIPO_CAMBIO_TOKEN is missing or wrong")
    assert "366 of 366 missing dates not fetched" in result.stderr
    assert len(stub.requests) <= 4 and "sk_wrong_key_123" not in result.output


def test_the_key_is_not_sent_on_to_the_host_of_a_redirect() -> None:
    """urllib copies headers to a redirect's target; the key is added as an unredirected
    header, so a redirect (here 127.0.0.1 → localhost) never carries it."""
    from toolbox_cli.remote.http import HttpClient

    seen: list[str | None] = []

    class Target(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

    target = loopback(Target)
    port = target.server_address[1]

    class Redirector(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            seen.append(self.headers.get("Authorization"))
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

    redirector = loopback(Redirector)
    with serving(target, redirector):
        client = HttpClient(timeout=2, attempts=1, backoff=0,
                            headers={"Authorization": f"Bearer {KEY}"})
        answer = client.get(f"http://127.0.0.1:{redirector.server_address[1]}/v1/x")
    assert answer.body == b"[]" and answer.url.startswith("http://localhost:")
    assert seen == [f"Bearer {KEY}", None]
