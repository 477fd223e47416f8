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

from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolbox_cli.errors import Refused
from toolbox_cli.tasks.base import RunFlags, TaskSpec

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext

TASK = "demo"
FORCE_HINT = ("use --force to replace them anyway, or point TOOLBOX_DATABASE_URL / "
              "TOOLBOX_SOURCE_URL at a scratch database")
# Every source table, in the order demo writes them.
SOURCE_TABLES = ("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones",
                 "tipo_cambio", "sector_pagadores", "operaciones_fuera_sistema", "referidos",
                 "referidos_alias", "saldos_caja", "cxc_codigos_especiales")


@dataclass(frozen=True)
class DemoParams(RunFlags):
    operations: int = 2000
    seed: int = 42
    force: bool = False


def foreign_rows(ctx: TaskContext, counts: dict[str, int]) -> str | None:
    """Why the source tables hold rows that demo did not write, or None if they hold none."""
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
    return None


def seed(ctx: TaskContext, params: DemoParams) -> None:
    from toolbox_cli.demo import seed_demo
    from toolbox_cli.storage.engine import row_counts

    if not params.force:
        reason = foreign_rows(ctx, row_counts(ctx.source, SOURCE_TABLES))
        if reason:
            raise Refused(f"{reason}; demo replaces every source table, so it did nothing; "
                          f"{FORCE_HINT}")
    for table in SOURCE_TABLES:
        ctx.check_locked(table)
    counts = seed_demo(ctx.source, operations=params.operations, seed=params.seed,
                       today=ctx.today)
    for name, n in counts.items():
        ctx.add_rows(name, n)


SPEC = TaskSpec(TASK, "Replace the source tables with synthetic demo data", seed,
                params=DemoParams, tables=SOURCE_TABLES, reads=SOURCE_TABLES, monitored=False)
