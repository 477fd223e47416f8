"""`tipo-cambio`: fill every missing calendar date of ``tipo_cambio`` from the rate provider.

reportes.md §3.9 with the fix of §6.21. The providers (``TOOLBOX_TIPO_CAMBIO_PROVIDER``:
``decolecta``, the default, with its key in ``TOOLBOX_TIPO_CAMBIO_TOKEN``, or the legacy
``apis-net-pe``), their URLs, answers and retries are in ``remote/tipo_cambio.py``.

- Insert-only: a stored date is never fetched again nor updated.
- Requests: with decolecta a month with 3 or more missing dates is one request for the whole
  month, other dates are asked one by one (a backfill since 2019-07 is ~90 requests);
  apis-net-pe is one request per date.
- Requests run in batches of ``tipo_cambio_concurrency`` at once (threads), with a pause of
  ``tipo_cambio_pause_seconds`` between batches; each batch's successes are committed before
  the next batch starts, so an interrupted or failing run keeps what it got.
- Per request: a socket timeout of ``tipo_cambio_timeout_seconds``; network errors,
  timeouts, HTTP 429 and 5xx are retried up to ``tipo_cambio_attempts`` tries with
  exponential back-off (``tipo_cambio_backoff_seconds`` × 1, 2, 4 … capped at 10 s).
  Other answers are final, because asking again would get the same answer.
- A date the provider has no rate for (a weekend or holiday absent from a decolecta
  answer) stays missing and is no failure: decision 1 uses the previous rate.
- Each failed date (or month) is a warning on the run and the run fails (exit 1) after
  storing the successes; the next run retries exactly the dates still missing.
- HTTP 401/403 (the key is missing or wrong) fails the run with one line and stops asking:
  the dates not asked yet are counted as not fetched.
- Decolecta without a key is a configuration error (exit 2) before any request; a dry
  run checks the configuration and makes no request.
- On a terminal one progress line counts the requests answered of all the run makes and
  names the ones in flight (a month ``2024-03`` or a date ``2024-03-04``), with the try a
  retried one is at: a slow provider is seen to be slow, not the run to be stuck.

Only the standard library (urllib, threads) is used for HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from toolbox_cli.context import TaskContext
from toolbox_cli.errors import TaskFailed
from toolbox_cli.remote.tipo_cambio import batches, fetcher_from, missing_dates
from toolbox_cli.storage.rates import save_rates, stored_dates
from toolbox_cli.words import count, plural

if TYPE_CHECKING:
    from toolbox_cli.progress import Progress
    from toolbox_cli.remote.tipo_cambio import Ask, Failure, Fetched, RateFetcher

log = logging.getLogger("toolbox")

LINE = "tipo_cambio"  # the requests' line on the progress display


def refresh(ctx: TaskContext, task: str, desde: date, hasta: date, *, recheck: bool) -> None:
    """Fetch and store every date of ``desde``..``hasta`` missing from ``tipo_cambio``
    (without ``recheck``, not those the last success of ``task`` found without a rate)."""
    fetcher = fetcher_from(ctx.settings)  # a configuration error stops here, before any request
    missing = missing_dates(desde, hasta, stored_dates(ctx.source, desde, hasta))
    if not recheck:
        missing = _not_settled(ctx, task, missing)
    ctx.add_rows("tipo_cambio", 0)
    if not missing:
        log.info("tipo_cambio: no missing dates between %s and %s", desde, hasta)
        return
    if ctx.dry_run:
        ctx.add_rows("tipo_cambio", len(missing))  # would be fetched; nothing is requested
        return
    filled = fill(ctx, fetcher, missing)
    log.info("tipo_cambio: %s for %s: %s stored, %s without a rate at the provider",
             count(filled.requests, "request"), count(len(missing), "missing date"),
             f"{filled.stored:,}", f"{filled.absent:,}")
    for failure in filled.failures:
        ctx.warn(f"{failure.what}: {failure.reason}")
    if filled.refused:
        raise TaskFailed(
            f"{filled.refused}; stopped asking: {filled.stored} stored, "
            f"{filled.not_fetched} of {len(missing)} missing dates not fetched"
        )
    if filled.failures:
        first = filled.failures[0]
        failed = sum(len(f.dates) for f in filled.failures)
        raise TaskFailed(
            f"{failed} of {len(missing)} missing dates failed (first: "
            f"{first.what}: {first.reason}); {filled.stored} stored. "
            "Run toolbox tipo-cambio again to retry the dates still missing"
        )


def _not_settled(ctx: TaskContext, task: str, missing: list[date]) -> list[date]:
    """``missing`` without the dates the last successful run already asked for and found
    without a rate: a success asked for every date of its range still missing and got no
    failure, so a date of it still missing has no rate at the provider (a weekend, a
    holiday). Its last day is asked again (its rate may be published later that day)."""
    last = ctx.history.last_success(task)
    if last is None or not last.params.get("hasta"):
        return missing
    first = date.fromisoformat(str(last.params["desde"]))
    until = date.fromisoformat(str(last.params["hasta"])) - timedelta(days=1)
    left = [d for d in missing if not first <= d <= until]
    if len(left) < len(missing):
        known = len(missing) - len(left)
        log.info("tipo_cambio: %s between %s and %s %s no rate at the provider (run %d "
                 "asked for them); not asked again (--recheck asks)",
                 count(known, "missing date"), first, until, plural("has", known), last.id)
    return left


@dataclass
class Filled:
    """What ``fill`` did."""

    stored: int = 0
    requests: int = 0
    absent: int = 0  # asked dates the provider has no rate for (weekends, holidays)
    failures: list[Failure] = field(default_factory=list)
    refused: str | None = None  # the provider refused the key: the run stopped asking
    not_fetched: int = 0  # dates left unasked (or refused) because of that


def fill(ctx: TaskContext, fetcher: RateFetcher, missing: Sequence[date]) -> Filled:
    """Ask request after request in batches, committing each batch's successes before the
    next; a refused key stops before the next batch."""
    settings = ctx.settings
    size = settings.tipo_cambio_concurrency
    asks = fetcher.plan(missing)
    done = Filled()
    shown = _Requests(ctx.progress, fetcher, len(asks))
    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tipo-cambio")
    try:
        for number, batch in enumerate(batches(asks, size)):
            ctx.check_alive()
            if number and settings.tipo_cambio_pause_seconds:
                time.sleep(settings.tipo_cambio_pause_seconds)
            results = list(pool.map(shown.fetch, batch))
            done.requests += len(batch)
            new = save_rates(ctx.source, [r.as_row() for f in results for r in f.rates])
            done.stored += new
            ctx.add_rows("tipo_cambio", new)
            done.failures += [x for f in results for x in f.failures]
            done.absent += sum(len(f.absent) for f in results)
            refused = [ask for ask, f in zip(batch, results, strict=True) if f.refused]
            if refused:
                done.refused = next(f.refused for f in results if f.refused)
                later = asks[number * size + len(batch):]
                done.not_fetched = sum(len(a.dates) for a in [*refused, *later])
                break
    finally:
        # On Ctrl-C/SIGTERM do not wait for queued requests; running ones end at their timeout.
        pool.shutdown(wait=False, cancel_futures=True)
        ctx.progress.done(LINE)
    return done


class _Requests:
    """The requests on the progress display: how many are answered of all the run makes,
    and the ones in flight (a batch runs several at once), each with the try it is at when
    retried (the back-off of a failing provider is the longest silence there is)."""

    def __init__(self, progress: Progress, fetcher: RateFetcher, total: int) -> None:
        self.progress, self.fetcher, self.total = progress, fetcher, total
        self.answered = 0
        self.asking: dict[Ask, str] = {}  # in flight, in the order asked → its retry, if any
        self.lock = threading.Lock()  # the pool's threads report at once

    def fetch(self, ask: Ask) -> Fetched:
        """``fetcher.fetch(ask)``, shown while it runs (on one of the pool's threads)."""
        def retrying(attempt: int, attempts: int, reason: str) -> None:
            self._show(ask, f"attempt {attempt} of {attempts} after {reason}")

        self._show(ask, "")
        try:
            return self.fetcher.fetch(ask, on_retry=retrying)
        finally:
            self._show(ask, None)

    def _show(self, ask: Ask, retry: str | None) -> None:
        """``ask`` is in flight (``retry`` says which try, "" for the first) or, with None,
        answered; the line is updated under the lock, so its count never goes back. A
        retried request is named first: a narrow terminal cuts the end of the line."""
        with self.lock:
            if retry is None:
                self.asking.pop(ask, None)
                self.answered += 1
            else:
                self.asking[ask] = retry
            retried_first = sorted(self.asking.items(), key=lambda item: not item[1])
            asking = ", ".join(a.label + (f" ({note})" if note else "")
                               for a, note in retried_first)
            self.progress.step(LINE, self.answered, self.total,
                               f"asking {asking}" if asking else "", unit="requests")
