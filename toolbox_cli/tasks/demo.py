"""``toolbox demo`` as a ledger run: seed the source tables with synthetic data, safely.

Not a registered task (it refreshes nothing and is never scheduled), but it runs through the
runner like one: it locks every source table it replaces and writes a ledger row.

Demo data replaces every source table, so it refuses (exit 2) when a source table holds rows
that an earlier ``demo`` did not write, unless ``--force``: rows with no demo run behind
them, a table whose row count is not what the last demo wrote, or a later run that wrote
into one (an import, ``tipo-cambio``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from toolbox_cli import ledger
from toolbox_cli.context import TaskContext
from toolbox_cli.demo import SOURCE_TABLES, seed_demo
from toolbox_cli.errors import Refused
from toolbox_cli.registry import TaskSpec

TASK = "demo"
FORCE_HINT = ("use --force to replace them anyway, or point TOOLBOX_DATABASE_URL / "
              "TOOLBOX_SOURCE_URL at a scratch database")


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in SOURCE_TABLES}


def foreign_rows(ctx: TaskContext) -> str | None:
    """Why the source tables hold rows that demo did not write, or None if they hold none."""
    counts = {name: n for name, n in _row_counts(ctx.source).items() if n}
    if not counts:
        return None
    previous = ledger.last_success(ctx.datamart, TASK)
    if previous is None:
        name, n = next(iter(counts.items()))
        return f"{name} holds {n:,} rows that toolbox demo did not write"
    for run in ledger.writers_since(ctx.datamart, previous.id, set(counts), exclude_task=TASK):
        table = next(t for t, n in run.rows_written.items() if n and t in counts)
        return (f"{table} holds rows written after the last demo (run {previous.id}) by "
                f"run {run.id} ({run.task})")
    for name, n in counts.items():
        if previous.rows_written.get(name, 0) != n:
            return (f"{name} holds {n:,} rows but the last demo (run {previous.id}) wrote "
                    f"{previous.rows_written.get(name, 0):,}")
    return None


def seed(ctx: TaskContext) -> None:
    if not ctx.params.get("force"):
        reason = foreign_rows(ctx)
        if reason:
            raise Refused(f"{reason}; demo replaces every source table, so it did nothing; "
                          f"{FORCE_HINT}")
    counts = seed_demo(ctx.source, operations=int(ctx.params["operations"]),
                       seed=int(ctx.params["seed"]), today=ctx.today)
    for name, n in counts.items():
        ctx.add_rows(name, n)


SPEC = TaskSpec(TASK, "Replace the source tables with synthetic demo data", seed,
                tables=tuple(t.name for t in SOURCE_TABLES),
                reads=tuple(t.name for t in SOURCE_TABLES), monitored=False)
