"""The analysts' Google Sheets into their tables: the ``hojas`` task, and ``--hojas`` first.

The sheets are configured in ``TOOLBOX_SHEETS`` (JSON: sheet → URL, ``imports/sheets.py``
reads them). Each sheet is an import of its kind from its URL (``pipelines/records.py``), all
or nothing and independently of the others: the sheet *is* the table's content, so it
replaces the table (``fuera-sistema-pen``/``-usd`` replace their own sheet of off-system
operations), behind the same guard as any replace.
"""

from __future__ import annotations

import logging

from toolbox_cli.context import TaskContext
from toolbox_cli.errors import InputError, TaskFailed
from toolbox_cli.imports.sheets import Sheet, fetch_sheet, sheets_client
from toolbox_cli.pipelines.records import import_into

log = logging.getLogger("toolbox")


def refresh_sheets(ctx: TaskContext, sheets: list[Sheet], *, stop_at_first: bool) -> None:
    """Import each sheet from its URL into its table, one transaction per sheet.

    ``stop_at_first`` (``--hojas`` before a refresh): a sheet that fails stops the run before
    anything is computed. Otherwise (the ``hojas`` task) a sheet that cannot be read or is
    rejected keeps its table, is a warning on the run naming the sheet and the reason, and
    the run fails (exit 1) after the others are stored."""
    http = sheets_client(ctx.settings)
    failed: list[str] = []
    for sheet in sheets:
        ctx.check_alive()
        try:
            result = import_into(ctx, sheet.kind, fetch_sheet(sheet.url, http, sheet.label),
                                 hoja=sheet.hoja, mode=sheet.mode)
        except InputError as exc:
            if stop_at_first:
                raise TaskFailed(f"--hojas: sheet {sheet.name}: {exc}; nothing was "
                                 "computed") from None
            ctx.warn(f"sheet {sheet.name}: {exc}; its table was not changed")
            failed.append(sheet.name)
            continue
        verb = "would store" if result.dry_run else "stored"
        log.info("sheet %s: %s %d rows in %s", sheet.name, verb, result.written, result.table)
    if failed:
        stored = len(sheets) - len(failed)
        raise TaskFailed(f"{len(failed)} of {len(sheets)} sheets failed ({', '.join(failed)}; "
                         f"the warnings say why, their tables were not changed); {stored} stored")
