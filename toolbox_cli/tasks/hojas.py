"""Task ``hojas``: refresh every table kept in one of the analysts' Google Sheets, and the
same sheets as a source refresh before a report (``--hojas``).

"hojas" is the user's word (the task, the flag), "sheets" the code's: the work is in
``pipelines/sheets.py``, the settings in ``imports/sheets.py`` (``TOOLBOX_SHEETS``).

As a task, a sheet that cannot be read or is rejected keeps its table, is a warning on the
run naming the sheet and the reason, and makes the run fail (exit 1) after the others are
stored. As ``--hojas`` inside ``kpi``, ``kpi-acumulado``, ``tablas-reportes`` and
``tablas-cxc`` (``SHEETS_FIRST``, their ``refresh_first``), only the sheets of the tables
the task reads are refreshed, and a sheet that fails stops the run before anything is
computed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from toolbox_cli.errors import InputError
from toolbox_cli.params import CutOff, RunFlags
from toolbox_cli.tasks.base import Refresh, TaskSpec

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext
    from toolbox_cli.settings import Settings

log = logging.getLogger("toolbox")

# Every table a sheet can fill (exchange rates come from the provider, ``tipo-cambio``).
SHEET_TABLES = ("sector_pagadores", "operaciones_fuera_sistema", "referidos",
                "referidos_alias", "saldos_caja", "cxc_codigos_especiales")


def run(ctx: TaskContext, params: RunFlags) -> None:
    from toolbox_cli.imports.sheets import configured_sheets
    from toolbox_cli.pipelines.sheets import refresh_sheets

    refresh_sheets(ctx, configured_sheets(ctx.settings, required=True), stop_at_first=False)


class SheetsFirst:
    """``--hojas``: the sheets of TOOLBOX_SHEETS that fill a table the task reads,
    refreshed first in the same run."""

    def plan(self, spec: TaskSpec, params: RunFlags, settings: Settings) -> Refresh | None:
        if not (isinstance(params, CutOff) and params.hojas):
            return None
        from toolbox_cli.imports.sheets import configured_sheets

        if not settings.sheets:
            raise InputError(f"--hojas: TOOLBOX_SHEETS is not set, so {spec.name} has no sheet "
                             'to refresh first; set it (README "Live sources") or drop --hojas')
        sheets = configured_sheets(settings, tables=spec.reads)
        if not sheets:
            log.info("--hojas: no sheet in TOOLBOX_SHEETS fills a table %s reads", spec.name)

        def refresh(ctx: TaskContext) -> None:
            from toolbox_cli.pipelines.sheets import refresh_sheets

            refresh_sheets(ctx, sheets, stop_at_first=True)

        return Refresh("sheets", tuple(sorted({s.table for s in sheets})), refresh)


SHEETS_FIRST = SheetsFirst()

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
