"""The task registry: every scheduled refresh, in one list.

Adding a task is one new module in ``toolbox_cli/tasks/`` that defines ``SPEC`` (see
``tasks/base.py``) and one line below; ``toolbox list``, the command line, the scheduler and
the monitoring find it here. Task modules are cheap to import (their work is imported when
they run), so reading the registry costs no Polars and no database driver.
"""

from __future__ import annotations

from toolbox_cli.tasks import hojas, kpi, kpi_acumulado, tablas_cxc, tablas_reportes, tipo_cambio
from toolbox_cli.tasks.base import TaskSpec

TASKS: tuple[TaskSpec, ...] = (
    tipo_cambio.SPEC,
    hojas.SPEC,
    tablas_reportes.SPEC,
    kpi.SPEC,
    kpi_acumulado.SPEC,
    tablas_cxc.SPEC,
)

__all__ = ["TASKS", "TaskSpec", "all_tasks", "get_task", "monitored_tasks"]


def all_tasks() -> dict[str, TaskSpec]:
    """Every task by name, in name order."""
    return {spec.name: spec for spec in sorted(TASKS, key=lambda s: s.name)}


def get_task(name: str) -> TaskSpec:
    for spec in TASKS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def monitored_tasks() -> set[str]:
    """The scheduled refreshes: notifications, health pings and metrics follow them."""
    return {spec.name for spec in TASKS if spec.monitored}
