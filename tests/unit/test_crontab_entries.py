"""The toolbox's block in a crontab file: built in host time, installed, reinstalled and
removed without touching anything else.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from crontab import CronTab

from tests.support.crontab import UTC_ZONE, install_into, job_lines, plan_for
from toolbox_cli.errors import ConfigError
from toolbox_cli.schedule import entries

GMT_PLUS_1 = ZoneInfo("Etc/GMT-1")  # POSIX sign: "GMT-1" is UTC+1, no DST


FOREIGN = (
    "MAILTO=ops@example.com\n"
    "# nightly backup, keep\n"
    "30 2 * * mon-fri /usr/local/bin/backup --all > /dev/null 2>&1\n"
    "*/10 9-17 * * 1-5 echo hi # inline note\n"
    "@reboot /usr/bin/true\n"
    "0 0 * * * /usr/bin/midnight\n"
    "# 15 3 * * * /usr/bin/disabled-job\n"
)


def test_utc_host_entries_in_a_tabfile(tmp_path: Path) -> None:
    text = install_into(tmp_path / "tab", plan_for(UTC_ZONE))
    assert job_lines(text) == [
        "0 12 * * * /opt/toolbox/scripts/toolbox-cron 07:00 tablas-reportes",
        "0 23 * * * /opt/toolbox/scripts/toolbox-cron 18:00 tablas-reportes",
    ]
    assert ("# toolbox:tablas-reportes@07:00 (07:00 America/Lima, 12:00 UTC): "
            "Todos los días a las 07:00") in text.splitlines()


def test_utc_plus_one_host_moves_late_slots_to_the_next_day(tmp_path: Path) -> None:
    plan = plan_for(GMT_PLUS_1, {"tablas-reportes": ["0 7 * * *", "0 18 * * *"],
                                 "kpi": ["30 23 * * 1-5"]})
    text = install_into(tmp_path / "tab", plan)
    assert job_lines(text) == [
        "0 13 * * * /opt/toolbox/scripts/toolbox-cron 07:00 tablas-reportes",
        "0 0 * * * /opt/toolbox/scripts/toolbox-cron 18:00 tablas-reportes",
        "30 5 * * 2-6 /opt/toolbox/scripts/toolbox-cron 23:30 kpi",
    ]
    assert "(18:00 America/Lima, 00:00 (next day) Etc/GMT-1)" in text


def test_install_twice_leaves_the_same_crontab(tmp_path: Path) -> None:
    path = tmp_path / "tab"
    path.write_text(FOREIGN)
    first = install_into(path, plan_for())
    second = install_into(path, plan_for())
    assert first == second
    assert len(entries.installed_entries(CronTab(tabfile=str(path)))) == 2


def test_reinstall_replaces_entries_in_place(tmp_path: Path) -> None:
    path = tmp_path / "tab"
    install_into(path, plan_for())
    with path.open("a") as fh:
        fh.write("5 5 * * * /usr/bin/after-the-block\n")
    text = install_into(path, plan_for(slots={"tablas-reportes": ["0 9 * * *"]}))
    assert job_lines(text) == [
        "0 14 * * * /opt/toolbox/scripts/toolbox-cron 09:00 tablas-reportes",
        "5 5 * * * /usr/bin/after-the-block",
    ]
    assert text.count(entries.BLOCK_BEGIN) == 1


def test_foreign_entries_are_untouched_and_remove_restores_them(tmp_path: Path) -> None:
    path = tmp_path / "tab"
    path.write_text(FOREIGN)
    text = install_into(path, plan_for())
    assert text.startswith(FOREIGN + "\n" + entries.BLOCK_BEGIN + "\n")
    tab = CronTab(tabfile=str(path))
    assert entries.remove_entries(tab) == 2
    entries.write_crontab(tab, path)
    assert path.read_text() == FOREIGN


@pytest.mark.parametrize("original", [
    "0 1 * * * /usr/bin/a\nMAILTO=last@example.com\n",  # variables after the last job
    "MAILTO=only@example.com\n",
    "",
])
def test_cron_variables_around_the_block_stay_where_they_were(tmp_path: Path, original: str) -> None:
    path = tmp_path / "tab"
    path.write_text(original)
    first = install_into(path, plan_for())
    assert original in first
    assert install_into(path, plan_for()) == first
    tab = CronTab(tabfile=str(path))
    entries.remove_entries(tab)
    entries.write_crontab(tab, path)
    assert path.read_text() == original


def test_moved_or_commented_out_entries_are_still_ours(tmp_path: Path) -> None:
    path = tmp_path / "tab"
    text = install_into(path, plan_for())
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("0 23 "))
    lines[i] = "# " + lines[i]  # a sysadmin paused the 18:00 slot
    path.write_text("\n".join(lines) + "\n")
    found = entries.installed_entries(CronTab(tabfile=str(path)))
    assert found["toolbox:tablas-reportes@18:00"].enabled is False
    assert found["toolbox:tablas-reportes@07:00"].enabled is True
    assert install_into(path, plan_for()) == text


def test_unparsable_foreign_line_stops_the_install(tmp_path: Path) -> None:
    path = tmp_path / "tab"
    path.write_text("this is not cron\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        install_into(path, plan_for())
    assert path.read_text() == "this is not cron\n"


def test_env_file_goes_into_the_entry_as_an_absolute_path(tmp_path: Path) -> None:
    plan = plan_for(env_file=Path("/etc/toolbox/toolbox env"))
    assert plan.entries[0].command == (
        "TOOLBOX_ENV_FILE='/etc/toolbox/toolbox env' /opt/toolbox/scripts/toolbox-cron "
        "07:00 tablas-reportes"
    )
    with pytest.raises(ConfigError, match="absolute"):
        plan_for(env_file=Path("toolbox.env"))
