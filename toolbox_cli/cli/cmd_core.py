"""Core commands: list, status, config, db init."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy.engine import Engine

from toolbox_cli import clock, ledger
from toolbox_cli.cli import state
from toolbox_cli.cli.common import (
    fail,
    fmt_duration,
    fmt_iso,
    fmt_time,
    handle_errors,
    out,
    print_json,
    settings_from_cli,
)
from toolbox_cli.cli.groups import SuggestingGroup
from toolbox_cli.cli.layout import Column, fit_table, print_hanging
from toolbox_cli.cli.options import JsonOpt, WideOpt
from toolbox_cli.clock import as_utc_naive, to_local
from toolbox_cli.errors import EXIT_FAILED, did_you_mean
from toolbox_cli.monitoring import monitor
from toolbox_cli.monitoring.freshness import human
from toolbox_cli.monitoring.housekeeping import reap, watch
from toolbox_cli.monitoring.overview import operations_origin, overview, run_dict
from toolbox_cli.registry import all_tasks, is_interactive, monitored_tasks
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.settings import (
    Settings,
    env_file_in_use,
    render_url,
    setting_sources,
    unknown_variables,
    variable_of,
)
from toolbox_cli.storage.database import ensure_database
from toolbox_cli.storage.engine import describe_location, engines_for, init_schema
from toolbox_cli.words import count, plural, rows_text

STATUS_STYLE = {
    "success": "green", "running": "cyan", "skipped": "yellow",
    "failed": "red", "crashed": "bold red",
}

app = typer.Typer(rich_markup_mode=None)


def _styled(status: str, dry_run: bool = False) -> str:
    text = f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"
    return text + " [dim]dry[/]" if dry_run else text


def _check_filters(engine: Engine, task: str | None, status: str | None) -> None:
    """Unknown --task / --status values are refused with the valid ones listed."""
    if status is not None and status not in ledger.STATES:
        fail(f"unknown status {status!r}{did_you_mean(status, ledger.STATES)}; use one of: "
             f"{', '.join(ledger.STATES)}")
    if task is not None:
        valid = sorted(set(all_tasks()) | set(ledger.known_tasks(engine)))
        if task not in valid:
            fail(f"unknown task {task!r}{did_you_mean(task, valid)}; use one of: "
                 f"{', '.join(valid)}")


def _rows_text(run: ledger.Run) -> str:
    return rows_text(run.rows_written) or "-"


LIST_COLUMNS = (
    Column("task"), Column("next run"), Column("last run"), Column("took", "right"),
    Column("rows", "right"), Column("age"),
    Column("schedule (Lima)", whole=False, overflow="fold", min_width=12),
    Column("refreshes", whole=False, overflow="fold", min_width=18),
)


@app.command("list")
def list_tasks(wide: WideOpt = False, json_output: JsonOpt = False) -> None:
    """Every task: what it refreshes, its schedule (Lima time) and its last run.

    Example: toolbox list --json
    """
    with handle_errors():
        settings = settings_from_cli()
        tasks = all_tasks()
        with engines_for(settings) as engines:
            seen = overview(engines, settings, clock.now())
    records, last, missed, late, ages = \
        seen.records, seen.last, seen.missed, seen.late, seen.ages
    if json_output:
        print_json(records)
        return
    rows = []
    for rec in records:
        run = last.get(rec["task"])
        if run:
            local = to_local(run.started_at, settings.zone)
            last_text = f"{_styled(run.status)} {local:%m-%d %H:%M}"
            took = _took(run, clock.now())
            count = f"{run.total_rows():,}" if run.rows_written else "-"
        else:
            last_text, took, count = "never", "-", "-"
        fresh = ages[rec["task"]]
        age = "-" if fresh.age is None else human(fresh.age)
        if fresh.stale:
            age = f"[bold red]{age} stale[/]"
        rows.append([
            f"[bold]{rec['task']}[/]",
            rec["next_run"][5:16].replace("T", " ") if rec["next_run"] else "-",
            last_text, took, count, age,
            ", ".join(rec["schedule"]) or "-",
            ", ".join(rec["tables"]),
        ])
    fit_table(out, f"toolbox tasks (times in {settings.timezone})", LIST_COLUMNS, rows,
              wide=wide, row_label=list(tasks))
    _print_origins(last, settings)
    _print_flags(missed, late, settings)
    out.print("toolbox TASK --help describes a task; toolbox list --json has the details.",
              style="dim")


def _print_origins(last: Mapping[str, ledger.Run], settings: Settings) -> None:
    """Where the last runs' operations came from, one line per origin."""
    by_origin: dict[str, list[str]] = {}
    for name, run in sorted(last.items()):
        origin = operations_origin(run, settings)
        if origin and not run.dry_run:
            by_origin.setdefault(origin, []).append(name)
    for origin, names in by_origin.items():
        line = f"operations of the last {', '.join(names)}: {origin}"
        out.print(textwrap.fill(line, width=max(out.width, 40), subsequent_indent="  "),
                  markup=False, style="dim")


