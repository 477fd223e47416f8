"""The schedule's slots: defaults from the registry, settings, host-time conversion,
descriptions, next runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from tests.support.crontab import GRACE, LIMA, NOW, SLOTS, UTC_ZONE, install_into, job_lines, plan_for
from toolbox_cli.errors import ConfigError
from toolbox_cli.ledger import Run
from toolbox_cli.monitoring import monitor
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.settings import Settings


def test_default_slots_come_from_registered_tasks() -> None:
    slots = schedule.scheduled_slots(Settings(_env_file=None))
    mine = [(s.task, s.label, s.expr) for s in slots if s.task == "tablas-reportes"]
    assert mine == [("tablas-reportes", "07:00", "0 7 * * *"),
                    ("tablas-reportes", "18:00", "0 18 * * *")]


def test_settings_replace_or_switch_off_a_tasks_slots() -> None:
    defaults = {"tablas-reportes": ["0 7 * * *", "0 18 * * *"], "kpi": [], "tipo-cambio": ["30 6 * * *"]}
    slots = schedule.configured_slots(
        defaults, {"tablas-reportes": ["0 7,12 * * 1-5"], "kpi": ["45 6 * * *"], "tipo-cambio": []}
    )
    assert [(s.task, s.label, s.expr) for s in slots] == [
        ("kpi", "06:45", "45 6 * * *"),
        ("tablas-reportes", "07:00", "0 7 * * 1-5"),
        ("tablas-reportes", "12:00", "0 12 * * 1-5"),
    ]


@pytest.mark.parametrize("overrides, fragment", [
    ({"nope": ["0 7 * * *"]}, "unknown task"),
    ({"kpi": ["0 7-9 * * *"]}, "fixed minutes and hours"),
    ({"kpi": ["*/5 * * * *"]}, "fixed minutes and hours"),
    ({"kpi": ["0 7 * *"]}, "'0 7 \\* \\*' has 4 fields, a cron expression has 5"),
    # Each field one past its range is named (the hour of '0 25 * * *' is not "a field").
    ({"kpi": ["60 7 * * *"]}, "the minute field '60' is not valid"),
    ({"kpi": ["0 24 * * *"]}, "the hour field '24' is not valid"),
    ({"kpi": ["0 25 * * *"]}, "the hour field '25' is not valid"),
    ({"kpi": ["0 7 32 * *"]}, "the day of the month field '32' is not valid"),
    ({"kpi": ["0 7 0 * *"]}, "the day of the month field '0' is not valid"),
    ({"kpi": ["0 7 * 13 *"]}, "the month field '13' is not valid"),
    ({"kpi": ["0 7 * * 8"]}, "the day of the week field '8' is not valid"),
    ({"kpi": ["0 7 * * 1-5", "0 7 * * 6"]}, "two slots"),
])
def test_bad_slots_are_config_errors(overrides, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=fragment):
        schedule.configured_slots({"kpi": []}, overrides)


def test_every_field_at_its_last_value_is_a_slot() -> None:
    slots = schedule.configured_slots({"kpi": []}, {"kpi": ["59 23 31 12 7", "0 0 1 1 0"]})
    assert sorted((s.hour, s.minute) for s in slots) == [(0, 0), (23, 59)]


@pytest.mark.parametrize("host", ["UTC", "Etc/GMT-1", "Etc/GMT+7", "Asia/Kolkata",
                                  "Pacific/Kiritimati", "America/Lima"])
@pytest.mark.parametrize("expr", ["0 7 * * *", "0 18 * * *", "30 23 * * 1-5", "15 0 * * 0,6"])
def test_host_entry_fires_at_the_same_instants_as_the_lima_slot(host: str, expr: str) -> None:
    zone = ZoneInfo(host)
    (slot,) = schedule.parse_slots("t", expr)
    converted = schedule.to_host(slot, LIMA, zone, NOW)
    lima = croniter(expr, NOW.astimezone(LIMA))
    local = croniter(converted.expr, NOW.astimezone(zone))
    for _ in range(30):
        assert lima.get_next(datetime) == local.get_next(datetime)


def test_host_zone_with_daylight_saving_is_refused_unless_forced(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Europe/Paris .*daylight saving.*--force"):
        plan_for(ZoneInfo("Europe/Paris"))
    plan = plan_for(ZoneInfo("Europe/Paris"), force=True)
    assert "2027-03-28" in plan.warnings[0]  # the next clock change after NOW
    assert job_lines(install_into(tmp_path / "tab", plan))[0].startswith("0 13 * * * ")


def test_day_of_month_slot_that_changes_day_is_refused() -> None:
    (slot,) = schedule.parse_slots("t", "0 20 1 * *")
    with pytest.raises(ConfigError, match="days of the month"):
        schedule.to_host(slot, LIMA, UTC_ZONE, NOW)
    assert schedule.to_host(slot, LIMA, ZoneInfo("Etc/GMT+6"), NOW).expr == "0 19 1 * *"


def test_host_zone_is_read_from_the_localtime_link(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Etc/GMT-1")
    assert schedule.host_zone(link, tmp_path / "none").key == "Etc/GMT-1"
    assert schedule.host_zone(tmp_path / "missing", tmp_path / "none").key == "UTC"


def test_a_slot_is_described_in_spanish_at_its_lima_time() -> None:
    assert schedule.describe("0 7 * * *") == "Todos los días a las 07:00"
    assert schedule.describe("30 18 * * *") == "Todos los días a las 18:30"
    assert schedule.describe("30 7 * * 1-5") == "A las 07:30, de lunes a viernes"


def test_next_runs_are_lima_times() -> None:
    runs = schedule.next_runs("0 7 * * *", LIMA, NOW, 2)  # NOW is 08:00 in Lima
    assert [r.isoformat() for r in runs] == ["2026-11-29T07:00:00-05:00",
                                             "2026-11-30T07:00:00-05:00"]
    assert schedule.next_runs("0 18 * * *", LIMA, NOW, 1)[0].isoformat() == \
        "2026-11-28T18:00:00-05:00"


def lima(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A Lima wall time on November 2026 as naive UTC, the ledger's convention."""
    return (datetime(2026, 11, day, hour, minute, second, tzinfo=LIMA)
            .astimezone(UTC).replace(tzinfo=None))


