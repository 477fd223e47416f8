"""What a task is: a ``TaskSpec`` (name, help, typed parameters, tables) and a run function,
and what may run first in the same run: the source refreshes (``SourceRefresh``).

A task module defines its parameters as a frozen dataclass built from those of
``toolbox_cli/params.py`` and a ``SPEC``; the registry lists the specs, the command line is
generated from them (one option per parameter field) and the runner calls
``spec.run(ctx, params)`` after ``params.resolved(today)``. Task modules stay cheap to import
(``toolbox --help`` and ``toolbox list`` read every spec): their compute and storage imports
live inside ``run``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from toolbox_cli.errors import InputError
from toolbox_cli.params import CutOff, Flag, ReportRange, RunFlags, flag_of, param

__all__ = ["CutOff", "Flag", "Refresh", "ReportRange", "RunFlags", "SourceRefresh", "TaskSpec",
           "as_mapping", "flag_of", "param"]

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext
    from toolbox_cli.settings import Settings


@dataclass(frozen=True)
class Refresh:
    """One source refresh a run does first: the runner locks ``tables`` with the task's
    own, then calls ``run`` inside the run, before the task's sources are checked."""

    source: str  # what was refreshed, for the log: "sheets"
    tables: tuple[str, ...]
    run: Callable[[TaskContext], None]


class SourceRefresh(Protocol):
    """A way to refresh source tables before a task computes (the analysts' sheets, the
    operations webservice): a task lists its own in ``TaskSpec.refresh_first``."""

    def plan(self, spec: TaskSpec, params: RunFlags, settings: Settings) -> Refresh | None:
        """What to refresh before ``spec`` runs with ``params`` (None: nothing). Called
        before the run starts: a bad setting raises ``InputError`` here (exit 2)."""
        ...

@dataclass(frozen=True)
class TaskSpec:
    """A task as the registry, the command line, the scheduler and the runner see it."""

    name: str
    # First line: the summary of `toolbox --help` and `toolbox list`; the rest, the
    # command's own --help.
    help: str
    run: Callable[[TaskContext, Any], None]
    params: type[RunFlags] = RunFlags
    # The tables the task writes: the runner locks each of them for the whole run, so two
    # tasks that write the same table never run at once.
    tables: tuple[str, ...] = ()
    # Source tables the task reads (must exist) and those of them that must hold rows:
    # checked by the runner before the task computes anything.
    reads: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    # Source refreshes that may run first, in this run and under its locks (``--hojas``).
    refresh_first: tuple[SourceRefresh, ...] = ()
    # Default schedule: cron expressions in business time (America/Lima).
    schedule: tuple[str, ...] = ()
    # A scheduled refresh: notifications, health pings and metrics follow it. Imports and
    # demo are interactive runs at a terminal and are not monitored.
    monitored: bool = True
    example: str = ""
    # Texts this run must never show nor store, besides the settings' secrets: a sheet's
    # URL given on the command line (its path and query).
    secrets: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return self.help.strip().split("\n", 1)[0]

    def parse(self, values: Mapping[str, Any] | RunFlags | None = None) -> RunFlags:
        """The task's parameters from a mapping (the ledger, a test) or as given."""
        if isinstance(values, RunFlags):
            return values
        known = {f.name for f in dataclasses.fields(self.params)}
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise InputError(f"{self.name} takes no parameter {unknown[0]!r}; it takes "
                             f"{', '.join(sorted(known))}")
        hints = typing.get_type_hints(self.params)
        return self.params(**{k: _coerce(v, hints[k]) for k, v in (values or {}).items()})


def _coerce(value: Any, kind: Any) -> Any:
    """A value read back from JSON (an ISO date string) as its field's type."""
    if isinstance(value, str) and date in typing.get_args(kind) + (kind,):
        return date.fromisoformat(value)
    return value


def as_mapping(params: RunFlags) -> dict[str, Any]:
    """The parameters as the ledger stores them."""
    return dataclasses.asdict(params)
