"""The toolbox's entries in the system crontab: build, apply, find and remove them.

The entries are one block in the crontab, each entry found by its marker comment
``toolbox:<task>@<HH:MM Lima>``; nothing else in the crontab is ever removed or rewritten
by the toolbox (python-crontab re-renders foreign lines with single spaces between fields).
The entries are in host time, converted from the slots' Lima time (``slots.py``).

No Typer here: ``toolbox_cli/cli/cmd_schedule.py`` is the thin shell around this module.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import crontab as _python_crontab
from crontab import CronItem, CronTab

from toolbox_cli.errors import ConfigError
from toolbox_cli.schedule.slots import MARKER, HostTime, Slot, check_zones, describe, to_host, zone_name

# python-crontab rewrites "0 0 * * *" as "@daily" (ours and everyone else's) unless told to
# keep every line as written; neither True nor False means exactly that.
# (The stubs type the setting as a bool, which it is not: set it by name.)
setattr(_python_crontab, "SPECIALS_CONVERSION", "as-written")  # noqa: B010

PROJECT_DIR = Path(__file__).resolve().parents[2]  # the checkout: toolbox_cli/schedule/entries.py
WRAPPER = Path("scripts") / "toolbox-cron"

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


def _lines(tab: CronTab) -> list[Any]:
    """``tab.lines``: a list once the crontab is read (the stubs allow None)."""
    assert tab.lines is not None
    return tab.lines


def _crons(tab: CronTab) -> list[CronItem]:
    assert tab.crons is not None
    return tab.crons


def _env(tab: CronTab) -> dict[str, str]:
    assert tab.env is not None
    return tab.env


def is_managed(line: object) -> bool:
    return isinstance(line, CronItem) and bool(MARKER_RE.match(line.comment or ""))


def _check_parsable(tab: CronTab) -> None:
    """python-crontab comments out lines it cannot parse; refuse rather than touch them."""
    for line in _lines(tab):
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
        end = len(_lines(tab))
        while end and isinstance(_lines(tab)[end - 1], str) and not _lines(tab)[end - 1].strip():
            end -= 1
        _lines(tab).insert(end, _EnvLines(dict(parked)))
        parked.clear()


def strip_managed(tab: CronTab) -> tuple[int | None, list[CronItem]]:
    """Remove the toolbox block and every toolbox entry (wherever a human moved it).

    Returns where the block was (index into ``_lines(tab)``; variables written above our
    block stay above it) and the entries removed.
    """
    _adopt_trailing_env(tab)
    kept: list[object] = []
    removed: list[CronItem] = []
    env: dict[str, str] = {}
    position: int | None = None
    inside = False
    ours: tuple[str, str | None] | None = None  # our MAILTO and the one it shadowed
    for line in _lines(tab):
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
        for found in (env, _env(tab)):
            if found.get("MAILTO") == ours[0]:
                del found["MAILTO"]
                if ours[1] is not None:
                    found["MAILTO"] = ours[1]
    if env and position is not None:
        kept.insert(position, _EnvLines(env))
        position += 1
    _lines(tab)[:] = kept
    _crons(tab)[:] = _jobs(kept)
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
    if plan.mailto and position is not None and _jobs(_lines(tab)[position:]):
        # A MAILTO line applies to every entry below it: the block moves to the end so that
        # no foreign entry falls under it.
        position = None
    if plan.mailto:
        previous = _shadowed_mailto(_lines(tab) if position is None else _lines(tab)[:position])
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
        _trim_trailing_blanks(_lines(tab))
        # A blank line sets the block apart, except after trailing variables: those would
        # then be read back as belonging to our first entry, with the blank line before them.
        if _lines(tab) and not isinstance(_lines(tab)[-1], _EnvLines):
            items.insert(0, "")
        position = len(_lines(tab))
    _lines(tab)[position:position] = items
    _crons(tab)[:] = _jobs(_lines(tab))
    if system_format and plan.entries and not plan.run_as:
        raise ConfigError("a cron.d file needs the user each entry runs as; pass --user")


def remove_entries(tab: CronTab) -> int:
    """Remove the toolbox's block (in memory); returns how many entries went."""
    _check_parsable(tab)
    position, removed = strip_managed(tab)
    if position is not None:
        _trim_trailing_blanks(_lines(tab))
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
    for item in _crons(tab):
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


NO_CRONTAB = ("no crontab program here, so the user's crontab cannot be read or written; "
              "install Debian's package cron (sudo apt-get install cron), or write a cron.d "
              "file with --file /etc/cron.d/toolbox")


def _crontab_error(exc: OSError, doing: str) -> ConfigError:
    """One line for a failing ``crontab`` program; its absence (python-crontab's "No crontab
    program '/usr/bin/crontab'", a container without cron) named as the package to install."""
    if "no crontab program" in str(exc).lower():
        return ConfigError(NO_CRONTAB)
    return ConfigError(f"cannot {doing} the user's crontab: {exc}")


def open_crontab(file: Path | None = None, *, system_format: bool = False) -> CronTab:
    """The user's crontab (``crontab -l``), or a file; ``system_format`` has the user column."""
    if file is None:
        try:
            return CronTab(user=True)
        except OSError as exc:
            raise _crontab_error(exc, "read") from None
    user = False if system_format else None
    if not file.exists():
        tab = CronTab(tab="", user=user)
        tab.filen = str(file)
        tab.intab = None
        return tab
    return CronTab(tabfile=str(file), user=user)


def write_crontab(tab: CronTab, file: Path | None = None) -> None:
    if file is None:
        try:
            tab.write()
        except OSError as exc:
            raise _crontab_error(exc, "write") from None
        return
    try:
        tab.write(str(file))
        # cron refuses cron.d files writable by group or others.
        os.chmod(file, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot write the crontab: {exc}") from None


def holds_nothing(tab: CronTab) -> bool:
    """Nothing but blank lines left: a cron.d file that only held the toolbox's block is
    removed rather than left empty behind (``schedule remove --file``)."""
    return not tab.render().strip()


# ---------------------------------------------------------------- the cron wrapper


def wrapper_info() -> None:
    """Print the log directory, the log retention, the metrics textfile (empty when not
    set), the business time zone and the status directory (empty when not set) for
    ``scripts/toolbox-cron``, one per line."""
    from toolbox_cli.settings import load_settings

    settings = load_settings(warn_unknown=False)  # stdout is parsed: no warning lines
    print(settings.resolved_log_dir)
    print(settings.log_retention_days)
    print(settings.metrics_textfile.expanduser().resolve() if settings.metrics_textfile else "")
    print(settings.timezone)
    print(settings.status_dir.expanduser().resolve() if settings.status_dir else "")
