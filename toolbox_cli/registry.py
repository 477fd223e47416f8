"""The task registry: each task module registers itself with ``@task(...)``.

Adding a task is one new module in ``toolbox_cli/tasks/`` and one import line in
``toolbox_cli/tasks/__init__.py``; ``toolbox list`` and the scheduler discover it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext

TaskFunc = Callable[["TaskContext"], None]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    func: TaskFunc
    # The tables the task writes: the runner locks each of them for the whole run, so two
    # tasks that write the same table never run at once.
    tables: tuple[str, ...] = ()
    # Default schedule: cron expressions in business time (America/Lima).
    schedule: tuple[str, ...] = field(default_factory=tuple)
    # Source tables the task reads (must exist) and those of them that must hold rows:
    # checked by the runner before the task computes anything.
    reads: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    # A scheduled refresh: notifications, health pings and metrics follow it. Imports and
    # demo are interactive runs at a terminal and are not monitored.
    monitored: bool = True


_TASKS: dict[str, TaskSpec] = {}


def task(
    name: str,
    description: str,
    tables: tuple[str, ...] | list[str] = (),
    schedule: tuple[str, ...] | list[str] = (),
    reads: tuple[str, ...] | list[str] = (),
    requires: tuple[str, ...] | list[str] = (),
) -> Callable[[TaskFunc], TaskFunc]:
    def register(func: TaskFunc) -> TaskFunc:
        if name in _TASKS and _TASKS[name].func is not func:
            raise RuntimeError(f"task {name!r} registered twice")
        _TASKS[name] = TaskSpec(name, description, func, tuple(tables), tuple(schedule),
                                tuple(reads), tuple(requires))
        return func

    return register


def all_tasks() -> dict[str, TaskSpec]:
    import toolbox_cli.tasks  # noqa: F401  (registers every task module)

    return dict(sorted(_TASKS.items()))


def get_task(name: str) -> TaskSpec:
    tasks = all_tasks()
    if name not in tasks:
        raise KeyError(name)
    return tasks[name]
