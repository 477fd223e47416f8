"""How old each task's tables are, and schedules that were installed but never fired.

Derived when read, like every monitoring state (``monitor.py``): from the schedule, the
ledger's last real success per task and the install records of ``schedule install``.

A task's maximum age is one slot interval plus the grace: the longest gap between two
consecutive firings of its slots (07:00 and 18:00 give 13 h) plus
``TOOLBOX_MISSED_GRACE_MINUTES``, or ``TOOLBOX_MAX_AGE_MINUTES[task]``. A task with no
slots and no override has no maximum age (``kpi`` is run by hand or as part of
``tablas-reportes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import croniter

from toolbox_cli.clock import as_utc_naive
from toolbox_cli.schedule.slots import Slot

# Firings looked at to find a task's longest gap: a week covers weekday-only slots.
GAP_WINDOW = timedelta(days=8)


def longest_gap(exprs: Sequence[str], zone: tzinfo, now: datetime) -> timedelta | None:
    """The longest time between two consecutive firings of any of ``exprs`` (Lima cron)."""
    if not exprs:
        return None
    # A window of GAP_WINDOW either side of now: from now alone, a weekday schedule read on
    # a Friday after its firing or on a Saturday holds no Friday-to-Monday gap.
    here = as_utc_naive(now).replace(tzinfo=UTC).astimezone(zone)
    start, end = here - GAP_WINDOW, here + GAP_WINDOW
    firings: list[datetime] = []
    for expr in exprs:
        it = croniter(expr, start)
        while (moment := it.get_next(datetime)) <= end:
            firings.append(moment)
    firings.sort()
    if len(firings) < 2:
        return GAP_WINDOW
    return max(b - a for a, b in zip(firings, firings[1:], strict=False))


def max_age(task: str, slots: Sequence[Slot], *, zone: tzinfo, now: datetime,
            grace: timedelta, overrides: Mapping[str, int]) -> timedelta | None:
    if task in overrides:
        return timedelta(minutes=overrides[task])
    gap = longest_gap([s.expr for s in slots if s.task == task], zone, now)
    return gap + grace if gap is not None else None


@dataclass(frozen=True)
class Freshness:
    task: str
    refreshed_at: datetime | None  # naive UTC: end of the last real success
    age: timedelta | None
    max_age: timedelta | None

    @property
    def stale(self) -> bool:
        return self.age is not None and self.max_age is not None and self.age > self.max_age

    def describe(self) -> str:
        if self.age is None:
            return f"{self.task}: never refreshed"
        limit = f"; older than its {human(self.max_age)} limit" if self.stale and self.max_age \
            else ""
        return f"{self.task}: last refreshed {human(self.age)} ago{limit}"


def human(delta: timedelta) -> str:
    """``13 h 15 min``, ``2 d 4 h``, ``5 min``."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def freshness(tasks: Sequence[str], refreshed: Mapping[str, datetime], slots: Sequence[Slot], *,
              now: datetime, zone: tzinfo, grace: timedelta,
              overrides: Mapping[str, int]) -> dict[str, Freshness]:
    """Per task: when its last real success ended (``refreshed``), its age and limit (pure)."""
    now_utc = as_utc_naive(now)
    out = {}
    for task in tasks:
        when = refreshed.get(task)
        out[task] = Freshness(
            task, when, None if when is None else max(now_utc - when, timedelta(0)),
            max_age(task, slots, zone=zone, now=now, grace=grace, overrides=overrides))
    return out


@dataclass(frozen=True)
class NeverFired:
    task: str
    slot: str
    host: str
    target: str
    installed_at: datetime  # naive UTC
    due_at: datetime  # naive UTC: its first firing after the install

    def describe(self, zone: tzinfo) -> str:
        installed = self.installed_at.replace(tzinfo=UTC).astimezone(zone)
        due = self.due_at.replace(tzinfo=UTC).astimezone(zone)
        return (f"{self.task} {self.slot}: installed {installed:%Y-%m-%d %H:%M} on {self.host} "
                f"({self.target}) but cron has not fired it (first due {due:%Y-%m-%d %H:%M}); "
                "is cron running there?")


def first_due(expr: str, zone: tzinfo, after: datetime) -> datetime:
    """The first firing of a Lima expression after ``after`` (naive UTC in and out)."""
    start = after.replace(tzinfo=UTC).astimezone(zone)
    return as_utc_naive(croniter(expr, start).get_next(datetime))
