"""The Typer application, its global options, and the lazy command group.

Every command lives in a module of its own (``cmd_*.py``), imported only when that command
runs or shows its help; the task commands are generated from the registry
(``task_commands.py``). ``toolbox --help`` therefore imports Typer, the task specs and this
module, and nothing that talks to a database or computes: it has to be quick, shell
completion pays it on every Tab.

The help is Click's plain text (``rich_markup_mode=None``): Typer's Rich help imports Rich's
Markdown machinery and doubles the start-up time. Output of the commands still uses Rich.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from toolbox_cli import __version__
from toolbox_cli.cli import state
from toolbox_cli.cli.groups import SuggestingGroup

# Commands that are not tasks: name → (module under toolbox_cli.cli, one-line summary).
# The summary repeats the first line of the command's help (a test keeps them equal), so
# that `toolbox --help` can list the command without importing its module.
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("cmd_core", "Every task: what it refreshes, its schedule (Lima time) and its last run."),
    "status": ("cmd_core", "Recent runs from the ledger, or one run in full."),
    "logs": ("cmd_runs", "Print the log of a run (manual runs and cron runs alike)."),
    "retry": ("cmd_runs", "Run a task again with the parameters of an earlier run."),
    "config": ("cmd_core", "The effective settings, passwords masked."),
    "db": ("cmd_core", "Database schema commands."),
    "schedule": ("cmd_schedule", "Crontab entries that run the tasks at their Lima times."),
    "import": ("cmd_import", "Load a CSV export, or a published Google Sheet, into a source "
               "table, all or nothing."),
    "demo": ("cmd_demo", "Replace the source tables' content with realistic synthetic data."),
    "notify": ("cmd_alerts", "Send a test notification to every URL of TOOLBOX_NOTIFY_URLS."),
    "compare": ("cmd_compare", "Compare the toolbox's tables with the same tables in another "
                "database, by key."),
    "export": ("cmd_export", "Export a datamart table to a CSV, Excel or Parquet file, as the "
               "legacy's downloads."),
    "publish": ("cmd_alerts", "Write the status files and page a frontend reads into DIR (a "
                "static web server's)."),
    "metrics": ("cmd_alerts", "The Prometheus text exposition of every task, read from the "
                "ledger."),
}


def _plain_value_errors() -> None:
    """Typer checks a command-line value's type with pydantic and words the error pydantic's
    way ("Input should be a valid integer, unable to parse string as an integer"); say it
    as the settings' errors do ("must be a whole number, not 'abc'"). Typer has no hook
    for the wording, so its one function that reads it is replaced (a test pins the
    result, so a Typer that renames it fails loudly)."""
    from typer import _coercion

    def message(exc: Any) -> str:
        from toolbox_cli.settings import plain_reason  # only on an error

        errors = exc.errors()
        return plain_reason(errors[0]) if errors else str(exc)

    _coercion.get_error_msg = message  # private Typer API, pinned by tests/cli/test_terminal.py


_plain_value_errors()


class LazyGroup(SuggestingGroup):
    """A group whose commands are imported when used, listed without being imported."""

    def list_commands(self, ctx: Any) -> list[str]:
        from toolbox_cli.registry import TASKS

        return [spec.name for spec in TASKS] + list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        from toolbox_cli.registry import get_task

        try:
            spec = get_task(cmd_name)
        except KeyError:
            pass
        else:
            from toolbox_cli.cli.task_commands import task_command

            return task_command(spec)
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"toolbox_cli.cli.{COMMANDS[cmd_name][0]}")
        return typer.main.get_group(module.app).get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        from toolbox_cli.registry import TASKS

        tasks = [(spec.name, spec.description) for spec in TASKS]
        others = [(name, text) for name, (_module, text) in COMMANDS.items()]
        with formatter.section("Tasks (each refreshes datamart tables)"):
            formatter.write_dl(tasks)
        with formatter.section("Commands"):
            formatter.write_dl(others)


app = typer.Typer(
    name="toolbox",
    cls=LazyGroup,
    help="Refresh the factoring datamart (KPIs, new clients and payers, cash balances, "
    "accounts receivable, exchange rates) and keep a ledger of every run.\n\n"
    "Example: toolbox tablas-reportes && toolbox status",
    no_args_is_help=True,
    # Locals in tracebacks could show the database password; never print them.
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
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
                     envvar="TOOLBOX_ENV_FILE", show_envvar=True, metavar="FILE"),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    profile_phases: Annotated[bool, typer.Option(
        "--profile-phases", help="At the end of a run, one line on stderr: where its time "
        "went (start-up, read, compute, write, swap, ledger).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    state.env_file = env_file
    state.debug = debug
    if profile_phases:
        import os

        os.environ["TOOLBOX_PROFILE_PHASES"] = "1"  # read by toolbox_cli.timing
    state.quiet = quiet
    configure_logging(debug=debug, quiet=quiet)


class ConsoleHandler(logging.Handler):
    """Log lines on stderr through Rich: folded at word boundaries on a terminal, never
    folded elsewhere (a log file, a pipe, cron's mail), and scrubbed of every configured
    secret: a library's debug output (Apprise's, with --debug) names the URLs it uses."""

    def __init__(self) -> None:
        super().__init__()
        self._console: Any = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._console is None:
                # The console the progress display draws on: a line printed through it
                # goes above the display instead of into it.
                from toolbox_cli.cli.common import err

                self._console = err
            from toolbox_cli.cli.common import scrubbed

            self._console.print(scrubbed(self.format(record)), markup=False)
        except Exception:  # a broken stderr must not break the run
            self.handleError(record)


def configure_logging(*, debug: bool, quiet: bool) -> None:
    """Our own warnings on stderr; libraries' logs (tracebacks included) only with --debug."""
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    ours = logging.getLogger("toolbox")
    ours.handlers = [handler]
    ours.propagate = False
    # The logger lets notes through for a run's log file; stderr shows warnings and errors.
    ours.setLevel(logging.DEBUG if debug else logging.INFO)
    handler.setLevel(logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING))
    root = logging.getLogger()
    # A NullHandler keeps Python's last-resort handler from printing library errors
    # (e.g. SQLAlchemy's pool reset after a lost connection) with their tracebacks.
    root.handlers = [handler] if debug else [logging.NullHandler()]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
