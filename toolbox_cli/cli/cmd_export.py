"""toolbox export: a datamart table as a CSV, Excel or Parquet file (``jobs.export``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from toolbox_cli import clock
from toolbox_cli.cli.common import fail, handle_errors, out, settings_from_cli, shown_progress
from toolbox_cli.errors import EXIT_USAGE
from toolbox_cli.words import count

app = typer.Typer(rich_markup_mode=None)

_DATE = ["%Y-%m-%d"]


@app.command("export")
def export(
    table: Annotated[str, typer.Argument(
        metavar="TABLE", help="A datamart table: kpi, kpi_acumulado, "
        "nuevos_clientes_nuevos_pagadores, saldos, cxc_pagos_fact, ... (the legacy's "
        "CXC names too).")],
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="csv|xlsx|parquet",
        help="csv (UTF-8, opens in Excel), xlsx (typed cells, frozen header) or parquet.")
    ] = "xlsx",
    desde: Annotated[datetime | None, typer.Option(
        "--desde", formats=_DATE, metavar="YYYY-MM-DD",
        help="First day, on the table's date column (FechaOperacion where it has one).")
    ] = None,
    hasta: Annotated[datetime | None, typer.Option(
        "--hasta", formats=_DATE, metavar="YYYY-MM-DD", help="Last day, included.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE",
        help="Where to write; default TABLE_YYYY-MM-DD.FORMAT (today in Lima) here.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Export a datamart table to a CSV, Excel or Parquet file, as the legacy's downloads.

    Example: toolbox export kpi --format xlsx --desde 2026-01-01 -o kpi-2026.xlsx
    """
    from toolbox_cli.jobs import export as job
    from toolbox_cli.storage.engine import engines_for

    with handle_errors():
        settings = settings_from_cli()
        if fmt not in job.FORMATS:
            fail(f"--format {fmt!r} is not one of {', '.join(job.FORMATS)}", EXIT_USAGE)
        chosen = job.resolve_table(table)
        first = desde.date() if desde else None
        last = hasta.date() if hasta else None
        if first and last and last < first:
            fail(f"--hasta {last} is before --desde {first}; swap them", EXIT_USAGE)
        column = job.date_column(chosen)
        if (first or last) and column is None:
            fail(f"{chosen.name} has no date column to filter on; leave out --desde/--hasta",
                 EXIT_USAGE)
        target = output or job.default_name(chosen, fmt, clock.business_today(settings))
        if target.exists() and not force:
            fail(f"{target} exists; give --force to replace it, or -o another file", EXIT_USAGE)
        if target.is_dir():
            fail(f"{target} is a directory; give -o a file name", EXIT_USAGE)
        with shown_progress() as progress, engines_for(settings) as engines:
            rows = job.write(engines.datamart, job.Export(chosen, fmt, first, last), target,
                             progress=progress)
    span = f" with {column} from {first} to {last}" if first and last \
        else f" with {column} from {first}" if first \
        else f" with {column} up to {last}" if last else ""
    out.print(f"exported {count(rows, 'row')} of {chosen.name}{span} to {escape(str(target))}")
