"""A running run whose heartbeat went stale is crashed, by whichever command looks first: the
stale age at its boundary and one second either side in the reaper, and through a command
that runs a task, with the default age and with ``TOOLBOX_STALE_AFTER_SECONDS``.

The expected values come from the README's settings table: ``TOOLBOX_STALE_AFTER_SECONDS``,
default ``300``, "a ``running`` run without heartbeat for this long is ``crashed``". The runs
are another host's, so only the heartbeat can tell (a pid means nothing on another host).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from toolbox_cli import clock, ledger
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.ledger import runs

NOW = datetime(2026, 11, 28, 13, 0, 0)  # naive UTC, the ledger's convention
DEFAULT_STALE_AFTER = 300  # README: TOOLBOX_STALE_AFTER_SECONDS' default


def _running_elsewhere(engines: Engines, beat: datetime) -> int:
    """A ``running`` row of another host whose last heartbeat was at ``beat``."""
    run_id = ledger.start_run(engines.datamart, "tablas-cxc", trigger="cron", slot="08:00",
                              params={}, tables=["cxc_pagos_fact"])
    with engines.datamart.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            host="another-host", started_at=beat - timedelta(minutes=1), heartbeat_at=beat))
    return run_id


def _status(engines: Engines, run_id: int) -> str:
    run = ledger.get_run(engines.datamart, run_id)
    assert run is not None
    return run.status


@pytest.mark.parametrize(("silent_for", "crashed"), [
    (DEFAULT_STALE_AFTER - 1, False),  # one second short of the limit: still running
    (DEFAULT_STALE_AFTER, True),  # silent for exactly the limit: crashed (README)
    (DEFAULT_STALE_AFTER + 1, True),
])
def test_a_run_without_heartbeat_for_the_stale_age_is_crashed(engines, silent_for, crashed):
    run_id = _running_elsewhere(engines, NOW - timedelta(seconds=silent_for))
    reaped = ledger.reap_crashed(engines.datamart, stale_after_seconds=DEFAULT_STALE_AFTER,
                                 now=NOW)
    assert reaped == ([run_id] if crashed else [])
    assert _status(engines, run_id) == ("crashed" if crashed else "running")
    if crashed:
        run = ledger.get_run(engines.datamart, run_id)
        assert run is not None and run.finished_at == NOW
        beat = NOW - timedelta(seconds=silent_for)
        assert run.error_message == f"no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC"


def test_a_task_run_from_the_command_line_crashes_the_runs_gone_silent_for_the_stale_age(
        demo, cli):
    """The reaper runs before every task run (``housekeeping.before_run``). The wall clock
    moves while the command runs (a loaded host may take seconds), so the heartbeats are
    30 s either side of each limit."""
    now = clock.utcnow()
    ages = (30, 90, DEFAULT_STALE_AFTER - 30, DEFAULT_STALE_AFTER + 30)
    ids = dict(zip(ages, (_running_elsewhere(demo, now - timedelta(seconds=s)) for s in ages),
                   strict=True))
    kpi = ("kpi", "--hasta", "2024-03-31", "--fecha-corte", "2024-03-31")

    ran = cli(*kpi)
    assert ran.exit_code == 0, ran.output
    assert {s: _status(demo, ids[s]) for s in ages} == {
        30: "running", 90: "running", 270: "running", 330: "crashed"}  # the default, 300 s

    ran = cli(*kpi, TOOLBOX_STALE_AFTER_SECONDS="60")
    assert ran.exit_code == 0, ran.output
    assert {s: _status(demo, ids[s]) for s in ages} == {
        30: "running", 90: "crashed", 270: "crashed", 330: "crashed"}
