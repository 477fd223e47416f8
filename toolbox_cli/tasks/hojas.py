"""Task ``hojas``: refresh every table kept in one of the analysts' Google Sheets.

The sheets are configured in ``TOOLBOX_SHEETS`` (JSON: sheet → URL, ``imports/sheets.py``
reads them). Each sheet is an import of its kind from its URL, all or nothing and
independently of the others: the sheet *is* the table's content, so it replaces the table
(``fuera-sistema-pen``/``-usd`` replace their own sheet of off-system operations), behind
the same shrink guard as any replace. A sheet that cannot be read or is rejected keeps its
table, is a warning on the run naming the sheet and the reason, and makes the
run fail (exit 1) after the others are stored.

``refresh_sheets`` is also what ``--hojas`` runs first inside ``kpi``, ``kpi-acumulado``,
``tablas-reportes`` and ``tablas-cxc`` (the runner calls it, for the sheets of the tables
the task reads); there a sheet that fails stops the run before anything is computed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from toolbox_cli.errors import InputError, TaskFailed
from toolbox_cli.params import CutOff, RunFlags
from toolbox_cli.tasks.base import TaskSpec

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext
    from toolbox_cli.imports.sheets import Sheet
    from toolbox_cli.settings import Settings

log = logging.getLogger("toolbox")

# Every table a sheet can fill (exchange rates come from the provider, ``tipo-cambio``).
SHEET_TABLES = ("sector_pagadores", "operaciones_fuera_sistema", "referidos",
                "referidos_alias", "saldos_caja", "cxc_codigos_especiales")


def run(ctx: TaskContext, params: RunFlags) -> None:
    from toolbox_cli.imports.sheets import configured_sheets

    refresh_sheets(ctx, configured_sheets(ctx.settings, required=True), stop_at_first=False)


def sheets_first(spec: TaskSpec, params: RunFlags, settings: Settings) -> list[Sheet]:
    """The sheets ``--hojas`` refreshes before ``spec`` computes: those of TOOLBOX_SHEETS
    that fill a table it reads ([] without ``--hojas``); a bad setting raises here,
    before the run starts."""
    if not (isinstance(params, CutOff) and params.hojas):
        return []
    from toolbox_cli.imports.sheets import configured_sheets

    if not settings.sheets:
        raise InputError(f"--hojas: TOOLBOX_SHEETS is not set, so {spec.name} has no sheet to "
                         'refresh first; set it (README "Live sources") or drop --hojas')
    sheets = configured_sheets(settings, tables=spec.reads)
    if not sheets:
        log.info("--hojas: no sheet in TOOLBOX_SHEETS fills a table %s reads", spec.name)
    return sheets


def refresh_sheets(ctx: TaskContext, sheets: list[Sheet], *, stop_at_first: bool) -> None:
    """Import each sheet from its URL into its table, one transaction per sheet."""
    from toolbox_cli.imports.sheets import fetch_sheet, sheets_client
    from toolbox_cli.tasks.import_job import import_into

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


SPEC = TaskSpec(
    "hojas",
    """Refresh the tables kept in the analysts' Google Sheets (TOOLBOX_SHEETS).

    Each configured sheet (sectores, fuera-sistema-pen, fuera-sistema-usd, referidos,
    saldos, …) is read from its URL (an Apps Script web app's JSON or a sheet published
    as CSV), validated like toolbox import and stored all or nothing, replacing its table.
    A sheet that fails keeps its table, is listed as a warning, and the run exits 1 after
    the others are stored.""",
    run,
    params=RunFlags,
    tables=SHEET_TABLES,
    schedule=("45 6 * * *",),
    reads=SHEET_TABLES,
    example="toolbox hojas --dry-run",
)
