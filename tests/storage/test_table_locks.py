"""One writer of a table at a time: a run locks every table it writes, in a fixed order."""

from __future__ import annotations

import os

from tests.support.runs import run_on_demo
from toolbox_cli import ledger
from toolbox_cli.errors import EXIT_LOCKED
from toolbox_cli.storage.lock import lock_for

REPORT_TABLES = ("kpi", "nuevos_clientes_nuevos_pagadores", "saldos")






def test_a_run_cannot_start_while_another_task_holds_one_of_its_tables(demo, toolbox_env):
    """kpi and tablas-reportes both write kpi: the second is skipped, naming the holder."""
    holder_run = ledger.start_run(demo.datamart, "tablas-reportes", trigger="cron", slot="07:00",
                                  params={}, tables=list(REPORT_TABLES))
    lock = lock_for(demo.datamart, sorted(REPORT_TABLES))
    assert lock.acquire(wait=False)
    try:
        outcome = run_on_demo(toolbox_env, demo, "kpi")
        other = run_on_demo(toolbox_env, demo, "tablas-cxc")  # writes none of those tables
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
