"""The exchange-rate provider over HTTP (reportes.md §3.9, with the fix of §6.21).

The provider is a URL template with ``{fecha}`` (setting ``TOOLBOX_TIPO_CAMBIO_URL``; default
the public SUNAT API the legacy used), answering JSON ``{"fecha": "YYYY-MM-DD", "compra":
3.70, "venta": 3.71}``. Requests go through ``remote/http.py`` (timeout
``tipo_cambio_timeout_seconds``, ``tipo_cambio_attempts`` tries with back-off
``tipo_cambio_backoff_seconds`` for network errors, 429 and 5xx). Final: another HTTP
status, an empty or malformed body, or a ``fecha`` different from the requested date
(stored only when equal — §6.21).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from toolbox_cli.compute.text import rate_problem, stored_rate, text_date
from toolbox_cli.errors import InputError
from toolbox_cli.remote.http import BadAnswer, HttpClient, Transient, backoff_delay

__all__ = ["BadAnswer", "Transient", "backoff_delay"]  # the rules, from remote/http.py

log = logging.getLogger("toolbox")


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
    http: HttpClient

    def url_for(self, fecha: date) -> str:
        return self.url_template.replace("{fecha}", fecha.isoformat())

    def fetch(self, fecha: date) -> Rate | Failure:
        try:
            return parse_answer(fecha, self.http.get(self.url_for(fecha)).body)
        except (BadAnswer, Transient) as exc:
            return Failure(fecha, str(exc))


def fetcher_from(settings: Any) -> RateFetcher:
    if "{fecha}" not in settings.tipo_cambio_url:
        raise InputError(
            "TOOLBOX_TIPO_CAMBIO_URL has no {fecha} placeholder; e.g. "
            "https://api.apis.net.pe/v1/tipo-cambio-sunat?fecha={fecha}"
        )
    return RateFetcher(
        url_template=settings.tipo_cambio_url,
        http=HttpClient(
            timeout=settings.tipo_cambio_timeout_seconds,
            attempts=settings.tipo_cambio_attempts,
            backoff=settings.tipo_cambio_backoff_seconds,
            headers={"Accept": "application/json"},
            what="the provider",
        ),
    )
