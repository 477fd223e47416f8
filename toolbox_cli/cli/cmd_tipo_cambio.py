"""``toolbox tipo-cambio``: fetch the exchange rates of every missing date."""

from __future__ import annotations

from toolbox_cli.business import business_today
from toolbox_cli.cli.app import app
from toolbox_cli.cli.common import fail, handle_errors, run_task_command, settings_from_cli
from toolbox_cli.cli.options import (
    AllowShrinkOpt,
    DesdeOpt,
    DryRunOpt,
    HastaOpt,
    JsonOpt,
    WaitOpt,
    as_date,
)


@app.command(
    "tipo-cambio",
    help=(
        "Add the SUNAT rate (compra, venta) of every calendar date missing from tipo_cambio "
        "between --desde (default 2019-07-01) and --hasta (default today, Lima), from the "
        "provider in TOOLBOX_TIPO_CAMBIO_URL. Insert-only. A date the provider cannot answer "
        "is listed as a warning and the run exits 1 after storing the others; the next run "
        "retries only what is still missing.\n\n"
        "Example: toolbox tipo-cambio --desde 2024-01-01"
    ),
)
def tipo_cambio_command(
    desde: DesdeOpt = None,
    hasta: HastaOpt = None,
    dry_run: DryRunOpt = False,
    allow_shrink: AllowShrinkOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    first, last = as_date(desde), as_date(hasta)
    if first is not None and last is not None and first > last:
        fail(f"--desde {first} is after --hasta {last}")
    with handle_errors():
        today = business_today(settings_from_cli())
    if last is not None and last > today:
        fail(f"--hasta {last} is in the future (today in Lima is {today}); no rate is published yet")
    params = {"desde": first, "hasta": last, "dry_run": dry_run, "allow_shrink": allow_shrink}
    run_task_command("tipo-cambio", params, wait=wait, json_output=json_output)
