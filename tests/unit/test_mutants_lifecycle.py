"""The ledger's status transitions, for ``make mutate``: what a skipped or unstarted run
records, the heartbeat of a running run only, and the reaper's rules (a live process of this
host is not crashed, a run that never beat is crashed by its start time, and a run that
finishes while the reaper looks at it keeps its final state).

Expected values come from the README and design.md: a ``skipped`` ledger row names the
holder (README "Exit codes", exit 3); a ``running`` run without heartbeat for
``TOOLBOX_STALE_AFTER_SECONDS`` is ``crashed``, a dead pid counts on its own host only
(README "How a run is recorded"); final-state updates are compare-and-swap (design.md,
healthchecks: "if updated != 1: another worker got there first"), so "the ledger never lies".
The error types are the names their readers key on: ``Crashed`` is the key of the crash hint
of the alerts (``monitoring.alerts.HINTS``, the one about kill -9), ``LockHeld`` the error type
the runner reports for a skipped run (``RunOutcome``), which its ledger row must repeat.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from toolbox_cli import clock, ledger
from toolbox_cli.ledger import lifecycle
from toolbox_cli.monitoring.alerts import HINTS
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.ledger import runs

LONG_AGO = datetime(2026, 1, 5, 7, 0, 0)  # naive UTC, the ledger's convention
STALE_AFTER = 300  # README: TOOLBOX_STALE_AFTER_SECONDS' default


def _start(engines: Engines, task: str = "kpi", **kwargs: object) -> int:
    return ledger.start_run(engines.datamart, task, trigger="manual", slot=None, params={},
                            tables=["kpi"], **kwargs)  # type: ignore[arg-type]


def _run(engines: Engines, run_id: int) -> ledger.Run:
    run = ledger.get_run(engines.datamart, run_id)
    assert run is not None
    return run


def _set(engines: Engines, run_id: int, **values: object) -> None:
    with engines.datamart.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def _heartbeat_at(engines: Engines, run_id: int) -> datetime | None:
    with engines.datamart.connect() as conn:
        return conn.execute(select(runs.c.heartbeat_at).where(runs.c.id == run_id)).scalar_one()


def _finish(engines: Engines, run_id: int) -> bool:
    return ledger.finish_run(engines.datamart, run_id, status=ledger.SUCCESS,
                             started_at=_run(engines, run_id).started_at, rows={"kpi": 3},
                             warnings_count=0, warnings=[])


# --- record_skipped / record_unstarted ------------------------------------------------------

def test_a_skipped_run_records_one_final_row_naming_the_holder(engines: Engines) -> None:
    earlier = _start(engines)  # another run's row, which the skip must not touch
    holder = "kpi is locked by run 24 (tablas-reportes, host etl1, pid 4242)"
    run_id = ledger.record_skipped(
        engines.datamart, "kpi", trigger="cron", slot="07:00", params={"dry_run": False},
        holder=holder, log_path="/var/log/toolbox/kpi-07.log", tables=["kpi", "saldos"],
        retry_of=earlier)
    run = _run(engines, run_id)
    assert run_id != earlier
    assert (run.task, run.status, run.trigger, run.slot) == ("kpi", "skipped", "cron", "07:00")
    assert (run.error_type, run.error_message) == ("LockHeld", holder)
    assert run.log_path == "/var/log/toolbox/kpi-07.log"
    assert run.tables == ["kpi", "saldos"]
    assert run.retry_of == earlier
    assert run.finished_at is not None and run.duration_s == 0.0
    other = _run(engines, earlier)
    assert (other.status, other.error_type, other.error_message) == ("running", None, None)


def test_an_unstarted_run_records_its_status_and_reason_on_its_own_row(engines: Engines) -> None:
    earlier = _start(engines)
    run_id = ledger.record_unstarted(
        engines.datamart, "kpi", ledger.FAILED, "ConfigError", "the lock file is not writable",
        trigger="cron", slot="18:00", params={}, log_path="/tmp/kpi-18.log", tables=["kpi"],
        retry_of=earlier)
    run = _run(engines, run_id)
    assert (run.status, run.slot, run.log_path, run.tables, run.retry_of) == (
        "failed", "18:00", "/tmp/kpi-18.log", ["kpi"], earlier)
    assert (run.error_type, run.error_message) == ("ConfigError", "the lock file is not writable")
    other = _run(engines, earlier)
    assert (other.error_type, other.error_message) == (None, None)


# --- heartbeat ------------------------------------------------------------------------------

def test_a_heartbeat_moves_only_its_own_running_run(engines: Engines) -> None:
    beating, idle, finished = _start(engines), _start(engines), _start(engines)
    assert _finish(engines, finished)
    for run_id in (beating, idle, finished):
        _set(engines, run_id, heartbeat_at=LONG_AGO)
    before = clock.utcnow()
    ledger.heartbeat(engines.datamart, beating)
    ledger.heartbeat(engines.datamart, finished)
    after = clock.utcnow()
    beat = _heartbeat_at(engines, beating)
    assert beat is not None and before <= beat <= after
    assert _heartbeat_at(engines, idle) == LONG_AGO  # another run does not beat
    assert _heartbeat_at(engines, finished) == LONG_AGO  # a finished run beats no more


# --- reap_crashed ---------------------------------------------------------------------------

def test_a_running_run_of_a_live_process_of_this_host_is_not_crashed(engines: Engines) -> None:
    run_id = _start(engines)  # this host, this (live) process, a fresh heartbeat
    assert ledger.reap_crashed(engines.datamart, stale_after_seconds=STALE_AFTER) == []
    assert _run(engines, run_id).status == "running"


@pytest.mark.parametrize(("started_before", "crashed"), [
    (STALE_AFTER, True),  # never beat, started the whole stale age ago: crashed
    (STALE_AFTER - 1, False),
])
def test_a_run_that_never_beat_is_judged_by_its_start(engines: Engines, started_before: int,
                                                      crashed: bool) -> None:
    now = datetime(2026, 11, 28, 13, 0, 0)
    run_id = _start(engines)
    _set(engines, run_id, host="another-host", heartbeat_at=None,
         started_at=now - timedelta(seconds=started_before))
    marked = ledger.reap_crashed(engines.datamart, stale_after_seconds=STALE_AFTER, now=now)
    assert marked == ([run_id] if crashed else [])
    assert _run(engines, run_id).status == ("crashed" if crashed else "running")


def test_a_crashed_run_carries_the_error_type_of_the_crash_hint(engines: Engines) -> None:
    now = datetime(2026, 11, 28, 13, 0, 0)
    run_id = _start(engines)
    _set(engines, run_id, host="another-host", heartbeat_at=now - timedelta(hours=1))
    assert ledger.reap_crashed(engines.datamart, stale_after_seconds=STALE_AFTER,
                               now=now) == [run_id]
    run = _run(engines, run_id)
    assert (run.status, run.finished_at) == ("crashed", now)
    assert run.error_type == "Crashed"
    assert "kill -9" in HINTS[run.error_type]


def test_a_run_that_finishes_while_the_reaper_looks_keeps_its_final_state(
        engines: Engines, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _start(engines)
    finished: list[bool] = []

    def finished_then_gone(pid: int) -> bool:
        """The run's process writes its end just as the reaper checks it, and exits."""
        assert pid == os.getpid()
        finished.append(_finish(engines, run_id))
        return False

    monkeypatch.setattr(lifecycle, "pid_alive", finished_then_gone)
    assert ledger.reap_crashed(engines.datamart, stale_after_seconds=STALE_AFTER) == []
    assert finished == [True]
    run = _run(engines, run_id)
    assert (run.status, run.error_type) == ("success", None)
