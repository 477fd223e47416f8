"""Schedule: slots, Lima -> host time, crontab entries, the cron wrapper, late and missed runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import crontab as python_crontab
import pytest
from croniter import croniter
from crontab import CronTab
from sqlalchemy import insert
from typer.testing import CliRunner

from toolbox_cli import crontab_entries as entries
from toolbox_cli import ledger, monitor, schedule
from toolbox_cli.cli import app
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.errors import ConfigError
from toolbox_cli.ledger import Run
from toolbox_cli.settings import Settings
from toolbox_cli.storage.tables.ledger import runs as runs_table

LIMA = ZoneInfo("America/Lima")
UTC_ZONE = ZoneInfo("UTC")
GMT_PLUS_1 = ZoneInfo("Etc/GMT-1")  # POSIX sign: "GMT-1" is UTC+1, no DST
NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)  # 08:00 Lima
REPO = Path(__file__).resolve().parent.parent
DEFAULT_SLOTS = {"tablas-reportes": ["0 7 * * *", "0 18 * * *"]}

FOREIGN = (
    "MAILTO=ops@example.com\n"
    "# nightly backup, keep\n"
    "30 2 * * mon-fri /usr/local/bin/backup --all > /dev/null 2>&1\n"
    "*/10 9-17 * * 1-5 echo hi # inline note\n"
    "@reboot /usr/bin/true\n"
    "0 0 * * * /usr/bin/midnight\n"
    "# 15 3 * * * /usr/bin/disabled-job\n"
)


def plan_for(host=UTC_ZONE, slots=DEFAULT_SLOTS, **kw) -> entries.InstallPlan:  # type: ignore[no-untyped-def]
    return entries.build_plan(
        schedule.configured_slots(slots, {}), business=LIMA, host=host, now=NOW,
        project_dir=Path("/opt/toolbox"), **kw,
    )


def install_into(path: Path, plan: entries.InstallPlan) -> str:
    tab = entries.open_crontab(path) if not path.exists() else CronTab(tabfile=str(path))
    entries.apply_plan(tab, plan)
    entries.write_crontab(tab, path)
    return path.read_text()


def job_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# ---------------------------------------------------------------- slots


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
    ({"kpi": ["0 7 * *"]}, "5-field"),
    ({"kpi": ["0 7 * * 1-5", "0 7 * * 6"]}, "two slots"),
])
def test_bad_slots_are_config_errors(overrides, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=fragment):
        schedule.configured_slots({"kpi": []}, overrides)


# ---------------------------------------------------------------- time zones


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


# ---------------------------------------------------------------- crontab entries


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


def test_spanish_descriptions() -> None:
    assert schedule.describe("0 7 * * *") == "Todos los días a las 07:00"
    assert schedule.describe("30 18 * * *") == "Todos los días a las 18:30"
    assert schedule.describe("30 7 * * 1-5") == "A las 07:30, de lunes a viernes"


def test_next_runs_are_lima_times() -> None:
    runs = schedule.next_runs("0 7 * * *", LIMA, NOW, 2)  # NOW is 08:00 in Lima
    assert [r.isoformat() for r in runs] == ["2026-11-29T07:00:00-05:00",
                                             "2026-11-30T07:00:00-05:00"]
    assert schedule.next_runs("0 18 * * *", LIMA, NOW, 1)[0].isoformat() == \
        "2026-11-28T18:00:00-05:00"


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli(toolbox_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the CLI with a user crontab that is empty (a stand-in `crontab` program)."""
    fake = tmp_path / "crontab"
    fake.write_text('#!/bin/sh\n[ "$1" = -l ] && { echo "no crontab for $(id -un)" >&2; exit 1; }\n'
                    'exit 99\n')
    fake.chmod(0o755)
    monkeypatch.setattr(python_crontab, "CRON_COMMAND", str(fake))
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        reset_settings()
        result = runner.invoke(app, list(args), catch_exceptions=False)
        reset_settings()
        return result

    return invoke


