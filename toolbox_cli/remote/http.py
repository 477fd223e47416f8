"""HTTP for every remote source (the exchange-rate provider, the analysts' sheets, the
operations webservice).

One rule for all of them: a socket timeout per request; network errors, timeouts, HTTP 429
and 5xx are retried up to ``attempts`` tries with exponential back-off (``backoff`` × 1, 2,
4 … capped at 10 s); any other HTTP status is final, because asking again would get the
same answer. Redirects are followed (urllib's default) and the answer keeps the final URL,
so a caller can tell a Google login page from the sheet it asked for. Only the standard
library (urllib) is used; callers' messages never contain the URL (it may carry a key).
An ``Authorization`` header is never sent on to a redirect's target (another host could
read the key or the token). ``stream`` gives the answer as it arrives, for a body too large
to hold (the operations webservice's whole history): the retries cover the connection and
the status, not a body cut halfway (the caller fails on that). A caller that shows its
progress passes ``on_retry``: it is told each try that failed and is tried again, so a
person watching sees "attempt 2 of 3 after HTTP 503" instead of a run gone quiet.
"""

from __future__ import annotations

import contextlib
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TypeVar

from toolbox_cli import __version__

MAX_BACKOFF_SECONDS = 10.0
_T = TypeVar("_T")
# Told (the try about to start, of how many, why the last one failed) before each retry.
Retrying = Callable[[int, int, str], None]


class BadAnswer(ValueError):
    """The server answered, but not with something usable; asking again would not help.
    ``status``: the HTTP status when that was the reason (a 401 asks for a new login)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Transient(Exception):
    """Worth asking again: network error, timeout, 429, 5xx."""


@dataclass(frozen=True)
class Answer:
    url: str  # after redirects
    content_type: str
    body: bytes


def split_login(url: str) -> tuple[str, str | None]:
    """A URL with ``user:password@`` in it as the URL without them and the HTTP Basic
    ``Authorization`` value they stand for: urllib would take ``user:password@host`` for
    the host's name (``Name or service not known``)."""
    import base64

    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def backoff_delay(attempt: int, base: float, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Wait before try ``attempt + 1`` (attempt counts from 1): base × 2^(attempt-1), capped."""
    return min(base * (2 ** (attempt - 1)), cap)


@dataclass
class HttpClient:
    timeout: float
    attempts: int
    backoff: float
    headers: Mapping[str, str] = field(default_factory=dict)
    # A final HTTP status → the message to give instead of "HTTP 401" (e.g. a missing key).
    status_message: Callable[[int], str | None] = lambda code: None
    what: str = "the server"  # in "cannot reach the server"
    sleep: Callable[[float], None] = time.sleep

    def get(self, url: str, headers: Mapping[str, str] | None = None, *,
            on_retry: Retrying | None = None) -> Answer:
        """The answer to GET ``url``, after retries; raises BadAnswer (final) or Transient
        (still failing after every try, the reason saying how many)."""
        def read() -> Answer:
            with self._open(self._request(url, headers)) as response:
                return Answer(response.geturl(), response.headers.get("Content-Type", ""),
                              self._read(response))
        return self._retried(read, on_retry)

    def post_form(self, url: str, fields: Mapping[str, str], *,
                  on_retry: Retrying | None = None) -> Answer:
        """POST ``fields`` as ``application/x-www-form-urlencoded``, after retries."""
        data = urllib.parse.urlencode(fields).encode()

        def send() -> Answer:
            request = self._request(url, {"Content-Type": "application/x-www-form-urlencoded"})
            request.data = data
            with self._open(request) as response:
                return Answer(response.geturl(), response.headers.get("Content-Type", ""),
                              self._read(response))
        return self._retried(send, on_retry)

    @contextlib.contextmanager
    def stream(self, url: str, headers: Mapping[str, str] | None = None, *,
               on_retry: Retrying | None = None) -> Iterator[tuple[str, str, IO[bytes]]]:
        """GET ``url`` and yield (final URL, content type, the body as a file) once the
        status is known: connecting and the status are retried, the body is not."""
        response = self._retried(lambda: self._open(self._request(url, headers)), on_retry)
        with response:
            yield response.geturl(), response.headers.get("Content-Type", ""), response

    def _retried(self, once: Callable[[], _T], on_retry: Retrying | None = None) -> _T:
        reason = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                return once()
            except Transient as exc:
                reason = str(exc)
            if attempt < self.attempts:
                if on_retry is not None:  # before the wait: the wait is what looks stuck
                    on_retry(attempt + 1, self.attempts, reason)
                self.sleep(backoff_delay(attempt, self.backoff))
        tries = "1 try" if self.attempts == 1 else f"{self.attempts} tries"
        raise Transient(f"{reason} (after {tries})")

    def _request(self, url: str, headers: Mapping[str, str] | None) -> urllib.request.Request:
        url, login = split_login(url)
        request = urllib.request.Request(url, headers={"User-Agent": f"toolbox/{__version__}"})
        extra = {"Authorization": login} if login else {}
        for name, value in {**self.headers, **extra, **(headers or {})}.items():
            if name.lower() == "authorization":  # a key: never sent on to a redirect's host
                request.add_unredirected_header(name, value)
            else:
                request.add_header(name, value)
        return request

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        try:
            return response.read()
        except TimeoutError:
            raise Transient(f"no answer within {self.timeout:g} s") from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise Transient(f"connection failed: {type(exc).__name__}") from None

    def _open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        try:
            response: http.client.HTTPResponse = urllib.request.urlopen(
                request, timeout=self.timeout)
            return response
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 429 or exc.code >= 500:
                raise Transient(f"HTTP {exc.code}") from None
            raise BadAnswer(self.status_message(exc.code) or f"HTTP {exc.code}",
                            status=exc.code) from None
        except TimeoutError:
            raise Transient(f"no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise Transient(f"no answer within {self.timeout:g} s") from None
            raise Transient(f"cannot reach {self.what}: {exc.reason}") from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise Transient(f"connection failed: {type(exc).__name__}") from None
