"""Command `tablas-reportes`: a thin shell over the registered task."""

from __future__ import annotations

from toolbox_cli.cli.app import app
from toolbox_cli.cli.common import run_task_command
from toolbox_cli.cli.options import (
    AllowShrinkOpt,
    DesdeOpt,
    DryRunOpt,
    FechaCorteOpt,
    HastaOpt,
    JsonOpt,
    WaitOpt,
    report_range_params,
)


@app.command("tablas-reportes")
def tablas_reportes(
    desde: DesdeOpt = None,
    hasta: HastaOpt = None,
    fecha_corte: FechaCorteOpt = None,
    dry_run: DryRunOpt = False,
    allow_shrink: AllowShrinkOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Refresh kpi, nuevos_clientes_nuevos_pagadores and saldos, all three at once.

    The tables are swapped in together only when all three are built; a failure leaves the
    previous ones. Appends a Success/Error row to actualizacion_reportes (not on --dry-run).
    New clients and payers are counted per month from --desde to the month of --hasta.

    Example: toolbox tablas-reportes --hasta 2025-06-30 --fecha-corte 2025-06-30
    """
    run_task_command("tablas-reportes", report_range_params(desde, hasta, fecha_corte, dry_run, allow_shrink),
                     wait=wait, json_output=json_output)
