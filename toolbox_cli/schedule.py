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
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import crontab as _python_crontab
from cron_descriptor import Options, get_description
from croniter import croniter
from crontab import CronItem, CronTab

from toolbox_cli.errors import ConfigError

# python-crontab rewrites "0 0 * * *" as "@daily" (ours and everyone else's) unless told to
# keep every line as written; neither True nor False means exactly that.
_python_crontab.SPECIALS_CONVERSION = "as-written"

PROJECT_DIR = Path(__file__).resolve().parent.parent
WRAPPER = Path("scripts") / "toolbox-cron"

MARKER = "toolbox:"
MARKER_RE = re.compile(r"^toolbox:(?P<task>[A-Za-z0-9_.:-]+)@(?P<label>\d\d:\d\d)\b")
BLOCK_BEGIN = "# ---- toolbox schedule: BEGIN ----"
BLOCK_END = "# ---- toolbox schedule: END ----"

# Inside the block, above our MAILTO line: what cron mails the entries' output to, and the
# value a variable line above the block had (restored when the block goes). No "=" in it:
# python-crontab would read a comment holding "=" as a variable.
MAIL_COMMENT = "# toolbox: cron mails what these entries print (failures only) to "
MAIL_PREVIOUS = "; MAILTO above this block was "
_MAILTO_OK = re.compile(r"^[A-Za-z0-9._%+@,-]*$")

# Lines of a cron.d file name a user; Debian's cron skips cron.d files whose names have dots.
CRON_D_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


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


def parse_slots(task: str, expr: str) -> list[Slot]:
    """The slots of one cron expression; ``0 7,18 * * *`` gives two slots.

    Minute and hour must be numbers (or lists of numbers): each slot is a time of day,
    which is what can be converted to host time and watched for missed runs.
    """
    fields = expr.split()
    if len(fields) != 5 or not croniter.is_valid(expr):
        raise ConfigError(
            f"schedule of {task}: {expr!r} is not a 5-field cron expression (e.g. '0 7 * * *')"
        )
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
            f"TOOLBOX_SCHEDULE_SLOTS names unknown task(s) {', '.join(unknown)}; "
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


def scheduled_slots(settings) -> list[Slot]:  # type: ignore[no-untyped-def]
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
    """The first day within ``days`` whose UTC offset differs from now's (DST), or None."""
    current = _offset(zone, now)
    for day in range(1, days + 1):
        at = now + timedelta(days=day)
        if _offset(zone, at) != current:
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
    for value in values[1:] + [None]:  # type: ignore[list-item]
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


# ---------------------------------------------------------------- crontab entries


@dataclass(frozen=True)
class Entry:
    """One crontab line the toolbox writes for a slot."""

    host: HostTime
    command: str
    comment: str

    @property
    def slot(self) -> Slot:
        return self.host.slot


@dataclass
class InstallPlan:
    entries: list[Entry]
    business_zone: str
    host_zone: str
    run_as: str | None = None  # user column of a cron.d file
    warnings: list[str] = field(default_factory=list)
    mailto: str | None = None  # MAILTO for the toolbox's entries only

    def header(self) -> list[str]:
        return [
            BLOCK_BEGIN,
            "# Written by `toolbox schedule install`; `toolbox schedule remove` deletes it.",
            "# Do not edit by hand: change TOOLBOX_SCHEDULE_SLOTS and install again;",
            "# `toolbox schedule install --file /etc/cron.d/toolbox` writes a cron.d file instead.",
            f"# Times are host time ({self.host_zone}): Debian's cron ignores CRON_TZ, so each",
            f"# entry's comment gives the {self.business_zone} time it stands for.",
            "# scripts/toolbox-cron logs each run to <log dir>/<task>-<UTC time>-<pid>.log;",
            "# `toolbox status RUN_ID` shows the log of a run, `toolbox schedule show` the rest.",
        ]


def entry_command(slot: Slot, project_dir: Path, env_file: Path | None) -> str:
    """The wrapper call; the env file is passed absolute because cron starts in $HOME."""
    wrapper = shlex.quote(str(project_dir / WRAPPER))
    env = f"TOOLBOX_ENV_FILE={shlex.quote(str(env_file))} " if env_file else ""
    return f"{env}{wrapper} {slot.label} {shlex.quote(slot.task)}"


