"""Command `tablas-reportes`: a thin shell over the registered task."""

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
    # hasta / fecha_corte None mean "today in Lima": the runner fills them with the run's
    # business date, never the host's UTC date (decisions 11).
    params = {
        "desde": as_date(desde) or DEFAULT_DESDE,
        "hasta": as_date(hasta),
        "fecha_corte": as_date(fecha_corte),
        "dry_run": dry_run,
    }
    if params["hasta"] is not None and params["hasta"] < params["desde"]:
        fail(f"--hasta {params['hasta']} is before --desde {params['desde']}; swap them")
    return params


@app.command("tablas-reportes")
def tablas_reportes(
    desde: DesdeOpt = None,
    hasta: HastaOpt = None,
    fecha_corte: FechaCorteOpt = None,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Refresh kpi, nuevos_clientes_nuevos_pagadores and saldos, all three at once.

    The tables are swapped in together only when all three are built; a failure leaves the
    previous ones. Appends a Success/Error row to actualizacion_reportes (not on --dry-run).
    New clients and payers are counted per month from --desde to the month of --hasta.

    Example: toolbox tablas-reportes --hasta 2025-06-30 --fecha-corte 2025-06-30
    """
    run_task_command("tablas-reportes", _params(desde, hasta, fecha_corte, dry_run),
                     wait=wait, json_output=json_output)
