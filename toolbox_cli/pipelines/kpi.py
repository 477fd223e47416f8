"""`kpi` and `kpi-acumulado`, and the KPI stream `tablas-reportes` shares (reportes.md §3).

Extract → compute → load, in chunks: the small reference tables (exchange rates, sectors,
referrals, the off-system keys) are read whole into a ``KpiPipeline``; `colocaciones` comes
in chunks by id range, each with its payments and refunds, then the off-system sheets; every
chunk becomes a frame of output rows that goes straight to the datamart writer, so memory
stays flat as the source grows. The in-system executive spellings are learnt from the
chunks as they pass, before the off-system rows that map onto them.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from toolbox_cli.compute.kpi import IN_SYSTEM, OFF_SYSTEM, KpiPipeline
from toolbox_cli.compute.kpi_formulas import REPORTE_ACUMULADO, REPORTE_KPI, KpiConfig
from toolbox_cli.compute.kpi_inputs import PAGO_COLUMNS, is_off_system_operation
from toolbox_cli.compute.kpi_reference import Referrals, Sectors, fx_frame
from toolbox_cli.compute.payments import DEVOLUCION_COLUMNS
from toolbox_cli.context import TaskContext
from toolbox_cli.params import ReportRange
from toolbox_cli.storage import sources
from toolbox_cli.storage.tables.contract import colocaciones
from toolbox_cli.storage.tables.reportes import (
    ACUMULADO_COLUMNS,
    KPI_COLUMNS,
    kpi,
    kpi_acumulado,
)

TABLE_OF_REPORTE = {REPORTE_KPI: kpi, REPORTE_ACUMULADO: kpi_acumulado}
OUTPUT_COLUMNS = {REPORTE_KPI: KPI_COLUMNS, REPORTE_ACUMULADO: ACUMULADO_COLUMNS}
__all__ = ["REPORTE_ACUMULADO", "REPORTE_KPI", "kpi_frames", "make_pipeline", "refresh"]
# colocaciones columns each report reads (the others feed only the CXC dimension).
_NOT_READ = {REPORTE_KPI: ("IdLiquidacionCab", "ComisionEstructuracionPorc", "InteresIGV",
                           "GastosDiversos", "FechaInteresConfirming", "TipoOperacionDetalle"),
             REPORTE_ACUMULADO: ("IdLiquidacionCab", "ComisionEstructuracionPorc", "InteresIGV",
                                 "GastosDiversos")}


def make_pipeline(ctx: TaskContext, reporte: int) -> KpiPipeline:
    """Everything the per-chunk computation needs, from the small source tables and the
    keys of the off-system rows (their executives and the codes they supersede)."""
    source = ctx.source
    # Distinct executive names, and the codes as a Polars column: the sheets grow with the
    # book, and a Python string per row would make memory grow with them.
    off_names: dict[str | None, None] = {}
    off_codes: list[pl.Series] = []
    for keys in sources.iter_operaciones_fuera_sistema(
            source, sources.FUERA_SISTEMA_KEYS, chunk_size=ctx.settings.chunk_size):
        off_names.update(dict.fromkeys(keys["Ejecutivo"].unique(maintain_order=True).to_list()))
        # Rows that are not operations are dropped later and must not supersede anything.
        off_codes.append(keys.filter(is_off_system_operation(keys))["CodigoLiquidacion"]
                         .cast(pl.String))
    return KpiPipeline(
        KpiConfig(reporte=reporte, columns=OUTPUT_COLUMNS[reporte],
                  tasa_fondeo_pen=ctx.settings.tasa_fondeo_pen,
                  tasa_fondeo_usd=ctx.settings.tasa_fondeo_usd),
        fx=fx_frame(sources.read_tipo_cambio(source)),
        sectors=Sectors.build(sources.read_sector_pagadores(source)),
        referrals=Referrals.build(sources.read_referidos(source),
                                  sources.read_referidos_alias(source)),
        off_system_names=list(off_names),
        off_system_codes=pl.concat(off_codes) if off_codes else pl.Series([], dtype=pl.String),
        logs={table: ctx.coercion_log(table) for table in (IN_SYSTEM, OFF_SYSTEM)},
    )


def kpi_frames(ctx: TaskContext, params: ReportRange, *, reporte: int
               ) -> Iterator[pl.DataFrame]:
    """Complete output rows of `kpi` (reporte=2) or `kpi_acumulado` (reporte=0), chunk by chunk.

    In-system rows come first (IdLiquidacionDet order), then the off-system rows (PEN sheet,
    then USD). Warnings are aggregated and recorded on the run once the stream is consumed.
    """
    if reporte not in TABLE_OF_REPORTE:
        raise ValueError(f"reporte must be 0 or 2, not {reporte}")
    pipeline = make_pipeline(ctx, reporte)
    documents = sources.all_columns(colocaciones, without=_NOT_READ[reporte])
    for chunk in sources.iter_document_chunks(
            ctx.source, chunk_size=ctx.settings.chunk_size, documents=documents,
            pagos=PAGO_COLUMNS, devoluciones=DEVOLUCION_COLUMNS, desde=params.desde,
            hasta=params.hasta, fecha_corte=params.fecha_corte):
        yield pipeline.in_system(chunk.documents, chunk.pagos, chunk.devoluciones)
    # Off-system rows are not filtered by the date range (legacy, reportes.md §2.4 step 7).
    for rows in sources.iter_operaciones_fuera_sistema(ctx.source,
                                                       chunk_size=ctx.settings.chunk_size):
        yield pipeline.off_system(rows)
    for message in pipeline.warnings():
        ctx.warn(message)
    for message in pipeline.warning_details():
        ctx.warn(message, detail=True)


def refresh(ctx: TaskContext, params: ReportRange, *, reporte: int) -> None:
    """`kpi` (reporte 2) or `kpi_acumulado` (reporte 0), replaced by the KPI stream."""
    table = TABLE_OF_REPORTE[reporte]
    with ctx.replace_tables(table) as out:
        for frame in kpi_frames(ctx, params, reporte=reporte):
            out.add(table, frame)
