"""Task `tablas-reportes`: `kpi`, `nuevos_clientes_nuevos_pagadores` and `saldos` together.

reportes.md §3.7, §3.8, §4.3, §4.4, §4.6, §5.1; decisions.md 6–8.

The three tables are handed to the writer in one call, in this order, and swapped in only
when all three are built (the legacy replaced them one by one, §5.4):

1. `kpi` streams from the shared KPI generator; while the writer consumes it, each row also
   feeds the small new-clients state (per month: executive ranks; per RUC: first month and
   who had it; latest legal name) — never the rows themselves;
2. `nuevos_clientes_nuevos_pagadores` is a lazy generator that reads that state, so it only
   runs after every KPI row has been seen;
3. `saldos` streams `saldos_caja` in id order.

After the swap — or after a failure — one row is appended to `actualizacion_reportes`
(`Success`, or `Error` with the message cut to 255 characters), because dashboards show
"last refreshed" from it. A dry run writes neither the tables nor that row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from toolbox_cli.compute.kpi import REPORTE_KPI
from toolbox_cli.compute.nuevos_clientes import NewClientsTracker, month_list
from toolbox_cli.compute.saldos import SaldosBuilder
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import TaskFailed
from toolbox_cli.registry import task
from toolbox_cli.storage.tables import saldos_caja
from toolbox_cli.storage.tables_reportes import actualizacion_reportes
from toolbox_cli.tasks.kpi import KPI_READS, KPI_REQUIRES, build_kpi_rows, report_dates

log = logging.getLogger("toolbox")

TABLES = ("kpi", "nuevos_clientes_nuevos_pagadores", "saldos")
DETALLE_MAX = 255  # actualizacion_reportes.detalle is VARCHAR(255)
SUCCESS = "Success"
ERROR = "Error"


def kpi_rows_feeding(ctx: TaskContext, tracker: NewClientsTracker) -> Iterator[dict[str, Any]]:
    """The KPI rows for the writer; each also updates the new-clients state on its way."""
    for row in build_kpi_rows(ctx, reporte=REPORTE_KPI):
        tracker.observe(row)
        yield row


def nuevos_clientes_rows(ctx: TaskContext, tracker: NewClientsTracker
                         ) -> Iterator[dict[str, Any]]:
    """Lazy: runs only once the writer has consumed every KPI row (tables go in order)."""
    yield from tracker.rows()
    if tracker.ignored_rows:
        log.info("nuevos_clientes: %d KPI row(s) outside the months or of another type",
                 tracker.ignored_rows)


def read_saldos_caja(engine: Engine, chunk_size: int) -> Iterator[dict[str, Any]]:
    """`saldos_caja` in id (input) order, in keyset chunks."""
    last_id = None
    query = select(saldos_caja).order_by(saldos_caja.c.id).limit(chunk_size)
    while True:
        page = query if last_id is None else query.where(saldos_caja.c.id > last_id)
        try:
            with engine.connect() as conn:
                rows = [dict(r) for r in conn.execute(page).mappings()]
        except DBAPIError as exc:
            raise TaskFailed(
                f"cannot read the source table saldos_caja ({type(exc.orig).__name__}: "
                f"{exc.orig}); run `toolbox db init` or fix the source database"
            ) from None
        except ValueError:
            # Only a permissive engine (SQLite) can hold a non-date in the DATE column.
            raise TaskFailed(_bad_day_message(engine, last_id)) from None
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]


def _bad_day_message(engine: Engine, after_id: int | None) -> str:
    """Name the first saldos_caja row whose FechaOperacion is not a date (raw values)."""
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT id, FechaOperacion FROM saldos_caja WHERE id > ? ORDER BY id"
            if engine.dialect.paramstyle == "qmark" else
            "SELECT id, FechaOperacion FROM saldos_caja WHERE id > %s ORDER BY id",
            (after_id or 0,),
        )
        for row_id, value in raw:
            try:
                date.fromisoformat(str(value))
            except ValueError:
                return (f"saldos: saldos_caja id={row_id} has FechaOperacion {value!r}, "
                        "which is not a date; fix or remove that row")
    return "saldos: saldos_caja holds a FechaOperacion that is not a date"


def saldos_rows(ctx: TaskContext) -> Iterator[dict[str, Any]]:
    builder = SaldosBuilder()
    for raw in read_saldos_caja(ctx.source, ctx.settings.chunk_size):
        ctx.check_alive()
        yield builder.row(raw, f"saldos_caja id={raw['id']}")
    for message in builder.warnings():
        ctx.warn(message)


def build_tables(ctx: TaskContext) -> dict[str, Iterator[dict[str, Any]]]:
    """The three tables' row streams, in the order the writer must consume them."""
    desde, hasta, _corte = report_dates(ctx)
    tracker = NewClientsTracker(month_list(desde, hasta))
    return {
        "kpi": kpi_rows_feeding(ctx, tracker),
        "nuevos_clientes_nuevos_pagadores": nuevos_clientes_rows(ctx, tracker),
        "saldos": saldos_rows(ctx),
    }


def lima_now(ctx: TaskContext) -> datetime:
    """Business wall time without tz, as the legacy stored it (§4.6)."""
    return datetime.now(ctx.settings.zone).replace(tzinfo=None, microsecond=0)


def detalle_of(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= DETALLE_MAX else text[: DETALLE_MAX - 1] + "…"


def record_actualizacion(ctx: TaskContext, estado: str, detalle: str | None) -> None:
    """Append the dashboards' "last refreshed" row (datamart database)."""
    actualizacion_reportes.create(ctx.datamart, checkfirst=True)
    with ctx.datamart.begin() as conn:
        conn.execute(actualizacion_reportes.insert().values(
            actualizacion_reporte_id=uuid.uuid4().hex,
            ultima_actualizacion=lima_now(ctx),
            estado=estado,
            detalle=detalle,
        ))


@task(
    "tablas-reportes",
    description="Refresh kpi, nuevos_clientes_nuevos_pagadores and saldos together "
    "(swapped in at once) and log it in actualizacion_reportes",
    tables=TABLES,
    schedule=("0 7 * * *", "0 18 * * *"),
    reads=(*KPI_READS, "saldos_caja"),
    requires=KPI_REQUIRES,
)
def run(ctx: TaskContext) -> None:
    try:
        ctx.replace_tables(build_tables(ctx))
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