def test_find_problems_is_pure_over_given_runs() -> None:
    def run(id_: int, status: str, started: datetime) -> Run:
        return Run(id_, "tablas-reportes", status, "cron", "07:00", {}, "h", 1, started, None,
                   None, None, {}, 0, [], None, None, "t", None)

    runs = [run(1, "failed", lima(28, 7, 0, 3))]
    problems = monitor.find_problems(SLOTS, runs, lima(28, 8, 0), GRACE, zone=LIMA,
                                     last_success={}, active_since={})
    assert [(p.kind, p.run_id) for p in problems] == [("failed", 1)]
    assert monitor.find_problems(SLOTS, runs, lima(28, 8, 0), GRACE, zone=LIMA,
                                 last_success={"tablas-reportes": lima(28, 7, 30)}) == []


@pytest.mark.parametrize("hour_utc", [0, 6, 7, 8, 12, 23])
def test_the_day_the_clock_changes_whatever_the_time_of_day_now(hour_utc: int) -> None:
    # New York springs forward on 2027-03-14 at 02:00 local (07:00 UTC); asked at any hour
    # of an earlier day, the day named is that one (stepping whole days from an hour before
    # 07:00 named the 15th).
    now = datetime(2026, 12, 3, hour_utc, 30, tzinfo=UTC)
    assert schedule.next_offset_change(ZoneInfo("America/New_York"), now) == date(2027, 3, 14)
    assert schedule.next_offset_change(ZoneInfo("America/Lima"), now) is None
