"""Task `kpi`: refresh the `kpi` datamart table (reportes.md §3, §4.1; decisions.md).

Extract → compute → load, in chunks: the small reference tables (exchange rates, sectors,
referrals, executive names, the off-system keys) are read whole into a ``KpiPipeline``;
`colocaciones` comes in chunks by id range, each with its payments and refunds, then the
off-system sheets; every chunk becomes a frame of output rows that goes straight to the
datamart writer, so memory stays flat as the source grows. ``kpi-acumulado`` uses the same
stream with ``reporte=0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import polars as pl

from toolbox_cli.business import HISTORY_START
from toolbox_cli.compute.kpi import (
    DEVOLUCION_COLUMNS,
    PAGO_COLUMNS,
    REPORTE_ACUMULADO,
    REPORTE_KPI,
    KpiConfig,
    KpiPipeline,
    Referrals,
    Sectors,
    fx_frame,
    is_off_system_operation,
    map_executives,
)
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import InputError
from toolbox_cli.registry import task
from toolbox_cli.storage import sources
from toolbox_cli.storage.tables import colocaciones

TABLE_OF_REPORTE = {REPORTE_KPI: "kpi", REPORTE_ACUMULADO: "kpi_acumulado"}
# Source tables of the KPI pipeline; without operations there is nothing to compute.
KPI_READS = ("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones", "tipo_cambio",
             "sector_pagadores", "operaciones_fuera_sistema", "referidos", "referidos_alias")
KPI_REQUIRES = ("colocaciones",)
# colocaciones columns each report reads (the others feed only the CXC dimension).
_NOT_READ = {REPORTE_KPI: ("IdLiquidacionCab", "ComisionEstructuracionPorc", "InteresIGV",
                           "GastosDiversos", "FechaInteresConfirming", "TipoOperacionDetalle"),
             REPORTE_ACUMULADO: ("IdLiquidacionCab", "ComisionEstructuracionPorc", "InteresIGV",
                                 "GastosDiversos")}


def report_dates(ctx: TaskContext) -> tuple[date, date, date]:
    """``desde``, ``hasta`` and ``fecha_corte`` of the run (Lima dates, decisions 11)."""
    desde = ctx.params.get("desde") or HISTORY_START
    hasta = ctx.params.get("hasta") or ctx.today
    corte = ctx.params.get("fecha_corte") or ctx.today
    if hasta < desde:
        raise InputError(f"--hasta {hasta} is before --desde {desde}; swap them")
    return desde, hasta, corte


def make_pipeline(ctx: TaskContext, reporte: int, desde: date, hasta: date) -> KpiPipeline:
    """Everything the per-chunk computation needs, from the small source tables and the
    keys of the off-system rows (their executives and the codes they supersede)."""
    source = ctx.source
    off_names: list[str | None] = []
    off_codes: list[str | None] = []
    for keys in sources.iter_operaciones_fuera_sistema(
            source, sources.FUERA_SISTEMA_KEYS, chunk_size=ctx.settings.chunk_size):
        off_names += keys["Ejecutivo"].to_list()
        # Rows that are not operations are dropped later and must not supersede anything.
        off_codes += keys.filter(is_off_system_operation(keys))["CodigoLiquidacion"].to_list()
    return KpiPipeline(
        KpiConfig(reporte=reporte, tasa_fondeo_pen=ctx.settings.tasa_fondeo_pen,
                  tasa_fondeo_usd=ctx.settings.tasa_fondeo_usd),
        fx=fx_frame(sources.read_tipo_cambio(source)),
        sectors=Sectors.build(sources.read_sector_pagadores(source)),
        referrals=Referrals.build(sources.read_referidos(source),
                                  sources.read_referidos_alias(source)),
        executives=map_executives(off_names, sources.read_executives(source, desde=desde,
                                                                     hasta=hasta)),
        off_system_codes=off_codes,
    )


def kpi_frames(ctx: TaskContext, *, reporte: int) -> Iterator[pl.DataFrame]:
    """Complete output rows of `kpi` (reporte=2) or `kpi_acumulado` (reporte=0), chunk by chunk.

    In-system rows come first (IdLiquidacionDet order), then the off-system rows (PEN sheet,
    then USD). Warnings are aggregated and recorded on the run once the stream is consumed.
    """
    if reporte not in TABLE_OF_REPORTE:
        raise ValueError(f"reporte must be 0 or 2, not {reporte}")
    desde, hasta, corte = report_dates(ctx)
    pipeline = make_pipeline(ctx, reporte, desde, hasta)
    documents = sources.all_columns(colocaciones, without=_NOT_READ[reporte])
    for chunk in sources.iter_document_chunks(
            ctx.source, chunk_size=ctx.settings.chunk_size, documents=documents,
            pagos=PAGO_COLUMNS, devoluciones=DEVOLUCION_COLUMNS, desde=desde, hasta=hasta,
            fecha_corte=corte):
        ctx.check_alive()
        yield pipeline.in_system(chunk.documents, chunk.pagos, chunk.devoluciones)
    # Off-system rows are not filtered by the date range (legacy, reportes.md §2.4 step 7).
    for rows in sources.iter_operaciones_fuera_sistema(ctx.source,
                                                       chunk_size=ctx.settings.chunk_size):
        ctx.check_alive()
        yield pipeline.off_system(rows)
    for message in pipeline.warnings():
        ctx.warn(message)


@task(
    "kpi",
    description="Refresh the kpi table (operations, reporte 2) from the source database",
    tables=("kpi",),
    reads=KPI_READS,
    requires=KPI_REQUIRES,
)
def run(ctx: TaskContext) -> None:
    ctx.replace_tables({"kpi": kpi_frames(ctx, reporte=REPORTE_KPI)})
