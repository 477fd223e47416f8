"""Records of an import kind into their source table, inside a run: the one way a file, a
sheet's URL or a configured sheet of the ``hojas`` task reaches a table.

Validated all or nothing (``imports/``), written in one transaction in the given mode,
behind the run's guard (``TaskContext.judge``); a dry run writes nothing.
"""

from __future__ import annotations

from toolbox_cli.context import TaskContext
from toolbox_cli.imports.apply import ImportResult, apply_import
from toolbox_cli.imports.csvfile import CsvFile
from toolbox_cli.imports.parse import parse_records


def import_into(ctx: TaskContext, kind: str, records: CsvFile, *, hoja: str | None,
                mode: str) -> ImportResult:
    """Validate ``records`` as ``kind`` and write them in ``mode``; warnings go on the run,
    rows written are counted. Raises ImportRejected (a bad row), GuardTripped."""
    parsed = parse_records(kind, records, hoja=hoja)
    table = parsed.table
    ctx.check_locked(table)

    def judge(live: int, new: int) -> None:
        ctx.judge({table: live}, {table: new})

    result = apply_import(ctx.source, parsed, mode=mode, dry_run=ctx.dry_run,
                          chunk_size=ctx.settings.chunk_size, check_shrink=judge)
    for warning in result.warnings:
        ctx.warn(warning)
    ctx.add_rows(table, result.written)
    return result
