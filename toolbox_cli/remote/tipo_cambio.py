"""The exchange-rate provider over HTTP (reportes.md §3.9, with the fix of §6.21).

The provider is a URL template with ``{fecha}`` (setting ``TOOLBOX_TIPO_CAMBIO_URL``; default
the public SUNAT API the legacy used), answering JSON ``{"fecha": "YYYY-MM-DD", "compra":
3.70, "venta": 3.71}``. Per request: a socket timeout of ``tipo_cambio_timeout_seconds``;
network errors, timeouts, HTTP 429 and 5xx are retried up to ``tipo_cambio_attempts`` tries
with exponential back-off (``tipo_cambio_backoff_seconds`` × 1, 2, 4 … capped at 10 s).
Other answers are final: another HTTP status, an empty or malformed body, or a ``fecha``
different from the requested date (stored only when equal — §6.21), because asking again
would get the same answer. Only the standard library (urllib) is used for HTTP.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from toolbox_cli import __version__
from toolbox_cli.compute.text import rate_problem, stored_rate, text_date
from toolbox_cli.errors import InputError

log = logging.getLogger("toolbox")

MAX_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True)
class Rate:
    fecha: date
    compra: Decimal
    venta: Decimal

    def as_row(self) -> dict[str, Any]:
        return {
            "TipoCambioFecha": self.fecha.isoformat(),
            "TipoCambioCompra": stored_rate(self.compra),
            "TipoCambioVenta": stored_rate(self.venta),
        }


@dataclass(frozen=True)
class Failure:
    fecha: date
    reason: str


class BadAnswer(ValueError):
    """The provider answered, but not with a usable rate for the requested date."""


class Transient(Exception):
    """Worth asking again: network error, timeout, 429, 5xx."""


# ----------------------------------------------------------------------------- pure helpers


def calendar_dates(desde: date, hasta: date) -> Iterator[date]:
    day = desde
    while day <= hasta:
        yield day
        day += timedelta(days=1)


def missing_dates(desde: date, hasta: date, existing: Iterable[str]) -> list[date]:
    """Every calendar day in [desde, hasta] (weekends and holidays too) not yet stored."""
    stored = set(existing)
    return [d for d in calendar_dates(desde, hasta) if d.isoformat() not in stored]


def backoff_delay(attempt: int, base: float, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Wait before try ``attempt + 1`` (attempt counts from 1): base × 2^(attempt-1), capped."""
    return min(base * (2 ** (attempt - 1)), cap)


def _rate_value(answer: dict[str, Any], *keys: str) -> Decimal:
    for key in keys:
        if key in answer:
            raw = answer[key]
            break
    else:
        raise BadAnswer(f"answer has no {keys[0]!r}")
    if isinstance(raw, bool) or raw is None:
        raise BadAnswer(f"{keys[0]} is {raw!r}, not a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise BadAnswer(f"{keys[0]} is {raw!r}, not a number") from None
    if rate_problem(value):
        raise BadAnswer(f"{keys[0]} is {raw!r}, not a plausible PEN/USD rate")
    return value


def parse_answer(requested: date, body: bytes) -> Rate:
    """The rate in a 200 answer, for the requested date only (reportes §6.21)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise BadAnswer("empty answer")
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        raise BadAnswer(f"answer is not JSON: {text[:60]!r}") from None
    if not isinstance(answer, dict):
        raise BadAnswer(f"answer is not a JSON object: {text[:60]!r}")
    raw_fecha = answer.get("fecha")
    if not isinstance(raw_fecha, str) or not raw_fecha.strip():
        raise BadAnswer("answer has no 'fecha'")
    try:
        fecha = text_date(raw_fecha)
    except ValueError as exc:
        raise BadAnswer(f"fecha: {exc}") from None
    if fecha != requested:
        raise BadAnswer(
            f"provider answered for {fecha.isoformat()} instead of {requested.isoformat()}; "
            "not stored"
        )
    compra = _rate_value(answer, "compra", "precioCompra")
    venta = _rate_value(answer, "venta", "precioVenta")
    return Rate(requested, compra, venta)


def batches(items: Sequence[date], size: int) -> Iterator[list[date]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# ----------------------------------------------------------------------------- HTTP


@dataclass
class RateFetcher:
    url_template: str
    timeout: float
    attempts: int
    backoff: float
    sleep: Callable[[float], None] = time.sleep

    def url_for(self, fecha: date) -> str:
        return self.url_template.replace("{fecha}", fecha.isoformat())

    def fetch(self, fecha: date) -> Rate | Failure:
        reason = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                return parse_answer(fecha, self._get(self.url_for(fecha)))
            except BadAnswer as exc:
                return Failure(fecha, str(exc))
            except Transient as exc:
                reason = str(exc)
            if attempt < self.attempts:
                self.sleep(backoff_delay(attempt, self.backoff))
        tries = "1 try" if self.attempts == 1 else f"{self.attempts} tries"
        return Failure(fecha, f"{reason} (after {tries})")

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": f"toolbox/{__version__}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 429 or exc.code >= 500:
                raise Transient(f"HTTP {exc.code}") from None
            raise BadAnswer(f"HTTP {exc.code}") from None
        except TimeoutError:
            raise Transient(f"no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise Transient(f"no answer within {self.timeout:g} s") from None
            raise Transient(f"cannot reach the provider: {exc.reason}") from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise Transient(f"connection failed: {type(exc).__name__}") from None


def fetcher_from(settings: Any) -> RateFetcher:
    if "{fecha}" not in settings.tipo_cambio_url:
        raise InputError(
            "TOOLBOX_TIPO_CAMBIO_URL has no {fecha} placeholder; e.g. "
            "https://api.apis.net.pe/v1/tipo-cambio-sunat?fecha={fecha}"
        )
    return RateFetcher(
        url_template=settings.tipo_cambio_url,
        timeout=settings.tipo_cambio_timeout_seconds,
        attempts=settings.tipo_cambio_attempts,
        backoff=settings.tipo_cambio_backoff_seconds,
    )
