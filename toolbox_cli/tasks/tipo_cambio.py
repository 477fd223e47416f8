"""``tipo-cambio``: fill every missing calendar date of ``tipo_cambio`` from the rate provider.

reportes.md §3.9 with the fix of §6.21. The provider and its retries are in
``remote/tipo_cambio.py``.

- Insert-only: a stored date is never fetched again nor updated.
- Dates are fetched in batches of ``tipo_cambio_concurrency`` at once (threads), with a pause
  of ``tipo_cambio_pause_seconds`` between batches; each batch's successes are committed
  before the next batch starts, so an interrupted or failing run keeps what it got.
- Per request: a socket timeout of ``tipo_cambio_timeout_seconds``; network errors,
  timeouts, HTTP 429 and 5xx are retried up to ``tipo_cambio_attempts`` tries with
  exponential back-off (``tipo_cambio_backoff_seconds`` × 1, 2, 4 … capped at 10 s).
  Other answers are final: another HTTP status, an empty or malformed body, or a ``fecha``
  different from the requested date (stored only when equal — §6.21), because asking again
  would get the same answer.
- Each failed date is a warning on the run and the run fails (exit 1) after storing the
  successes; the next run retries exactly the dates still missing.

Only the standard library (urllib, threads) is used for HTTP.
"""


from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Self

from toolbox_cli.business import HISTORY_START
from toolbox_cli.errors import InputError, TaskFailed
from toolbox_cli.params import DATE
from toolbox_cli.tasks.base import RunFlags, TaskSpec, param

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext
    from toolbox_cli.remote.tipo_cambio import Failure, RateFetcher

log = logging.getLogger("toolbox")


@dataclass(frozen=True)
class RateRange(RunFlags):
    """Calendar dates ``desde``..``hasta``; none of them in the future."""

    desde: date = param("--desde", "First date (Lima). Default 2019-07-01.",
                        default=HISTORY_START, metavar=DATE)
    hasta: date | None = param("--hasta", "Last date (Lima). Default today in Lima.",
                               metavar=DATE)

    def resolved(self, today: date) -> Self:
        hasta = self.hasta or today
        if self.desde > hasta:
            raise InputError(f"--desde {self.desde} is after --hasta {hasta}")
        if hasta > today:
            raise InputError(f"--hasta {hasta} is in the future (today in Lima is {today}); "
                             "no rate is published yet")
        return dataclasses.replace(self, hasta=hasta)


def run(ctx: TaskContext, params: RateRange) -> None:
    from toolbox_cli.remote.tipo_cambio import fetcher_from, missing_dates
    from toolbox_cli.storage.rates import stored_dates

    desde, hasta = params.desde, params.hasta
    assert hasta is not None  # resolved by the runner
    fetcher = fetcher_from(ctx.settings)
    missing = missing_dates(desde, hasta, stored_dates(ctx.source, desde, hasta))
    ctx.add_rows("tipo_cambio", 0)
    if not missing:
        log.info("tipo_cambio: no missing dates between %s and %s", desde, hasta)
        return
    if ctx.dry_run:
        ctx.add_rows("tipo_cambio", len(missing))  # would be fetched; nothing is requested
        return
    stored, failures = fill(ctx, fetcher, missing)
    for failure in failures:
        ctx.warn(f"{failure.fecha.isoformat()}: {failure.reason}")
    if failures:
        first = failures[0]
        raise TaskFailed(
            f"{len(failures)} of {len(missing)} missing dates failed (first: "
            f"{first.fecha.isoformat()}: {first.reason}); {stored} stored. "
            "Run toolbox tipo-cambio again to retry the dates still missing"
        )


def fill(ctx: TaskContext, fetcher: RateFetcher, missing: Sequence[date]) -> tuple[int, list[Failure]]:
    """Fetch batch after batch, committing each batch's successes before the next."""
    from toolbox_cli.remote.tipo_cambio import Failure, Rate, batches
    from toolbox_cli.storage.rates import save_rates

    settings = ctx.settings
    size = settings.tipo_cambio_concurrency
    stored = 0
    failures: list[Failure] = []
    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tipo-cambio")
    try:
        for number, batch in enumerate(batches(missing, size)):
            ctx.check_alive()
            if number and settings.tipo_cambio_pause_seconds:
                time.sleep(settings.tipo_cambio_pause_seconds)
            results = list(pool.map(fetcher.fetch, batch))
            rates = [r for r in results if isinstance(r, Rate)]
            failures += [r for r in results if isinstance(r, Failure)]
            new = save_rates(ctx.source, [r.as_row() for r in rates])
            stored += new
            ctx.add_rows("tipo_cambio", new)
    finally:
        # On Ctrl-C/SIGTERM do not wait for queued dates; running requests end at their timeout.
        pool.shutdown(wait=False, cancel_futures=True)
    return stored, failures


SPEC = TaskSpec(
    "tipo-cambio",
    """Add the SUNAT rate (compra, venta) of every date missing from tipo_cambio.

    Every calendar date between --desde (default 2019-07-01) and --hasta (default today,
    Lima), from the provider in TOOLBOX_TIPO_CAMBIO_URL. Insert-only. A date the provider
    cannot answer is listed as a warning and the run exits 1 after storing the others; the
    next run retries only what is still missing.""",
    run,
    params=RateRange,
    tables=("tipo_cambio",),
    schedule=("30 6 * * *",),
    reads=("tipo_cambio",),
    example="toolbox tipo-cambio --desde 2024-01-01",
)
