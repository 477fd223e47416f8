"""The exchange-rate providers over HTTP (reportes.md §3.9, with the fix of §6.21).

``TOOLBOX_TIPO_CAMBIO_PROVIDER`` chooses one:

- ``decolecta`` (default): ``GET https://api.decolecta.com/v1/tipo-cambio/sunat`` with
  ``?date=YYYY-MM-DD`` (one object) or ``?month=M&year=YYYY`` (a list of the month's days
  that have a rate; weekends and holidays are absent); objects with ``date``, ``buy_price``,
  ``sell_price`` (strings, "3.712"), ``base_currency`` USD, ``quote_currency`` PEN. The key
  ``TOOLBOX_TIPO_CAMBIO_TOKEN`` (a secret) goes in ``Authorization: Bearer``.
- ``apis-net-pe`` (legacy): a template with ``{fecha}`` answering ``{"fecha": "YYYY-MM-DD",
  "compra": 3.70, "venta": 3.71}``, no key, one request per date, exactly as before.

``TOOLBOX_TIPO_CAMBIO_URL`` (default none: the provider's own URL) names a mirror: for
apis-net-pe the template with ``{fecha}``; for decolecta the *base* URL (e.g.
``http://127.0.0.1:8080/v1/tipo-cambio/sunat``) whose query string gets ``date=`` or
``month=``/``year=`` added, keeping parameters it already has. A base URL is what decolecta
documents, and one URL serves both shapes of request; a template would need two.

Requests (decolecta): the missing dates of a month with at least ``MONTH_REQUEST_FROM`` (3)
of them are one month request; other dates are asked one by one. For one or two dates the
cost is about the same either way (one or two small answers instead of ~30 objects); from
three on the month request saves requests, and a backfill since 2019-07 is about one
request per month (~90), not one per calendar day (~2 700).

Stored: a rate only for a date asked for, when the answer says it is for that date (§6.21):
a per-date answer for another date is a failure; a month answer's objects are matched by
``date`` (one outside the month asked makes the whole answer suspect). A wrong currency
pair or an implausible rate (``rate_problem``) fails that date. A date the provider has no
rate for — a gap in a month answer, or HTTP 404 to a per-date decolecta request — is
*absent*, no failure (decision 1 looks back to the previous rate), and asked again next
run. apis-net-pe keeps its rule: any unusable answer, 404 included, is a failure.

HTTP goes through ``remote/http.py`` (timeout, retries with back-off for network errors,
429 and 5xx; other statuses final). HTTP 401/403 says in one line that the key is missing
or wrong, and ``Fetched.refused`` tells the task to stop asking.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from itertools import groupby, islice
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from toolbox_cli.compute.text import rate_problem, stored_rate, text_date
from toolbox_cli.errors import ConfigError, InputError
from toolbox_cli.remote.http import BadAnswer, HttpClient, Retrying, Transient, backoff_delay
from toolbox_cli.words import count

if TYPE_CHECKING:
    from toolbox_cli.settings import Settings

__all__ = ["BadAnswer", "Transient", "backoff_delay"]  # the rules, from remote/http.py

log = logging.getLogger("toolbox")

DECOLECTA_URL = "https://api.decolecta.com/v1/tipo-cambio/sunat"
APIS_NET_PE_URL = "https://api.apis.net.pe/v1/tipo-cambio-sunat?fecha={fecha}"
MONTH_REQUEST_FROM = 3  # missing dates in a month from which the month is one request
NO_RATE = "HTTP 404 (no rate for this date)"
_MASK = "********"

T = TypeVar("T")
StatusMessage = Callable[[int], str | None]


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
class Ask:
    """One request: a single date, or the missing dates of one month (``month`` set)."""

    dates: tuple[date, ...]
    month: tuple[int, int] | None = None  # (year, month)

    @property
    def label(self) -> str:
        """``2024-03-04``, or ``2024-03`` for a month."""
        if self.month is None:
            return self.dates[0].isoformat()
        return f"{self.month[0]:04d}-{self.month[1]:02d}"

    @property
    def what(self) -> str:  # how a failure names it
        return self.label if self.month is None else f"{self.label} (month, {len(self.dates)} missing dates)"


@dataclass(frozen=True)
class Failure:
    what: str  # "2024-03-04", or "2024-03 (month, 12 missing dates)"
    dates: tuple[date, ...]
    reason: str


@dataclass
class Fetched:
    """What one request gave."""

    rates: list[Rate] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    absent: list[date] = field(default_factory=list)  # asked; the provider has no rate
    refused: str | None = None  # 401/403: the key is missing or wrong; stop asking


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


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def by_month(missing: Sequence[date], month_from: int = MONTH_REQUEST_FROM) -> list[Ask]:
    """The requests for ``missing`` (in order): a month with at least ``month_from``
    missing dates is one request, the dates of the other months one request each."""
    asks: list[Ask] = []
    for month, days in groupby(missing, key=lambda d: (d.year, d.month)):
        group = tuple(days)
        if len(group) >= month_from:
            asks.append(Ask(group, month))
        else:
            asks += [Ask((d,)) for d in group]
    return asks


def with_query(base: str, **params: str) -> str:
    """``base`` with ``params`` added to its query string (replacing any of the same name)."""
    parts = urlsplit(base)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def _json(body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise BadAnswer("empty answer")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise BadAnswer(f"answer is not JSON: {text[:60]!r}") from None


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


def _answer_date(answer: dict[str, Any], key: str) -> date:
    raw = answer.get(key)
    if not isinstance(raw, str) or not raw.strip():
        raise BadAnswer(f"answer has no {key!r}")
    try:
        return text_date(raw)
    except ValueError as exc:
        raise BadAnswer(f"{key}: {exc}") from None


def _same_date(requested: date, answered: date) -> None:
    if answered != requested:
        raise BadAnswer(
            f"provider answered for {answered.isoformat()} instead of {requested.isoformat()}; "
            "not stored"
        )


def parse_answer(requested: date, body: bytes) -> Rate:
    """apis-net-pe: the rate in a 200 answer, for the requested date only (reportes §6.21)."""
    answer = _json(body)
    if not isinstance(answer, dict):
        raise BadAnswer(f"answer is not a JSON object: {json.dumps(answer)[:60]!r}")
    _same_date(requested, _answer_date(answer, "fecha"))
    compra = _rate_value(answer, "compra", "precioCompra")
    venta = _rate_value(answer, "venta", "precioVenta")
    return Rate(requested, compra, venta)


def decolecta_rate(answer: dict[str, Any], fecha: date) -> Rate:
    """decolecta: one object (its ``date`` already read as ``fecha``) as a USD→PEN rate."""
    pair = tuple(str(answer.get(k) or "").strip().upper()
                 for k in ("base_currency", "quote_currency"))
    if pair != ("USD", "PEN"):
        raise BadAnswer(f"rate is for {pair[0] or '?'}/{pair[1] or '?'}, not USD/PEN; not stored")
    return Rate(fecha, _rate_value(answer, "buy_price"), _rate_value(answer, "sell_price"))


def parse_decolecta_day(requested: date, body: bytes) -> Rate:
    answer = _json(body)
    if not isinstance(answer, dict):
        raise BadAnswer(f"answer is not a JSON object: {json.dumps(answer)[:60]!r}")
    fecha = _answer_date(answer, "date")
    _same_date(requested, fecha)
    return decolecta_rate(answer, fecha)


def parse_decolecta_month(ask: Ask, body: bytes) -> Fetched:
    """A month answer: the rates of the asked dates it has; the asked dates it lacks are
    absent. An entry without a readable date, or dated outside the month asked, makes the
    whole answer suspect (BadAnswer); a bad entry for an asked date fails that date."""
    assert ask.month is not None
    answer = _json(body)
    if not isinstance(answer, list):
        raise BadAnswer(f"answer for a month is not a JSON list: {json.dumps(answer)[:60]!r}")
    asked = set(ask.dates)
    seen: dict[date, Any] = {}
    out = Fetched()
    for number, entry in enumerate(answer, start=1):
        if not isinstance(entry, dict):
            raise BadAnswer(f"entry {number} of the answer is not a JSON object")
        try:
            fecha = _answer_date(entry, "date")
        except BadAnswer as exc:
            raise BadAnswer(f"entry {number} of the answer: {exc}") from None
        if (fecha.year, fecha.month) != ask.month:
            raise BadAnswer(f"answer for {ask.label} has an entry for {fecha.isoformat()}; "
                            "not stored")
        if fecha in seen:
            if seen[fecha] != entry:
                raise BadAnswer(f"answer has {fecha.isoformat()} twice, with different rates")
            continue
        seen[fecha] = entry
        if fecha not in asked:
            continue  # stored already (insert-only) or outside --desde/--hasta
        try:
            out.rates.append(decolecta_rate(entry, fecha))
        except BadAnswer as exc:
            out.failures.append(Failure(fecha.isoformat(), (fecha,), str(exc)))
    out.absent = [d for d in ask.dates if d not in seen]
    log.info("tipo_cambio: %s: %s for missing dates, %s without a rate (weekends, holidays)",
             ask.label, count(len(out.rates), "rate"), count(len(out.absent), "missing date"))
    return out


# ----------------------------------------------------------------------------- HTTP


@dataclass
class RateFetcher:
    """One provider: which requests cover the missing dates, and what each one gave."""

    url: str
    http: HttpClient
    refusals: frozenset[str] = frozenset()  # the messages of a 401/403 answer
    token: str = ""  # the key sent, if any: masked in every reason

    def plan(self, missing: Sequence[date]) -> list[Ask]:
        return [Ask((d,)) for d in missing]

    def url_for(self, ask: Ask) -> str:
        raise NotImplementedError

    def parse(self, ask: Ask, body: bytes) -> Fetched:
        raise NotImplementedError

    def fetch(self, ask: Ask, on_retry: Retrying | None = None) -> Fetched:
        """What ``ask`` gave; ``on_retry`` is told each retry of it (``HttpClient.get``)."""
        try:
            body = self.http.get(self.url_for(ask), on_retry=on_retry).body
            if self.token:  # a reason may quote the body (cut short), which may echo the key
                body = body.replace(self.token.encode(), _MASK.encode())
            return self.parse(ask, body)
        except (BadAnswer, Transient) as exc:
            return self.failed(ask, str(exc))

    def failed(self, ask: Ask, reason: str) -> Fetched:
        if reason in self.refusals:
            return Fetched(refused=reason)
        return Fetched(failures=[Failure(ask.what, ask.dates, reason)])


@dataclass
class ApisNetPe(RateFetcher):
    def url_for(self, ask: Ask) -> str:
        return self.url.replace("{fecha}", ask.dates[0].isoformat())

    def parse(self, ask: Ask, body: bytes) -> Fetched:
        return Fetched(rates=[parse_answer(ask.dates[0], body)])


@dataclass
class Decolecta(RateFetcher):
    def plan(self, missing: Sequence[date]) -> list[Ask]:
        return by_month(missing)

    def url_for(self, ask: Ask) -> str:
        if ask.month is None:
            return with_query(self.url, date=ask.dates[0].isoformat())
        return with_query(self.url, month=str(ask.month[1]), year=str(ask.month[0]))

    def parse(self, ask: Ask, body: bytes) -> Fetched:
        if ask.month is not None:
            return parse_decolecta_month(ask, body)
        return Fetched(rates=[parse_decolecta_day(ask.dates[0], body)])

    def failed(self, ask: Ask, reason: str) -> Fetched:
        if reason == NO_RATE:
            if ask.month is None:
                log.info("tipo_cambio: %s: the provider has no rate (HTTP 404)", ask.what)
                return Fetched(absent=list(ask.dates))
            reason = "HTTP 404 for a whole month; is TOOLBOX_TIPO_CAMBIO_URL the right base URL?"
        return super().failed(ask, reason)


def _decolecta_status(code: int) -> str | None:
    if code == 401:
        return ("HTTP 401: the provider refused the key; TOOLBOX_TIPO_CAMBIO_TOKEN is missing "
                "or wrong")
    if code == 403:
        return ("HTTP 403: the provider refused the key; TOOLBOX_TIPO_CAMBIO_TOKEN is wrong, "
                "revoked, or its plan does not cover this request")
    return NO_RATE if code == 404 else None


def _apis_net_pe_status(code: int) -> str | None:
    if code in (401, 403):
        return (f"HTTP {code}: the provider wants a key, and apis-net-pe sends none; set "
                "TOOLBOX_TIPO_CAMBIO_PROVIDER=decolecta and TOOLBOX_TIPO_CAMBIO_TOKEN")
    return None


def _refusals(status: StatusMessage) -> frozenset[str]:
    return frozenset(m for code in (401, 403) if (m := status(code)))


def fetcher_from(settings: Settings) -> RateFetcher:
    """The configured provider; a configuration it cannot work with fails here, before
    any request."""
    def client(headers: dict[str, str], status: StatusMessage) -> HttpClient:
        return HttpClient(
            timeout=settings.tipo_cambio_timeout_seconds,
            attempts=settings.tipo_cambio_attempts,
            backoff=settings.tipo_cambio_backoff_seconds,
            headers={"Accept": "application/json", **headers},
            status_message=status,
            what="the provider",
        )

    if settings.tipo_cambio_provider == "apis-net-pe":
        url = settings.tipo_cambio_url or APIS_NET_PE_URL
        if "{fecha}" not in url:
            raise InputError(
                "TOOLBOX_TIPO_CAMBIO_URL has no {fecha} placeholder; e.g. "
                "https://api.apis.net.pe/v1/tipo-cambio-sunat?fecha={fecha}"
            )
        return ApisNetPe(url, client({}, _apis_net_pe_status), _refusals(_apis_net_pe_status))
    secret = settings.tipo_cambio_token
    token = secret.get_secret_value() if secret is not None else ""
    if not token.strip():
        raise ConfigError(
            "TOOLBOX_TIPO_CAMBIO_TOKEN is not set; decolecta needs a key (create one at "
            "https://decolecta.com), or set TOOLBOX_TIPO_CAMBIO_PROVIDER=apis-net-pe"
        )
    url = settings.tipo_cambio_url or DECOLECTA_URL
    if "{fecha}" in url:
        raise ConfigError(
            "TOOLBOX_TIPO_CAMBIO_URL has a {fecha} placeholder, which is for apis-net-pe; "
            f"decolecta takes the base URL, e.g. {DECOLECTA_URL}"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"TOOLBOX_TIPO_CAMBIO_URL must be an http(s) URL, e.g. {DECOLECTA_URL}")
    return Decolecta(url, client({"Authorization": f"Bearer {token}"}, _decolecta_status),
                     _refusals(_decolecta_status), token=token)
