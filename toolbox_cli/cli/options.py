"""Options shared by several commands, defined once and stacked with Annotated."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from toolbox_cli.tasks.base import RunFlags, flag_of

_RUN_FLAGS = {f.name: flag_of(f) for f in dataclasses.fields(RunFlags)}

DryRunOpt = Annotated[
    bool, typer.Option(_RUN_FLAGS["dry_run"].name, help=_RUN_FLAGS["dry_run"].help)
]
AllowShrinkOpt = Annotated[
    bool, typer.Option(_RUN_FLAGS["allow_shrink"].name, help=_RUN_FLAGS["allow_shrink"].help)
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="If another run holds a table of this task, wait for it.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
WideOpt = Annotated[bool, typer.Option(
    "--wide", help="Every column at full width, whatever the terminal's width.")]
