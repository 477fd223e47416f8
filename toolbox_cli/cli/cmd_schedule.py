"""`toolbox schedule install|show|remove`: the crontab entries that fire the tasks."""

from __future__ import annotations

import os
import pwd
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import DBAPIError

from toolbox_cli import clock
from toolbox_cli.cli import state
from toolbox_cli.cli.common import err, handle_errors, out, print_json, settings_from_cli
from toolbox_cli.cli.groups import SuggestingGroup
from toolbox_cli.cli.layout import Column, fit_table
from toolbox_cli.cli.options import JsonOpt, WideOpt
from toolbox_cli.errors import ConfigError, ToolboxError
from toolbox_cli.schedule import entries
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.settings import Settings, check_env_file

app = typer.Typer(rich_markup_mode=None)
schedule_app = typer.Typer(
    help="Crontab entries that run the tasks at their Lima times.\n\n"
    "The Lima times are converted to the host's time.\n\n"
    "Example: toolbox schedule install --dry-run",
    no_args_is_help=True,
    cls=SuggestingGroup,
)
app.add_typer(schedule_app, name="schedule")

FileOpt = Annotated[
    Path | None,
    typer.Option("--file", help="A cron.d style file (with the user column) instead of the "
                 "user's crontab, e.g. /etc/cron.d/toolbox."),
]
HostTzOpt = Annotated[
    str | None,
    typer.Option("--host-tz", help="Zone the cron daemon fires in (default: the system zone "
                 "from /etc/localtime), e.g. UTC."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the crontab; write nothing.")]


def _host_zone(host_tz: str | None) -> tzinfo:
    return schedule.parse_zone(host_tz) if host_tz else schedule.host_zone()


def _check_tz_env(host_tz: str | None, host: tzinfo) -> None:
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and not host_tz and tz != schedule.zone_name(host):
        err.print(f"[yellow]note:[/] TZ={tz} is set in this shell, but the cron daemon fires in "
                  f"the system zone {schedule.zone_name(host)}; pass --host-tz if the daemon "
                  "runs with TZ")


def _env_file() -> Path | None:
    if state.env_file is None:
        return None
    return check_env_file(state.env_file)


def _warn_unseen_env(env_file: Path | None) -> None:
    """TOOLBOX_* variables of this shell do not reach cron; only an env file does."""
    if env_file is not None:
        return
    names = sorted(k for k in os.environ
                   if k.startswith("TOOLBOX_") and not k.startswith("TOOLBOX_TEST_"))
    if names:
        err.print(f"[yellow]warning:[/] cron will not see {', '.join(names)} from this shell; "
                  "put them in an env file (chmod 600) and install with --env-file /abs/path")


def _open(file: Path | None, *, dry_run: bool) -> Any:
    if file is not None:
        entries.check_cron_d_path(file)
        return entries.open_crontab(file, system_format=True)
    try:
        return entries.open_crontab(None)
    except ToolboxError:
        if not dry_run:
            raise
        err.print("[yellow]note:[/] no crontab program here; showing what an empty crontab "
                  "would become")
        return entries.CronTab(tab="")


@schedule_app.command("install")
def install(
    dry_run: DryRunOpt = False,
    file: FileOpt = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Install even if the host zone has daylight saving (the entries are "
        "then right only until the next clock change).")] = False,
    user: Annotated[str | None, typer.Option(
        "--user", help="With --file: the user the entries run as (default: you).")] = None,
    host_tz: HostTzOpt = None,
    project_dir: Annotated[Path | None, typer.Option(
        "--project-dir", help="Toolbox checkout the entries run (default: this one); for "
        "writing a crontab meant for another machine.")] = None,
    mailto: Annotated[str | None, typer.Option(
        "--mailto", metavar="ADDRESS", help="Where cron mails the failures of the toolbox's "
        "entries (MAILTO for them only; foreign entries keep theirs).")] = None,
) -> None:
    """Write the crontab entries of every scheduled slot (idempotent).

    Each slot becomes one entry in host time, calling scripts/toolbox-cron with the slot's
    Lima time; entries that are not the toolbox's are left alone.

    Example: toolbox --env-file /etc/toolbox/toolbox.env schedule install
    """
    with handle_errors():
        settings = settings_from_cli()
        env_file = _env_file()
        host = _host_zone(host_tz)
        _check_tz_env(host_tz, host)
        plan = entries.build_plan(
            schedule.scheduled_slots(settings), business=settings.zone, host=host,
            now=clock.now(), project_dir=(project_dir or entries.PROJECT_DIR).absolute(),
            env_file=env_file, force=force,
            run_as=(user or pwd.getpwuid(os.getuid()).pw_name) if file else None,
            mailto=mailto,
        )
        tab = _open(file, dry_run=dry_run)
        entries.apply_plan(tab, plan)
        for warning in plan.warnings:
            err.print(f"[yellow]warning:[/] {warning}")
        if dry_run:
            _warn_unseen_env(env_file)
            out.file.write(tab.render())
            out.file.flush()
            return
        if project_dir is None:
            _check_checkout()
        entries.write_crontab(tab, file)
        _record_install(settings, file, [(e.slot.task, e.slot.label, e.slot.expr)
                                         for e in plan.entries])
    where = str(file) if file else "the user's crontab"
    out.print(f"installed {len(plan.entries)} entr{'y' if len(plan.entries) == 1 else 'ies'} "
              f"in {where} (host time {plan.host_zone}):")
    for entry in plan.entries:
        out.print(f"  {entry.slot.task} {entry.slot.label} Lima -> {entry.host.label} host "
                  f"[dim]({entry.host.expr})[/]")
    if plan.mailto:
        out.print(f"cron mails the failures of these entries to {plan.mailto}")
    _warn_unseen_env(env_file)


def _record_install(settings: Settings, file: Path | None,
                    slots: list[tuple[str, str, str]]) -> None:
    """Remember when each slot was installed here, so a slot cron never fires is flagged."""
    from toolbox_cli import ledger
    from toolbox_cli.storage.engine import engines_for

    try:
        with engines_for(settings) as engines:
            ledger.record_install(engines.datamart, str(file) if file else "crontab", slots)
    except (ToolboxError, DBAPIError) as exc:
        message = str(exc) if isinstance(exc, ToolboxError) else type(exc).__name__
        err.print(f"[yellow]warning:[/] the install time was not recorded ({message}); "
                  "status --check cannot tell if these slots never fire")


def _check_checkout() -> None:
    wrapper = entries.PROJECT_DIR / entries.WRAPPER
    if not os.access(wrapper, os.X_OK):
        raise ConfigError(f"{wrapper} is missing or not executable; run chmod +x {wrapper}")
    if not os.access(entries.PROJECT_DIR / ".venv" / "bin" / "toolbox", os.X_OK):
        err.print(f"[yellow]warning:[/] {entries.PROJECT_DIR}/.venv/bin/toolbox is missing; "
                  "the wrapper runs that one: python3 -m venv .venv && .venv/bin/pip install -e .")


@schedule_app.command("remove")
def remove(dry_run: DryRunOpt = False, file: FileOpt = None) -> None:
    """Delete the toolbox's entries (and only those) from the crontab.

    Example: toolbox schedule remove
    """
    with handle_errors():
        if file is not None and not file.exists():
            out.print(f"{file} does not exist; nothing to remove")
            return
        tab = _open(file, dry_run=dry_run)
        count = entries.remove_entries(tab)
        # A file with nothing else in it goes too (an empty cron.d file is litter that looks
        # like a schedule); one with other entries keeps them.
        drop_file = file is not None and entries.holds_nothing(tab)
        if dry_run:
            out.file.write(tab.render())
            out.file.flush()
            if drop_file:
                err.print(f"note: nothing else is in {file}: it would be removed",
                          markup=False)
            return
        if drop_file:
            assert file is not None
            try:
                file.unlink()
            except OSError as exc:
                raise ConfigError(f"cannot remove {file}: {exc.strerror}") from None
        elif count:
            entries.write_crontab(tab, file)
        if count:
            _record_install(settings_from_cli(), file, [])
    removed = f"removed {count} toolbox entr{'y' if count == 1 else 'ies'}"
    if drop_file:
        out.print(f"{removed}; nothing else was in {file}, so the file is removed too",
                  markup=False)
    else:
        out.print(removed)


def _last_cron_runs(settings: Settings, slots: list[schedule.Slot]) -> dict[str, Any]:
    """marker -> newest cron run of that slot; empty (with a note) if the ledger is out of reach."""
    from toolbox_cli import ledger
    from toolbox_cli.storage.engine import engines_for

    found: dict[str, Any] = {}
    try:
        with engines_for(settings) as engines:
            for slot in slots:
                run = ledger.last_cron_run(engines.datamart, slot.task, slot.label)
                if run is not None:
                    found[slot.marker] = run
    except (ToolboxError, DBAPIError) as exc:
        message = str(exc) if isinstance(exc, ToolboxError) else type(exc).__name__
        err.print(f"[yellow]note:[/] last runs unknown: {message}")
    return found


def _local(moment: datetime | None, settings: Settings) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(settings.zone).isoformat()


def show_records(settings: Settings, host: tzinfo, tab: Any, now: datetime) -> list[dict[str, Any]]:
    slots = schedule.scheduled_slots(settings)
    warnings = schedule.check_zones(settings.zone, host, now, force=True)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    installed = entries.installed_entries(tab) if tab is not None else {}
    last = _last_cron_runs(settings, slots)
    records = []
    for slot in slots:
        host_time = schedule.to_host(slot, settings.zone, host, now)
        entry = installed.get(slot.marker)
        run = last.get(slot.marker)
        upcoming = schedule.next_runs(slot.expr, settings.zone, now)
        records.append({
            "task_name": slot.task,
            "schedule_info": schedule.describe(slot.expr),
            "next_run": upcoming[0].isoformat(),
            "enabled": bool(entry and entry.enabled),
            "timezone": schedule.zone_name(settings.zone),
            "cron": slot.expr,
            "lima_time": slot.label,
            "host_time": host_time.label,
            "host_cron": host_time.expr,
            "host_timezone": schedule.zone_name(host),
            "next_runs": [t.isoformat() for t in upcoming],
            "installed": entry is not None,
            "installed_cron": entry.host_expr if entry else None,
            "up_to_date": bool(entry and entry.host_expr == host_time.expr),
            "configured": True,
            "last_run": None if run is None else {
                "id": run.id, "status": run.status, "started_at": _local(run.started_at, settings),
                "log_path": run.log_path,
            },
        })
    configured = {s.marker for s in slots}
    for marker, entry in sorted(installed.items()):
        if marker not in configured:
            records.append({
                "task_name": entry.task, "schedule_info": None, "next_run": None,
                "enabled": entry.enabled, "timezone": schedule.zone_name(settings.zone),
                "cron": None, "lima_time": entry.label, "host_time": None,
                "host_cron": None, "host_timezone": schedule.zone_name(host),
                "next_runs": [], "installed": True, "installed_cron": entry.host_expr,
                "up_to_date": False, "configured": False, "last_run": None,
            })
    return records


SCHEDULE_COLUMNS = (
    Column("task"), Column("Lima"), Column("host"), Column("cron (Lima)"), Column("next run"),
    Column("installed", whole=False, min_width=9), Column("last cron run", whole=False,
                                                           min_width=14),
    Column("descripción", whole=False, overflow="fold", min_width=18),
)


@schedule_app.command("show")
def show(json_output: JsonOpt = False, file: FileOpt = None, host_tz: HostTzOpt = None,
         wide: WideOpt = False) -> None:
    """Each slot: task, Lima and host time, description, next runs, installed, last run.

    Example: toolbox schedule show --json
    """
    with handle_errors():
        settings = settings_from_cli()
        host = _host_zone(host_tz)
        _check_tz_env(host_tz, host)
        tab = None
        try:
            if file is None or file.exists():
                tab = entries.open_crontab(file, system_format=file is not None)
        except ToolboxError as exc:
            err.print(f"[yellow]note:[/] {exc}")
        records = show_records(settings, host, tab, clock.now())
    if json_output:
        print_json(records)
        return
    rows = []
    for r in records:
        if not r["configured"]:
            installed = "[red]not configured: reinstall[/]"
        elif not r["installed"]:
            installed = "[yellow]no[/]"
        elif not r["enabled"]:
            installed = "[yellow]commented out[/]"
        elif not r["up_to_date"]:
            installed = f"[yellow]stale ({r['installed_cron']}): reinstall[/]"
        else:
            installed = "[green]yes[/]"
        last = r["last_run"]
        last_text = "-" if last is None else (
            f"run {last['id']} {last['status']} {last['started_at'][5:16].replace('T', ' ')}")
        rows.append([
            r["task_name"], r["lima_time"], r["host_time"] or "-", r["cron"] or "-",
            (r["next_run"] or "-")[5:16].replace("T", " "), installed, last_text,
            r["schedule_info"] or "-",
        ])
    fit_table(out, f"schedule (Lima = {settings.timezone}, host = {schedule.zone_name(host)})",
              SCHEDULE_COLUMNS, rows, wide=wide,
              row_label=[f"{r['task_name']} {r['lima_time']}" for r in records])
