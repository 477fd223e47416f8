"""Whole-process behaviour of `toolbox kpi`: kill -9 at each phase, concurrent starts.

These run the real console entry point in subprocesses against a seeded database, on
SQLite and (``-m production``) MariaDB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.paths import TOOLBOX
from tests.support.processes import (
    kpi_fingerprint,
    leftover_staging,
    start_kpi,
    toolbox_json,
    wait_for_line,
    wait_for_running_row,
)


@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> dict[str, str]:
    return seeded_env(db_url, tmp_path)


def seeded_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment of a database with demo data and one successful kpi refresh."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLBOX_")}
    env.update(TOOLBOX_DATABASE_URL=db_url, TOOLBOX_DATA_DIR=str(tmp_path / "data"),
               TOOLBOX_HEARTBEAT_SECONDS="0.5")
    for args in (["db", "init"], ["demo", "--operations", "1500", "--seed", "3"], ["kpi"]):
        proc = subprocess.run([*TOOLBOX, *args], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return env


@pytest.mark.parametrize("phase", ["reading", "staging", "before_swap", "after_swap"])
def test_kill_9_at_any_phase_leaves_complete_old_or_new_table(seeded, phase):
    url = seeded["TOOLBOX_DATABASE_URL"]
    before = kpi_fingerprint(url)
    if phase == "reading":
        proc = start_kpi(seeded)
        wait_for_running_row(seeded)
    else:
        proc = start_kpi(seeded, pause_at=phase, TOOLBOX_CHUNK_SIZE="200")
        wait_for_line(proc, f"toolbox-pause: {phase}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    after = kpi_fingerprint(url)
    # Same demo seed: the old and the new content are the same rows, so "complete old or
    # complete new" means exactly the same fingerprint; a partial table would differ.
    assert after == before
    runs = toolbox_json(seeded, "status", "--task", "kpi")
    assert runs[0]["status"] == "crashed"
    assert "gone" in runs[0]["error_message"]
    # The next run cleans up after the crashed one and succeeds.
    proc = subprocess.run([*TOOLBOX, "kpi"], env=seeded, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert kpi_fingerprint(url) == before
    assert leftover_staging(url) == []


def test_sigterm_marks_the_run_failed_interrupted(seeded):
    before = kpi_fingerprint(seeded["TOOLBOX_DATABASE_URL"])
    proc = start_kpi(seeded, pause_at="staging", TOOLBOX_CHUNK_SIZE="200")
    wait_for_line(proc, "toolbox-pause: staging")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 1
    run = toolbox_json(seeded, "status", "--task", "kpi")[0]
    assert (run["status"], run["error_type"]) == ("failed", "Interrupted")
    assert kpi_fingerprint(seeded["TOOLBOX_DATABASE_URL"]) == before
    assert leftover_staging(seeded["TOOLBOX_DATABASE_URL"]) == []


def test_two_runs_started_together_one_succeeds_one_is_skipped(seeded):
    procs = [start_kpi(seeded, pause_at="before_swap", watch=False) for _ in range(2)]
    # Whichever got the lock pauses before its swap; the other must already be gone.
    codes = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not codes:
        codes = [p.returncode for p in procs if p.poll() is not None]
        time.sleep(0.05)
    assert codes == [3]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
    statuses = sorted(r["status"] for r in toolbox_json(seeded, "status", "--task", "kpi")[:2])
    assert statuses == ["failed", "skipped"]
    # And without the pause: one success, one skipped, exit codes 0 and 3.
    procs = [start_kpi(seeded, watch=False, TOOLBOX_PAUSE_AT="staging:1", TOOLBOX_CHUNK_SIZE="2000")
             for _ in range(2)]
    assert sorted(p.wait(timeout=120) for p in procs) == [0, 3]
    statuses = sorted(r["status"] for r in toolbox_json(seeded, "status", "--task", "kpi")[:2])
    assert statuses == ["skipped", "success"]


def _run_dirs(tmp: Path) -> list[Path]:
    root = tmp / f"toolbox-{os.getuid()}"
    return sorted(root.iterdir()) if root.is_dir() else []


def test_a_killed_run_leaves_no_scratch_file_after_the_next_status(seeded, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**seeded, "TMPDIR": str(tmp)}
    mysql = seeded["TOOLBOX_DATABASE_URL"].startswith("mysql")
    pause = "load_file" if mysql else "staging"  # MySQL: held while a bulk-load file exists
    proc = start_kpi(env, pause_at=pause, TOOLBOX_CHUNK_SIZE="200")
    wait_for_line(proc, f"toolbox-pause: {pause}")
    dirs = _run_dirs(tmp)
    assert [d.name.endswith(f"-pid{proc.pid}") for d in dirs] == [True]
    if mysql:
        assert [f for f in dirs[0].iterdir() if f.suffix == ".csv"]  # the bulk-load file
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert dirs[0].exists()  # nothing could clean up after kill -9 ...
    toolbox_json(env, "status")
    assert _run_dirs(tmp) == []  # ... until the next reader on this host
    assert [p for p in tmp.rglob("*") if p.is_file()] == []


@pytest.mark.production
def test_random_kills_of_kpi_leave_nothing_behind(seeded, tmp_path):
    import random

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**seeded, "TMPDIR": str(tmp), "TOOLBOX_CHUNK_SIZE": "300"}
    rng = random.Random(12)
    for _ in range(8):
        proc = start_kpi(env, watch=False)
        time.sleep(rng.uniform(0.2, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    toolbox_json(env, "status")
    assert _run_dirs(tmp) == []
    assert [p for p in tmp.rglob("*") if p.is_file()] == []
    assert leftover_staging(seeded["TOOLBOX_DATABASE_URL"]) == []


def test_kpi_and_tablas_reportes_never_write_kpi_side_by_side(seeded):
    """Both write kpi: whichever starts second is skipped and told who holds the table."""
    holder = subprocess.Popen([*TOOLBOX, "tablas-reportes"],
                              env={**seeded, "TOOLBOX_PAUSE_AT": "before_swap:60"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(holder, "toolbox-pause: before_swap")
        second = subprocess.run([*TOOLBOX, "kpi"], env=seeded, capture_output=True, text=True)
        assert second.returncode == 3, second.stderr
        holder_run = toolbox_json(seeded, "status", "--task", "tablas-reportes")[0]
        assert holder_run["status"] == "running"
        # Named once, on the outcome line (stdout), not again as an error.
        assert (f"kpi is locked by run {holder_run['id']} (tablas-reportes, host "
                f"{holder_run['host']}, pid {holder.pid}, started ") in second.stdout
        assert "-05:00" in second.stdout
        skipped = toolbox_json(seeded, "status", "--task", "kpi")[0]
        assert skipped["status"] == "skipped" and f"run {holder_run['id']}" in skipped["error_message"]
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
    # Started together: exactly one of them runs.
    procs = [subprocess.Popen([*TOOLBOX, task], env={**seeded, "TOOLBOX_PAUSE_AT": "staging:1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for task in ("kpi", "tablas-reportes")]
    assert sorted(p.wait(timeout=180) for p in procs) == [0, 3]


@pytest.mark.parametrize("tamper", ["remove", "replace"])
def test_a_lock_file_removed_or_replaced_still_keeps_a_second_run_out(sqlite_url, tmp_path,
                                                                     tamper):
    """SQLite only, where a lock is a file (issue 20, item 11): the holder's flock is on a
    file that may be removed or replaced under it; the second run takes a lock on the new
    file, and the ledger, which knows the holder is alive, still sends it away naming it."""
    seeded = seeded_env(sqlite_url, tmp_path)
    holder = subprocess.Popen([*TOOLBOX, "kpi"], env={**seeded, "TOOLBOX_PAUSE_AT": "staging:60"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(holder, "toolbox-pause: staging")
        lock_file = tmp_path / "toolbox.db.kpi.lock"
        assert lock_file.exists()
        lock_file.unlink()
        if tamper == "replace":
            lock_file.write_text("12345\n")
        second = subprocess.run([*TOOLBOX, "kpi"], env=seeded, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 3, second.stderr
        assert "kpi is locked by run" in second.stdout and f"pid {holder.pid}" in second.stdout
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
    # Once the holder is gone the file lock is the toolbox's again.
    after = subprocess.run([*TOOLBOX, "kpi"], env=seeded, capture_output=True, text=True,
                           timeout=120)
    assert after.returncode == 0, after.stderr


def _toolbox_paused(env: dict[str, str], task: str, phase: str) -> subprocess.Popen:
    """``task`` pausing 2 s at ``phase``, its stdout and stderr kept."""
    return subprocess.Popen([*TOOLBOX, task], env={**env, "TOOLBOX_PAUSE_AT": f"{phase}:2"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_after_the_swap_finishes_the_run_and_the_ledger_says_so(seeded):
    """Issue 20, item 10: once the tables are published the run is not "interrupted": it
    writes actualizacion_reportes, records success with the signal noted, prints its
    outcome and exits with the ledger's code."""
    url = seeded["TOOLBOX_DATABASE_URL"]
    proc = _toolbox_paused(seeded, "tablas-reportes", "after_swap")
    wait_for_line(proc, "toolbox-pause: after_swap")
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    run = toolbox_json(seeded, "status", "--task", "tablas-reportes")[0]
    assert (proc.returncode, run["status"]) == (0, "success")
    assert any("SIGTERM came after the tables were swapped in" in w for w in run["warnings"])
    assert out.startswith(f"tablas-reportes: success (run {run['id']},")
    engine = create_engine(url)
    with engine.connect() as conn:
        estados = conn.execute(text("SELECT estado FROM actualizacion_reportes")).scalars().all()
    engine.dispose()
    assert estados == ["Success"]


def test_sigterm_after_the_outcome_is_recorded_still_prints_it_and_exits_with_its_code(seeded):
    proc = _toolbox_paused(seeded, "kpi", "recorded")
    wait_for_line(proc, "toolbox-pause: recorded")
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    run = toolbox_json(seeded, "status", "--task", "kpi")[0]
    assert (proc.returncode, run["status"]) == (0, "success")
    assert out.startswith(f"kpi: success (run {run['id']},")


def test_sigterm_before_the_swap_still_interrupts_and_publishes_nothing(seeded):
    """The other side of the line: at the pause right before the swap nothing is published
    yet, so SIGTERM interrupts (exit 1, failed: Interrupted) and the old table stays."""
    before = kpi_fingerprint(seeded["TOOLBOX_DATABASE_URL"])
    proc = _toolbox_paused(seeded, "kpi", "before_swap")
    wait_for_line(proc, "toolbox-pause: before_swap")
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    run = toolbox_json(seeded, "status", "--task", "kpi")[0]
    assert (proc.returncode, run["status"], run["error_type"]) == (1, "failed", "Interrupted")
    assert out.startswith("kpi: failed")
    assert kpi_fingerprint(seeded["TOOLBOX_DATABASE_URL"]) == before
