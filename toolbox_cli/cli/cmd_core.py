"""Core commands: list, status, config, db init."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from toolbox_cli import ledger
from toolbox_cli.cli.app import app
from toolbox_cli.cli.common import (
    fail,
    fmt_duration,
    fmt_time,
    handle_errors,
    out,
    print_json,
    settings_from_cli,
)
from toolbox_cli.cli.options import JsonOpt
from toolbox_cli.registry import all_tasks
from toolbox_cli.runner import ensure_ledger, reap
from toolbox_cli.settings import render_url
from toolbox_cli.storage.engine import engines_for, init_schema

STATUS_STYLE = {
    "success": "green", "running": "cyan", "skipped": "yellow",
    "failed": "red", "crashed": "bold red",
}


def _styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _rows_text(run: ledger.Run) -> str:
    return ", ".join(f"{t}={n}" for t, n in run.rows_written.items()) or "-"


def _run_dict(run: ledger.Run, settings) -> dict:  # type: ignore[no-untyped-def]
    data = dict(run.__dict__)
    for key in ("started_at", "finished_at", "heartbeat_at"):
        local = run.__dict__[key]
        data[key] = fmt_time(local, settings) if local else None
    data["timezone"] = settings.timezone
    return data


def _schedule_by_task(settings, tasks) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {
        name: list(settings.schedule_slots.get(name, spec.schedule)) for name, spec in tasks.items()
    }


@app.command("list")
def list_tasks(json_output: JsonOpt = False) -> None:
    """Every task: what it refreshes, its schedule (Lima time) and its last run.

    Example: toolbox list --json
    """
    with handle_errors():
        settings = settings_from_cli()
        tasks = all_tasks()
        with engines_for(settings) as engines:
            ensure_ledger(engines)
            reap(engines, settings)
            last = ledger.last_run_per_task(engines.datamart)
        slots = _schedule_by_task(settings, tasks)
    records = []
    for name, spec in tasks.items():
        run = last.get(name)
        records.append({
            "task": name,
            "description": spec.description,
            "tables": list(spec.tables),
            "schedule": slots.get(name, []),
            "timezone": settings.timezone,
            "last_run": _run_dict(run, settings) if run else None,
        })
    if json_output:
        print_json(records)
        return
    table = Table(title="toolbox tasks", show_lines=False)
    for col in ("task", "description", "schedule (Lima)", "last run", "when", "took", "rows"):
        table.add_column(col)
    for rec, (name, _spec) in zip(records, tasks.items(), strict=True):
        run = last.get(name)
        table.add_row(
            name, rec["description"], ", ".join(rec["schedule"]) or "-",
            _styled(run.status) if run else "never",
            fmt_time(run.started_at, settings) if run else "-",
            fmt_duration(run.duration_s) if run else "-",
            _rows_text(run) if run else "-",
        )
    out.print(table)


@app.command("status")
def status(
    run_id: Annotated[int | None, typer.Argument(help="Show one run in full.")] = None,
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task.")] = None,
    status_filter: Annotated[
        str | None, typer.Option("--status", "-s", help="Only runs in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    json_output: JsonOpt = False,
) -> None:
    """Recent runs from the ledger, or one run in full; dead runs are marked crashed.

    Examples: toolbox status · toolbox status 1842 · toolbox status --task kpi --status failed
    """
    with handle_errors():
        settings = settings_from_cli()
        with engines_for(settings) as engines:
            ensure_ledger(engines)
            reap(engines, settings)
            if run_id is not None:
                run = ledger.get_run(engines.datamart, run_id)
                if run is None:
                    fail(f"no run with id {run_id}; `toolbox status` lists recent runs")
                runs = [run]
            else:
                runs = ledger.recent_runs(engines.datamart, task=task, status=status_filter,
                                          limit=limit)
    if json_output:
        data = [_run_dict(r, settings) for r in runs]
        print_json(data[0] if run_id is not None else data)
        return
    if run_id is not None:
        _print_run(runs[0], settings)
        return
    table = Table(title=f"recent runs (times in {settings.timezone})")
    for col in ("id", "task", "status", "trigger", "started", "took", "rows", "warn", "error"):
        table.add_column(col, overflow="fold")
    for r in runs:
        table.add_row(
            str(r.id), r.task, _styled(r.status), r.trigger + (f"@{r.slot}" if r.slot else ""),
            fmt_time(r.started_at, settings), fmt_duration(r.duration_s), _rows_text(r),
            str(r.warnings_count or ""), (r.error_message or "")[:80],
        )
    out.print(table)


def _print_run(run: ledger.Run, settings) -> None:  # type: ignore[no-untyped-def]
    out.print(f"[bold]run {run.id}[/] {run.task} {_styled(run.status)}")
    fields = [
        ("trigger", run.trigger + (f" (slot {run.slot})" if run.slot else "")),
        ("parameters", ", ".join(f"{k}={v}" for k, v in run.params.items()) or "-"),
        ("host / pid", f"{run.host} / {run.pid}"),
        ("started", fmt_time(run.started_at, settings)),
        ("finished", fmt_time(run.finished_at, settings)),
        ("heartbeat", fmt_time(run.heartbeat_at, settings)),
        ("duration", fmt_duration(run.duration_s)),
        ("rows", _rows_text(run)),
        ("warnings", str(run.warnings_count)),
        ("error", f"{run.error_type}: {run.error_message}" if run.error_type else "-"),
        ("log", run.log_path or "-"),
        ("version", run.version),
    ]
    for name, value in fields:
        out.print(f"  {name:<11} {value}", markup=False)
    for w in run.warnings:
        out.print(f"    - {w}", markup=False)
    if run.warnings_count > len(run.warnings):
        out.print(f"    … and {run.warnings_count - len(run.warnings)} more", markup=False)


@app.command("config")
def config(json_output: JsonOpt = False) -> None:
    """The effective settings, passwords masked.

    Example: toolbox --env-file /etc/toolbox/toolbox.env config
    """
    with handle_errors():
        settings = settings_from_cli()
        data = settings.masked()
    if json_output:
        print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key:<26} {value}", markup=False)


db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("init")
def db_init(json_output: JsonOpt = False) -> None:
    """Create the ledger, source-contract and datamart tables that are missing (idempotent).

    Example: TOOLBOX_DATABASE_URL=mysql+pymysql://user@127.0.0.1:3306/datamart toolbox db init
    """
    with handle_errors():
        settings = settings_from_cli()
        with engines_for(settings) as engines:
            created = init_schema(engines)
    if json_output:
        print_json({"created": created, "database": render_url(settings.datamart_url())})
        return
    where = render_url(settings.datamart_url())
    if created:
        out.print(f"created {len(created)} table(s) in {where}: {', '.join(created)}")
    else:
        out.print(f"schema up to date in {where}")


