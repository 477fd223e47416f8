"""A full disk is one line naming the path, and the run is recorded as failed whenever the
ledger can be written (issue 20, item 8). The full disk is a real one: a 64 KiB tmpfs the
test mounts (root only, as CI runs) and fills."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import TOOLBOX

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def full_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A 64 KiB tmpfs, full but for ``request.param`` KiB (default 0)."""
    free = getattr(request, "param", 0)
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            os.write(fd, b"\0" * (64 - free) * 1024)
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _seeded(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "TOOLBOX_DATABASE_URL": db_url,
           "TOOLBOX_DATA_DIR": str(tmp_path / "data"), "TOOLBOX_LOG_DIR": str(tmp_path / "logs")}
    for args in (["db", "init"], ["demo", "--operations", "200"]):
        done = subprocess.run([*TOOLBOX, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    return env


def _last_run(env: dict[str, str], task: str) -> dict:
    done = subprocess.run([*TOOLBOX, "status", "--task", task, "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout)[0]


def test_a_lock_file_on_a_full_disk_fails_the_run_naming_it(sqlite_url, tmp_path, full_disk):
    """SQLite: the lock file beside the database lives on the full disk (a link to it); the
    database does not, so the run is recorded."""
    env = _seeded(sqlite_url, tmp_path)
    lock_file = tmp_path / "toolbox.db.kpi.lock"
    lock_file.symlink_to(full_disk / "kpi.lock")
    done = subprocess.run([*TOOLBOX, "kpi"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot write {lock_file}: no space left on device; free space on that disk "
        "and run again"]
    run = _last_run(env, "kpi")
    assert (run["status"], run["error_type"]) == ("failed", "LockFileError")
    assert str(lock_file) in run["error_message"]


@pytest.mark.parametrize("full_disk", [8], indirect=True)
def test_scratch_files_on_a_full_disk_fail_the_run_naming_the_path(db_url, tmp_path, full_disk):
    """The run's scratch directory ($TMPDIR) on a disk with 8 KiB left (Python's tempfile
    would skip a disk that cannot take its probe file): on MariaDB the bulk-load file cannot
    be written; on SQLite, which writes no scratch file, the run succeeds."""
    env = {**_seeded(db_url, tmp_path), "TMPDIR": str(full_disk)}
    done = subprocess.run([*TOOLBOX, "kpi"], env=env, capture_output=True, text=True, timeout=120)
    run = _last_run(env, "kpi")
    if db_url.startswith("sqlite"):
        assert (done.returncode, run["status"]) == (0, "success"), done.stderr
        return
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: cannot write {full_disk}/")
    assert lines[-1].endswith(": no space left on device; free space on that disk and run again")
    assert run["status"] == "failed" and run["error_message"] == lines[-1][len("error: "):]
