"""Command `demo`: fill the source tables with synthetic, deterministic demo data."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from toolbox_cli.business import business_today
from toolbox_cli.cli.app import app
from toolbox_cli.cli.common import handle_errors, out, print_json, settings_from_cli
from toolbox_cli.cli.options import JsonOpt
from toolbox_cli.demo import seed_demo
from toolbox_cli.settings import render_url
from toolbox_cli.storage.engine import engines_for, init_schema


@app.command("demo")
def demo(
    operations: Annotated[
        int, typer.Option("--operations", min=1, help="In-system documents to generate.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same data.")] = 42,
    json_output: JsonOpt = False,
) -> None:
    """Replace the source tables' content with realistic synthetic data (2019-07 to today).

    Creates the schema if it is missing. Deterministic for a seed and a day.

    Example: toolbox demo --operations 100000 --seed 7
    """
    with handle_errors():
        settings = settings_from_cli()
        today = business_today(settings)
        with engines_for(settings) as engines:
            init_schema(engines)
            t0 = time.monotonic()
            counts = seed_demo(engines.source, operations=operations, seed=seed, today=today)
            elapsed = round(time.monotonic() - t0, 2)
        where = render_url(settings.source_database_url())
    if json_output:
        print_json({"source": where, "seed": seed, "today": today, "seconds": elapsed,
                    "rows": counts})
        return
    table = Table(title=f"demo data (seed {seed}, up to {today}) in {where}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(f"seeded in {elapsed}s")
