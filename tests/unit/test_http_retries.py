"""Retries and back-off of every remote source, counted on a loopback server: a try that fails
for a reason worth asking again is repeated up to ``attempts`` tries in all, never more, with
a wait of ``backoff`` × 1, 2, 4 … capped at 10 s between two tries and none after the last;
and each source's client takes its tries and back-off from its settings.

The expected values come from ``remote/http.py``'s rule and the README's settings table:
network errors, timeouts, HTTP 429 and 5xx are retried, any other status is final;
``TOOLBOX_TIPO_CAMBIO_ATTEMPTS``/``_BACKOFF_SECONDS``, ``TOOLBOX_SHEETS_ATTEMPTS``/
``_BACKOFF_SECONDS`` and ``TOOLBOX_OPERACIONES_ATTEMPTS``/``_BACKOFF_SECONDS`` default to
``3`` tries and ``2`` s, "doubling, at most 10 s".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.loopback import QuietHandler, loopback, serving
from toolbox_cli.imports.sheets import sheets_client
from toolbox_cli.pipelines.operaciones import webservice
from toolbox_cli.remote.http import BadAnswer, HttpClient, Transient, backoff_delay
from toolbox_cli.remote.tipo_cambio import fetcher_from
from toolbox_cli.settings import load_settings


class Flaky:
    """Answers its first ``failures`` requests with ``status``, then 200; counts them."""

    def __init__(self) -> None:
        self.failures, self.status, self.requests = 0, 503, 0
        flaky = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                flaky.requests += 1
                code = flaky.status if flaky.requests <= flaky.failures else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = loopback(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/data"

    def failing(self, failures: int, status: int = 503) -> Flaky:
        self.failures, self.status, self.requests = failures, status, 0
        return self


@pytest.fixture(scope="module")
def flaky() -> Iterator[Flaky]:
    """One server for the module (each test sets it with ``failing``): a shutdown waits
    half a second."""
    stub = Flaky()
    with serving(stub.server):
        yield stub


def client(attempts: int, backoff: float = 2.0) -> tuple[HttpClient, list[float]]:
    """A client that records its waits instead of sleeping them."""
    waits: list[float] = []
    return HttpClient(timeout=5, attempts=attempts, backoff=backoff, sleep=waits.append), waits


# ---------------------------------------------------------------- the back-off


def test_the_backoff_doubles_from_its_base_and_stops_at_ten_seconds():
    assert [backoff_delay(n, 2.5) for n in (1, 2, 3, 4, 5)] == [2.5, 5.0, 10.0, 10.0, 10.0]
    # One step either side of the cap on the third wait (base × 4).
    assert (backoff_delay(3, 2.4), backoff_delay(3, 2.5), backoff_delay(3, 2.6)) == \
        (9.6, 10.0, 10.0)
    assert [backoff_delay(n, 0.0) for n in (1, 2, 3)] == [0.0, 0.0, 0.0]  # no back-off


# ---------------------------------------------------------------- the tries


@pytest.mark.parametrize(("failures", "requests", "waits"), [
    (1, 2, [2.0]),  # fails once, the second try answers
    (2, 3, [2.0, 4.0]),  # the third and last try answers
])
def test_a_transient_failure_is_tried_again_up_to_the_attempts(flaky, failures, requests,
                                                                waits):
    http, waited = client(attempts=3)
    assert http.get(flaky.failing(failures).url).body == b"ok"
    assert (flaky.requests, waited) == (requests, waits)


def test_a_source_failing_every_try_is_asked_attempts_times_and_no_more(flaky):
    http, waited = client(attempts=3)
    with pytest.raises(Transient, match=r"^HTTP 503 \(after 3 tries\)$"):
        http.get(flaky.failing(3).url)  # a fourth try would have been answered
    assert (flaky.requests, waited) == (3, [2.0, 4.0])  # no wait after the last try


def test_one_attempt_asks_once_and_never_waits(flaky):
    http, waited = client(attempts=1)
    with pytest.raises(Transient, match=r"^HTTP 503 \(after 1 try\)$"):
        http.get(flaky.failing(1).url)
    assert (flaky.requests, waited) == (1, [])


@pytest.mark.parametrize(("status", "retried"), [
    (428, False), (429, True), (430, False),  # 429 "too many requests" alone of the 4xx
    (499, False), (500, True), (503, True), (599, True),  # every 5xx
])
def test_only_429_and_5xx_are_asked_again(flaky, status, retried):
    http, _waited = client(attempts=3)
    with pytest.raises(Transient if retried else BadAnswer, match=f"HTTP {status}"):
        http.get(flaky.failing(3, status).url)
    assert flaky.requests == (3 if retried else 1)


# ---------------------------------------------------------------- each source's settings


SOURCES = {
    "tipo-cambio": ("TOOLBOX_TIPO_CAMBIO", lambda s: [fetcher_from(s).http]),
    "sheets": ("TOOLBOX_SHEETS", lambda s: [sheets_client(s)]),
    # The three clients of the webservice: the CXC lists, the report and the token.
    "operaciones": ("TOOLBOX_OPERACIONES", lambda s: [
        (ws := webservice(s)).cxc, ws.report, ws.token_http]),
}


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_takes_its_tries_and_backoff_from_its_settings(flaky, clean_env,
                                                                  monkeypatch, source):
    prefix, clients_of = SOURCES[source]
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_PROVIDER", "apis-net-pe")
    monkeypatch.setenv("TOOLBOX_TIPO_CAMBIO_URL", flaky.url + "?fecha={fecha}")
    monkeypatch.setenv("TOOLBOX_OPERACIONES_URL", flaky.url.rsplit("/", 1)[0])
    monkeypatch.setenv("TOOLBOX_OPERACIONES_USER", "u")

    def tried(settings_env: dict[str, str]) -> list[tuple[int, list[float]]]:
        for key, value in settings_env.items():
            monkeypatch.setenv(key, value)
        out = []
        for http in clients_of(load_settings()):
            waits: list[float] = []
            http.sleep = waits.append
            with pytest.raises(Transient):
                http.get(flaky.failing(10).url)
            out.append((flaky.requests, waits))
        return out

    count = len(clients_of(load_settings()))
    assert tried({}) == [(3, [2.0, 4.0])] * count  # the README's defaults: 3 tries, 2 s
    assert tried({f"{prefix}_ATTEMPTS": "5", f"{prefix}_BACKOFF_SECONDS": "3"}) == \
        [(5, [3.0, 6.0, 10.0, 10.0])] * count  # 12 s and 24 s capped at 10 s
