"""Every task at a glance, as data: what ``toolbox list --json`` prints and what
``toolbox publish`` writes for a frontend (one implementation for both)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from toolbox_cli import ledger
from toolbox_cli.clock import to_local
from toolbox_cli.monitoring import monitor
from toolbox_cli.monitoring.freshness import Freshness
from toolbox_cli.monitoring.housekeeping import reap, watch
from toolbox_cli.registry import all_tasks
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines


def iso_local(value: datetime | None, settings: Settings) -> str | None:
    """A ledger time as ISO 8601 in business time with its offset, for JSON."""
    local = to_local(value, settings.zone)
    return local.isoformat() if local else None


def seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def operations_origin(run: ledger.Run, settings: Settings) -> str | None:
    """Where a run's operations (the three source tables) came from: the webservice, in
    the run, at what time (Lima); or the source database as it was. None for a task that
    does not read them."""
    spec = all_tasks().get(run.task)
    if spec is None or "colocaciones" not in spec.reads:
        return None
    fetched = run.sources.get("operaciones")
    if fetched:
        at = to_local(datetime.fromisoformat(fetched), settings.zone)
        assert at is not None
        return f"the webservice, fetched in the run at {at:%Y-%m-%d %H:%M:%S}"
    return "the source database as it was"


def run_dict(run: ledger.Run, settings: Settings) -> dict[str, Any]:
    """A ledger row as data, its times in business time."""
    data = dict(run.__dict__)
    for key in ("started_at", "finished_at", "heartbeat_at"):
        moment = run.__dict__[key]
        data[key] = iso_local(moment, settings) if moment else None
    data["timezone"] = settings.timezone
    data["operaciones_from"] = operations_origin(run, settings)
    return data


@dataclass
class Overview:
    records: list[dict[str, Any]]  # one per task, in the registry's order
    last: Mapping[str, ledger.Run]
    missed: Sequence[monitor.MissedSlot]
    late: Sequence[monitor.LateRun]
    ages: Mapping[str, Freshness]


def overview(engines: Engines, settings: Settings, now: datetime) -> Overview:
    """Each task: its tables, schedule, next run, last run, missed and late slots, and the
    age of its tables against their freshness limit (crashed runs reaped first)."""
    tasks = all_tasks()
    reap(engines, settings)
    last = ledger.last_run_per_task(engines.datamart)
    slots, missed, late = watch(engines, settings, now)
    ages = monitor.freshness_now(
        engines.datamart, list(tasks), slots, now,
        timedelta(minutes=settings.missed_grace_minutes), zone=settings.zone,
        overrides=settings.max_age_minutes)
    records: list[dict[str, Any]] = []
    for name, spec in tasks.items():
        run = last.get(name)
        own = [s for s in slots if s.task == name]
        upcoming = sorted(t for s in own for t in schedule.next_runs(s.expr, settings.zone, now, 1))
        records.append({
            "task": name,
            "description": spec.description,
            "tables": list(spec.tables),
            "schedule": [s.label for s in own],
            "next_run": upcoming[0].isoformat() if upcoming else None,
            "timezone": settings.timezone,
            "last_run": run_dict(run, settings) if run else None,
            "missed": [m.describe(settings.zone) for m in missed if m.task == name],
            "late": [lr.describe() for lr in late if lr.run.task == name],
            "refreshed_at": iso_local(ages[name].refreshed_at, settings),
            "age_seconds": seconds(ages[name].age),
            "max_age_seconds": seconds(ages[name].max_age),
            "stale": ages[name].stale,
        })
    return Overview(records, last, missed, late, ages)
