"""toolbox schedule install/show/remove and the cron wrapper, as a sysadmin runs them."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import crontab as python_crontab
import pytest

from tests.support.crontab import job_lines
from tests.support.paths import REPO
from toolbox_cli.settings import Settings
from toolbox_cli.storage.tables.ledger import runs as runs_table


@pytest.fixture
def cli(cli, toolbox_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The CLI on the test's database with a user crontab that is empty (a stand-in
    `crontab` program); an exception is raised, not caught."""
    fake = tmp_path / "crontab"
    fake.write_text('#!/bin/sh\n[ "$1" = -l ] && { echo "no crontab for $(id -un)" >&2; exit 1; }\n'
                    'exit 99\n')
    fake.chmod(0o755)
    monkeypatch.setattr(python_crontab, "CRON_COMMAND", str(fake))
    return functools.partial(cli, catch_exceptions=False)


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
    assert removed.exit_code == 0 and re.search(r"removed [1-9]\d* toolbox entries", removed.stdout)
    assert not path.exists()  # nothing else was in it: no empty file is left behind
    assert "the file is removed too" in removed.stdout.replace("\n", " ")


def test_remove_from_a_file_with_other_entries_keeps_them_and_the_file(cli, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                       ) -> None:
    path = tmp_path / "toolbox"
    foreign = "# the backups\n15 3 * * * root /usr/local/bin/backup\n"
    path.write_text(foreign)
    assert cli("schedule", "install", "--file", str(path), "--user", "toolbox",
               "--host-tz", "UTC").exit_code == 0
    assert "toolbox-cron" in path.read_text()

    dry = cli("schedule", "remove", "--file", str(path), "--dry-run")
    assert dry.exit_code == 0 and "would be removed" not in dry.output
    removed = cli("schedule", "remove", "--file", str(path))
    assert removed.exit_code == 0 and re.search(r"removed [1-9]\d* toolbox entries", removed.stdout)
    assert "file is removed" not in removed.stdout
    assert job_lines(path.read_text()) == ["15 3 * * * root /usr/local/bin/backup"]
    assert path.read_text().strip() == foreign.strip()


def test_remove_says_before_it_removes_a_file_it_would_leave_empty(cli, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                   ) -> None:
    path = tmp_path / "toolbox"
    assert cli("schedule", "install", "--file", str(path), "--user", "toolbox",
               "--host-tz", "UTC").exit_code == 0
    dry = cli("schedule", "remove", "--file", str(path), "--dry-run")
    assert dry.exit_code == 0 and "would be removed" in dry.stderr
    assert path.exists()
    path.write_text("\n\n")  # an empty file left behind by an older toolbox
    again = cli("schedule", "remove", "--file", str(path))
    assert again.exit_code == 0 and "removed 0 toolbox entries" in again.stdout
    assert not path.exists()


def test_a_missing_crontab_program_is_one_line_naming_the_package(cli, monkeypatch,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(python_crontab, "CRON_COMMAND", str(tmp_path / "no-such-crontab"))
    for command in (["schedule", "install"], ["schedule", "remove"]):
        result = cli(*command, "--host-tz", "UTC") if command[1] == "install" else cli(*command)
        assert result.exit_code == 2, result.output
        line = result.stderr.strip()
        assert "\n" not in line, result.stderr
        assert "no crontab program" in line and "package cron" in line
        assert "apt-get install cron" in line and "--file" in line
    shown = cli("schedule", "show")
    assert shown.exit_code == 0 and "package cron" in shown.stderr


def test_dst_host_is_refused_by_the_cli_with_exit_code_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("schedule", "install", "--file", str(tmp_path / "toolbox"),
                 "--host-tz", "Europe/Paris")
    assert result.exit_code == 2
    assert "daylight saving" in result.stderr
    assert not (tmp_path / "toolbox").exists()


def test_cron_d_names_with_dots_are_refused(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("schedule", "install", "--file", "/etc/cron.d/toolbox.cron", "--dry-run")
    assert result.exit_code == 2 and "ignores" in result.stderr


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
