"""The writer against a MariaDB that refuses ``LOAD DATA LOCAL INFILE`` for real.

Marked ``production``. The test starts its own ``mariadbd`` with ``--local-infile=0`` on a
free loopback port and a fresh data directory (no grant tables: it lives only for the
test), waits until it accepts connections, writes through the datamart writer, and stops
the server afterwards. The writer probes the server once, is refused, and writes the same
rows through multi-row INSERTs (``writer.bulk_load_available``); nothing is patched.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from sqlalchemy import create_engine, select

from tests.support.loopback import free_port
from tests.support.selftest import frames, items, selftest_items
from toolbox_cli.storage import writer
from toolbox_cli.storage.tables import datamart_metadata

pytestmark = pytest.mark.production

MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
START_DEADLINE_S = 60  # bounds a server that never comes up; it takes a few seconds


@pytest.fixture
def refusing_server() -> Iterator[str]:
    """A URL of a fresh MariaDB started with --local-infile=0; stopped afterwards."""
    if not MARIADBD.exists() or INSTALL_DB is None:
        pytest.skip(f"{MARIADBD} or mariadb-install-db is not installed (Debian: mariadb-server)")
    # Not under pytest's tmp_path: its parents are private to root, and mariadbd refuses to
    # run as root, so as root the data directory belongs to the mysql user.
    base = Path(tempfile.mkdtemp(prefix="toolbox-mariadb-"))
    datadir = base / "data"
    datadir.mkdir()
    as_root = os.geteuid() == 0
    user = "mysql" if as_root else pwd.getpwuid(os.getuid()).pw_name
    if as_root:
        mysql = pwd.getpwnam("mysql")
        for path in (base, datadir):
            os.chown(path, mysql.pw_uid, mysql.pw_gid)
    port = free_port()
    server: subprocess.Popen[bytes] | None = None
    try:
        installed = subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--user={user}", f"--datadir={datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True, timeout=120)
        assert installed.returncode == 0, installed.stderr + installed.stdout
        server = subprocess.Popen(
            [str(MARIADBD), "--no-defaults", f"--user={user}", f"--datadir={datadir}",
             f"--socket={base / 'mariadb.sock'}", f"--pid-file={base / 'mariadb.pid'}",
             f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
             "--skip-grant-tables", "--local-infile=0", "--skip-log-bin",
             "--innodb-buffer-pool-size=32M", f"--log-error={base / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_it_answers(server, port, base / "error.log")
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root")
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE toolbox CHARACTER SET utf8mb4")
        conn.close()
        yield f"mysql+pymysql://root@127.0.0.1:{port}/toolbox"
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def _wait_until_it_answers(server: subprocess.Popen[bytes], port: int, error_log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if server.poll() is not None:
            log = error_log.read_text(errors="replace") if error_log.exists() else ""
            raise AssertionError(f"mariadbd exited with {server.returncode}: {log[-2000:]}")
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=5).close()
            return
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                raise AssertionError(f"mariadbd did not accept connections within "
                                     f"{START_DEADLINE_S} s") from None
            time.sleep(0.1)


def test_a_server_that_refuses_local_infile_gets_the_rows_by_insert(
    refusing_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(refusing_server, connect_args={"local_infile": True})
    try:
        # The server itself refuses, whatever the client allows (the point of the test).
        with engine.connect() as conn, tempfile.NamedTemporaryFile("w", suffix=".csv") as empty:
            conn.exec_driver_sql("CREATE TEMPORARY TABLE probe (x INT)")
            with pytest.raises(Exception) as refused:
                conn.exec_driver_sql("LOAD DATA LOCAL INFILE %s INTO TABLE probe (x)",
                                     (empty.name,))
        assert "local infile" in str(refused.value).lower()  # MariaDB 10.11: error 4166

        datamart_metadata.create_all(engine, tables=[selftest_items])
        table = datamart_metadata.tables["selftest_items"]
        rows = items(9)
        with caplog.at_level(logging.INFO, logger="toolbox"):
            with writer.replacing(engine, [table], tag="t1", locked={"selftest_items"},
                                  judge=lambda *_: None, check_alive=lambda: None) as out:
                for frame in frames(rows, 4):
                    out.add(table, frame)
        assert out.counts == {"selftest_items": 9}
        assert not writer.bulk_load_available(engine)  # remembered for this server
        assert any("LOAD DATA LOCAL refused" in r.getMessage() for r in caplog.records)
        with engine.connect() as conn:
            stored = conn.execute(select(selftest_items.c.name).order_by("id")).scalars().all()
        assert stored == [r["name"] for r in rows]
    finally:
        engine.dispose()
