"""The runner and its ledger on SQLite and MariaDB: outcomes recorded, dry runs, lock skips and
waits, signals, crashed runs reaped, a lost lock.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from tests.support.selftest import frames, items, names, selftest_items
from toolbox_cli import clock, ledger
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import EXIT_FAILED, EXIT_LOCKED, EXIT_OK
from toolbox_cli.runner import run_task
from toolbox_cli.storage.lock import lock_for
from toolbox_cli.storage.tables.ledger import runs
from toolbox_cli.tasks.base import TaskSpec


def _replace_items(ctx: TaskContext, n: int) -> None:
    with ctx.replace_tables(selftest_items) as out:
        for frame in frames(items(n)):
            out.add(selftest_items, frame)


def _spec(func, name="selftest") -> TaskSpec:
    return TaskSpec(name, "test task", lambda ctx, _params: func(ctx), tables=("selftest_items",))


def test_successful_run_records_rows_and_warnings(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        ctx.warn("3 USD rows without an exchange rate")
        _replace_items(ctx, 4)

    outcome = run_task(_spec(task), toolbox_env, {"dry_run": False}, engines=engines)
    assert (outcome.status, outcome.exit_code) == ("success", EXIT_OK)
    run = ledger.get_run(engines.datamart, outcome.run_id)
    assert run.status == "success" and run.rows_written == {"selftest_items": 4}
    assert run.warnings_count == 1 and "USD" in run.warnings[0]
    assert run.trigger == "manual" and run.pid == os.getpid() and run.finished_at is not None


def test_failed_run_records_error_and_exit_1(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        raise ValueError("row LIQ1/F-1: DiasEfectivo 2.5 is not an integer")

    outcome = run_task(_spec(task), toolbox_env, {}, engines=engines)
    assert (outcome.status, outcome.exit_code) == ("failed", EXIT_FAILED)
    run = ledger.get_run(engines.datamart, outcome.run_id)
    assert run.error_type == "ValueError" and "DiasEfectivo" in run.error_message


def test_dry_run_counts_but_writes_nothing(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        _replace_items(ctx, 6)

    outcome = run_task(_spec(task), toolbox_env, {"dry_run": True}, engines=engines)
    assert outcome.rows == {"selftest_items": 6}
    assert names(engines.datamart) == []


def test_second_run_is_skipped_with_exit_3_while_lock_is_held(engines, toolbox_env):
    holder = lock_for(engines.datamart, ["selftest_items"])
    assert holder.acquire(wait=False)
    try:
        outcome = run_task(_spec(lambda ctx: None), toolbox_env, {}, engines=engines)
    finally:
        holder.release()
    assert (outcome.status, outcome.exit_code) == ("skipped", EXIT_LOCKED)
    assert ledger.get_run(engines.datamart, outcome.run_id).status == "skipped"
    assert run_task(_spec(lambda ctx: None), toolbox_env, {}, engines=engines).exit_code == 0


def test_wait_queues_behind_the_holder(engines, toolbox_env):
    holder = lock_for(engines.datamart, ["selftest_items"])
    assert holder.acquire(wait=False)
    timer = threading.Timer(1.0, holder.release)
    timer.start()
    outcome = run_task(_spec(lambda ctx: None), toolbox_env, {}, engines=engines, wait=True)
    timer.join()
    assert outcome.status == "success"


def test_sigterm_is_recorded_as_interrupted(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        _replace_items(ctx, 3)

    outcome = run_task(_spec(task), toolbox_env, {}, engines=engines)
    assert outcome.status == "failed" and outcome.error_type == "Interrupted"
    assert "SIGTERM" in outcome.error_message
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_dead_pid_and_stale_heartbeat_are_reaped_as_crashed(engines):
    dead = ledger.start_run(engines.datamart, "selftest", trigger="manual", slot=None, params={})
    stale = ledger.start_run(engines.datamart, "selftest", trigger="cron", slot=None, params={})
    alive = ledger.start_run(engines.datamart, "selftest", trigger="cron", slot=None, params={})
    with engines.datamart.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == dead).values(pid=2**22 + 12345))
        conn.execute(update(runs).where(runs.c.id == stale).values(
            host="other-host", heartbeat_at=clock.utcnow() - timedelta(hours=1)))
        conn.execute(update(runs).where(runs.c.id == alive).values(host="other-host"))
    assert sorted(ledger.reap_crashed(engines.datamart, stale_after_seconds=300)) == [dead, stale]
    assert ledger.get_run(engines.datamart, alive).status == "running"
    # A late final write from a reaped run does not resurrect it.
    assert not ledger.finish_run(engines.datamart, dead, status="success",
                                 started_at=clock.utcnow(), rows={}, warnings_count=0,
                                 warnings=[])
    assert ledger.get_run(engines.datamart, dead).status == "crashed"


LEDGER_WRITE_TRIES = 3  # runner._finish_with_retries: "retry briefly" (the README gives no count)


@pytest.mark.parametrize(("failures", "tries", "status"), [
    (1, 2, "success"),
    (2, 3, "success"),  # the last try gets through
    (3, 3, "failed"),  # every try failed: a fourth is never made
    (4, 3, "failed"),
])
def test_the_end_of_a_run_is_written_to_the_ledger_in_three_tries_at_most(
        engines, toolbox_env, monkeypatch, failures, tries, status):
    real_finish, calls = ledger.finish_run, []

    def flaky_finish(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["status"])
        if len(calls) <= failures:
            raise DBAPIError("UPDATE toolbox_runs", None, Exception("server has gone away"))
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(ledger, "finish_run", flaky_finish)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # the waits between tries
    outcome = run_task(_spec(lambda ctx: _replace_items(ctx, 2)), toolbox_env, {},
                       engines=engines)
    assert len(calls) == tries <= LEDGER_WRITE_TRIES
    assert outcome.status == status
    run = ledger.get_run(engines.datamart, outcome.run_id)
    if status == "success":
        assert (outcome.error_type, run.status) == (None, "success")
    else:  # the task worked but the ledger never heard: said so, left for the reaper
        assert (outcome.error_type, outcome.exit_code) == ("LedgerWriteFailed", EXIT_FAILED)
        assert run.status == "running"


@pytest.mark.production
def test_run_stops_when_the_lock_connection_is_killed(mysql_url, monkeypatch, tmp_path):
    """The server drops the lock's connection mid-run: the run fails, it does not go on unlocked."""
    import time

    from toolbox_cli.settings import load_settings
    from toolbox_cli.storage.engine import init_schema, open_engines

    monkeypatch.setenv("TOOLBOX_DATABASE_URL", mysql_url)
    monkeypatch.setenv("TOOLBOX_HEARTBEAT_SECONDS", "0.2")
    settings = load_settings()
    engines = open_engines(settings, create=True)
    init_schema(engines)
    killed = threading.Event()

    def task(ctx: TaskContext) -> None:
        lock_name = f"toolbox:{engines.datamart.url.database}:selftest_items"
        with engines.datamart.connect() as conn:
            holder = conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": lock_name}).scalar()
            conn.execute(text(f"KILL {int(holder)}"))
        killed.set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ctx.check_alive()
            time.sleep(0.1)
        _replace_items(ctx, 2)

    try:
        outcome = run_task(_spec(task), settings, {}, engines=engines)
    finally:
        engines.dispose()
    assert killed.is_set()
    assert (outcome.status, outcome.error_type) == ("failed", "LockLost")
