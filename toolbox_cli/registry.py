"""The task registry: every scheduled refresh, in one list.

Adding a task is one new module in ``toolbox_cli/tasks/`` that defines ``SPEC`` (see
``tasks/base.py``) and one line below; ``toolbox list``, the command line, the scheduler and
the monitoring find it here. Task modules are cheap to import (their work is imported when
they run), so reading the registry costs no Polars and no database driver.
"""

from __future__ import annotations

from collections.abc import Iterable

from toolbox_cli.errors import ConfigError, did_you_mean
from toolbox_cli.tasks import (
    hojas,
    kpi,
    kpi_acumulado,
    operaciones,
    tablas_cxc,
    tablas_reportes,
    tipo_cambio,
)
from toolbox_cli.tasks.base import TaskSpec

TASKS: tuple[TaskSpec, ...] = (
    tipo_cambio.SPEC,
    operaciones.SPEC,
    hojas.SPEC,
    tablas_reportes.SPEC,
    kpi.SPEC,
    kpi_acumulado.SPEC,
    tablas_cxc.SPEC,
)

__all__ = ["TASKS", "TaskSpec", "all_tasks", "check_task_names", "get_task", "is_interactive",
           "monitored_tasks"]


def all_tasks() -> dict[str, TaskSpec]:
    """Every task by name, in name order."""
    return {spec.name: spec for spec in sorted(TASKS, key=lambda s: s.name)}


def get_task(name: str) -> TaskSpec:
    for spec in TASKS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def check_task_names(variable: str, names: Iterable[str]) -> None:
    """A setting keyed by task (``TOOLBOX_MAX_AGE_MINUTES``, ``TOOLBOX_SCHEDULE_SLOTS``) that
    names no registered task is a configuration error naming the closest task."""
    known = [spec.name for spec in TASKS]
    for name in names:
        if name not in known:
            raise ConfigError(f"{variable} names no task {name!r}{did_you_mean(name, known)}; "
                              f"the tasks are {', '.join(sorted(known))}")


# The runs a person starts at a terminal, which are not monitored (their specs say
# ``monitored=False``: ``jobs/demo.py``, ``jobs/imports.py``, a test pins both).
INTERACTIVE = ("demo",)
INTERACTIVE_PREFIX = "import:"


def is_interactive(task: str) -> bool:
    """An import or the demo: ``status --check`` lists its failures apart and does not judge
    them (an analyst's bad CSV is the analyst's to fix, at the terminal)."""
    return task in INTERACTIVE or task.startswith(INTERACTIVE_PREFIX)


def monitored_tasks() -> set[str]:
    """The scheduled refreshes: notifications, health pings and metrics follow them."""
    return {spec.name for spec in TASKS if spec.monitored}
