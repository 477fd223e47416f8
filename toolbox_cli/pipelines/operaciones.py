"""The source contract from the operations webservice: ``toolbox operaciones`` and the
``--operaciones`` pre-step of every refresh (decision 25, ``webservice.md``).

One run reads, in this order:

1. the ``colocaciones`` report, ``reporte=2`` (``Anticipo``, ``TramoAnticipo``) and
   ``reporte=0`` (``FacturasMoraGeneradas``), logged in, from 2019-07-01 to today (Lima) as
   of today, each kept as a small frame keyed by (``CodigoLiquidacion``, ``NroDocumento``),
   the only key its rows share with the documents (inferred; webservice.md);
2. the documents (``subquery-cab``), the payments (``liquidacionPago/subquery``) and the
   refunds (``liquidacionDevolucion/subquery``), each streamed in chunks of
   ``TOOLBOX_CHUNK_SIZE`` rows, typed by ``compute.answers`` and written to the staging copy
   of ``colocaciones``, ``colocaciones_pagos`` and ``colocaciones_devoluciones``;

then the guard judges the three tables (row counts, control totals, decision 21's
coercions, report rows that match no document among them) and they are swapped in
together, or none is. The report's ``FacturasMoraGeneradas`` goes on the document's current
payment (decision 3: the last by ``FechaPago``, then id), set on the staged payments once
all of them are written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import polars as pl
from sqlalchemy.engine import Connection

from toolbox_cli.clock import utcnow
from toolbox_cli.compute.answers import NO_VALUE, Columns, answer_frame, typed_chunk
from toolbox_cli.compute.payments import current_entry
from toolbox_cli.context import TaskContext
from toolbox_cli.params import HISTORY_START
from toolbox_cli.remote.http import HttpClient
from toolbox_cli.remote.operaciones import (
    DOCUMENTS,
    PAYMENTS,
    REFUNDS,
    Webservice,
    endpoint_label,
)
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import is_mysql
from toolbox_cli.storage.tables.contract import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
)

log = logging.getLogger("toolbox")

TABLES = (colocaciones, colocaciones_pagos, colocaciones_devoluciones)
TABLE_NAMES = tuple(t.name for t in TABLES)
DOCUMENT_COLUMNS = Columns(endpoint_label(DOCUMENTS), colocaciones,
                           omitted=("Anticipo", "TramoAnticipo"), required=("FechaOperacion",))
PAYMENT_COLUMNS = Columns(endpoint_label(PAYMENTS), colocaciones_pagos,
                          omitted=("FacturasMoraGeneradas",))
REFUND_COLUMNS = Columns(endpoint_label(REFUNDS), colocaciones_devoluciones)
# What each report adds to the documents, and the one key its rows share with them.
REPORT_COLUMNS = {2: ("Anticipo", "TramoAnticipo"), 0: ("FacturasMoraGeneradas",)}
KEY = ("CodigoLiquidacion", "NroDocumento")
_SEP = "\x1f"


def webservice(settings: Settings, on_token: Any = lambda token: None) -> Webservice:
    """The run's client of ``TOOLBOX_OPERACIONES_URL`` with the legacy's timeouts."""
    assert settings.operaciones_url and settings.operaciones_user
    password = settings.operaciones_password.get_secret_value() \
        if settings.operaciones_password else ""

    def client(timeout: float) -> HttpClient:
        return HttpClient(timeout=timeout, attempts=settings.operaciones_attempts,
                          backoff=settings.operaciones_backoff_seconds,
                          headers={"Accept": "application/json"},
                          what="the operations webservice")

    return Webservice(settings.operaciones_url, settings.operaciones_user, password,
                      cxc=client(settings.operaciones_timeout_seconds),
                      report=client(settings.operaciones_report_timeout_seconds),
                      token_http=client(settings.operaciones_token_timeout_seconds),
                      on_token=on_token)


def chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(number of the chunk's first row, counting from 1; the rows) of at most ``size``."""
    it, first = iter(rows), 1
    while chunk := list(islice(it, size)):
        yield first, chunk
        first += len(chunk)


@dataclass
class Report:
    """One report's rows by document key: the columns it adds, which rows matched.

    A row's key (``CodigoLiquidacion``, ``NroDocumento``, trimmed) is kept as two 64-bit
    hashes of it (``__h1``, ``__h2``), 16 bytes instead of about 45 for the text: at a
    million documents two keys share both hashes with a chance below 10^-25. The added
    columns with few values are categorical."""

    reporte: int
    frame: pl.DataFrame  # __h1, __h2, __n (its row in the answer), the columns it adds
    rows: int = 0  # in the answer
    keyless: int = 0  # rows without CodigoLiquidacion or NroDocumento
    duplicates: int = 0
    matched: list[pl.Series] = field(default_factory=list)  # __n of the rows that matched

    @property
    def label(self) -> str:
        return endpoint_label("colocaciones", self.reporte)

    def attach(self, documents: pl.DataFrame) -> pl.DataFrame:
        """``documents`` with the report's columns (null where no row of it matched)."""
        keyed = documents.with_columns(_hashes())
        found = self.frame.filter(pl.col("__h1").is_in(keyed["__h1"].implode()))
        joined = keyed.join(found, on=["__h1", "__h2"], how="left", maintain_order="left")
        self.matched.append(joined["__n"].drop_nulls())
        return joined.drop("__h1", "__h2", "__n")

    def unmatched(self) -> pl.DataFrame:
        if not self.matched:
            return self.frame
        return self.frame.filter(~pl.col("__n").is_in(pl.concat(self.matched).implode()))


