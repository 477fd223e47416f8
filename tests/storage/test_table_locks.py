"""One writer of a table at a time: a run locks every table it writes, in a fixed order."""

from __future__ import annotations

import os
from datetime import date

import pytest

from tests.support.runs import run_named
from toolbox_cli import ledger
from toolbox_cli.demo import seed_demo
from toolbox_cli.errors import EXIT_LOCKED
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.lock import lock_for

TODAY = date(2024, 3, 31)


REPORT_TABLES = ("kpi", "nuevos_clientes_nuevos_pagadores", "saldos")


def run(settings: Settings, engines: Engines, task: str, **params):  # type: ignore[no-untyped-def]
    return run_named(task, settings, engines, as_of=TODAY, **params)


@pytest.fixture
def demo(engines: Engines) -> Engines:
    seed_demo(engines.source, operations=1000, seed=8, today=TODAY)
    return engines


def test_a_run_cannot_start_while_another_task_holds_one_of_its_tables(demo, toolbox_env):
    """kpi and tablas-reportes both write kpi: the second is skipped, naming the holder."""
    holder_run = ledger.start_run(demo.datamart, "tablas-reportes", trigger="cron", slot="07:00",
                                  params={}, tables=list(REPORT_TABLES))
    lock = lock_for(demo.datamart, sorted(REPORT_TABLES))
    assert lock.acquire(wait=False)
    try:
        outcome = run(toolbox_env, demo, "kpi")
        other = run(toolbox_env, demo, "tablas-cxc")  # writes none of those tables
    finally:
        lock.release()
    assert (outcome.status, outcome.exit_code) == ("skipped", EXIT_LOCKED)
    message = outcome.error_message
    assert f"kpi is locked by run {holder_run} (tablas-reportes, host " in message
    assert f"pid {os.getpid()}" in message and "-05:00" in message and "--wait" in message
    stored = ledger.get_run(demo.datamart, outcome.run_id)
    assert stored.status == "skipped" and stored.error_message == message
    assert other.status == "success", other.error_message


def test_locks_are_taken_per_table_in_a_fixed_order(demo):
    first = lock_for(demo.datamart, ["saldos", "kpi"])
    second = lock_for(demo.datamart, ["kpi"])
    assert first.acquire(wait=False)
    try:
        assert not second.acquire(wait=False) and second.blocked_on == "kpi"
        third = lock_for(demo.datamart, ["cxc_dev_fact"])
        assert third.acquire(wait=False)
        third.release()
    finally:
        first.release()
    assert second.acquire(wait=False)
    second.release()
