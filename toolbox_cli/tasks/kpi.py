"""Task `kpi`: refresh the `kpi` datamart table (reportes.md §3, §4.1; decisions.md).

The rows are the KPI stream of ``pipelines/kpi.py`` (shared with `kpi-acumulado` and
`tablas-reportes`) with the reporte-2 columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolbox_cli.tasks.base import ReportRange, TaskSpec
from toolbox_cli.tasks.hojas import SHEETS_FIRST
from toolbox_cli.tasks.operaciones import OPERACIONES_FIRST

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext

# Source tables of the KPI pipeline; without operations there is nothing to compute.
KPI_READS = ("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones", "tipo_cambio",
             "sector_pagadores", "operaciones_fuera_sistema", "referidos", "referidos_alias")
KPI_REQUIRES = ("colocaciones",)


def run(ctx: TaskContext, params: ReportRange) -> None:
    from toolbox_cli.pipelines.kpi import REPORTE_KPI, refresh

    refresh(ctx, params, reporte=REPORTE_KPI)


SPEC = TaskSpec(
    "kpi",
    "Refresh the kpi table from the source database (operations, reporte 2).",
    run,
    params=ReportRange,
    tables=("kpi",),
    reads=KPI_READS,
    requires=KPI_REQUIRES,
    refresh_first=(OPERACIONES_FIRST, SHEETS_FIRST),
    example="toolbox kpi --desde 2024-01-01 --hasta 2024-06-30 --dry-run",
)
