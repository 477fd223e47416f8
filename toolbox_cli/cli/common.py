"""What every command shares: settings, consoles, error handling, running a task."""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from toolbox_cli import clock
from toolbox_cli.cli import state
from toolbox_cli.cli.layout import print_hanging
from toolbox_cli.clock import to_local
from toolbox_cli.errors import EXIT_FAILED, EXIT_USAGE, ToolboxError, disk_message
from toolbox_cli.monitoring.cronmail import write_outcome
from toolbox_cli.settings import Settings, load_settings, scrub, secrets_of
from toolbox_cli.storage.engine import Engines, engines_for, translate_db_error
from toolbox_cli.words import count

if TYPE_CHECKING:
    from toolbox_cli.progress import Progress
    from toolbox_cli.runner import RunOutcome
    from toolbox_cli.tasks.base import RunFlags, TaskSpec

def _console(*, stderr: bool) -> Console:
    """Messages fold at word boundaries on a terminal, and are never folded elsewhere."""
    console = Console(stderr=stderr, highlight=False)
    console.soft_wrap = not console.is_terminal
    return console


out = _console(stderr=False)
err = _console(stderr=True)

_settings: Settings | None = None


def settings_from_cli() -> Settings:
    """The settings of this command, checked whole when the command starts: a bad setting
    is exit 2 naming it whichever command runs, not only when the task that uses it does."""
    global _settings
    if _settings is None:
        settings = load_settings(state.env_file)
        check_named_settings(settings)
        _settings = settings
    return _settings


def check_named_settings(settings: Settings) -> None:
    """The settings that name tables, tasks or sheets name ones that exist, and the
    schedule's expressions are valid (each owner checks its own)."""
    from toolbox_cli.imports.sheets import configured_sheets
    from toolbox_cli.registry import check_task_names
    from toolbox_cli.schedule.slots import scheduled_slots
    from toolbox_cli.storage.guard import check_limits

    check_limits(settings)
    check_task_names("TOOLBOX_MAX_AGE_MINUTES", settings.max_age_minutes)
    scheduled_slots(settings)
    configured_sheets(settings)


def reset_settings() -> None:
    """Forget cached settings (tests run many commands in one process)."""
    global _settings
    _settings = None


def _secrets() -> list[str]:
    try:
        return [*secrets_of(settings_from_cli()), *state.secrets]
    except Exception:
        return list(state.secrets)


def scrubbed(text: str) -> str:
    """``text`` without any secret of the settings, once they are loaded (a log line may come
    while they load: they must not be loaded again for it)."""
    return scrub(text, secrets_of(_settings) if _settings is not None else []) or ""


def print_error(message: str) -> None:
    """One line on stderr: ``error: message`` (secrets scrubbed, brackets shown as written)."""
    print_hanging(err, "[bold red]error:[/] ", scrub(message, _secrets()) or "")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    print_error(message)
    write_outcome(exit_code=code, error=scrub(message, _secrets()))
    raise typer.Exit(code)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn any exception into one line on stderr and a documented exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except ToolboxError as exc:
        _debug_traceback()
        fail(str(exc), exc.exit_code)
    except DBAPIError as exc:
        _debug_traceback()
        try:
            url = settings_from_cli().datamart_url()
        except Exception:
            url = None
        translated = translate_db_error(exc, url) if url is not None else None
        if translated is not None:
            fail(str(translated), getattr(translated, "exit_code", EXIT_FAILED))
        fail(f"database error: {exc.orig}", EXIT_FAILED)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_FAILED)
    except OSError as exc:  # a full disk, a file that cannot be written
        _debug_traceback()
        fail(disk_message(exc), EXIT_FAILED)


def _debug_traceback() -> None:
    if state.debug:
        err.print(scrub(traceback.format_exc(), _secrets()), markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def fmt_iso(value: datetime | None, settings: Settings) -> str | None:
    """A ledger time as ISO 8601 in business time with its offset, for JSON."""
    local = to_local(value, settings.zone)
    return local.isoformat() if local else None


def fmt_time(value: datetime | None, settings: Settings) -> str:
    local = to_local(value, settings.zone)
    return local.strftime("%Y-%m-%d %H:%M:%S") if local else "-"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def render_outcome(outcome: RunOutcome, *, json_output: bool) -> None:
    if json_output:
        print_json(outcome.as_dict())
        return
    style = {"success": "green", "skipped": "yellow"}.get(outcome.status, "red")
    run = f"run {outcome.run_id}" if outcome.run_id else "run"
    print_hanging(out, f"[{style}]{outcome.task}: {outcome.status}[/] ", f"({run}, "
                  f"{fmt_duration(outcome.duration_s)}): {outcome.summary()}")
    if outcome.warnings_count:
        out.print(f"[yellow]{count(outcome.warnings_count, 'warning')}[/] "
                  f"(toolbox status {outcome.run_id} --warnings)")


def start_run(spec: TaskSpec, params: Mapping[str, Any] | RunFlags, *,
              engines: Engines | None = None, **how: Any) -> RunOutcome:
    """What every command that runs something does (a task, an import, demo): check the
    parameters before anything opens, do the housekeeping, then run through the runner."""
    from toolbox_cli.monitoring.housekeeping import before_run
    from toolbox_cli.runner import plan_run, run_planned

    settings = settings_from_cli()
    plan = plan_run(spec, settings, params)
    with contextlib.ExitStack() as stack:
        if engines is None:
            engines = stack.enter_context(engines_for(settings))
        before_run(engines, settings, monitored=spec.monitored, now=clock.now())
        return run_planned(plan, settings, engines=engines, **how)


@contextlib.contextmanager
def shown_progress(*, json_output: bool = False) -> Iterator[Progress]:
    """The progress display of a command that runs something (on stderr, when a person is
    watching: ``cli/progress.progress_for``), gone when the block ends, however it ends."""
    from toolbox_cli.cli.progress import LiveProgress, progress_for

    progress = progress_for(err, json_output=json_output, quiet=state.quiet)
    try:
        yield progress
    finally:
        if isinstance(progress, LiveProgress):
            progress.stop()


def run_spec_command(spec: TaskSpec, params: RunFlags, *, wait: bool = False,
                     json_output: bool = False, retry_of: int | None = None) -> NoReturn:
    """Run a task (a progress display on a terminal), print its outcome and exit with its
    code."""
    with outcome_signals():
        with shown_progress(json_output=json_output) as progress, handle_errors():
            outcome = start_run(spec, params, wait=wait, progress=progress, retry_of=retry_of)
        render_outcome(outcome, json_output=json_output)
        write_outcome(task=outcome.task, run_id=outcome.run_id, status=outcome.status,
                      exit_code=outcome.exit_code, error=outcome.error_message)
        # A skip's summary already names the holder.
        if outcome.status not in ("success", "skipped") and outcome.error_message:
            print_error(outcome.error_message)
            if state.debug and outcome.traceback:
                err.print(outcome.traceback, markup=False)
    raise typer.Exit(outcome.exit_code)


@contextlib.contextmanager
def outcome_signals() -> Iterator[None]:
    """Around a command that runs something and prints its outcome: a SIGTERM stops the run
    while it can still stop with nothing published (the runner's part); one that comes
    later is remembered, and the command still prints the outcome the ledger recorded and
    exits with its code (cron's wrapper reports what the ledger says)."""
    from toolbox_cli.runner import SIGNALS

    with SIGNALS.installed():
        yield
