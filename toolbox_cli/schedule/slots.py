"""The schedule: which task runs when, and its entries in the system crontab.

A *slot* is one daily time (with optional day restrictions) at which a task runs, written
as a cron expression in business time (America/Lima). The slots are each registered task's
default ``schedule``, replaced per task by ``settings.schedule_slots``.

Debian's cron ignores ``CRON_TZ``: it fires in the zone of the daemon (``/etc/localtime``).
So the entries are written in host time, converted from Lima time, with the Lima time in
each entry's comment. A fixed offset between the two zones is what makes one conversion
right all year; Lima has no DST, and a host zone with DST is refused unless forced.

The toolbox's entries are one block in the crontab, each entry found by its marker comment
``toolbox:<task>@<HH:MM Lima>``; nothing else in the crontab is ever removed or rewritten
by the toolbox (python-crontab re-renders foreign lines with single spaces between fields).

No Typer here: ``toolbox_cli/cli/cmd_schedule.py`` is the thin shell around this module.
"""

from __future__ import annotations

import calendar
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from croniter import croniter

from toolbox_cli.errors import ConfigError
from toolbox_cli.words import count, plural

if TYPE_CHECKING:
    from toolbox_cli.settings import Settings


# Each crontab entry's comment starts with the marker of its slot (``Slot.marker``).
MARKER = "toolbox:"

# ---------------------------------------------------------------- slots


@dataclass(frozen=True, order=True)
class Slot:
    """One scheduled time of one task, in business time (Lima)."""

    hour: int
    minute: int
    task: str
    expr: str  # cron expression in business time, minute and hour single numbers

    @property
    def label(self) -> str:
        """``HH:MM`` in Lima: the ledger's ``slot`` column and the wrapper's first argument."""
        return f"{self.hour:02d}:{self.minute:02d}"

    @property
    def marker(self) -> str:
        return f"{MARKER}{self.task}@{self.label}"


_FIELDS = (("minute", "0-59"), ("hour", "0-23"), ("day of the month", "1-31"),
           ("month", "1-12 or jan-dec"), ("day of the week", "0-7 or sun-sat"))


def _bad_field(fields: list[str]) -> str:
    """Which field of a 5-field expression croniter refuses, each tried alone."""
    for i, (name, allowed) in enumerate(_FIELDS):
        alone = " ".join(fields[i] if j == i else "*" for j in range(5))
        if not croniter.is_valid(alone):
            return f"the {name} field {fields[i]!r} is not valid ({allowed})"
    return "not a valid cron expression"


def parse_slots(task: str, expr: str) -> list[Slot]:
    """The slots of one cron expression; ``0 7,18 * * *`` gives two slots.

    Minute and hour must be numbers (or lists of numbers): each slot is a time of day,
    which is what can be converted to host time and watched for missed runs.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(
            f"schedule of {task}: {expr!r} has {count(len(fields), 'field')}, a cron "
            "expression has 5 (minute hour day month weekday, e.g. '0 7 * * *')")
    if not croniter.is_valid(expr):
        raise ConfigError(f"schedule of {task}: {expr!r}: {_bad_field(fields)} "
                          "(e.g. '0 7 * * *')")
    try:
        minutes = [int(v) for v in fields[0].split(",")]
        hours = [int(v) for v in fields[1].split(",")]
    except ValueError:
        raise ConfigError(
            f"schedule of {task}: {expr!r} must name fixed minutes and hours "
            "(e.g. '30 7 * * 1-5' or '0 7,18 * * *'), not ranges or steps"
        ) from None
    rest = " ".join(fields[2:])
    return [Slot(h, m, task, f"{m} {h} {rest}") for h in hours for m in minutes]


def configured_slots(
    tasks: Mapping[str, Sequence[str]], overrides: Mapping[str, Sequence[str]]
) -> list[Slot]:
    """Slots from the tasks' default schedules, each task's replaced by ``overrides``.

    ``tasks`` maps every registered task to its default expressions; an override with an
    empty list turns a task's schedule off. Sorted by Lima time, then task.
    """
    unknown = sorted(set(overrides) - set(tasks))
    if unknown:
        raise ConfigError(
            f"TOOLBOX_SCHEDULE_SLOTS names unknown {plural('task', len(unknown))} "
            f"{', '.join(unknown)}; "
            f"known: {', '.join(sorted(tasks))}"
        )
    slots: list[Slot] = []
    for task, defaults in tasks.items():
        for expr in overrides.get(task, defaults):
            slots.extend(parse_slots(task, expr))
    seen: set[str] = set()
    for slot in slots:
        if slot.marker in seen:
            raise ConfigError(
                f"{slot.task} has two slots at {slot.label} Lima; merge their days into one "
                "expression (e.g. '0 7 * * 1-6')"
            )
        seen.add(slot.marker)
    return sorted(slots)


def scheduled_slots(settings: Settings) -> list[Slot]:
    """Every slot of every registered task, as configured (settings.schedule_slots)."""
    from toolbox_cli.registry import all_tasks

    defaults = {name: spec.schedule for name, spec in all_tasks().items()}
    return configured_slots(defaults, settings.schedule_slots)


# ---------------------------------------------------------------- time zones


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


def host_zone(
    localtime: Path = Path("/etc/localtime"), timezone_file: Path = Path("/etc/timezone")
) -> ZoneInfo:
    """The zone the cron daemon fires in: the system zone (``/etc/localtime``).

    ``TZ`` of the shell running ``schedule install`` is deliberately not used: a daemon
    started by the init system does not see it (``--host-tz`` says otherwise explicitly).
    """
    if localtime.exists():
        real = os.path.realpath(localtime)
        if "/zoneinfo/" in real:
            try:
                return ZoneInfo(real.split("/zoneinfo/", 1)[1])
            except (ZoneInfoNotFoundError, ValueError):
                pass
        if timezone_file.is_file():
            name = timezone_file.read_text().strip()
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        with localtime.open("rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    return ZoneInfo("UTC")


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}; use a name like UTC, Europe/Madrid or Etc/GMT-1"
        ) from None


def _offset(zone: tzinfo, at: datetime) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def next_offset_change(zone: tzinfo, now: datetime, days: int = 731) -> date | None:
    """The local day, within ``days``, on which the zone's UTC offset first changes from
    now's (DST), or None. Days are stepped from now, so the change is then narrowed to the
    minute: stepping alone names the day after when now's time of day falls before the
    change's (2027-03-15 for New York's 2027-03-14 07:00 UTC)."""
    current = _offset(zone, now)
    for day in range(1, days + 1):
        at = now + timedelta(days=day)
        if _offset(zone, at) != current:
            before = at - timedelta(days=1)  # still on the old offset
            while at - before > timedelta(minutes=1):
                middle = before + (at - before) / 2
                if _offset(zone, middle) != current:
                    at = middle
                else:
                    before = middle
            return at.astimezone(zone).date()
    return None


def check_zones(business: tzinfo, host: tzinfo, now: datetime, *, force: bool) -> list[str]:
    """Refuse (ConfigError) a conversion that would be wrong part of the year.

    Returns warnings when ``force`` let a changing offset through.
    """
    warnings = []
    for zone, role in ((host, "the host zone"), (business, "the business zone")):
        change = next_offset_change(zone, now)
        if change is None:
            continue
        message = (
            f"{role} {zone_name(zone)} changes its UTC offset (daylight saving) on {change}; "
            "cron fires in host time, so the entries are right only until then"
        )
        if not force:
            raise ConfigError(
                message + "; set the host to UTC (recommended) or pass --force and "
                "reinstall after every clock change"
            )
        warnings.append(message + f"; run `toolbox schedule install --force` again on {change}")
    return warnings


@dataclass(frozen=True)
class HostTime:
    """A slot converted to the host's zone."""

    slot: Slot
    expr: str  # cron expression in host time
    day_shift: int  # -1, 0 or +1: the host's date relative to Lima's at the firing

    @property
    def label(self) -> str:
        minute, hour = self.expr.split()[:2]
        return f"{int(hour):02d}:{int(minute):02d}"


