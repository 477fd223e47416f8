"""One command per registered task, generated from its ``TaskSpec``.

Each field of the task's parameters dataclass becomes an option (its ``param()`` flag, help
and metavar; the task's own fields first, then the run flags every task shares), plus
``--wait`` and ``--json``, which are about this invocation rather than the task. The values
go to the runner as the dataclass, which checks and defaults them in one place.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from datetime import date
from typing import Annotated, Any

import typer

from toolbox_cli.cli.options import JsonOpt, WaitOpt
from toolbox_cli.compute.text import NotARealDate, text_date
from toolbox_cli.params import DATE
from toolbox_cli.tasks.base import RunFlags, TaskSpec, flag_of

_SHARED = {f.name for f in dataclasses.fields(RunFlags)}


def parse_date_option(value: str | date | None) -> date | None:
    """``YYYY-MM-DD`` or ``DD/MM/YYYY``; anything else is a usage error that says so."""
    if value is None or isinstance(value, date):
        return value
    try:
        return text_date(value)
    except NotARealDate:
        raise typer.BadParameter(f"{value} is not a real date") from None
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2024-12-31 "
                                 "(or DD/MM/YYYY)") from None


def _option(f: dataclasses.Field[Any], kind: Any) -> inspect.Parameter:
    flag = flag_of(f)
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    extra: dict[str, Any] = {}
    if base is date:
        base, extra["parser"] = str, parse_date_option
        extra["metavar"] = flag.metavar or DATE
    elif flag.metavar:
        extra["metavar"] = flag.metavar
    if flag.minimum is not None:
        extra["min"] = flag.minimum
    annotation = Annotated[base | None if f.default is None else base,  # type: ignore[valid-type]  # built at run time from the dataclass
                           typer.Option(flag.name, help=flag.help, show_default=f.default
                                        not in (None, False), **extra)]
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                             annotation=annotation)


def task_command(spec: TaskSpec) -> Any:
    """The click command of ``spec``: its options, its help, and a call to the runner."""
    return typer.main.get_command(task_app(spec))


def task_app(spec: TaskSpec) -> typer.Typer:
    """A one-command Typer app for ``spec``."""
    hints = typing.get_type_hints(spec.params)
    fields = dataclasses.fields(spec.params)
    ordered = [f for f in fields if f.name not in _SHARED] + [f for f in fields
                                                              if f.name in _SHARED]
    parameters = [_option(f, hints[f.name]) for f in ordered]
    parameters += [
        inspect.Parameter("wait", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=WaitOpt),
        inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=JsonOpt),
    ]

    def command(**values: Any) -> None:
        from toolbox_cli.cli.common import run_spec_command

        wait, json_output = values.pop("wait"), values.pop("json_output")
        run_spec_command(spec, spec.params(**values), wait=wait, json_output=json_output)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # read by Typer via inspect.signature
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    help_text = inspect.cleandoc(spec.help)
    if spec.example:
        help_text += f"\n\nExample: {spec.example}"
    app.command(spec.name, help=help_text, no_args_is_help=False)(command)
    return app
