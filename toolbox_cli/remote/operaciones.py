"""The operations webservice (``../shared/domain/webservice.md``): its endpoints, its login,
and each answer as a stream of objects.

Three endpoints need no login and return the whole history (documents, payments,
refunds); the ``colocaciones`` report needs a bearer token from ``POST /webservice/token``
(form fields ``username``, ``password``). One login per run; a 401 on the report drops the
token, logs in again and asks once more (the legacy's retry), a second 401 fails. Every
call has the legacy's timeout, tries and back-off (settings ``TOOLBOX_OPERACIONES_*``).

Unlike the legacy, which turned every error and every non-list answer into ``[]`` (and so
published empty tables), anything but a JSON list of objects fails (``WebserviceError``,
one line naming the endpoint): an unreachable host, a timeout after the tries, an HTTP
error, HTML or a sign-in page, a JSON object, a truncated body. The token is sent only in
an ``Authorization`` header that is not passed on to a redirect, is never printed and is
scrubbed from every message (``on_token``). ``on_retry`` is told each retry of a call, by
the call's label (a progress display says "attempt 2 of 3" while the back-off waits).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from http.client import HTTPException
from typing import Any

from toolbox_cli.errors import InputError
from toolbox_cli.remote.http import BadAnswer, HttpClient, Transient
from toolbox_cli.remote.jsonstream import BadJson, objects

DOCUMENTS = "liquidacionCab/subquery-cab"
PAYMENTS = "liquidacionPago/subquery"
REFUNDS = "liquidacionDevolucion/subquery"
REPORT = "colocaciones"
TOKEN = "token"


class WebserviceError(InputError):
    """A call to the operations webservice failed; the run fails (exit 1) and keeps every
    table."""


def endpoint_label(endpoint: str, reporte: int | None = None) -> str:
    """How messages name an endpoint: ``subquery-cab``, ``colocaciones?reporte=2``."""
    name = endpoint.rsplit("/", 1)[-1]
    return f"{name}?reporte={reporte}" if reporte is not None else name


@dataclass
class Webservice:
    """One run's conversation with the webservice at ``base`` (``TOOLBOX_OPERACIONES_URL``)."""

    base: str
    user: str
    password: str
    cxc: HttpClient
    report: HttpClient
    token_http: HttpClient
    on_token: Callable[[str], None] = lambda token: None  # a new secret to scrub
    # (the call's label, the try about to start, of how many, why the last one failed)
    on_retry: Callable[[str, int, int, str], None] = lambda label, attempt, attempts, why: None
    _token: str | None = field(default=None, repr=False)

    def url(self, endpoint: str) -> str:
        return f"{self.base}/webservice/{endpoint}"

    # ----------------------------------------------------------------- the three CXC lists

    def rows(self, endpoint: str) -> Iterator[dict[str, Any]]:
        """Each object of an unauthenticated endpoint's answer, as it arrives."""
        yield from self._stream(endpoint_label(endpoint), self.cxc, self.url(endpoint), {})

    # ----------------------------------------------------------------- the report

    def report_rows(self, reporte: int, desde: date, hasta: date, corte: date
                    ) -> Iterator[dict[str, Any]]:
        """Each row of the ``colocaciones`` report ``reporte`` (2 or 0), logged in."""
        label = endpoint_label(REPORT, reporte)
        query = (f"desde={desde:%Y%m%d}&hasta={hasta:%Y%m%d}&fechaCorte={corte:%Y%m%d}"
                 f"&reporte={reporte}")
        url = f"{self.url(REPORT)}?{query}"
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._login()}",
                       "Accept": "application/json"}
            try:
                yield from self._stream(label, self.report, url, headers)
                return
            except _Unauthorised:
                self._token = None
                if attempt == 2:
                    raise WebserviceError(
                        f"{label}: the webservice refused the token twice (HTTP 401), after "
                        "a fresh login; check TOOLBOX_OPERACIONES_USER and its rights to the "
                        "colocaciones report") from None

    def _login(self) -> str:
        if self._token is not None:
            return self._token
        try:
            answer = self.token_http.post_form(
                self.url(TOKEN), {"username": self.user, "password": self.password},
                on_retry=functools.partial(self.on_retry, TOKEN))
        except BadAnswer as exc:
            if exc.status in (400, 401, 403):
                raise WebserviceError(
                    f"token: the webservice refused the login (HTTP {exc.status}); check "
                    "TOOLBOX_OPERACIONES_USER and TOOLBOX_OPERACIONES_PASSWORD") from None
            raise WebserviceError(f"token: {exc}") from None
        except Transient as exc:
            raise WebserviceError(f"token: {exc}") from None
        try:
            value = json.loads(answer.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            value = None
        token = value.get("access_token") if isinstance(value, Mapping) else None
        if not isinstance(token, str) or not token:
            what = _what(answer.body)
            raise WebserviceError(f"token: the answer has no access_token ({what}); check "
                                  "TOOLBOX_OPERACIONES_URL")
        self.on_token(token)
        self._token = token
        return token

    # ----------------------------------------------------------------- one call

    def _stream(self, label: str, http: HttpClient, url: str, headers: Mapping[str, str]
                ) -> Iterator[dict[str, Any]]:
        try:
            with http.stream(url, headers, on_retry=functools.partial(self.on_retry, label)
                             ) as (final_url, content_type, body):
                if "html" in content_type.lower():
                    head = body.read(4096).lower()
                    signin = any(m in head for m in (b"login", b"password", b"sign in",
                                                     b"iniciar sesi"))
                    what = "a sign-in page" if signin else "an HTML page"
                    raise WebserviceError(f"{label}: the answer is {what}, not data; check "
                                          "TOOLBOX_OPERACIONES_URL")
                yield from objects(body)
        except BadAnswer as exc:
            if exc.status == 401 and "Authorization" in headers:
                raise _Unauthorised() from None
            raise WebserviceError(f"{label}: {exc}") from None
        except Transient as exc:
            raise WebserviceError(f"{label}: {exc}") from None
        except BadJson as exc:
            raise WebserviceError(f"{label}: {exc}") from None
        except (TimeoutError, OSError) as exc:  # while the body streams in
            reason = "no more data within the timeout" if isinstance(exc, TimeoutError) \
                else f"the connection broke ({type(exc).__name__})"
            raise WebserviceError(f"{label}: {reason} while reading the answer (a truncated "
                                  "body)") from None
        except HTTPException as exc:  # IncompleteRead: a body cut short
            raise WebserviceError(f"{label}: the answer was cut short "
                                  f"({type(exc).__name__}, a truncated body)") from None


class _Unauthorised(Exception):
    """HTTP 401 on an authenticated call: log in again."""


def _what(body: bytes) -> str:
    head = body.lstrip()[:1]
    if head == b"<":
        return "an HTML page"
    if head == b"{":
        return "a JSON object without it"
    return "not JSON" if body.strip() else "an empty answer"
