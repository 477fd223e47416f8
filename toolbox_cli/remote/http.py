"""HTTP GET for every remote source (the exchange-rate provider, the analysts' sheets).

One rule for all of them: a socket timeout per request; network errors, timeouts, HTTP 429
and 5xx are retried up to ``attempts`` tries with exponential back-off (``backoff`` × 1, 2,
4 … capped at 10 s); any other HTTP status is final, because asking again would get the
same answer. Redirects are followed (urllib's default) and the answer keeps the final URL,
so a caller can tell a Google login page from the sheet it asked for. Only the standard
library (urllib) is used; callers' messages never contain the URL (it may carry a key).
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from toolbox_cli import __version__

MAX_BACKOFF_SECONDS = 10.0


class BadAnswer(ValueError):
    """The server answered, but not with something usable; asking again would not help."""


class Transient(Exception):
    """Worth asking again: network error, timeout, 429, 5xx."""


@dataclass(frozen=True)
class Answer:
    url: str  # after redirects
    content_type: str
    body: bytes


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

    def get(self, url: str) -> Answer:
        """The answer to GET ``url``, after retries; raises BadAnswer (final) or Transient
        (still failing after every try, the reason saying how many)."""
        reason = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                return self._get_once(url)
            except Transient as exc:
                reason = str(exc)
            if attempt < self.attempts:
                self.sleep(backoff_delay(attempt, self.backoff))
        tries = "1 try" if self.attempts == 1 else f"{self.attempts} tries"
        raise Transient(f"{reason} (after {tries})")

    def _get_once(self, url: str) -> Answer:
        request = urllib.request.Request(url, headers={"User-Agent": f"toolbox/{__version__}"})
        for name, value in self.headers.items():
            if name.lower() == "authorization":  # a key: never sent on to a redirect's host
                request.add_unredirected_header(name, value)
            else:
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Answer(response.geturl(), response.headers.get("Content-Type", ""),
                              response.read())
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 429 or exc.code >= 500:
                raise Transient(f"HTTP {exc.code}") from None
            raise BadAnswer(self.status_message(exc.code) or f"HTTP {exc.code}") from None
        except TimeoutError:
            raise Transient(f"no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise Transient(f"no answer within {self.timeout:g} s") from None
            raise Transient(f"cannot reach {self.what}: {exc.reason}") from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise Transient(f"connection failed: {type(exc).__name__}") from None
