"""`tablas-reportes`' three tables and its bookkeeping (reportes.md §3.7, §3.8, §4.3–4.6).

The three tables are handed to the writer in one call, in this order, and swapped in only
when all three are built (the legacy replaced them one by one, §5.4):

1. `kpi` streams from the shared KPI frames; while the writer consumes them, each frame also
   feeds the small new-clients state (per month: executive ranks; per RUC: first month and
   who had it; latest legal name) — never the rows themselves;
2. `nuevos_clientes_nuevos_pagadores` is a lazy generator that reads that state, so it only
   runs after every KPI frame has been seen;
3. `saldos` streams `saldos_caja` in id order.

After the swap — or after a failure — one row is appended to `actualizacion_reportes`
(`Success`, or `Error` with the message cut to 255 characters), because dashboards show
"last refreshed" from it. A dry run writes neither the tables nor that row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import polars as pl
from sqlalchemy.exc import DBAPIError

from toolbox_cli.compute.kpi_formulas import REPORTE_KPI
from toolbox_cli.compute.nuevos_clientes import NewClients, month_list
from toolbox_cli.compute.saldos import saldos_frame
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage import sources
from toolbox_cli.storage.actualizacion import append_actualizacion
from toolbox_cli.tasks.base import ReportRange
from toolbox_cli.tasks.kpi_stream import kpi_frames

log = logging.getLogger("toolbox")

DETALLE_MAX = 255  # actualizacion_reportes.detalle is VARCHAR(255)
SUCCESS = "Success"
ERROR = "Error"


def kpi_feeding(ctx: TaskContext, params: ReportRange, tracker: NewClients
                ) -> Iterator[pl.DataFrame]:
    """The KPI frames for the writer; each also updates the new-clients state on its way."""
    for frame in kpi_frames(ctx, params, reporte=REPORTE_KPI):
        tracker.observe(frame)
        yield frame


def nuevos_clientes_frames(tracker: NewClients) -> Iterator[pl.DataFrame]:
    """Lazy: runs only once the writer has consumed every KPI frame (tables go in order)."""
    yield tracker.frame()
    if tracker.ignored_rows:
        log.info("nuevos_clientes: %d KPI row(s) outside the months or of another type",
                 tracker.ignored_rows)


def saldos_frames(ctx: TaskContext) -> Iterator[pl.DataFrame]:
    """`saldos_caja` in id (input) order, chunk by chunk."""
    for chunk in sources.read_saldos_chunks(ctx.source, ctx.settings.chunk_size):
        ctx.check_alive()
        yield saldos_frame(chunk)


def build_tables(ctx: TaskContext, params: ReportRange) -> dict[str, Iterator[pl.DataFrame]]:
    """The three tables' frame streams, in the order the writer must consume them."""
    assert params.hasta is not None  # resolved by the runner
    tracker = NewClients(month_list(params.desde, params.hasta))
    return {
        "kpi": kpi_feeding(ctx, params, tracker),
        "nuevos_clientes_nuevos_pagadores": nuevos_clientes_frames(tracker),
        "saldos": saldos_frames(ctx),
    }


def lima_now(ctx: TaskContext) -> datetime:
    """Business wall time without tz, as the legacy stored it (§4.6)."""
    return datetime.now(ctx.settings.zone).replace(tzinfo=None, microsecond=0)


def detalle_of(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= DETALLE_MAX else text[: DETALLE_MAX - 1] + "…"


def record_actualizacion(ctx: TaskContext, estado: str, detalle: str | None) -> None:
    """Append the dashboards' "last refreshed" row (datamart database)."""
    append_actualizacion(ctx.datamart, at=lima_now(ctx), estado=estado, detalle=detalle)


def refresh(ctx: TaskContext, params: ReportRange) -> None:
    """Swap the three tables in together, then append the Success (or Error) row."""
    try:
        ctx.replace_tables(build_tables(ctx, params))
    except BaseException as exc:
        if not ctx.dry_run:
            _record_failure(ctx, exc)
        raise
    if not ctx.dry_run:
        try:
            record_actualizacion(ctx, SUCCESS, None)
        except DBAPIError as exc:
            raise TaskFailed(
                "the three tables were refreshed but the Success row could not be appended "
                f"to actualizacion_reportes ({exc.orig}); dashboards will show the previous time"
            ) from None


def _record_failure(ctx: TaskContext, exc: BaseException) -> None:
    # The bookkeeping must never mask the real error (the legacy's did, §5.4).
    try:
        record_actualizacion(ctx, ERROR, detalle_of(exc))
    except Exception as bookkeeping:  # noqa: BLE001
        ctx.warn(f"could not append the Error row to actualizacion_reportes: {bookkeeping}")
