"""The source contract from the operations webservice: ``toolbox operaciones`` and the
``--operaciones`` pre-step of every refresh (decision 25, ``webservice.md``).

One run reads, in this order:

1. the ``colocaciones`` report, ``reporte=2`` (``Anticipo``, ``TramoAnticipo``) and
   ``reporte=0`` (``FacturasMoraGeneradas``), logged in, from 2019-07-01 to today (Lima) as
   of today, each kept by (``CodigoLiquidacion``, ``NroDocumento``), the only key its rows
   share with the documents (inferred; webservice.md), in the run's scratch SQLite database
   (``Reports``), not in memory;
2. the documents (``subquery-cab``), the payments (``liquidacionPago/subquery``) and the
   refunds (``liquidacionDevolucion/subquery``), each streamed in chunks of
   ``TOOLBOX_CHUNK_SIZE`` rows, typed by ``compute.answers`` and written to the staging copy
   of ``colocaciones``, ``colocaciones_pagos`` and ``colocaciones_devoluciones``;

then the guard judges the three tables (row counts, control totals, decision 21's
coercions, report rows that match no document among them) and they are swapped in
together, or none is. The report's ``FacturasMoraGeneradas`` goes on the document's current
payment (decision 3: the last by ``FechaPago``, then id), set on the staged payments once
all of them are written.

The whole history takes minutes to answer, so on a terminal one line (``Calls``) says how
many of the five calls are answered, the one in hand and its rows received so far, and the
try it is at when retried; the writer's lines say what is written of each table.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy.engine import Connection

from toolbox_cli.clock import utcnow
from toolbox_cli.compute.answers import NO_VALUE, Columns, text_chunks, typed_chunk
from toolbox_cli.compute.payments import current_entry
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import TaskFailed
from toolbox_cli.params import HISTORY_START
from toolbox_cli.progress import Progress
from toolbox_cli.remote.http import HttpClient
from toolbox_cli.remote.operaciones import (
    DOCUMENTS,
    PAYMENTS,
    REFUNDS,
    TOKEN,
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


def webservice(settings: Settings, on_token: Any = lambda token: None,
               on_retry: Any = lambda label, attempt, attempts, why: None) -> Webservice:
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
                      on_token=on_token, on_retry=on_retry)


class Reports:
    """The two reports' rows by document key, kept out of the process's memory: in a private
    SQLite database of the run (``sqlite3`` with the empty file name, SQLite's temporary
    database: its pages beyond a small cache go to a file in ``SQLITE_TMPDIR`` or
    ``TMPDIR``, and it is deleted when closed). One row per key (``CodigoLiquidacion``,
    ``NroDocumento``, trimmed, compared exactly) holds what each report adds and the answer
    row it came from (``n2``, ``n0``); a repeated key keeps its last row. Each chunk of
    documents looks its keys up there and marks them ``matched``: at a million documents
    this holds nothing per document in memory, where frames of the reports took about
    150 MB (issue 21's memory target)."""

    _CACHE_KB = 8192

    def __init__(self) -> None:
        self.db = sqlite3.connect("", isolation_level=None)
        for pragma in ("journal_mode = OFF", "synchronous = OFF",
                       f"cache_size = -{self._CACHE_KB}"):
            self.db.execute(f"PRAGMA {pragma}")
        added = ", ".join(f"n{r} INTEGER, " + ", ".join(f"{c} TEXT" for c in cols)
                          for r, cols in REPORT_COLUMNS.items())
        self.db.execute(f"CREATE TABLE report (k1 TEXT NOT NULL, k2 TEXT NOT NULL, {added}, "
                        "matched INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (k1, k2)) WITHOUT ROWID")
        self.db.execute("CREATE TABLE chunk (i INTEGER PRIMARY KEY, k1 TEXT NOT NULL, "
                        "k2 TEXT NOT NULL)")
        self.rows = dict.fromkeys(REPORT_COLUMNS, 0)  # in each answer
        self.keyless = dict.fromkeys(REPORT_COLUMNS, 0)  # without CodigoLiquidacion or NroDocumento

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Reports:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def label(reporte: int) -> str:
        return endpoint_label("colocaciones", reporte)

    def _write(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.execute("BEGIN")
        try:
            self.db.executemany(sql, rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def read(self, rows: Iterable[dict[str, Any]], ctx: TaskContext, reporte: int) -> None:
        """Store the rows of report ``reporte`` by key (the last row of a repeated key
        wins); a row without its key is counted as matching no document."""
        columns = REPORT_COLUMNS[reporte]
        names = ", ".join(columns)
        sql = (f"INSERT INTO report (k1, k2, n{reporte}, {names}) "
               f"VALUES (?, ?, ?{', ?' * len(columns)}) ON CONFLICT (k1, k2) DO UPDATE SET "
               + ", ".join(f"{c} = excluded.{c}" for c in (f"n{reporte}", *columns)))
        for chunk in text_chunks(rows, (*KEY, *columns), ctx.settings.chunk_size):
            ctx.check_alive()
            height = chunk.frame.height
            part = chunk.frame.select(
                *_key_parts(),
                pl.int_range(chunk.first, chunk.first + height, dtype=pl.Int64).alias("n"),
                *[pl.when(pl.col(c).str.strip_chars().str.to_lowercase().is_in(NO_VALUE))
                  .then(None).otherwise(pl.col(c)).alias(c) for c in columns])
            keyed = part.filter(pl.col("k1").is_not_null() & pl.col("k2").is_not_null())
            self.rows[reporte] += height
            self.keyless[reporte] += height - keyed.height
            self._write(sql, keyed.iter_rows())

    def attach(self, documents: pl.DataFrame) -> pl.DataFrame:
        """``documents`` with both reports' columns (null where no row of them matched);
        their keys are marked as matched."""
        keys = documents.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("i"),
                                *_key_parts()).drop_nulls()
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM chunk")
        self.db.executemany("INSERT INTO chunk (i, k1, k2) VALUES (?, ?, ?)", keys.iter_rows())
        added = [c for cols in REPORT_COLUMNS.values() for c in cols]
        found = self.db.execute(
            f"SELECT c.i, {', '.join(f'r.{c}' for c in added)} FROM chunk c "
            "JOIN report r ON r.k1 = c.k1 AND r.k2 = c.k2").fetchall()
        self.db.execute("UPDATE report SET matched = 1 WHERE (k1, k2) IN "
                        "(SELECT k1, k2 FROM chunk)")
        self.db.execute("COMMIT")
        frame = pl.DataFrame(found, orient="row",
                             schema={"__i": pl.Int64, **dict.fromkeys(added, pl.String)})
        return (documents.with_row_index("__i").with_columns(pl.col("__i").cast(pl.Int64))
                .join(frame, on="__i", how="left", maintain_order="left").drop("__i"))

    def judged(self, reporte: int) -> tuple[int, int, int, int | None]:
        """(rows in the answer, rows matching no document, rows repeating a key, the answer
        row number of the first unmatched row)."""
        n = f"n{reporte}"
        kept, unmatched, first = self.db.execute(
            f"SELECT COUNT({n}), COALESCE(SUM(matched = 0 AND {n} IS NOT NULL), 0), "
            f"MIN(CASE WHEN matched = 0 THEN {n} END) FROM report").fetchone()
        total, keyless = self.rows[reporte], self.keyless[reporte]
        return total, unmatched + keyless, total - keyless - kept, first


def _key_parts() -> list[pl.Expr]:
    """``k1``, ``k2``: the key's two parts trimmed, null when either is empty."""
    parts = [pl.col(k).cast(pl.String).str.strip_chars() for k in KEY]
    both = pl.all_horizontal([p.str.len_chars() > 0 for p in parts])
    return [pl.when(both).then(p).alias(name) for p, name in zip(parts, ("k1", "k2"), strict=True)]


def refresh_operaciones(ctx: TaskContext) -> None:
    """Replace the three source tables with the webservice's answers (module docstring)."""
    settings = ctx.settings
    calls = Calls(ctx.progress, len(REPORT_COLUMNS) + 3, every=settings.chunk_size)
    ws = webservice(settings, on_token=ctx.secrets.append, on_retry=calls.retrying)
    for table in TABLE_NAMES:
        ctx.check_locked(table)
    try:
        _replace_from(ctx, ws, calls)
    finally:
        ctx.progress.done(Calls.LINE)
    ctx.sources["operaciones"] = utcnow().isoformat(timespec="seconds")
    log.info("operaciones: %s from the webservice",
             ", ".join(f"{t}={ctx.rows.get(t, 0):,}" for t in TABLE_NAMES))


def _replace_from(ctx: TaskContext, ws: Webservice, calls: Calls) -> None:
    """The three tables replaced with what the five calls answer (module docstring)."""
    size = ctx.settings.chunk_size

    def answered(endpoint: str) -> Iterator[dict[str, Any]]:
        return calls.answered(Calls.NAMES[endpoint], ws.rows(endpoint))

    mora: list[pl.DataFrame] = []  # (IdLiquidacionDet, FacturasMoraGeneradas) of documents
    candidates: list[pl.DataFrame] = []  # their payments: (det, FechaPago, id)
    with ctx.replace_tables(*TABLES, sources=True) as out, _reports() as reports:
        for reporte in REPORT_COLUMNS:
            rows = ws.report_rows(reporte, HISTORY_START, ctx.today, ctx.today)
            reports.read(calls.answered(f"report {reporte}", rows), ctx, reporte)
        for chunk in text_chunks(answered(DOCUMENTS), DOCUMENT_COLUMNS.names, size):
            documents = reports.attach(typed_chunk(DOCUMENT_COLUMNS, chunk,
                                                   ctx.coercion_log(colocaciones.name)))
            with_mora = documents.filter(pl.col("FacturasMoraGeneradas").is_not_null())
            if with_mora.height:
                mora.append(with_mora.select("IdLiquidacionDet", "FacturasMoraGeneradas"))
            out.add(colocaciones, documents.drop("FacturasMoraGeneradas"))
        _judge_reports(ctx, reports)
        mora_by_det = pl.concat(mora) if mora else pl.DataFrame(
            schema={"IdLiquidacionDet": pl.Int64, "FacturasMoraGeneradas": pl.String})
        mora_by_det = mora_by_det.unique("IdLiquidacionDet", keep="last")
        dets = mora_by_det["IdLiquidacionDet"]
        for chunk in text_chunks(answered(PAYMENTS), PAYMENT_COLUMNS.names, size):
            payments = typed_chunk(PAYMENT_COLUMNS, chunk,
                                   ctx.coercion_log(colocaciones_pagos.name))
            candidates.append(payments.filter(pl.col("IdLiquidacionDet").is_in(dets.implode()))
                              .select("IdLiquidacionDet", "FechaPago", "IdLiquidacionPago"))
            out.add(colocaciones_pagos,
                    payments.with_columns(pl.lit(None, pl.String).alias("FacturasMoraGeneradas")))
        for chunk in text_chunks(answered(REFUNDS), REFUND_COLUMNS.names, size):
            out.add(colocaciones_devoluciones,
                    typed_chunk(REFUND_COLUMNS, chunk,
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


class Calls:
    """The calls to the webservice on the progress display: how many are answered of all
    of them, the one in hand with the rows it has answered so far (its answer streams in
    for minutes), and the try it is at when retried. A call is named by what it fetches
    (``payments``, ``report 2``): two endpoints end in ``subquery``."""

    LINE = "webservice"
    NAMES = {DOCUMENTS: "documents", PAYMENTS: "payments", REFUNDS: "refunds"}

    def __init__(self, progress: Progress, total: int, *, every: int) -> None:
        self.progress, self.total, self.every = progress, total, every
        self.done = 0
        self.current = ""

    def answered(self, name: str, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``rows`` as they arrive; the call is shown when it is asked (its first row is
        wanted), every ``every`` rows, and once it has answered them all."""
        self.current = name
        self._show(f"asking {name}")
        count = 0
        for count, row in enumerate(rows, 1):
            if count % self.every == 0:
                self._show(f"{name}: {count:,} rows received")
            yield row
        self.done += 1
        self._show(f"{name}: {count:,} rows received")

    def retrying(self, label: str, attempt: int, attempts: int, reason: str) -> None:
        """``Webservice.on_retry``: a retry of the call in hand, or of the login it needed."""
        what = "login, " if label == TOKEN else ""
        self._show(f"{self.current}: {what}attempt {attempt} of {attempts} after {reason}")

    def _show(self, detail: str) -> None:
        self.progress.step(self.LINE, self.done, self.total, detail, unit="calls")


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


def _judge_reports(ctx: TaskContext, reports: Reports) -> None:
    """One warning per report for its rows that match no document (and its repeated keys);
    their share counts as coercions of the report (decision 21 fails the run beyond it)."""
    for reporte, columns in REPORT_COLUMNS.items():
        label = reports.label(reporte)
        total, count, duplicates, first = reports.judged(reporte)
        coerced = ctx.coercion_log(label)
        coerced.read(total)
        if count:
            example = f"{label}#row {first}" if first is not None \
                else f"{label} (a row without CodigoLiquidacion or NroDocumento)"
            coerced.note("rows that match no document", example, count,
                         column="CodigoLiquidacion+NroDocumento")
            ctx.warn(f"{label}: {count:,} of {total:,} rows match no document by "
                     f"CodigoLiquidacion and NroDocumento; their {', '.join(columns)} were "
                     f"not used (e.g. {example})")
        if duplicates:
            ctx.warn(f"{label}: {duplicates:,} rows repeat a document's "
                     "CodigoLiquidacion and NroDocumento; the last one of each was used")


@contextlib.contextmanager
def _reports() -> Iterator[Reports]:
    """The run's ``Reports``; a failure of its scratch database is said in one line."""
    try:
        with Reports() as reports:
            yield reports
    except sqlite3.Error as exc:
        raise TaskFailed(f"the scratch database for the webservice's reports failed ({exc}); "
                         "it is a temporary file: set SQLITE_TMPDIR (or TMPDIR) to a "
                         "directory with room") from exc
