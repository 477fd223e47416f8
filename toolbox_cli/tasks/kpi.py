"""Task `kpi`: refresh the `kpi` datamart table (reportes.md §3, §4.1; decisions.md).

Extract → compute → load, streamed: the small reference tables (exchange rates, sectors,
referrals, off-system sheets, executive names) are read whole, `colocaciones` in keyset
chunks; every chunk is turned into output rows by the pure ``KpiBuilder`` and handed to the
datamart writer as a generator, so memory stays flat as the source grows. ``kpi-acumulado``
uses the same generator with ``reporte=0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from toolbox_cli.business import HISTORY_START
from toolbox_cli.compute.kpi import (
    REPORTE_ACUMULADO,
    REPORTE_KPI,
    FxTable,
    KpiBuilder,
    KpiConfig,
    ReferralIndex,
    SectorIndex,
    attach_detail,
    is_off_system_operation,
    map_executives,
)
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import InputError
from toolbox_cli.registry import task
from toolbox_cli.storage import (
    sources,
    tables_reportes,  # noqa: F401  (registers the datamart tables)
)


def report_dates(ctx: TaskContext) -> tuple[date, date, date]:
    """``desde``, ``hasta`` and ``fecha_corte`` of the run (Lima dates, decisions 11)."""
    desde = ctx.params.get("desde") or HISTORY_START
    hasta = ctx.params.get("hasta") or ctx.today
    corte = ctx.params.get("fecha_corte") or ctx.today
    if hasta < desde:
        raise InputError(f"--hasta {hasta} is before --desde {desde}; swap them")
    return desde, hasta, corte


def make_builder(ctx: TaskContext, *, reporte: int, desde: date, hasta: date) -> KpiBuilder:
    """Everything the per-row computation needs, from the small source tables and the keys
    of the off-system rows (their executives and the codes they supersede)."""
    source = ctx.source
    aliases = sources.read_referidos_alias(source)
    off_names: list[str] = []
    off_codes: list[str] = []
    for r in sources.iter_operaciones_fuera_sistema(
            source, columns=sources.FUERA_SISTEMA_KEYS, chunk_size=ctx.settings.chunk_size):
        if r["Ejecutivo"] is not None:
            off_names.append(r["Ejecutivo"])
        # Rows that are not operations are dropped later and must not supersede anything.
        if is_off_system_operation(r):
            off_codes.append(r["CodigoLiquidacion"])
    return KpiBuilder(
        KpiConfig(
            reporte=reporte,
            tasa_fondeo_pen=ctx.settings.tasa_fondeo_pen,
            tasa_fondeo_usd=ctx.settings.tasa_fondeo_usd,
        ),
        fx=FxTable.from_rows(sources.read_tipo_cambio(source)),
        sectors=SectorIndex.build(sources.read_sector_pagadores(source)),
        referrals=ReferralIndex.build(sources.read_referidos(source), aliases),
        executives=map_executives(
            off_names, sources.read_executives(source, desde=desde, hasta=hasta)
        ),
        off_system_codes=off_codes,
    )


def build_kpi_rows(ctx: TaskContext, *, reporte: int) -> Iterator[dict[str, Any]]:
    """Complete output rows of `kpi` (reporte=2) or `kpi_acumulado` (reporte=0), streamed.

    In-system rows come first (IdLiquidacionDet order), then the off-system rows (PEN sheet,
    then USD). Warnings are aggregated and recorded on the run once the stream is consumed.
    """
    if reporte not in (REPORTE_KPI, REPORTE_ACUMULADO):
        raise ValueError(f"reporte must be 0 or 2, not {reporte}")
    desde, hasta, corte = report_dates(ctx)
    builder = make_builder(ctx, reporte=reporte, desde=desde, hasta=hasta)

    for chunk in sources.iter_colocacion_chunks(
        ctx.source, desde=desde, hasta=hasta, fecha_corte=corte,
        chunk_size=ctx.settings.chunk_size, columns=builder.config.columns,
        read_ahead=ctx.settings.read_ahead,
    ):
        ctx.check_alive()
        for row in chunk.rows:
            doc = row["IdLiquidacionDet"]
            out = builder.in_system_row(
                attach_detail(row, chunk.pagos.get(doc, ()), chunk.devoluciones.get(doc, ()))
            )
            if out is not None:
                yield out
    ctx.check_alive()
    # Off-system rows are not filtered by the date range (legacy, reportes.md §2.4 step 7).
    for row in sources.iter_operaciones_fuera_sistema(ctx.source,
                                                      chunk_size=ctx.settings.chunk_size):
        out = builder.off_system_row(row)
        if out is not None:
            yield out
    for message in builder.warnings():
        ctx.warn(message)


@task(
    "kpi",
    description="Refresh the kpi table (operations, reporte 2) from the source database",
    tables=("kpi",),
)
def run(ctx: TaskContext) -> None:
    ctx.replace_tables({"kpi": build_kpi_rows(ctx, reporte=REPORTE_KPI)})
