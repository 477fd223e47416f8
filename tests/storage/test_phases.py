"""--profile-phases (TOOLBOX_PROFILE_PHASES): a run says where its time went, measured where
each phase happens (every source read, the writer's thread, the swap, the ledger), with the
compute the rest of the task's time; off by default."""

from __future__ import annotations

import pytest

from tests.support.runs import run_on_demo
from toolbox_cli.timing import ORDER


def test_a_run_without_the_flag_reports_no_phases(demo, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    outcome = run_on_demo(toolbox_env, demo, "kpi")
    assert outcome.status == "success" and outcome.phases is None


@pytest.mark.parametrize("task", ["kpi", "tablas-cxc"])
def test_the_phases_of_a_run_add_up_to_its_time(demo, toolbox_env, monkeypatch, task) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOOLBOX_PROFILE_PHASES", "1")
    outcome = run_on_demo(toolbox_env, demo, task)
    assert outcome.status == "success", outcome.error_message
    phases = outcome.phases
    assert phases is not None
    assert [k for k in phases if k != "run"] == [k for k in ORDER if k in phases]
    for name in ("read", "compute", "write", "swap", "ledger"):
        assert phases[name] > 0, (name, phases)  # each one happened in a real run
    # The task's own phases (read, compute, waiting, swap) fit in the run's time; the
    # writer's thread runs beside the compute, so it is not part of that sum.
    task_part = phases["read"] + phases["compute"] + phases.get("waiting for the writer", 0) \
        + phases["swap"]
    assert task_part <= phases["run"] + 0.01
    assert outcome.as_dict()["phases"] == phases
