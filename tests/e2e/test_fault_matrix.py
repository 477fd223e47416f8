"""Fault matrix (issue 6): server restarts, two hosts, bad configuration, secrets.

Kill -9 at each phase and SIGTERM are in test_process_faults.py; a lock connection killed
by the server is in test_foundation.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import MYSQL_URL
from tests.support.loopback import free_port
from tests.support.paths import REPO, TOOLBOX
from tests.support.processes import kpi_fingerprint, leftover_staging, start_kpi, wait_for_line

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLBOX_")}
    env.update(extra)
    return env


def _toolbox(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*TOOLBOX, *args], env=env, capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=300)


class PrivateMariaDB:
    """A MariaDB server of the test's own, on a free loopback port, that it may restart."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/toolbox"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.base / 'sock'}", "--user=root",
             f"--pid-file={self.base / 'pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
             f"--log-error={self.base / 'err.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("private mariadbd did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_mariadb(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    if shutil.which("mariadb-install-db") is None:
        pytest.fail("mariadb-install-db is missing: run scripts/db-setup")
    server = PrivateMariaDB(tmp_path / "mariadb")
    server.start()
    admin = create_engine(server.url.rsplit("/", 1)[0] + "/mysql", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE toolbox"))
    admin.dispose()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.production
def test_database_restart_mid_run_fails_cleanly_and_next_run_succeeds(private_mariadb, tmp_path):
    env = _clean_env(TOOLBOX_DATABASE_URL=private_mariadb.url, TOOLBOX_DATA_DIR=str(tmp_path),
                     TOOLBOX_HEARTBEAT_SECONDS="0.5")
    for args in (["db", "init"], ["demo", "--operations", "800", "--seed", "5"], ["kpi"]):
        assert _toolbox(env, *args).returncode == 0
    before = kpi_fingerprint(private_mariadb.url)

    # The run pauses after writing its staging rows; the server restarts under it.
    proc = start_kpi(env, TOOLBOX_PAUSE_AT="staging:8")
    wait_for_line(proc, "toolbox-pause: staging")
    private_mariadb.restart()
    code = proc.wait(timeout=120)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert code in (1, 4), stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in stderr, stderr

    assert kpi_fingerprint(private_mariadb.url) == before
    runs = _toolbox(env, "status", "--task", "kpi", "--json")
    assert runs.returncode == 0
    last = json.loads(runs.stdout)[0]
    assert (last["status"], last["error_type"]) == ("failed", "LockLost")
    assert _toolbox(env, "kpi").returncode == 0
    assert kpi_fingerprint(private_mariadb.url) == before
    assert leftover_staging(private_mariadb.url) == []


@pytest.mark.production
def test_two_hosts_started_together_twenty_times_exactly_one_runs(mysql_url, tmp_path):
    hosts = []
    for name in ("host-a", "host-b"):
        workdir = tmp_path / name
        workdir.mkdir()
        hosts.append((workdir, _clean_env(TOOLBOX_DATABASE_URL=mysql_url,
                                          TOOLBOX_DATA_DIR=str(workdir / "data"))))
    env0 = hosts[0][1]
    for args in (["db", "init"], ["demo", "--operations", "200", "--seed", "9"]):
        assert _toolbox(env0, *args).returncode == 0
    for attempt in range(20):
        procs = [
            subprocess.Popen([*TOOLBOX, "kpi"], cwd=workdir, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             env={**env, "TOOLBOX_PAUSE_AT": "before_swap:1.5"})
            for workdir, env in hosts
        ]
        codes = sorted(p.wait(timeout=120) for p in procs)
        assert codes == [0, 3], f"attempt {attempt}: exit codes {codes}"
    engine = create_engine(mysql_url)
    with engine.connect() as conn:
        counts = dict(conn.execute(text(
            "SELECT status, COUNT(*) FROM toolbox_runs WHERE task='kpi' GROUP BY status")).all())
    engine.dispose()
    assert counts == {"success": 20, "skipped": 20}


def test_unwritable_log_directory_stops_the_cron_wrapper_with_one_line(tmp_path):
    env = _clean_env(TOOLBOX_DATA_DIR=str(tmp_path / "data"),
                     TOOLBOX_LOG_DIR="/etc/passwd/logs")  # under a file: unwritable even for root
    proc = subprocess.run([str(REPO / "scripts" / "toolbox-cron"), "07:00", "kpi"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "/etc/passwd/logs cannot be written" in proc.stderr


SECRET = f"Zq7-{uuid.uuid4().hex[:10]}-pw"


@pytest.fixture
def secret_user(mysql_url) -> Iterator[str]:
    """A database user whose password is SECRET, on a fresh database; returns its URL."""
    db = make_url(mysql_url).database
    user = f"tbx_s_{uuid.uuid4().hex[:8]}"
    admin = create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{SECRET}'"))
        conn.execute(text(f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'127.0.0.1'"))
    try:
        yield f"mysql+pymysql://{user}:{SECRET}@127.0.0.1:3306/{db}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'"))
        admin.dispose()


@pytest.mark.production
def test_password_appears_in_no_output_log_ledger_or_crontab(secret_user, tmp_path):
    logs = tmp_path / "logs"
    env = _clean_env(TOOLBOX_DATABASE_URL=secret_user, TOOLBOX_DATA_DIR=str(tmp_path / "data"),
                     TOOLBOX_LOG_DIR=str(logs),
                     TOOLBOX_TIPO_CAMBIO_PROVIDER="apis-net-pe",
                     TOOLBOX_TIPO_CAMBIO_URL=f"http://127.0.0.1:{free_port()}/?fecha={{fecha}}",
                     TOOLBOX_TIPO_CAMBIO_ATTEMPTS="1", TOOLBOX_TIPO_CAMBIO_BACKOFF_SECONDS="0")
    bad_csv = tmp_path / "sectores.csv"
    bad_csv.write_text("RUC,SECTOR,GRUPO ECO.\n20100000001,,\n", encoding="utf-8")
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(f"TOOLBOX_DATABASE_URL={secret_user}\n")
    env_file.chmod(0o600)
    commands = [
        ["db", "init"], ["demo", "--operations", "300"], ["config"], ["config", "--json"],
        ["kpi"], ["kpi-acumulado"], ["tablas-reportes"], ["tablas-cxc"],
        ["--debug", "tipo-cambio", "--desde", "2026-11-01", "--hasta", "2026-11-03"],
        ["--debug", "import", "sectores", str(bad_csv)], ["import", "sectores", str(bad_csv), "--json"],
        ["list"], ["list", "--json"], ["status"], ["status", "1"], ["status", "--json"],
        ["status", "--check"],
        ["schedule", "show"], ["schedule", "show", "--json"], ["schedule", "install", "--dry-run"],
        ["--env-file", str(env_file), "schedule", "install", "--dry-run"],
        ["--debug", "status", "999"],
    ]
    outputs = []
    for args in commands:
        proc = _toolbox(env, *args)
        outputs.append((args, proc.returncode, proc.stdout + proc.stderr))
    # A failing run with --debug against a server that refuses the password.
    wrong = secret_user.replace(SECRET, SECRET + "x")
    proc = _toolbox({**env, "TOOLBOX_DATABASE_URL": wrong}, "--debug", "kpi")
    outputs.append((["--debug", "kpi", "(wrong password)"], proc.returncode, proc.stdout + proc.stderr))
    # And one run through the cron wrapper, which writes a log file.
    proc = subprocess.run([str(REPO / "scripts" / "toolbox-cron"), "07:00", "kpi"], env=env,
                          capture_output=True, text=True, timeout=300)
    outputs.append((["toolbox-cron kpi"], proc.returncode, proc.stdout + proc.stderr))

    assert [a for a, code, _ in outputs if a[0] in ("kpi", "tablas-reportes")] and \
        all(code == 0 for a, code, _ in outputs if a[0] in ("kpi", "tablas-cxc", "tablas-reportes"))
    leaks = [a for a, _, out in outputs if SECRET in out]
    assert leaks == [], f"password printed by {leaks}"
    assert list(logs.glob("*.log")), "the cron wrapper wrote no log"
    for log in logs.glob("*.log"):
        assert SECRET not in log.read_text(errors="replace"), log
    engine = create_engine(secret_user)
    with engine.connect() as conn:
        ledger_dump = repr(conn.execute(text("SELECT * FROM toolbox_runs")).all())
    engine.dispose()
    assert SECRET not in ledger_dump
