"""Task `tablas-cxc`: accounts receivable (cxc.md, decisions 2, 3, 10, 12-15).

The tables are built in ``pipelines/cxc.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolbox_cli.tasks.base import CutOff, TaskSpec, param
from toolbox_cli.tasks.hojas import SHEETS_FIRST
from toolbox_cli.tasks.operaciones import OPERACIONES_FIRST

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext

CXC_TABLES = ("cxc_pagos_fact", "cxc_dev_fact", "cxc_acumulado_dim")


@dataclass(frozen=True)
class CxcParams(CutOff):
    tipo_cambio: float | None = param(
        "--tipo-cambio", "Use this selling rate (PEN per USD) instead of the latest one in "
        "tipo_cambio on or before the cut-off date.", metavar="RATE", minimum=0.000001)


def run(ctx: TaskContext, params: CxcParams) -> None:
    from toolbox_cli.pipelines.cxc import refresh

    assert params.fecha_corte is not None  # resolved by the runner
    refresh(ctx, params.fecha_corte, params.tipo_cambio)


SPEC = TaskSpec(
    "tablas-cxc",
    """Rebuild cxc_pagos_fact, cxc_dev_fact and cxc_acumulado_dim, swapped in together.

    Per document: balance in its currency and in soles, payment type, overdue status,
    special lists, payer sector, aging (DiasVencido, TramoVencido). One exchange rate: the
    latest in tipo_cambio on or before the cut-off date.""",
    run,
    params=CxcParams,
    tables=CXC_TABLES,
    schedule=("0 8 * * *", "0 13 * * *"),
    reads=("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones", "tipo_cambio",
           "sector_pagadores", "cxc_codigos_especiales"),
    requires=("colocaciones",),
    refresh_first=(OPERACIONES_FIRST, SHEETS_FIRST),
    example="toolbox tablas-cxc --fecha-corte 2025-03-15 --dry-run",
)
