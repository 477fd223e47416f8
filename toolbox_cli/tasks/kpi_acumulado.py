"""Task `kpi-acumulado`: refresh `kpi_acumulado` (reportes.md §4.2; decisions 3–4).

The same computation as `kpi` (``kpi_frames``) with the reporte-0 columns: one row per
document whose payment detail comes from its last payment and whose MontoPago is the sum.
"""

from __future__ import annotations

from toolbox_cli.compute.kpi import REPORTE_ACUMULADO
from toolbox_cli.context import TaskContext
from toolbox_cli.registry import task
from toolbox_cli.tasks.kpi import KPI_READS, KPI_REQUIRES, kpi_frames


@task(
    "kpi-acumulado",
    description="Refresh the kpi_acumulado table (operations with payment detail, reporte 0)",
    tables=("kpi_acumulado",),
    schedule=("30 7 * * *", "30 12 * * *"),
    reads=KPI_READS,
    requires=KPI_REQUIRES,
)
def run(ctx: TaskContext) -> None:
    ctx.replace_tables({"kpi_acumulado": kpi_frames(ctx, reporte=REPORTE_ACUMULADO)})
