"""Housekeeping before a command reads or runs: dead runs reaped, missed slots noticed.

Every command that reads the ledger or starts a run (``list``, ``status``, a task, an
import, ``demo``) calls these first, so the ledger never lies however the last run ended:
a run whose process is gone or whose heartbeat went stale is marked crashed and what it left
behind is removed; a slot of the schedule that passed without a run is noticed. Whoever
notices a crash or a missed slot first notifies it (once). Not part of the runner, which
only runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from toolbox_cli import ledger
from toolbox_cli.monitoring import alerts, monitor
from toolbox_cli.registry import monitored_tasks
from toolbox_cli.schedule.slots import Slot, scheduled_slots
from toolbox_cli.settings import Settings
from toolbox_cli.storage import runfiles
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.staging import drop_staging_tables


def reap(engines: Engines, settings: Settings) -> list[int]:
    """Mark dead runs crashed and remove what they left behind: their staging tables and,
    on this host, the scratch directories of runs whose process is gone. Whoever finds a
    crash notifies it (once)."""
    crashed = ledger.reap_crashed(engines.datamart, stale_after_seconds=settings.stale_after_seconds)
    for run_id in crashed:
        drop_staging_tables(engines.datamart, str(run_id))
    runfiles.sweep(engines.datamart.url)
    if crashed:
        alerts.notify_crashed(engines.datamart, settings, crashed, monitored_tasks())
    return crashed


def watch(engines: Engines, settings: Settings, now: datetime) -> tuple[
        list[Slot], list[monitor.MissedSlot], list[monitor.LateRun]]:
    """The schedule's slots, the missed ones and the late runs now; a missed slot is
    notified (once) by whoever notices it first."""
    slots = scheduled_slots(settings)
    missed, late = monitor.watch(engines.datamart, slots, now,
                                 timedelta(minutes=settings.missed_grace_minutes),
                                 zone=settings.zone)
    alerts.notify_missed(engines.datamart, settings,
                         [m for m in missed if m.task in monitored_tasks()])
    return slots, missed, late


def before_run(engines: Engines, settings: Settings, *, monitored: bool, now: datetime) -> None:
    """What a command does before it starts a run: reap, and (for a scheduled task) watch."""
    reap(engines, settings)
    if monitored:
        watch(engines, settings, now)
