"""Task `tablas-reportes`: `kpi`, `nuevos_clientes_nuevos_pagadores` and `saldos` together.

reportes.md §3.7, §3.8, §4.3, §4.4, §4.6, §5.1; decisions.md 6–8. The tables and the
`actualizacion_reportes` bookkeeping are built in ``pipelines/reportes.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolbox_cli.tasks.base import ReportRange, TaskSpec
from toolbox_cli.tasks.hojas import SHEETS_FIRST
from toolbox_cli.tasks.kpi import KPI_READS, KPI_REQUIRES
from toolbox_cli.tasks.operaciones import OPERACIONES_FIRST

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext

TABLES = ("kpi", "nuevos_clientes_nuevos_pagadores", "saldos")


def run(ctx: TaskContext, params: ReportRange) -> None:
    from toolbox_cli.pipelines.reportes import refresh

    refresh(ctx, params)


SPEC = TaskSpec(
    "tablas-reportes",
    """Refresh kpi, nuevos_clientes_nuevos_pagadores and saldos, all three at once.

    The tables are swapped in together only when all three are built; a failure leaves the
    previous ones. Appends a Success/Error row to actualizacion_reportes (not on --dry-run).
    New clients and payers are counted per month from --desde to the month of --hasta.""",
    run,
    params=ReportRange,
    tables=TABLES,
    schedule=("0 7 * * *", "0 18 * * *"),
    reads=(*KPI_READS, "saldos_caja"),
    requires=KPI_REQUIRES,
    refresh_first=(OPERACIONES_FIRST, SHEETS_FIRST),
    example="toolbox tablas-reportes --hasta 2025-06-30 --fecha-corte 2025-06-30",
)
