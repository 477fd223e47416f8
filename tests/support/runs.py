"""Running a registered task in the test's process, through the real runner."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from toolbox_cli.registry import get_task
from toolbox_cli.runner import RunOutcome, run_task
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines

# The day of the demo book of the ``demo`` fixture (conftest.py): its runs' "today".
DEMO_TODAY = date(2024, 3, 31)


def run_named(task: str, settings: Settings, engines: Engines, *, as_of: date | None = None,
              **params: Any) -> RunOutcome:
    """Run ``task`` with ``params`` on ``engines``. Not a dry run unless ``dry_run`` is given;
    with ``as_of``, ``hasta`` and ``fecha_corte`` default to it where the task takes them
    (a test's book has a fixed "today")."""
    spec = get_task(task)
    taken = {f.name for f in dataclasses.fields(spec.params)}
    defaults: dict[str, Any] = {"dry_run": False}
    if as_of is not None:
        defaults.update(hasta=as_of, fecha_corte=as_of)
    given = {k: v for k, v in defaults.items() if k in taken} | params
    return run_task(spec, settings, given, engines=engines)


def run_on_demo(settings: Settings, engines: Engines, task: str, **params: Any) -> RunOutcome:
    """``run_named`` as of the ``demo`` fixture's day."""
    return run_named(task, settings, engines, as_of=DEMO_TODAY, **params)
