"""`tablas-reportes`' three tables and its bookkeeping (reportes.md §3.7, §3.8, §4.3–4.6).

The three tables are built in one replacement, in this order, and swapped in only when all
three are built (the legacy replaced them one by one, §5.4):

1. `kpi` from the shared KPI stream (``pipelines/kpi.py``); each frame also feeds the small
   new-clients state (per month: executive ranks; per RUC: first month and who had it;
   latest legal name) — never the rows themselves;
2. `nuevos_clientes_nuevos_pagadores` from that state, once every KPI frame has been seen;
3. `saldos` from `saldos_caja` in id order, chunk by chunk.

After the swap — or after a failure — one row is appended to `actualizacion_reportes`
(`Success`, or `Error` with the message cut to 255 characters), because dashboards show
"last refreshed" from it. A dry run writes neither the tables nor that row.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

from toolbox_cli.clock import business_wall_time
from toolbox_cli.compute.kpi_formulas import REPORTE_KPI
from toolbox_cli.compute.nuevos_clientes import NewClients, month_list
from toolbox_cli.compute.saldos import saldos_frame
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import TaskFailed
from toolbox_cli.params import ReportRange
from toolbox_cli.pipelines.kpi import kpi_frames
from toolbox_cli.storage import sources
from toolbox_cli.storage.actualizacion import append_actualizacion
from toolbox_cli.storage.tables.reportes import kpi, nuevos_clientes_nuevos_pagadores, saldos
from toolbox_cli.words import count

log = logging.getLogger("toolbox")

DETALLE_MAX = 255  # actualizacion_reportes.detalle is VARCHAR(255)
SUCCESS = "Success"
ERROR = "Error"


def detalle_of(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= DETALLE_MAX else text[: DETALLE_MAX - 1] + "…"


def record_actualizacion(ctx: TaskContext, estado: str, detalle: str | None) -> None:
    """Append the dashboards' "last refreshed" row (datamart database)."""
    # Business wall time without a zone, as the legacy stored it (§4.6).
    append_actualizacion(ctx.datamart, at=business_wall_time(ctx.settings.zone), estado=estado,
                         detalle=detalle)


def build_tables(ctx: TaskContext, params: ReportRange) -> None:
    """The three tables, read, computed and written in order, swapped in together."""
    assert params.hasta is not None  # resolved by the runner
    tracker = NewClients(month_list(params.desde, params.hasta))
    with ctx.replace_tables(kpi, nuevos_clientes_nuevos_pagadores, saldos) as out:
        for frame in kpi_frames(ctx, params, reporte=REPORTE_KPI):
            tracker.observe(frame)
            out.add(kpi, frame)
        out.add(nuevos_clientes_nuevos_pagadores, tracker.frame())
        if tracker.ignored_rows:
            log.info("nuevos_clientes: %s outside the months or of another type",
                     count(tracker.ignored_rows, "KPI row"))
        for chunk in sources.read_saldos_chunks(ctx.source, ctx.settings.chunk_size):
            out.add(saldos, saldos_frame(chunk))


def refresh(ctx: TaskContext, params: ReportRange) -> None:
    """Swap the three tables in together, then append the Success (or Error) row."""
    try:
        build_tables(ctx, params)
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
