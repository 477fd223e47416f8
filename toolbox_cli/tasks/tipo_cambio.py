"""Task ``tipo-cambio``: fill every missing calendar date of ``tipo_cambio`` from the rate
provider (reportes.md §3.9 with the fix of §6.21); the work, its requests, retries and
failures are in ``pipelines/tipo_cambio.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Self

from toolbox_cli.errors import InputError
from toolbox_cli.params import DATE, HISTORY_START
from toolbox_cli.tasks.base import RunFlags, TaskSpec, param

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext


@dataclass(frozen=True)
class RateRange(RunFlags):
    """Calendar dates ``desde``..``hasta``; none of them in the future."""

    desde: date = param("--desde", "First date (Lima). Default 2019-07-01.",
                        default=HISTORY_START, metavar=DATE)
    hasta: date | None = param("--hasta", "Last date (Lima). Default today in Lima.",
                               metavar=DATE)
    recheck: bool = param("--recheck", "Ask again for the dates an earlier run found "
                          "without a rate (weekends, holidays).", default=False)

    def resolved(self, today: date) -> Self:
        hasta = self.hasta or today
        if self.desde > hasta:
            raise InputError(f"--desde {self.desde} is after --hasta {hasta}")
        if hasta > today:
            raise InputError(f"--hasta {hasta} is in the future (today in Lima is {today}); "
                             "no rate is published yet")
        return dataclasses.replace(self, hasta=hasta)


def run(ctx: TaskContext, params: RateRange) -> None:
    from toolbox_cli.pipelines.tipo_cambio import refresh

    assert params.hasta is not None  # resolved by the runner
    refresh(ctx, SPEC.name, params.desde, params.hasta, recheck=params.recheck)


SPEC = TaskSpec(
    "tipo-cambio",
    """Add the SUNAT rate (compra, venta) of every date missing from tipo_cambio.

    Every calendar date between --desde (default 2019-07-01) and --hasta (default today,
    Lima), from the provider in TOOLBOX_TIPO_CAMBIO_PROVIDER: decolecta (the default; its
    key in TOOLBOX_TIPO_CAMBIO_TOKEN) or apis-net-pe; TOOLBOX_TIPO_CAMBIO_URL points at a
    mirror. With decolecta a month with 3 or more missing dates is one request (a backfill
    since 2019-07 takes about 90); weekends and holidays have no rate and stay missing.
    Insert-only. A date the provider cannot answer is listed as a warning and the run
    exits 1 after storing the others; the next run retries only what is still missing. A
    refused key (HTTP 401/403) stops the run at once.""",
    run,
    params=RateRange,
    tables=("tipo_cambio",),
    schedule=("30 6 * * *",),
    reads=("tipo_cambio",),
    example="toolbox tipo-cambio --desde 2024-01-01",
)
