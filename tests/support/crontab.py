"""The schedule of the tests: the default slots of tablas-reportes, a fixed "now", and
crontab files built and installed from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from crontab import CronTab

from toolbox_cli.schedule import entries
from toolbox_cli.schedule import slots as schedule

LIMA = ZoneInfo("America/Lima")
UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)  # 08:00 Lima
DEFAULT_SLOTS = {"tablas-reportes": ["0 7 * * *", "0 18 * * *"]}
SLOTS = schedule.configured_slots(DEFAULT_SLOTS, {})
GRACE = timedelta(minutes=15)  # TOOLBOX_MISSED_GRACE_MINUTES' default


def plan_for(host: ZoneInfo = UTC_ZONE, slots: dict[str, list[str]] = DEFAULT_SLOTS,
             **kw: object) -> entries.InstallPlan:
    return entries.build_plan(
        schedule.configured_slots(slots, {}), business=LIMA, host=host, now=NOW,
        project_dir=Path("/opt/toolbox"), **kw,  # type: ignore[arg-type]  # the plan's options
    )


def install_into(path: Path, plan: entries.InstallPlan) -> str:
    tab = entries.open_crontab(path) if not path.exists() else CronTab(tabfile=str(path))
    entries.apply_plan(tab, plan)
    entries.write_crontab(tab, path)
    return path.read_text()


def job_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]