def _key_text() -> pl.Expr:
    parts = [pl.col(k).cast(pl.String).str.strip_chars() for k in KEY]
    return (pl.when(pl.all_horizontal([p.str.len_chars() > 0 for p in parts]))
            .then(pl.concat_str(parts, separator=_SEP)))


def _hashes() -> list[pl.Expr]:
    key = _key_text()
    return [key.hash(seed=1).alias("__h1"), key.hash(seed=2).alias("__h2")]


def read_report(ws: Webservice, ctx: TaskContext, reporte: int) -> Report:
    """The report's rows as a frame by document key (the last row of a repeated key wins,
    counted); a row without its key is counted as matching no document."""
    columns = REPORT_COLUMNS[reporte]
    small = {"Anticipo", "TramoAnticipo"}  # few distinct values: categorical
    parts: list[pl.DataFrame] = []
    keyless = 0
    for first, rows in chunks(ws.report_rows(reporte, HISTORY_START, ctx.today, ctx.today),
                              ctx.settings.chunk_size):
        ctx.check_alive()
        part = answer_frame(rows, (*KEY, *columns))
        has_key = part.select(_key_text().is_not_null().alias("k"))["k"]
        keyless += int((~has_key).sum())
        parts.append(part.filter(has_key).select(
            *_hashes(),
            pl.int_range(first, first + len(rows), dtype=pl.Int64).filter(has_key).alias("__n"),
            *[pl.when(pl.col(c).str.strip_chars().str.to_lowercase().is_in(NO_VALUE))
              .then(None).otherwise(pl.col(c))
              .cast(pl.Categorical if c in small else pl.String).alias(c) for c in columns]))
        ctx.progress.rows(f"colocaciones?reporte={reporte}", len(rows))
    schema = {"__h1": pl.UInt64, "__h2": pl.UInt64, "__n": pl.Int64,
              **{c: pl.Categorical if c in small else pl.String for c in columns}}
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    del parts
    # The last row of each key, by sorting (stable, so rows of a key stay in answer order):
    # a hash-based unique() of the two hashes costs about 300 MB at a million rows, and its
    # memory is not given back; the sort about a quarter of that, released.
    ordered = frame.sort(["__h1", "__h2"], maintain_order=True)
    unique = ordered.filter(((pl.col("__h1") != pl.col("__h1").shift(-1))
                             | (pl.col("__h2") != pl.col("__h2").shift(-1))).fill_null(True))
    del ordered
    return Report(reporte, unique, rows=frame.height + keyless, keyless=keyless,
                  duplicates=frame.height - unique.height)


def refresh_operaciones(ctx: TaskContext) -> None:
    """Replace the three source tables with the webservice's answers (module docstring)."""
    settings = ctx.settings
    ws = webservice(settings, on_token=ctx.secrets.append)
    for table in TABLE_NAMES:
        ctx.check_locked(table)
    reports = [read_report(ws, ctx, 2), read_report(ws, ctx, 0)]
    size = settings.chunk_size
    mora: list[pl.DataFrame] = []  # (IdLiquidacionDet, FacturasMoraGeneradas) of documents
    candidates: list[pl.DataFrame] = []  # their payments: (det, FechaPago, id)
    with ctx.replace_tables(*TABLES, sources=True) as out:
        for first, rows in chunks(ws.rows(DOCUMENTS), size):
            documents = typed_chunk(DOCUMENT_COLUMNS, rows, first,
                                    ctx.coercion_log(colocaciones.name))
            for report in reports:
                documents = report.attach(documents)
            with_mora = documents.filter(pl.col("FacturasMoraGeneradas").is_not_null())
            if with_mora.height:
                mora.append(with_mora.select("IdLiquidacionDet", "FacturasMoraGeneradas"))
            out.add(colocaciones, documents.drop("FacturasMoraGeneradas"))
        _judge_reports(ctx, reports)
        reports.clear()  # their frames are not needed any more: free them for the payments
        mora_by_det = pl.concat(mora) if mora else pl.DataFrame(
            schema={"IdLiquidacionDet": pl.Int64, "FacturasMoraGeneradas": pl.String})
        mora_by_det = mora_by_det.unique("IdLiquidacionDet", keep="last")
        dets = mora_by_det["IdLiquidacionDet"]
        for first, rows in chunks(ws.rows(PAYMENTS), size):
            payments = typed_chunk(PAYMENT_COLUMNS, rows, first,
                                   ctx.coercion_log(colocaciones_pagos.name))
            candidates.append(payments.filter(pl.col("IdLiquidacionDet").is_in(dets.implode()))
                              .select("IdLiquidacionDet", "FechaPago", "IdLiquidacionPago"))
            out.add(colocaciones_pagos,
                    payments.with_columns(pl.lit(None, pl.String).alias("FacturasMoraGeneradas")))
        for first, rows in chunks(ws.rows(REFUNDS), size):
            out.add(colocaciones_devoluciones,
                    typed_chunk(REFUND_COLUMNS, rows, first,
                                ctx.coercion_log(colocaciones_devoluciones.name)))
        current = _current_payments(candidates, mora_by_det)
        if current.height:
            out.before_swap(lambda conn, staged: _set_mora(conn, staged, current))
        orphans = mora_by_det.height - current.height
        if orphans:
            ctx.warn(f"colocaciones?reporte=0: {orphans:,} documents have FacturasMoraGeneradas "
                     "but no payment to put it on; it was not stored")
        for table in TABLE_NAMES:
            for message in ctx.coercion_log(table).messages():
                ctx.warn(message)
    ctx.sources["operaciones"] = utcnow().isoformat(timespec="seconds")
    log.info("operaciones: %s from the webservice",
             ", ".join(f"{t}={ctx.rows.get(t, 0):,}" for t in TABLE_NAMES))


