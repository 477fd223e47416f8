"""Command `demo`: fill the source tables with synthetic, deterministic demo data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from toolbox_cli.cli.common import (
    handle_errors,
    out,
    print_error,
    print_json,
    settings_from_cli,
    start_run,
)
from toolbox_cli.cli.options import JsonOpt
from toolbox_cli.jobs import demo as demo_job
from toolbox_cli.settings import render_url
from toolbox_cli.storage.engine import engines_for, init_schema

app = typer.Typer(rich_markup_mode=None)


@app.command("demo")
def demo(
    operations: Annotated[
        int, typer.Option("--operations", min=1, help="In-system documents to generate.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same data.")] = 42,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace source tables even if they hold rows demo did not write "
        "(imports, an ETL copy).")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Replace the source tables' content with realistic synthetic data.

    The data spans 2019-07 to today. Creates the database and schema if missing.
    Deterministic for a seed and a day. Refuses to replace rows it did not write itself (an
    import, an ETL copy) unless --force.

    Example: toolbox demo --operations 100000 --seed 7
    """
    with handle_errors():
        settings = settings_from_cli()
        with engines_for(settings, create=True) as engines:
            init_schema(engines, legacy_views=settings.legacy_views)
            outcome = start_run(demo_job.SPEC,
                                {"operations": operations, "seed": seed, "force": force},
                                engines=engines)
        where = render_url(settings.source_database_url())
    if json_output:
        print_json({"source": where, "seed": seed, "run": outcome.as_dict(),
                    "rows": outcome.rows})
    elif outcome.status == "success":
        table = Table(title=f"demo data (seed {seed}, run {outcome.run_id}) in {where}")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in outcome.rows.items():
            table.add_row(name, f"{count:,}")
        out.print(table)
        out.print(f"seeded in {outcome.duration_s:.2f}s")
    if outcome.status != "success":
        print_error(outcome.error_message or outcome.status)
    raise typer.Exit(outcome.exit_code)
