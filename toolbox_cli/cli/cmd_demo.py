"""Command `demo`: fill the source tables with synthetic, deterministic demo data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
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
from toolbox_cli.storage.engine import describe_location, engines_for, init_schema

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

    The data spans 2019-07 to today. Creates the SQLite file and the schema if missing (a
    MySQL/MariaDB database is created by toolbox db init). Deterministic for a seed and a
    day. Refuses to replace rows it did not write itself (an import, an ETL copy) unless
    --force (make demo-fresh in the checkout).

    Example: toolbox demo --operations 100000 --seed 7
    """
    with handle_errors():
        settings = settings_from_cli()
        with engines_for(settings, create=True) as engines:
            init_schema(engines, legacy_views=settings.legacy_views)
            outcome = start_run(demo_job.SPEC,
                                {"operations": operations, "seed": seed, "force": force},
                                engines=engines)
        source_url = settings.source_database_url()
    if json_output:
        print_json({"source": render_url(source_url), "seed": seed, "run": outcome.as_dict(),
                    "rows": outcome.rows})
    elif outcome.status == "success":
        # As a user would write the place, not as the driver's URL (sqlite:////...).
        table = Table(title=f"demo data (seed {seed}, run {outcome.run_id}) in "
                      f"{escape(describe_location(source_url))}")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in outcome.rows.items():
            table.add_row(name, f"{count:,}")
        out.print(table)
        out.print(f"seeded in {outcome.duration_s:.2f}s")
    if outcome.status != "success":
        print_error(outcome.error_message or outcome.status)
    raise typer.Exit(outcome.exit_code)
