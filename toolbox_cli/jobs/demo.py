"""``toolbox demo`` as a ledger run: seed the source tables with synthetic data, safely.

Not a registered task (it refreshes nothing and is never scheduled), but it runs through the
runner like one: it locks every source table it replaces and writes a ledger row; the data
itself is made by ``toolbox_cli/demo/``.

Demo data replaces every source table, so it refuses (exit 2) when a source table holds rows
that an earlier ``demo`` did not write, unless ``--force``: rows with no demo run behind
them, a table whose row count is not what the last demo wrote, or a later run that wrote
into one (an import, ``tipo-cambio``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolbox_cli.errors import InputError, Refused
from toolbox_cli.tasks.base import RunFlags, TaskSpec

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext

TASK = "demo"
# ``make demo`` cannot pass --force, so the hint names the target that starts afresh.
FORCE_HINT = ("use --force to replace them anyway (make demo-fresh in the checkout), or point "
              "TOOLBOX_DATABASE_URL / TOOLBOX_SOURCE_URL at a scratch database")
# Every source table, in the order demo writes them.
SOURCE_TABLES = ("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones",
                 "tipo_cambio", "sector_pagadores", "operaciones_fuera_sistema", "referidos",
                 "referidos_alias", "saldos_caja", "cxc_codigos_especiales")


@dataclass(frozen=True)
class DemoParams(RunFlags):
    operations: int = 2000
    seed: int = 42
    force: bool = False


def foreign_rows(ctx: TaskContext, counts: dict[str, int],
                 digest: Callable[[str], str]) -> str | None:
    """Why the source tables hold rows that demo did not write, or None if they hold none:
    rows with no demo behind them, a later run that wrote into one, a count that is not the
    last demo's, or content that is not what it wrote (``digest(table)``: an edited amount,
    a row swapped for another, which a count does not see)."""
    counts = {name: n for name, n in counts.items() if n}
    if not counts:
        return None
    previous = ctx.history.last_success(TASK)
    if previous is None:
        name, n = next(iter(counts.items()))
        return f"{name} holds {n:,} rows that toolbox demo did not write"
    for run in ctx.history.writers_since(previous.id, set(counts), exclude_task=TASK):
        table = next(t for t, n in run.rows_written.items() if n and t in counts)
        return (f"{table} holds rows written after the last demo (run {previous.id}) by "
                f"run {run.id} ({run.task})")
    for name, n in counts.items():
        if previous.rows_written.get(name, 0) != n:
            return (f"{name} holds {n:,} rows but the last demo (run {previous.id}) wrote "
                    f"{previous.rows_written.get(name, 0):,}")
    for name in counts:
        if name not in previous.digests:
            continue  # a demo from before digests: its counts are all there is to compare
        try:
            same = digest(name) == previous.digests[name]
        except InputError:  # a cell the readers refuse: not as the demo wrote it
            same = False
        if not same:
            return (f"{name} holds rows changed since the last demo (run {previous.id}) "
                    "wrote them")
    return None


def seed(ctx: TaskContext, params: DemoParams) -> None:
    from toolbox_cli.demo import seed_demo
    from toolbox_cli.storage.digest import table_digest
    from toolbox_cli.storage.engine import row_counts
    from toolbox_cli.storage.tables import source_table

    def digest(name: str) -> str:
        return table_digest(ctx.source, source_table(name), ctx.settings.chunk_size)

    if not params.force:
        reason = foreign_rows(ctx, row_counts(ctx.source, SOURCE_TABLES), digest)
        if reason:
            raise Refused(f"{reason}; demo replaces every source table, so it did nothing; "
                          f"{FORCE_HINT}")
    for table in SOURCE_TABLES:
        ctx.check_locked(table)
    counts = seed_demo(ctx.source, operations=params.operations, seed=params.seed,
                       today=ctx.today)
    for name, n in counts.items():
        ctx.add_rows(name, n)
    ctx.digests = {name: digest(name) for name in SOURCE_TABLES}


SPEC = TaskSpec(TASK, "Replace the source tables with synthetic demo data", seed,
                params=DemoParams, tables=SOURCE_TABLES, reads=SOURCE_TABLES, monitored=False)
