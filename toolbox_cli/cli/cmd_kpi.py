"""Commands `kpi` and `kpi-acumulado`: thin shells over the registered tasks."""

from __future__ import annotations

from datetime import date
from typing import Any

from toolbox_cli.cli.app import app
from toolbox_cli.cli.common import fail, run_task_command
from toolbox_cli.cli.options import (
    DesdeOpt,
    DryRunOpt,
    FechaCorteOpt,
    HastaOpt,
    JsonOpt,
    WaitOpt,
    as_date,
)

DEFAULT_DESDE = date(2019, 7, 1)


def _params(desde, hasta, fecha_corte, dry_run: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    # hasta / fecha_corte None means "today in Lima": the runner fills them with the business
    # date of the run, never the host's UTC date (decisions 11).
    params = {
        "desde": as_date(desde) or DEFAULT_DESDE,
        "hasta": as_date(hasta),
        "fecha_corte": as_date(fecha_corte),
        "dry_run": dry_run,
    }
    if params["hasta"] is not None and params["hasta"] < params["desde"]:
        fail(f"--hasta {params['hasta']} is before --desde {params['desde']}; swap them")
    return params


@app.command("kpi")
def kpi(
    desde: DesdeOpt = None,
    hasta: HastaOpt = None,
    fecha_corte: FechaCorteOpt = None,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Refresh the kpi table from the source database (operations, reporte 2).

    Example: toolbox kpi --desde 2024-01-01 --hasta 2024-06-30 --dry-run
    """
    run_task_command("kpi", _params(desde, hasta, fecha_corte, dry_run),
                     wait=wait, json_output=json_output)


@app.command("kpi-acumulado")
def kpi_acumulado(
    desde: DesdeOpt = None,
    hasta: HastaOpt = None,
    fecha_corte: FechaCorteOpt = None,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Refresh the kpi_acumulado table (operations with their payment detail, reporte 0).

    Example: toolbox kpi-acumulado --hasta 2025-06-30 --fecha-corte 2025-06-30
    """
    run_task_command("kpi-acumulado", _params(desde, hasta, fecha_corte, dry_run),
                     wait=wait, json_output=json_output)
