"""Task `kpi`: refresh the `kpi` datamart table (reportes.md §3, §4.1; decisions.md).

Extract → compute → load, streamed: the small reference tables (exchange rates, sectors,
referrals, executive names) are read whole, `colocaciones` and the off-system sheets in
chunks; every chunk is turned into output rows by the pure ``KpiBuilder`` and handed to the
datamart writer as a generator, so memory stays flat as the source grows. ``kpi-acumulado``
uses the same generator with ``reporte=0``.

On MySQL/MariaDB the ``colocaciones`` chunks are shared among ``TOOLBOX_WORKERS`` child
processes (``compute_in_system``), which read, compute and, when the writer bulk-loads,
encode them; this process takes one chunk from each in turn (the single-process order) and
loads them. The off-system rows and the warnings stay here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

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
from toolbox_cli.errors import InputError, TaskFailed
from toolbox_cli.registry import task
from toolbox_cli.storage import (
    sources,
    tables_reportes,  # noqa: F401  (registers the datamart tables)
    writer,
)
from toolbox_cli.storage.engine import is_mysql
from toolbox_cli.storage.prefetch import ChildStream, prefetched
from toolbox_cli.storage.writer import EncodedRows

TABLE_OF_REPORTE = {REPORTE_KPI: "kpi", REPORTE_ACUMULADO: "kpi_acumulado"}
# Source tables of the KPI pipeline; without operations there is nothing to compute.
KPI_READS = ("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones", "tipo_cambio",
             "sector_pagadores", "operaciones_fuera_sistema", "referidos", "referidos_alias")
KPI_REQUIRES = ("colocaciones",)


def report_dates(ctx: TaskContext) -> tuple[date, date, date]:
    """``desde``, ``hasta`` and ``fecha_corte`` of the run (Lima dates, decisions 11)."""
    desde = ctx.params.get("desde") or HISTORY_START
    hasta = ctx.params.get("hasta") or ctx.today
    corte = ctx.params.get("fecha_corte") or ctx.today
    if hasta < desde:
        raise InputError(f"--hasta {hasta} is before --desde {desde}; swap them")
    return desde, hasta, corte


@dataclass(frozen=True)
class BuilderSpec:
    """What a ``KpiBuilder`` is made of besides the source tables (pickles to a worker)."""

    reporte: int
    desde: date
    hasta: date
    fecha_corte: date
    tasa_fondeo_pen: float
    tasa_fondeo_usd: float
    chunk_size: int


def make_builder(source: Engine, spec: BuilderSpec) -> KpiBuilder:
    """Everything the per-row computation needs, from the small source tables and the keys
    of the off-system rows (their executives and the codes they supersede)."""
    aliases = sources.read_referidos_alias(source)
    off_names: list[str] = []
    off_codes: list[str] = []
    for r in sources.iter_operaciones_fuera_sistema(
            source, columns=sources.FUERA_SISTEMA_KEYS, chunk_size=spec.chunk_size):
        if r["Ejecutivo"] is not None:
            off_names.append(r["Ejecutivo"])
        # Rows that are not operations are dropped later and must not supersede anything.
        if is_off_system_operation(r):
            off_codes.append(r["CodigoLiquidacion"])
    return KpiBuilder(
        KpiConfig(
            reporte=spec.reporte,
            tasa_fondeo_pen=spec.tasa_fondeo_pen,
            tasa_fondeo_usd=spec.tasa_fondeo_usd,
        ),
        fx=FxTable.from_rows(sources.read_tipo_cambio(source)),
        sectors=SectorIndex.build(sources.read_sector_pagadores(source)),
        referrals=ReferralIndex.build(sources.read_referidos(source), aliases),
        executives=map_executives(
            off_names, sources.read_executives(source, desde=spec.desde, hasta=spec.hasta)
        ),
        off_system_codes=off_codes,
    )


def build_kpi_rows(ctx: TaskContext, *, reporte: int,
                   for_writer: bool = False) -> Iterator[dict[str, Any] | EncodedRows]:
    """Complete output rows of `kpi` (reporte=2) or `kpi_acumulado` (reporte=0), streamed.

    In-system rows come first (IdLiquidacionDet order), then the off-system rows (PEN sheet,
    then USD). Warnings are aggregated and recorded on the run once the stream is consumed.

    ``for_writer``: the stream goes straight to the datamart writer, so when worker
    processes compute the rows and the writer bulk-loads, the workers also encode them
    (``EncodedRows`` blocks): the encoding runs in parallel and no row dict crosses a pipe.
    """
    if reporte not in (REPORTE_KPI, REPORTE_ACUMULADO):
        raise ValueError(f"reporte must be 0 or 2, not {reporte}")
    desde, hasta, corte = report_dates(ctx)
    spec = BuilderSpec(
        reporte=reporte, desde=desde, hasta=hasta, fecha_corte=corte,
        tasa_fondeo_pen=ctx.settings.tasa_fondeo_pen,
        tasa_fondeo_usd=ctx.settings.tasa_fondeo_usd, chunk_size=ctx.settings.chunk_size,
    )
    workers = ctx.settings.workers if is_mysql(ctx.source) else 0
    encode_for = None
    if workers and for_writer and not ctx.dry_run and writer.bulk_load_available(ctx.datamart):
        encode_for = TABLE_OF_REPORTE[reporte]
    # Workers start first: they get going while this process builds its own builder.
    streams = [prefetched(compute_in_system, ctx.source, spec=spec, part=i, parts=workers,
                          encode_for=encode_for)
               for i in range(workers)]
    try:
        builder = make_builder(ctx.source, spec)
        if streams:
            for block in _from_workers(ctx, streams, builder):
                if encode_for:
                    yield block
                else:
                    yield from block
        else:
            for kind, payload in compute_in_system(ctx.source, spec=spec, builder=builder):
                ctx.check_alive()
                if kind == "rows":
                    yield from payload
    finally:
        for stream in streams:
            stream.close()
    ctx.check_alive()
    # Off-system rows are not filtered by the date range (legacy, reportes.md §2.4 step 7).
    for row in sources.iter_operaciones_fuera_sistema(ctx.source,
                                                      chunk_size=ctx.settings.chunk_size):
        out = builder.off_system_row(row)
        if out is not None:
            yield out
    for message in builder.warnings():
        ctx.warn(message)


def compute_in_system(
    source: Engine, *, spec: BuilderSpec, part: int = 0, parts: int = 1,
    builder: KpiBuilder | None = None, encode_for: str | None = None,
) -> Iterator[tuple[str, Any]]:
    """The in-system rows of chunks ``part``, ``part + parts``, ...: a ``("rows", [...])``
    item per chunk, in order, then ``("stats", KpiStats)``.

    Runs in this process (``builder`` given) or in a worker process, which builds its own
    builder from the same source tables and sends its stats back at the end. With
    ``encode_for`` (a datamart table) each chunk's rows come as one ``EncodedRows`` block.
    """
    if builder is None:
        builder = make_builder(source, spec)
    encode = writer.tsv_encoder(encode_for, source.dialect) if encode_for else None
    for chunk in sources.iter_colocacion_chunks(
        source, desde=spec.desde, hasta=spec.hasta, fecha_corte=spec.fecha_corte,
        chunk_size=spec.chunk_size, columns=builder.config.columns, part=part, parts=parts,
    ):
        rows = []
        for row in chunk.rows:
            doc = row["IdLiquidacionDet"]
            out = builder.in_system_row(
                attach_detail(row, chunk.pagos.get(doc, ()), chunk.devoluciones.get(doc, ()))
            )
            if out is not None:
                rows.append(out)
        if encode is None:
            yield ("rows", rows)
        else:
            yield ("rows", EncodedRows("".join(map(encode, rows)), len(rows)))
    yield ("stats", builder.stats)


def _from_workers(ctx: TaskContext, streams: list[ChildStream],
                  builder: KpiBuilder) -> Iterator[Any]:
    """The in-system rows computed by the worker processes behind ``streams``, in order.

    Worker ``i`` of ``n`` reads and computes chunks ``i``, ``i + n``, ...; taking one chunk
    from each in turn restores the order a single process gives. A worker ends with its
    stats, which are added to ``builder``'s (the off-system rows and the warnings come after).
    """
    workers = len(streams)
    stats: dict[int, Any] = {}
    for turn in itertools.count():
        if len(stats) == workers:
            break
        worker = turn % workers
        if worker in stats:
            continue
        ctx.check_alive()
        item = next(streams[worker], None)
        if item is None:
            raise TaskFailed(f"kpi worker {worker} ended without its totals")
        kind, payload = item
        if kind == "stats":
            stats[worker] = payload
        else:
            yield payload
    for worker in range(workers):
        builder.stats.merge(stats[worker])


@task(
    "kpi",
    description="Refresh the kpi table (operations, reporte 2) from the source database",
    tables=("kpi",),
    reads=KPI_READS,
    requires=KPI_REQUIRES,
)
def run(ctx: TaskContext) -> None:
    ctx.replace_tables({"kpi": build_kpi_rows(ctx, reporte=REPORTE_KPI, for_writer=True)})
