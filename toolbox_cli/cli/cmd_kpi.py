"""Commands `kpi` and `kpi-acumulado`: thin shells over the registered tasks."""

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


@app.command("kpi")
def kpi(
    desde: DesdeOpt = None,
    hasta: HastaOpt = None,
    fecha_corte: FechaCorteOpt = None,
    dry_run: DryRunOpt = False,
    allow_shrink: AllowShrinkOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Refresh the kpi table from the source database (operations, reporte 2).

    Example: toolbox kpi --desde 2024-01-01 --hasta 2024-06-30 --dry-run
    """
    run_task_command("kpi", report_range_params(desde, hasta, fecha_corte, dry_run, allow_shrink),
                     wait=wait, json_output=json_output)


@app.command("kpi-acumulado")
def kpi_acumulado(
    desde: DesdeOpt = None,
    hasta: HastaOpt = None,
    fecha_corte: FechaCorteOpt = None,
    dry_run: DryRunOpt = False,
    allow_shrink: AllowShrinkOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Refresh the kpi_acumulado table (operations with their payment detail, reporte 0).

    Example: toolbox kpi-acumulado --hasta 2025-06-30 --fecha-corte 2025-06-30
    """
    run_task_command("kpi-acumulado", report_range_params(desde, hasta, fecha_corte, dry_run, allow_shrink),
                     wait=wait, json_output=json_output)
