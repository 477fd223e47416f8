"""The Typer application and its global options."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from toolbox_cli import __version__
from toolbox_cli.cli import state

app = typer.Typer(
    name="toolbox",
    help="Refresh the factoring datamart (KPIs, new clients and payers, cash balances, "
    "accounts receivable, exchange rates) and keep a ledger of every run.\n\n"
    "Example: toolbox tablas-reportes && toolbox status",
    no_args_is_help=True,
    # Locals in tracebacks could show the database password; never print them.
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"toolbox {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="Env file with TOOLBOX_* settings (chmod 600).",
                     envvar="TOOLBOX_ENV_FILE", show_envvar=True),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    state.env_file = env_file
    state.debug = debug
    configure_logging(debug=debug, quiet=quiet)


def configure_logging(*, debug: bool, quiet: bool) -> None:
    """Our own warnings on stderr; libraries' logs (tracebacks included) only with --debug."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    ours = logging.getLogger("toolbox")
    ours.handlers = [handler]
    ours.propagate = False
    ours.setLevel(logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING))
    root = logging.getLogger()
    # A NullHandler keeps Python's last-resort handler from printing library errors
    # (e.g. SQLAlchemy's pool reset after a lost connection) with their tracebacks.
    root.handlers = [handler] if debug else [logging.NullHandler()]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