def build_plan(
    slots: Sequence[Slot],
    *,
    business: tzinfo,
    host: tzinfo,
    now: datetime,
    project_dir: Path = PROJECT_DIR,
    env_file: Path | None = None,
    run_as: str | None = None,
    force: bool = False,
    mailto: str | None = None,
) -> InstallPlan:
    """Everything ``install`` writes, computed without touching any crontab."""
    if env_file is not None and not env_file.is_absolute():
        raise ConfigError(f"env file {env_file} must be an absolute path for cron")
    if mailto is not None and (not mailto.strip() or not _MAILTO_OK.match(mailto.strip())):
        raise ConfigError(f"--mailto {mailto!r} is not a mail address (or a comma-separated "
                          "list of them), e.g. --mailto datos@empresa.pe")
    warnings = check_zones(business, host, now, force=force)
    entries = []
    for slot in slots:
        converted = to_host(slot, business, host, now)
        day = {-1: " (day before)", 1: " (next day)"}.get(converted.day_shift, "")
        comment = (
            f"{slot.marker} ({slot.label} {zone_name(business)}, "
            f"{converted.label}{day} {zone_name(host)}): {describe(slot.expr)}"
        )
        # python-crontab reads a comment line holding "=" as a variable: keep "=" out.
        comment = comment.replace("=", "-")
        entries.append(Entry(converted, entry_command(slot, project_dir, env_file), comment))
    return InstallPlan(entries, zone_name(business), zone_name(host), run_as, warnings,
                       mailto.strip() if mailto else None)


def is_managed(line: object) -> bool:
    return isinstance(line, CronItem) and bool(MARKER_RE.match(line.comment or ""))


def _check_parsable(tab: CronTab) -> None:
    """python-crontab comments out lines it cannot parse; refuse rather than touch them."""
    for line in tab.lines:
        if isinstance(line, str) and line.strip() and not line.strip().startswith("#"):
            raise ConfigError(
                f"the crontab has a line python-crontab cannot parse: {line.strip()!r}; "
                "fix it (crontab -e) so that installing does not disable it"
            )


class _EnvLines(CronItem):
    """Cron variable lines kept in place.

    python-crontab ties ``NAME=value`` lines to the job that follows them, and drops them
    when no job follows. When that job is one of ours (variables written just above our
    block) or there is none (variables at the end), this keeps the lines where they were.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__()
        self.valid = True
        self.text = "\n".join(f"{name}={value}" for name, value in env.items())

    def render(self) -> str:
        return self.text


def _jobs(lines: Iterable[object]) -> list[CronItem]:
    return [line for line in lines if isinstance(line, CronItem) and not isinstance(line, _EnvLines)]


def _adopt_trailing_env(tab: CronTab) -> None:
    parked = getattr(tab, "_parked_env", None)
    if parked:
        end = len(tab.lines)
        while end and isinstance(tab.lines[end - 1], str) and not tab.lines[end - 1].strip():
            end -= 1
        tab.lines.insert(end, _EnvLines(dict(parked)))
        parked.clear()


def strip_managed(tab: CronTab) -> tuple[int | None, list[CronItem]]:
    """Remove the toolbox block and every toolbox entry (wherever a human moved it).

    Returns where the block was (index into ``tab.lines``; variables written above our
    block stay above it) and the entries removed.
    """
    _adopt_trailing_env(tab)
    kept: list[object] = []
    removed: list[CronItem] = []
    env: dict[str, str] = {}
    position: int | None = None
    inside = False
    ours: tuple[str, str | None] | None = None  # our MAILTO and the one it shadowed
    for line in tab.lines:
        if isinstance(line, str):
            text = line.strip()
            if text == BLOCK_BEGIN:
                inside = True
                position = len(kept) if position is None else position
                continue
            if text == BLOCK_END:
                inside = False
                continue
            if inside and text.startswith(MAIL_COMMENT.strip()):
                ours = _parse_mail_comment(text)
                continue
            if inside and text.startswith("#"):
                continue  # the block's header
            inside = inside and bool(text)
            kept.append(line)
        elif is_managed(line):
            position = len(kept) if position is None else position
            removed.append(line)
            env.update(line.env)
        else:
            if isinstance(line, CronItem) and f"# {line.comment}" == BLOCK_END:
                # A job written right below our block: python-crontab read our END marker
                # as that job's comment. The marker is ours; the job is not.
                line.set_comment("")
            inside = False
            kept.append(line)
    if ours is not None:
        # Our MAILTO line was read as the first entry's variable, or as the crontab's own
        # when no job comes before the block: take it back, and give back what it shadowed.
        for found in (env, tab.env):
            if found.get("MAILTO") == ours[0]:
                del found["MAILTO"]
                if ours[1] is not None:
                    found["MAILTO"] = ours[1]
    if env and position is not None:
        kept.insert(position, _EnvLines(env))
        position += 1
    tab.lines[:] = kept
    tab.crons[:] = _jobs(kept)
    return position, removed


def _parse_mail_comment(text: str) -> tuple[str, str | None]:
    rest = text[len(MAIL_COMMENT.strip()):].strip()
    address, found, previous = rest.partition(MAIL_PREVIOUS.strip())
    if not found:
        return address.strip(), None
    previous = previous.strip()
    return address.strip(), "" if previous == '""' else previous


def _shadowed_mailto(lines: Sequence[object]) -> str | None:
    """A MAILTO set by variable lines right above the insertion point: cron (and
    python-crontab) would read our MAILTO line as replacing it, so the mail comment keeps it."""
    for line in reversed(lines):
        if isinstance(line, str) and not line.strip():
            continue
        if isinstance(line, _EnvLines):
            values = dict(pair.partition("=")[::2] for pair in line.text.splitlines())
            value = values.get("MAILTO")
            return None if value is None else value.strip().strip('"')
        return None
    return None


def _trim_trailing_blanks(lines: list[object]) -> None:
    while lines and isinstance(lines[-1], str) and not lines[-1].strip():
        lines.pop()


def apply_plan(tab: CronTab, plan: InstallPlan) -> None:
    """Replace the toolbox's block in ``tab`` (in memory) by the plan's entries. Idempotent."""
    _check_parsable(tab)
    position, _removed = strip_managed(tab)
    system_format = tab.user is False
    items: list[object] = list(plan.header())
    if plan.mailto and position is not None and _jobs(tab.lines[position:]):
        # A MAILTO line applies to every entry below it: the block moves to the end so that
        # no foreign entry falls under it.
        position = None
    if plan.mailto:
        previous = _shadowed_mailto(tab.lines if position is None else tab.lines[:position])
        items.append(MAIL_COMMENT + plan.mailto
                     + (MAIL_PREVIOUS + (previous or '""') if previous is not None else ""))
        items.append(_EnvLines({"MAILTO": plan.mailto}))
    for entry in plan.entries:
        item = CronItem(entry.command, entry.comment,
                        user=plan.run_as if system_format else None, pre_comment=True)
        item.cron = tab
        item.setall(entry.host.expr)
        items.append(item)
    items.append(BLOCK_END)
    if position is None:
        _trim_trailing_blanks(tab.lines)
        # A blank line sets the block apart, except after trailing variables: those would
        # then be read back as belonging to our first entry, with the blank line before them.
        if tab.lines and not isinstance(tab.lines[-1], _EnvLines):
            items.insert(0, "")
        position = len(tab.lines)
    tab.lines[position:position] = items
    tab.crons[:] = _jobs(tab.lines)
    if system_format and plan.entries and not plan.run_as:
        raise ConfigError("a cron.d file needs the user each entry runs as; pass --user")


def remove_entries(tab: CronTab) -> int:
    """Remove the toolbox's block (in memory); returns how many entries went."""
    _check_parsable(tab)
    position, removed = strip_managed(tab)
    if position is not None:
        _trim_trailing_blanks(tab.lines)
    return len(removed)


