"""The analysts' Google Sheets into their tables: the ``hojas`` task, and ``--hojas`` first.

The sheets are configured in ``TOOLBOX_SHEETS`` (JSON: sheet → URL, ``imports/sheets.py``
reads them). Each sheet is an import of its kind from its URL (``pipelines/records.py``), all
or nothing and independently of the others: the sheet *is* the table's content, so it
replaces the table (``fuera-sistema-pen``/``-usd`` replace their own sheet of off-system
operations), behind the same guard as any replace.

A web app can take many seconds to answer, and a failing one longer (its retries' back-off),
so on a terminal one line says how many sheets are done of how many, which one is being
read, the try it is at when retried, and the rows it answered (``read_sheet``, which
``toolbox import KIND URL`` shares).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from toolbox_cli.context import TaskContext
from toolbox_cli.errors import InputError, TaskFailed
from toolbox_cli.imports.csvfile import CsvFile
from toolbox_cli.imports.sheets import Sheet, fetch_sheet, sheets_client
from toolbox_cli.pipelines.records import import_into
from toolbox_cli.remote.http import HttpClient

log = logging.getLogger("toolbox")

LINE = "sheets"  # the sheets' line on the progress display


def read_sheet(url: str, http: HttpClient, label: str, name: str,
               shown: Callable[[str], None], encoding: str | None = None) -> CsvFile:
    """The sheet at ``url`` (``fetch_sheet``), with what is happening said to ``shown`` as it
    happens: ``name`` being read, each retry, then the rows received (they are validated and
    written next). ``name`` is what the user calls the sheet (its key, or the URL as
    ``display_url`` shows it), and comes last: a narrow terminal cuts the end of a line,
    and the try and its reason are the news."""
    def retrying(attempt: int, attempts: int, reason: str) -> None:
        shown(f"attempt {attempt} of {attempts} after {reason}, reading {name}")

    shown(f"reading {name}")
    records = fetch_sheet(url, http, label, encoding, on_retry=retrying)
    shown(f"{len(records.rows):,} rows received from {name}; validating and writing")
    return records


def refresh_sheets(ctx: TaskContext, sheets: list[Sheet], *, stop_at_first: bool) -> None:
    """Import each sheet from its URL into its table, one transaction per sheet.

    ``stop_at_first`` (``--hojas`` before a refresh): a sheet that fails stops the run before
    anything is computed. Otherwise (the ``hojas`` task) a sheet that cannot be read or is
    rejected keeps its table, is a warning on the run naming the sheet and the reason, and
    the run fails (exit 1) after the others are stored."""
    http = sheets_client(ctx.settings)
    failed: list[str] = []
    try:
        for number, sheet in enumerate(sheets):
            ctx.check_alive()
            if not _refreshed(ctx, sheet, http, _shown(ctx, number, len(sheets)),
                              stop_at_first=stop_at_first):
                failed.append(sheet.name)
        ctx.progress.step(LINE, len(sheets), len(sheets), unit="sheets")
    finally:
        ctx.progress.done(LINE)
    if failed:
        stored = len(sheets) - len(failed)
        raise TaskFailed(f"{len(failed)} of {len(sheets)} sheets failed ({', '.join(failed)}; "
                         f"the warnings say why, their tables were not changed); {stored} stored")


def _refreshed(ctx: TaskContext, sheet: Sheet, http: HttpClient, shown: Callable[[str], None],
               *, stop_at_first: bool) -> bool:
    """Import ``sheet`` into its table; False when it failed and the run goes on."""
    try:
        records = read_sheet(sheet.url, http, sheet.label, sheet.name, shown)
        result = import_into(ctx, sheet.kind, records, hoja=sheet.hoja, mode=sheet.mode)
    except InputError as exc:
        if stop_at_first:
            raise TaskFailed(f"--hojas: sheet {sheet.name}: {exc}; nothing was "
                             "computed") from None
        ctx.warn(f"sheet {sheet.name}: {exc}; its table was not changed")
        return False
    verb = "would store" if result.dry_run else "stored"
    log.info("sheet %s: %s %d rows in %s", sheet.name, verb, result.written, result.table)
    return True


def _shown(ctx: TaskContext, number: int, total: int) -> Callable[[str], None]:
    """What the sheets' line says while sheet ``number`` (from 0) of ``total`` is read."""
    return lambda detail: ctx.progress.step(LINE, number, total, detail, unit="sheets")