def _current_payments(candidates: Sequence[pl.DataFrame], mora: pl.DataFrame) -> pl.DataFrame:
    """(IdLiquidacionPago, FacturasMoraGeneradas): each document's current payment
    (decision 3, ``compute.payments.current_entry``'s order)."""
    if not candidates or not mora.height:
        return pl.DataFrame(schema={"IdLiquidacionPago": pl.Int64,
                                    "FacturasMoraGeneradas": pl.String})
    last = current_entry(pl.concat(candidates), date="FechaPago", id="IdLiquidacionPago",
                         summed=())
    return last.join(mora, on="IdLiquidacionDet").select("IdLiquidacionPago",
                                                          "FacturasMoraGeneradas")


def _set_mora(conn: Connection, staged: Mapping[str, str], current: pl.DataFrame) -> None:
    """Set the report's ``FacturasMoraGeneradas`` on the staged current payments: through a
    temporary table and one UPDATE (a statement per payment is slow on MariaDB)."""
    q = conn.dialect.identifier_preparer.quote
    table = q(staged[colocaciones_pagos.name])
    temp = "toolbox_operaciones_mora"
    mysql = is_mysql(conn.engine)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {temp} (pid BIGINT PRIMARY KEY, "
                         "facturas VARCHAR(100))")
    mark = "%s" if conn.dialect.paramstyle in ("format", "pyformat") else "?"
    for start in range(0, current.height, 5000):  # Python tuples of one slice at a time
        conn.exec_driver_sql(f"INSERT INTO {temp} (pid, facturas) VALUES ({mark}, {mark})",
                             current.slice(start, 5000).rows())
    if mysql:
        conn.exec_driver_sql(f"UPDATE {table} p JOIN {temp} m ON m.pid = p.IdLiquidacionPago "
                             "SET p.FacturasMoraGeneradas = m.facturas")
    else:
        conn.exec_driver_sql(f"UPDATE {table} SET FacturasMoraGeneradas = m.facturas "
                             f"FROM {temp} m WHERE m.pid = {table}.IdLiquidacionPago")
    conn.exec_driver_sql(f"DROP {'TEMPORARY ' if mysql else ''}TABLE {temp}")


def _judge_reports(ctx: TaskContext, reports: Sequence[Report]) -> None:
    """One warning per report for its rows that match no document (and its repeated keys);
    their share counts as coercions of the report (decision 21 fails the run beyond it)."""
    for report in reports:
        unmatched = report.unmatched()
        total, count = report.rows, unmatched.height + report.keyless
        coerced = ctx.coercion_log(report.label)
        coerced.read(total)
        if count:
            example = f"{report.label}#row {unmatched['__n'].sort()[0]}" if unmatched.height \
                else f"{report.label} (a row without CodigoLiquidacion or NroDocumento)"
            coerced.note("rows that match no document", example, count,
                         column="CodigoLiquidacion+NroDocumento")
            ctx.warn(f"{report.label}: {count:,} of {total:,} rows match no document by "
                     f"CodigoLiquidacion and NroDocumento; their "
                     f"{', '.join(REPORT_COLUMNS[report.reporte])} were not used "
                     f"(e.g. {example})")
        if report.duplicates:
            ctx.warn(f"{report.label}: {report.duplicates:,} rows repeat a document's "
                     "CodigoLiquidacion and NroDocumento; the last one of each was used")
