"""Task `kpi-acumulado`: refresh `kpi_acumulado` (reportes.md §4.2; decisions 3–4).

The same computation as `kpi` (``pipelines/kpi.py``) with the reporte-0 columns: one
row per document whose payment detail comes from its last payment and whose MontoPago is
the sum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolbox_cli.tasks.base import ReportRange, TaskSpec
from toolbox_cli.tasks.hojas import SHEETS_FIRST
from toolbox_cli.tasks.kpi import KPI_READS, KPI_REQUIRES
from toolbox_cli.tasks.operaciones import OPERACIONES_FIRST

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext


def run(ctx: TaskContext, params: ReportRange) -> None:
    from toolbox_cli.pipelines.kpi import REPORTE_ACUMULADO, refresh

    refresh(ctx, params, reporte=REPORTE_ACUMULADO)


SPEC = TaskSpec(
    "kpi-acumulado",
    "Refresh the kpi_acumulado table (operations with their payment detail, reporte 0).",
    run,
    params=ReportRange,
    tables=("kpi_acumulado",),
    schedule=("30 7 * * *", "30 12 * * *"),
    reads=KPI_READS,
    requires=KPI_REQUIRES,
    refresh_first=(OPERACIONES_FIRST, SHEETS_FIRST),
    example="toolbox kpi-acumulado --hasta 2025-06-30 --fecha-corte 2025-06-30",
)