def test_crontab_file_is_what_dry_run_prints_for_a_default_install(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("schedule", "install", "--dry-run", "--host-tz", "UTC",
                 "--project-dir", "/opt/toolbox")
    assert result.exit_code == 0, result.output
    committed = (REPO / "crontab" / "toolbox.cron").read_text()
    assert result.stdout == committed, (
        "crontab/toolbox.cron is stale; regenerate it with: .venv/bin/toolbox schedule install "
        "--dry-run --host-tz UTC --project-dir /opt/toolbox > crontab/toolbox.cron"
    )
    assert "0 12 * * * /opt/toolbox/scripts/toolbox-cron 07:00 tablas-reportes" in committed
    assert "0 23 * * * /opt/toolbox/scripts/toolbox-cron 18:00 tablas-reportes" in committed


def test_cli_writes_a_cron_d_file_with_the_user_column(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "toolbox"
    result = cli("schedule", "install", "--file", str(path), "--user", "toolbox",
                 "--host-tz", "Etc/GMT-1")
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert f"0 13 * * * toolbox {REPO}/scripts/toolbox-cron 07:00 tablas-reportes" in text
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert cli("schedule", "install", "--file", str(path), "--user", "toolbox",
               "--host-tz", "Etc/GMT-1").exit_code == 0
    assert path.read_text() == text

    shown = cli("schedule", "show", "--json", "--file", str(path), "--host-tz", "Etc/GMT-1")
    assert shown.exit_code == 0, shown.output
    records = {(r["task_name"], r["lima_time"]): r for r in json.loads(shown.stdout)}
    row = records[("tablas-reportes", "18:00")]
    assert row["schedule_info"] == "Todos los días a las 18:00"
    assert row["timezone"] == "America/Lima"
    assert row["enabled"] is True and row["installed"] is True and row["up_to_date"] is True
    assert row["host_time"] == "00:00" and row["host_cron"] == "0 0 * * *"
    next_run = datetime.fromisoformat(row["next_run"])
    assert next_run.utcoffset() == timedelta(hours=-5)
    assert (next_run.hour, next_run.minute) == (18, 0)
    assert next_run > datetime.now(UTC) > next_run - timedelta(days=1)

    removed = cli("schedule", "remove", "--file", str(path))
    assert removed.exit_code == 0 and "removed" in removed.stdout
    assert job_lines(path.read_text()) == []


def test_dst_host_is_refused_by_the_cli_with_exit_code_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("schedule", "install", "--file", str(tmp_path / "toolbox"),
                 "--host-tz", "Europe/Paris")
    assert result.exit_code == 2
    assert "daylight saving" in result.stderr
    assert not (tmp_path / "toolbox").exists()


def test_cron_d_names_with_dots_are_refused(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("schedule", "install", "--file", "/etc/cron.d/toolbox.cron", "--dry-run")
    assert result.exit_code == 2 and "ignores" in result.stderr


# ---------------------------------------------------------------- the cron wrapper


def test_wrapper_records_a_cron_run_with_its_log_and_prunes_old_logs(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    old, recent = logs / "kpi-old.log", logs / "kpi-recent.log"
    for path, days in ((old, 40), (recent, 10)):
        path.write_text("x")
        stamp = time.time() - days * 86400
        os.utime(path, (stamp, stamp))
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(f"TOOLBOX_DATABASE_URL=sqlite:///{tmp_path / 'db.sqlite'}\n"
                        f"TOOLBOX_DATA_DIR={tmp_path / 'data'}\n"
                        f"TOOLBOX_LOG_DIR={logs}\nTOOLBOX_LOG_RETENTION_DAYS=30\n")
    env_file.chmod(0o600)
    clean_env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                 "TOOLBOX_ENV_FILE": str(env_file)}
    wrapper = REPO / "scripts" / "toolbox-cron"

    # No database yet: the wrapper passes the exit code (2) on, and nothing is created.
    missing = subprocess.run([str(wrapper), "07:00", "kpi"], env=clean_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2, missing.stderr
    assert not (tmp_path / "db.sqlite").exists()
    assert not old.exists() and recent.exists()

    def toolbox(*args: str) -> None:
        done = subprocess.run([str(REPO / ".venv/bin/toolbox"), *args], env=clean_env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    toolbox("db", "init")
    # An empty source: the task fails (exit 1, recorded), and the wrapper passes it on.
    failed = subprocess.run([str(wrapper), "07:00", "kpi"], env=clean_env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stderr
    toolbox("demo", "--operations", "20")
    ok = subprocess.run([str(wrapper), "07:00", "kpi"], env=clean_env, cwd=tmp_path,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr

    from sqlalchemy import create_engine, select
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(select(runs_table).order_by(runs_table.c.id)).all()
    engine.dispose()
    assert [(r.task, r.status, r.trigger, r.slot) for r in rows] == [
        ("kpi", "failed", "cron", "07:00"), ("demo", "success", "manual", None),
        ("kpi", "success", "cron", "07:00")]
    log = Path(rows[-1].log_path)
    assert log.parent == logs and log.name.startswith("kpi-") and log.is_file()
    assert "kpi: success" in log.read_text()
    assert "exit code 0" in log.read_text()
    # Headers in Lima time with the offset; no progress display in a cron log.
    assert re.search(r"^# started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-05:00 ", log.read_text(), re.M)
    assert re.search(r"^# finished \S+-05:00 exit code 0", log.read_text(), re.M)
    assert "rows/s" not in log.read_text()


def test_wrapper_refuses_a_relative_env_file(tmp_path: Path) -> None:
    result = subprocess.run([str(REPO / "scripts/toolbox-cron"), "07:00", "kpi"],
                            env={"PATH": "/usr/bin:/bin", "TOOLBOX_ENV_FILE": "toolbox.env"},
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "absolute" in result.stderr


# ---------------------------------------------------------------- late and missed

SLOTS = schedule.configured_slots(DEFAULT_SLOTS, {})
GRACE = timedelta(minutes=15)


def lima(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A Lima wall time on November 2026 as naive UTC, the ledger's convention."""
    return (datetime(2026, 11, day, hour, minute, second, tzinfo=LIMA)
            .astimezone(UTC).replace(tzinfo=None))


def add_run(engine, task: str, started: datetime, *, status: str = "success",  # type: ignore[no-untyped-def]
            trigger: str = "cron", slot: str | None = None, duration: float | None = 60.0) -> int:
    with engine.begin() as conn:
        result = conn.execute(insert(runs_table).values(
            task=task, status=status, trigger=trigger, slot=slot, params="{}", host="test",
            pid=1, started_at=started, heartbeat_at=started,
            finished_at=None if status == "running" else started + timedelta(seconds=duration or 0),
            duration_s=None if status == "running" else duration,
            warnings_count=0, version="test",
        ))
        return int(result.inserted_primary_key[0])


def test_slot_without_a_run_after_its_grace_period_is_missed(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    add_run(db, "tablas-reportes", lima(27, 7, 0, 5), slot="07:00")
    add_run(db, "tablas-reportes", lima(27, 18, 0, 4), slot="18:00")
    add_run(db, "tablas-reportes", lima(28, 7, 0, 3), status="skipped", slot="07:00")
    add_run(db, "tablas-reportes", lima(28, 18, 2), trigger="manual")  # does not count

    def missed(now: datetime) -> list[tuple[str, datetime]]:
        runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(now) - monitor.LOOKBACK)
        return [(m.slot, m.due_at) for m in monitor.missed_slots(
            SLOTS, runs, now, GRACE, zone=LIMA, lookback=timedelta(hours=30))]

    assert missed(lima(28, 18, 14)) == []  # still within the grace period
    assert missed(lima(28, 18, 16)) == [("18:00", lima(28, 18, 0))]
    # Two days later with no cron run since: every slot in the window is missed.
    assert missed(lima(30, 8, 0)) == [
        ("07:00", lima(29, 7, 0)), ("18:00", lima(29, 18, 0)), ("07:00", lima(30, 7, 0))]


def test_slots_are_watched_from_the_first_cron_run_on(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    now = lima(28, 19, 0)
    runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(now) - monitor.LOOKBACK)
    assert monitor.missed_slots(SLOTS, runs, now, GRACE, zone=LIMA,
                                active_since=ledger.first_cron_runs(db)) == []
    add_run(db, "tablas-reportes", lima(28, 7, 0, 2), slot="07:00")
    runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(now) - monitor.LOOKBACK)
    got = monitor.missed_slots(SLOTS, runs, now, GRACE, zone=LIMA,
                               active_since=ledger.first_cron_runs(db))
    assert [(m.task, m.slot, m.due_at) for m in got] == [("tablas-reportes", "18:00", lima(28, 18, 0))]


def test_run_far_beyond_its_usual_duration_is_late(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    for day, seconds in ((25, 200.0), (26, 260.0), (27, 240.0)):
        add_run(db, "tablas-reportes", lima(day, 7, 0), slot="07:00", duration=seconds)
    running = add_run(db, "tablas-reportes", lima(28, 7, 0), slot="07:00", status="running")
    slow = add_run(db, "kpi", lima(28, 7, 0), trigger="manual", status="running")
    runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(lima(28, 7, 11)) - monitor.LOOKBACK)
    durations = ledger.recent_durations(db, monitor.DURATION_HISTORY)
    assert sorted(durations["tablas-reportes"]) == [200.0, 240.0, 260.0]
    # median 240 s x 3 = 12 min for tablas-reportes; kpi has no history: 30 min.
    assert monitor.late_runs(runs, lima(28, 7, 11), durations=durations) == []
    late = monitor.late_runs(runs, lima(28, 7, 13), durations=durations)
    assert [(lr.run.id, lr.expected) for lr in late] == [(running, timedelta(minutes=12))]
    assert {lr.run.id for lr in monitor.late_runs(runs, lima(28, 7, 31), durations=durations)} \
        == {running, slow}
    assert monitor.late_threshold([10.0, 20.0]) == timedelta(minutes=10)  # floor


def test_check_reports_what_happened_since_each_tasks_last_success(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    add_run(db, "kpi", lima(20, 9, 0), status="failed", trigger="manual")  # old, never fixed
    add_run(db, "tablas-reportes", lima(27, 7, 0, 5), status="failed", slot="07:00")
    add_run(db, "tablas-reportes", lima(27, 9, 0), trigger="manual")  # made good
    crashed = add_run(db, "tablas-reportes", lima(27, 18, 0, 5), status="crashed", slot="18:00")
    add_run(db, "tablas-cxc", lima(27, 8, 0), trigger="manual")
    now = lima(28, 8, 0)  # the 07:00 slot of the 28th fired no run
    problems = monitor.check_problems(db, SLOTS, now, GRACE, zone=LIMA)
    assert [(p.kind, p.task, p.at) for p in problems] == [
        ("failed", "kpi", lima(20, 9, 0)),
        ("crashed", "tablas-reportes", lima(27, 18, 0, 5)),
        ("missed", "tablas-reportes", lima(28, 7, 0)),
    ]
    assert problems[1].run_id == crashed

    add_run(db, "tablas-reportes", lima(28, 8, 5), trigger="manual")
    add_run(db, "kpi", lima(28, 8, 6), trigger="manual")
    assert monitor.check_problems(db, SLOTS, lima(28, 8, 10), GRACE, zone=LIMA) == []


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
