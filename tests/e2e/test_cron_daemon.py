"""End to end with the real cron daemon: `schedule install` -> cron fires -> ledger row + log,
and the one mail cron sends: the summary of the failing entry.

Marked ``cron``: run with ``pytest -m cron tests/test_cron_e2e.py`` as root on a Debian host
(CI does). ``scripts/cron-setup`` installs Debian's cron if it is missing. The test installs
two entries for the next minute into root's crontab through the CLI (the same code path as a
user's install, with the slots set in an env file, ``--mailto``), starts the daemon if it is
not running, waits up to 100 s for a ``success`` row with trigger ``cron`` and its log file,
then for the mail of the failing entry (cron's mailer is a stand-in /usr/sbin/sendmail that
writes to a file, installed only on a machine without an MTA), then removes the toolbox
entries and stops the daemon it started. Foreign crontab entries stay.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select

from tests.support.paths import REPO
from toolbox_cli.registry import all_tasks
from toolbox_cli.storage.tables.ledger import runs

pytestmark = pytest.mark.cron

TOOLBOX = REPO / ".venv" / "bin" / "toolbox"
PIDFILE = Path("/var/run/crond.pid")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEADLINE_S = 100
LIMA = ZoneInfo("America/Lima")


def _cron_pid() -> int | None:
    """The running cron daemon's pid, from its pidfile, if that process is really cron."""
    try:
        pid = int(PIDFILE.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "cron" else None


@pytest.fixture
def cron_daemon() -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.skip("the cron end-to-end test writes root's crontab and starts cron: run as root")
    setup = subprocess.run([str(REPO / "scripts" / "cron-setup")], capture_output=True,
                           text=True, env={**os.environ, "PATH": SBIN_PATH}, timeout=600)
    assert setup.returncode == 0, setup.stderr
    started: int | None = None
    if _cron_pid() is None:
        subprocess.run(["cron"], check=True, env={"PATH": SBIN_PATH}, timeout=30)
        for _ in range(50):
            started = _cron_pid()
            if started:
                break
            time.sleep(0.1)
        assert started, "cron did not start (no live pid in /var/run/crond.pid)"
    try:
        yield
    finally:
        if started:
            os.kill(started, signal.SIGTERM)


def _next_lima_minute(margin_s: int = 15) -> datetime:
    """The next whole minute, in Lima wall time, at least ``margin_s`` from now."""
    now = datetime.now(LIMA)
    target = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (target - now).total_seconds() < margin_s:
        target += timedelta(minutes=1)
    return target


def _toolbox(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": SBIN_PATH, "HOME": str(env_file.parent), "TOOLBOX_ENV_FILE": str(env_file)}
    return subprocess.run([str(TOOLBOX), *args], capture_output=True, text=True, env=env,
                          cwd=env_file.parent, timeout=120)


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Path]:
    """What cron mails lands in a file: a stand-in /usr/sbin/sendmail (cron's mailer), put
    there only when the machine has no MTA, and removed afterwards."""
    sendmail = Path("/usr/sbin/sendmail")
    if sendmail.exists():
        pytest.skip("this machine has a real MTA; not replacing /usr/sbin/sendmail")
    box = tmp_path / "mailbox"
    sendmail.write_text(f"#!/bin/sh\ncat >> {box}\n")
    sendmail.chmod(0o755)
    try:
        yield box
    finally:
        sendmail.unlink()


def test_cron_fires_an_installed_slot_and_the_ledger_records_it(
    cron_daemon: None, mailbox: Path, tmp_path: Path
) -> None:
    target = _next_lima_minute()
    expr = f"{target.minute} {target.hour} * * *"
    # Only `kpi` (succeeds on a small demo book) and `tablas-cxc` (fails: no exchange rate)
    # are scheduled, in the same minute; every other task is off.
    slots = {name: [] for name in all_tasks()} | {"kpi": [expr], "tablas-cxc": [expr]}
    db = tmp_path / "toolbox.db"
    logs = tmp_path / "logs"
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(
        f"TOOLBOX_DATABASE_URL=sqlite:///{db}\nTOOLBOX_DATA_DIR={tmp_path / 'data'}\n"
        f"TOOLBOX_LOG_DIR={logs}\nTOOLBOX_SCHEDULE_SLOTS={json.dumps(slots)}\n"
    )
    env_file.chmod(0o600)
    assert _toolbox("db", "init", env_file=env_file).returncode == 0
    assert _toolbox("demo", "--operations", "20", env_file=env_file).returncode == 0
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM tipo_cambio")
    engine.dispose()

    installed = _toolbox("schedule", "install", "--mailto", "toolbox-test@localhost",
                         env_file=env_file)
    try:
        assert installed.returncode == 0, installed.stderr
        listing = subprocess.run(["crontab", "-l"], capture_output=True, text=True,
                                 env={"PATH": SBIN_PATH}, timeout=30).stdout
        label = f"{target.hour:02d}:{target.minute:02d}"
        assert f"# toolbox:kpi@{label} ({label} America/Lima" in listing
        assert f"TOOLBOX_ENV_FILE={env_file} {REPO}/scripts/toolbox-cron {label} kpi" in listing

        row = _wait_for_cron_run(db, DEADLINE_S)
        assert row is not None, (
            f"no successful cron run of kpi within {DEADLINE_S} s (slot {label} Lima); "
            f"logs: {sorted(p.name for p in logs.glob('*'))}"
        )
        assert row.slot == label
        log = Path(row.log_path)
        assert log.parent == logs and log.is_file()
        assert "kpi: success" in log.read_text()

        shown = _toolbox("schedule", "show", "--json", env_file=env_file)
        assert shown.returncode == 0, shown.stderr
        (record,) = [r for r in json.loads(shown.stdout) if r["task_name"] == "kpi"]
        assert record["installed"] and record["enabled"] and record["up_to_date"]
        assert record["last_run"]["id"] == row.id

        # The failing entry's output is the one mail cron sends: the summary, nothing of kpi.
        mail = _wait_for_mail(mailbox, "toolbox: tablas-cxc failed", 60)
        assert "To: toolbox-test@localhost" in mail
        failed = _cron_run(db, "tablas-cxc")
        assert failed is not None and failed.status == "failed"
        assert f"  run:    {failed.id}" in mail and f"toolbox status {failed.id}" in mail
        assert "no exchange rate" in mail or "tipo-cambio" in mail
        assert "kpi" not in mail.split("toolbox: tablas-cxc failed", 1)[1]
    finally:
        removed = _toolbox("schedule", "remove", env_file=env_file)
        assert removed.returncode == 0, removed.stderr
    listing = subprocess.run(["crontab", "-l"], capture_output=True, text=True,
                             env={"PATH": SBIN_PATH}, timeout=30).stdout
    assert "toolbox:" not in listing


def _wait_for_mail(box: Path, needle: str, seconds: int) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = box.read_text(errors="replace") if box.exists() else ""
        if needle in text:
            return text
        time.sleep(1)
    raise AssertionError(f"cron mailed no {needle!r} within {seconds} s: {text!r}")


def _cron_run(db: Path, task: str):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.execute(select(runs).where(runs.c.task == task, runs.c.trigger == "cron")
                                .order_by(runs.c.id.desc())).first()
    finally:
        engine.dispose()


def _wait_for_cron_run(db: Path, seconds: int):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{db}")
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(
                    select(runs).where(runs.c.trigger == "cron", runs.c.status == "success",
                                       runs.c.task == "kpi")
                ).first()
            if row is not None:
                return row
            time.sleep(2)
        return None
    finally:
        engine.dispose()