@dataclass(frozen=True)
class InstalledEntry:
    task: str
    label: str  # Lima HH:MM
    host_expr: str
    enabled: bool
    command: str


def installed_entries(tab: CronTab) -> dict[str, InstalledEntry]:
    """The toolbox entries present in ``tab``, by marker (``toolbox:<task>@<HH:MM>``)."""
    found = {}
    for item in tab.crons:
        match = MARKER_RE.match(item.comment or "")
        if match:
            marker = f"{MARKER}{match['task']}@{match['label']}"
            found[marker] = InstalledEntry(
                match["task"], match["label"], str(item.slices), item.is_enabled(),
                item.command or "",
            )
    return found


# ---------------------------------------------------------------- opening crontabs


def check_cron_d_path(path: Path) -> None:
    if path.parent == Path("/etc/cron.d") and not CRON_D_NAME.match(path.name):
        raise ConfigError(
            f"Debian's cron ignores {path}: names in /etc/cron.d may only have letters, "
            "digits, '-' and '_'; use e.g. /etc/cron.d/toolbox"
        )


def open_crontab(file: Path | None = None, *, system_format: bool = False) -> CronTab:
    """The user's crontab (``crontab -l``), or a file; ``system_format`` has the user column."""
    if file is None:
        try:
            return CronTab(user=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the user's crontab ({exc}); install cron "
                "(apt-get install cron) or write a file with --file"
            ) from None
    user = False if system_format else None
    if not file.exists():
        tab = CronTab(tab="", user=user)
        tab.filen = str(file)
        tab.intab = None
        return tab
    return CronTab(tabfile=str(file), user=user)


def write_crontab(tab: CronTab, file: Path | None = None) -> None:
    try:
        if file is None:
            tab.write()
        else:
            tab.write(str(file))
            # cron refuses cron.d files writable by group or others.
            os.chmod(file, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot write the crontab: {exc}") from None


# ---------------------------------------------------------------- the cron wrapper


def wrapper_info() -> None:
    """Print the log directory, the log retention and the metrics textfile (empty when not
    set) for ``scripts/toolbox-cron``, one per line."""
    from toolbox_cli.settings import load_settings

    settings = load_settings()
    print(settings.resolved_log_dir)
    print(settings.log_retention_days)
    print(settings.metrics_textfile.expanduser().resolve() if settings.metrics_textfile else "")


def utc_now() -> datetime:
    return datetime.now(UTC)
