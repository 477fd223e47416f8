"""``toolbox tablas-cxc``: refresh the accounts-receivable tables."""

from __future__ import annotations

from typing import Annotated

import typer

from toolbox_cli.cli.app import app
from toolbox_cli.cli.common import run_task_command
from toolbox_cli.cli.options import (
    AllowShrinkOpt,
    DryRunOpt,
    FechaCorteOpt,
    JsonOpt,
    WaitOpt,
    as_date,
)

TipoCambioOpt = Annotated[
    float | None,
    typer.Option(
        "--tipo-cambio",
        min=0.000001,
        help="Use this selling rate (PEN per USD) instead of the latest one in tipo_cambio "
        "on or before the cut-off date.",
    ),
]


@app.command("tablas-cxc")
def tablas_cxc(
    fecha_corte: FechaCorteOpt = None,
    tipo_cambio: TipoCambioOpt = None,
    dry_run: DryRunOpt = False,
    allow_shrink: AllowShrinkOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Rebuild cxc_pagos_fact, cxc_dev_fact and cxc_acumulado_dim, swapped in together.

    Per document: balance in its currency and in soles, payment type,
    overdue status, special lists, payer sector, aging (DiasVencido, TramoVencido).

    One exchange rate: the latest in tipo_cambio on or before the cut-off date.

    Example: toolbox tablas-cxc --fecha-corte 2025-03-15 --dry-run
    """
    params = {"fecha_corte": as_date(fecha_corte), "tipo_cambio": tipo_cambio,
              "dry_run": dry_run, "allow_shrink": allow_shrink}
    run_task_command("tablas-cxc", params, wait=wait, json_output=json_output)