def _compress(days: Iterable[int]) -> str:
    """Day-of-week numbers as a cron field: [1,2,3,5] -> '1-3,5'."""
    values = sorted(set(days))
    parts: list[str] = []
    start = prev = values[0]
    following: list[int | None] = [*values[1:], None]
    for value in following:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ",".join(parts)


def to_host(slot: Slot, business: tzinfo, host: tzinfo, now: datetime) -> HostTime:
    """Convert a Lima slot to host time with the offsets in force at ``now``.

    When the conversion crosses midnight, the day-of-week field moves with it; a slot
    restricted by day of month or month cannot move that way and is refused.
    """
    delta = _offset(host, now) - _offset(business, now)
    total = slot.hour * 60 + slot.minute + int(delta.total_seconds() // 60)
    day_shift, minutes = divmod(total, 24 * 60)
    hour, minute = divmod(minutes, 60)
    _m, _h, dom, month, dow = slot.expr.split()
    if day_shift:
        if dom != "*" or month != "*":
            raise ConfigError(
                f"slot {slot.expr!r} of {slot.task} falls on another day in host time "
                f"({zone_name(host)}) and names days of the month; use day-of-week fields "
                "or put the host on UTC"
            )
        if dow != "*":
            days = croniter(slot.expr).expanded[4]
            dow = _compress((int(d) + day_shift) % 7 for d in days)
    return HostTime(slot, f"{minute} {hour} {dom} {month} {dow}", day_shift)


# ---------------------------------------------------------------- descriptions, next runs

_DAYS_ES = dict(zip(
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"], strict=True,
))
_MONTHS_ES = dict(zip(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"],
    ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
     "octubre", "noviembre", "diciembre"], strict=True,
))


def describe(expr: str) -> str:
    """A Spanish description, as the old dashboard showed: 'Todos los días a las 07:00'.

    Daily times get the dashboard's wording; anything else comes from cron-descriptor in
    Spanish (whose day and month names follow the process locale, so they are translated).
    """
    minute, hour, dom, month, dow = expr.split()
    if (dom, month, dow) == ("*", "*", "*") and minute.isdigit() and hour.isdigit():
        return f"Todos los días a las {int(hour):02d}:{int(minute):02d}"
    options = Options()
    options.locale_code = "es_ES"
    options.use_24hour_time_format = True
    text = get_description(expr, options)
    names = dict(zip(calendar.day_name, _DAYS_ES.values(), strict=True))
    names.update(zip(list(calendar.month_name)[1:], _MONTHS_ES.values(), strict=True))
    names.update(_DAYS_ES)
    names.update(_MONTHS_ES)
    for english, spanish in names.items():
        text = re.sub(rf"\b{re.escape(english)}\b", spanish, text)
    return text


def next_runs(expr: str, zone: tzinfo, now: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` firings of a business-time expression, aware, in ``zone``."""
    it = croniter(expr, now.astimezone(zone))
    return [it.get_next(datetime) for _ in range(count)]

