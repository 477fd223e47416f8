"""`tablas-cxc`'s three tables (cxc.md, decisions 2, 3, 10, 12-15).

Extract → compute → load, in chunks: payments and refunds flow from their source tables
into their fact tables (keyset chunks); the document dimension is built chunk by chunk
(documents by id range, each chunk with the payments of its range, joined with the sector
catalogue read once). The three tables are built in ONE replacement, so they are swapped in
together only after all three are built; a failure anywhere leaves the previous three
tables as they were.

What can fail without reading the big tables (no exchange rate, a bad code list) is checked
before any table is built.
"""

from __future__ import annotations

import logging
from datetime import date

from toolbox_cli.compute import cxc, cxc_fields, payments
from toolbox_cli.compute.cells import CoercionLog
from toolbox_cli.context import TaskContext
from toolbox_cli.storage import sources
from toolbox_cli.storage.engine import row_counts
from toolbox_cli.storage.tables.contract import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
    sector_pagadores,
)
from toolbox_cli.storage.tables.cxc import cxc_acumulado_dim, cxc_dev_fact, cxc_pagos_fact
from toolbox_cli.words import count, plural

# The rate a run used goes into its log; only a rate older than this many days is a warning
# (cxc §5.2 lesson 8): today's rate, or Friday's on a Monday, is the normal case.
STALE_RATE_DAYS = 7
log = logging.getLogger("toolbox")


def run_rate(ctx: TaskContext, fecha_corte: date, override: float | None) -> cxc.RunRate:
    """The run's single rate: the explicit override, else the latest on/before the cut-off."""
    if override is not None:
        rate = cxc.explicit_rate(override)
        ctx.warn(f"exchange rate {rate.venta} given with --tipo-cambio (tipo_cambio not read)")
        return rate
    candidates = sources.read_rate_candidates(ctx.source, fecha_corte)
    rate = cxc.pick_run_rate(candidates, fecha_corte)
    age = rate.age_days(fecha_corte)
    used = (f"exchange rate {rate.venta:.6f} of {rate.fecha} used, "
            f"{count(age or 0, 'day')} old at the cut-off {fecha_corte}")
    if age is not None and age > STALE_RATE_DAYS:
        ctx.warn(f"{used}; more than {STALE_RATE_DAYS} days old, check that "
                 "`toolbox tipo-cambio` runs")
    else:
        log.info("%s", used)
    return rate


def code_lists(ctx: TaskContext) -> cxc.CodeLists:
    codes = cxc.build_code_lists(sources.read_codigos_especiales(ctx.source))
    if codes.empty:
        ctx.warn("cxc_codigos_especiales is empty: no document is MORA A MAYO or COBRANZA "
                 "ESPECIAL; load the lists with `toolbox import codigos-cxc FILE`")
    return codes


def report(ctx: TaskContext, stats: cxc.AcumuladoStats, catalogue_size: int,
           logs: dict[str, CoercionLog]) -> None:
    if stats.several_payments:
        ids = ", ".join(str(i) for i in stats.several_payments_examples)
        ctx.warn(f"{count(stats.several_payments, 'document')} "
                 f"{plural('has', stats.several_payments)} several payments: the last by "
                 f"FechaPago then id is current and MontoPago is summed (e.g. "
                 f"IdLiquidacionDet {ids})")
    if catalogue_size == 0 and stats.documentos:
        ctx.warn("sector_pagadores is empty: every document is SIN CLASIFICAR; load it "
                 "with `toolbox import sectores FILE`")
    elif stats.without_sector:
        rucs = ", ".join(stats.without_sector_examples)
        ctx.warn(f"{count(stats.without_sector, 'document')} whose payer has no sector in "
                 f"sector_pagadores are SIN CLASIFICAR (e.g. RUC {rucs})")
    for table, log in logs.items():
        for message in log.messages():
            ctx.warn(f"{table}: {message}")


def refresh(ctx: TaskContext, fecha_corte: date, tipo_cambio: float | None) -> None:
    """The three tables in one swap; what can fail without the big tables fails first."""
    rate = run_rate(ctx, fecha_corte, tipo_cambio)  # fails here, before any table is built
    codes = code_lists(ctx)
    catalogue = cxc.sector_catalogue(sources.read_sector_pagadores(ctx.source))
    orphans, orphan_ids = sources.orphan_pagos(ctx.source)
    if orphans:
        ctx.warn(f"{count(orphans, 'payment')} {'refers' if orphans == 1 else 'refer'} to documents "
                 "not in colocaciones; kept in "
                 f"cxc_pagos_fact, ignored by cxc_acumulado_dim (e.g. IdLiquidacionPago "
                 f"{', '.join(str(i) for i in orphan_ids)})")

    logs = {table.name: ctx.coercion_log(table.name)
            for table in (colocaciones_pagos, colocaciones_devoluciones, colocaciones)}
    stats = cxc.AcumuladoStats()
    inputs = cxc.AcumuladoInputs(fecha_corte, rate, codes, catalogue)
    chunk_size = ctx.settings.chunk_size
    with ctx.replace_tables(cxc_pagos_fact, cxc_dev_fact, cxc_acumulado_dim) as out:
        for chunk in sources.iter_table_chunks(ctx.source, colocaciones_pagos,
                                               cxc_fields.PAGO_COLUMNS, "IdLiquidacionPago",
                                               chunk_size):
            logs["colocaciones_pagos"].read(chunk.height)
            out.add(cxc_pagos_fact, cxc_fields.pagos_fact(chunk, logs["colocaciones_pagos"]))
        for chunk in sources.iter_table_chunks(ctx.source, colocaciones_devoluciones,
                                               payments.DEVOLUCION_COLUMNS,
                                               "IdLiquidacionDevolucion", chunk_size):
            logs["colocaciones_devoluciones"].read(chunk.height)
            out.add(cxc_dev_fact,
                    cxc_fields.dev_fact(chunk, logs["colocaciones_devoluciones"]))
        for docs in sources.iter_document_chunks(ctx.source, chunk_size=chunk_size,
                                                 documents=cxc_fields.DOCUMENT_COLUMNS,
                                                 pagos=cxc_fields.PAGO_COLUMNS):
            # Payment coercions are noted once, where the fact rows are built.
            logs["colocaciones"].read(docs.documents.height)
            out.add(cxc_acumulado_dim, cxc.acumulado(
                cxc_fields.documents(docs.documents, logs["colocaciones"]),
                cxc_fields.pagos_fact(docs.pagos), inputs, stats=stats))
    sectors = row_counts(ctx.source, [sector_pagadores.name])[sector_pagadores.name]
    report(ctx, stats, sectors, logs)