def _print_flags(missed: Sequence[monitor.MissedSlot], late: Sequence[monitor.LateRun],
                 settings: Settings) -> None:
    for m in missed:
        out.print(f"[bold red]missed[/] {m.describe(settings.zone)}")
    for lr in late:
        out.print(f"[yellow]late[/] {lr.describe()}")


@app.command("status")
def status(
    run_id: Annotated[int | None, typer.Argument(help="Show one run in full.")] = None,
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task.")] = None,
    status_filter: Annotated[
        str | None, typer.Option("--status", "-s", help="Only runs in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    all_warnings: Annotated[bool, typer.Option(
        "--warnings", help="With RUN_ID: every warning of the run (default: the first few).")
    ] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Exit 1 if a task's last run failed or crashed, a slot was missed, "
        "a task's tables are stale, or an installed slot never fired (for monitors).")] = False,
    wide: WideOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Recent runs from the ledger, or one run in full.

    Dead runs are marked crashed, missed slots and late runs are flagged.

    Examples: toolbox status · toolbox status 1842 · toolbox status --task kpi --status failed ·
    toolbox status --check --json
    """
    if all_warnings and run_id is None:
        fail("--warnings lists the warnings of one run: give its id, e.g. "
             "toolbox status 1842 --warnings")
    with handle_errors():
        settings = settings_from_cli()
        now = clock.now()
        with engines_for(settings) as engines:
            _check_filters(engines.datamart, task, status_filter)
            reap(engines, settings)
            if check:
                problems = monitor.check_problems(
                    engines.datamart, schedule.scheduled_slots(settings), now,
                    timedelta(minutes=settings.missed_grace_minutes), zone=settings.zone,
                    tasks=sorted(monitored_tasks()), max_age_overrides=settings.max_age_minutes,
                )
                _report_problems(problems, settings, json_output)
            _slots, missed, late = watch(engines, settings, now)
            if run_id is not None:
                run = ledger.get_run(engines.datamart, run_id)
                if run is None:
                    fail(f"no run with id {run_id}; `toolbox status` lists recent runs")
                runs = [run]
            else:
                runs = ledger.recent_runs(engines.datamart, task=task, status=status_filter,
                                          limit=limit)
    late_ids = {lr.run.id for lr in late}
    if json_output:
        data = [{**run_dict(r, settings), "late": r.id in late_ids} for r in runs]
        print_json(data[0] if run_id is not None else data)
        return
    if run_id is not None:
        _print_run(runs[0], settings, all_warnings=all_warnings)
        return
    rows = []
    for r in runs:
        local = to_local(r.started_at, settings.zone)
        rows.append([
            str(r.id), r.task, _styled(r.status, r.dry_run),
            r.trigger + (f" {r.slot}" if r.slot else "")
            + (f", retry of {r.retry_of}" if r.retry_of else ""),
            local.strftime("%m-%d %H:%M") if local else "-", _took(r, now),
            f"{r.total_rows():,}" if r.rows_written else "-",
            str(r.warnings_count or ""), escape(r.error_message or ""),
        ])
    fit_table(out, f"recent runs (times in {settings.timezone})", RUN_COLUMNS, rows,
              wide=wide, row_label=[f"run {r.id}" for r in runs])
    _print_flags(missed, late, settings)
    out.print("toolbox status RUN_ID shows one run in full (rows per table, warnings, error).",
              style="dim")


def _report_problems(problems: Sequence[monitor.Problem], settings: Settings,
                     json_output: bool) -> None:
    """Print what --check found, one line per task, and exit: 1 when a scheduled task is in
    trouble, else 0. Interactive runs (imports, demo) are listed apart and never turn the
    monitor red: one analyst's bad CSV is the analyst's to fix, at the terminal."""
    states = monitor.task_states(problems, is_interactive)
    judged = [s for s in states if s.monitored]
    apart = [s for s in states if not s.monitored]
    if json_output:
        def as_json(s: monitor.TaskState) -> dict[str, object]:
            return {"task": s.task, "state": s.state, "kinds": list(s.kinds),
                    "since": fmt_iso(s.since, settings), "attempts": s.attempts,
                    "last_run_id": s.last.run_id,
                    "message": f"{s.task}: {s.describe(settings.zone)}"}

        print_json({"ok": not judged, "tasks": [as_json(s) for s in judged],
                    "interactive": [as_json(s) for s in apart],
                    "problems": [
                        {"kind": p.kind, "task": p.task, "at": fmt_iso(p.at, settings),
                         "message": p.message, "run_id": p.run_id,
                         "monitored": not is_interactive(p.task)} for p in problems]})
        raise typer.Exit(EXIT_FAILED if judged else 0)
    width = max((len(s.task) for s in states), default=0)
    for s in judged:
        print_hanging(out, f"[bold red]{s.task:<{width}}[/] ", s.describe(settings.zone))
    if not judged:
        out.print("[green]ok[/]: no scheduled task failed, crashed, missed a slot, went stale "
                  "or never fired")
    if apart:
        out.print("interactive runs (not part of the verdict):", style="dim")
        for s in apart:
            print_hanging(out, f"  [yellow]{s.task:<{width}}[/] ", s.describe(settings.zone))
    raise typer.Exit(EXIT_FAILED if judged else 0)


SHOWN_WARNINGS = 5
RUN_COLUMNS = (
    Column("id", "right"), Column("task"), Column("status"), Column("trigger"),
    Column("started"), Column("took", "right"), Column("rows", "right"),
    Column("warn", "right"), Column("error", whole=False, min_width=20),
)


def _took(run: ledger.Run, now: datetime) -> str:
    """How long a run took, or, while it runs, how long it has run so far (``12.3s…``)."""
    if run.status == ledger.RUNNING and run.started_at is not None:
        return fmt_duration(max((as_utc_naive(now) - run.started_at).total_seconds(), 0.0)) + "…"
    return fmt_duration(run.duration_s)


def _print_run(run: ledger.Run, settings: Settings, *, all_warnings: bool = False) -> None:
    out.print(f"[bold]run {run.id}[/] {run.task} {_styled(run.status)}"
              + (" [bold]dry run[/]: nothing was written" if run.dry_run else ""))
    fields = [
        ("trigger", run.trigger + (f" (slot {run.slot})" if run.slot else "")),
        ("parameters", ", ".join(f"{k}={v}" for k, v in run.params.items()) or "-"),
        ("host / pid", f"{run.host} / {run.pid}"),
        ("started", fmt_time(run.started_at, settings)),
        ("finished", fmt_time(run.finished_at, settings)),
        ("heartbeat", fmt_time(run.heartbeat_at, settings)),
        ("duration", _took(run, clock.now())),
        ("rows", _rows_text(run) + (" (counted, not written)" if run.dry_run else "")),
        ("tables", ", ".join(run.tables) or "-"),
        *([("operations", origin)] if (origin := operations_origin(run, settings)) else []),
        ("warnings", str(run.warnings_count)),
        ("error", f"{run.error_type}: {run.error_message}" if run.error_type else "-"),
        ("log", f"{run.log_path} (toolbox logs {run.id})" if run.log_path else "-"),
        ("retry of", f"run {run.retry_of}" if run.retry_of else "-"),
        ("version", run.version),
    ]
    for name, value in fields:
        print_hanging(out, f"  {name:<11} ", value)
    shown = run.warnings if all_warnings else run.warnings[:SHOWN_WARNINGS]
    for w in shown:
        print_hanging(out, "    - ", w)
    if len(run.warnings) > len(shown):
        out.print(f"    … and {len(run.warnings) - len(shown)} more: toolbox status {run.id} "
                  "--warnings", markup=False)


@app.command("config")
def config(wide: WideOpt = False, json_output: JsonOpt = False) -> None:
    """The effective settings, passwords masked.

    Example: toolbox --env-file /etc/toolbox/toolbox.env config
    """
    with handle_errors():
        settings = settings_from_cli()
        data = settings.masked()
        env_file = env_file_in_use(state.env_file)
        sources = setting_sources(env_file)
        unknown = unknown_variables(env_file)
    if json_output:
        print_json({**data, "sources": sources, "unknown": unknown})
        return
    rows = [[variable_of(key), _setting_text(value), sources.get(key, "derived")]
            for key, value in data.items()]
    fit_table(out, f"settings ({'env file ' + str(env_file) if env_file else 'no env file'})",
              CONFIG_COLUMNS, rows, wide=wide)
    # An unknown TOOLBOX_* variable was already a warning on stderr (load_settings).


CONFIG_COLUMNS = (Column("setting"), Column("value", whole=False, overflow="fold", min_width=20),
                  Column("source", whole=False, overflow="fold", min_width=11))


def _setting_text(value: object) -> str:
    if value in (None, "", {}, []):
        return "[dim](not set)[/]"
    if isinstance(value, dict | list):
        return escape(json.dumps(value, ensure_ascii=False))
    return escape(str(value))


db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True, cls=SuggestingGroup)
app.add_typer(db_app, name="db")


@db_app.command("init")
def db_init(json_output: JsonOpt = False) -> None:
    """Create the database (MySQL/MariaDB) and the ledger, source-contract and datamart
    tables that are missing; upgrade the ledger (idempotent).

    Only db init creates a MySQL/MariaDB database: every other command on a missing one asks
    for db init, so a mistyped URL never makes a stray database.

    Example: TOOLBOX_DATABASE_URL=mysql+pymysql://user@127.0.0.1:3306/datamart toolbox db init
    """
    with handle_errors():
        settings = settings_from_cli()
        datamart_url, source_url = settings.datamart_url(), settings.source_database_url()
        created_dbs = [url for url in dict.fromkeys((datamart_url, source_url))
                       if ensure_database(url)]
        with engines_for(settings, create=True) as engines:
            done = init_schema(engines, legacy_views=settings.legacy_views)
    if json_output:
        print_json({"created": done.created, "views_created": done.views_created,
                    "views_dropped": done.views_dropped,
                    "databases_created": [describe_location(url) for url in created_dbs],
                    "database": render_url(datamart_url)})
        return
    # As a user would write the place, not as the driver's URL (sqlite:////...).
    where = describe_location(datamart_url)
    changed = False
    for url in created_dbs:
        out.print(f"created {describe_location(url)} (utf8mb4)", markup=False)
        changed = True
    if done.ledger.startswith("upgraded"):
        out.print(f"ledger schema {done.ledger} in {where}", markup=False)
        changed = True
    if done.created:
        out.print(f"created {count(len(done.created), 'table')} in {where}: {', '.join(done.created)}",
                  markup=False)
        changed = True
    if done.views_created:
        views = plural("view", len(done.views_created))
        out.print(f"created the legacy's {views} {', '.join(done.views_created)} for "
                  "dashboards built on the legacy (TOOLBOX_LEGACY_VIEWS=false drops them)")
        changed = True
    if done.views_dropped:
        views = plural("view", len(done.views_dropped))
        out.print(f"dropped the legacy's {views} {', '.join(done.views_dropped)} "
                  "(TOOLBOX_LEGACY_VIEWS is false)")
        changed = True
    if not changed:
        out.print(f"schema up to date in {where}", markup=False)
