"""Options shared by several commands, defined once and stacked with Annotated."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer

from toolbox_cli.business import HISTORY_START

DATE_FORMATS = ["%Y-%m-%d"]

DesdeOpt = Annotated[
    datetime | None,
    typer.Option("--desde", formats=DATE_FORMATS,
                 help="First date (Lima), YYYY-MM-DD. Default 2019-07-01."),
]
HastaOpt = Annotated[
    datetime | None,
    typer.Option("--hasta", formats=DATE_FORMATS,
                 help="Last date (Lima), YYYY-MM-DD. Default today in Lima."),
]
FechaCorteOpt = Annotated[
    datetime | None,
    typer.Option("--fecha-corte", formats=DATE_FORMATS,
                 help="Cut-off date (Lima), YYYY-MM-DD. Default today in Lima."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Compute and report counts; write nothing.")
]
AllowShrinkOpt = Annotated[
    bool,
    typer.Option("--allow-shrink", help="Let this run replace a table with far fewer rows "
                 "than it has (a narrower --desde, a real purge); recorded on the run."),
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="If another run of the task holds the lock, wait for it.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def as_date(value: datetime | None):  # type: ignore[no-untyped-def]
    """Typer parses dates as datetimes; tasks take dates."""
    return value.date() if value is not None else None


def report_range_params(desde: datetime | None, hasta: datetime | None,
                        fecha_corte: datetime | None, dry_run: bool,
                        allow_shrink: bool = False) -> dict[str, Any]:
    """Parameters of the report jobs; None for hasta / fecha_corte means today in Lima
    (the runner fills in the run's business date, never the host's UTC date)."""
    first: date = as_date(desde) or HISTORY_START
    last = as_date(hasta)
    if last is not None and last < first:
        raise typer.BadParameter(f"--hasta {last} is before --desde {first}; swap them")
    return {"desde": first, "hasta": last, "fecha_corte": as_date(fecha_corte), "dry_run": dry_run,
            "allow_shrink": allow_shrink}
