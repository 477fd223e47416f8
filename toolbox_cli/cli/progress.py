"""The run's progress on a terminal: one line per table (or the lock being waited for, the
requests to a provider, the sheets being read), its phase or step, rows done and rate, on
stderr. Only when stderr is a terminal and the run is not under cron, ``--json`` or
``--quiet``; it disappears when the run ends.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column

from toolbox_cli.progress import NO_PROGRESS
from toolbox_cli.progress import Progress as ProgressSink


def progress_for(console: Console, *, json_output: bool, quiet: bool) -> ProgressSink:
    """A live display if a person is watching, else ``NO_PROGRESS``."""
    if json_output or quiet or not console.is_terminal \
            or os.environ.get("TOOLBOX_TRIGGER") == "cron":
        return NO_PROGRESS
    return LiveProgress(console)


class _Phase(TextColumn):
    """The phase, on one screen line: what a narrow terminal gives up is its end (a step's
    detail: the dates being asked), cut with an ellipsis, never the label, the rows or the
    time. (The column wraps as far as the table knows, so it is the one narrowed first; the
    text does not, since a live display redraws a task that takes two lines badly.)"""

    def __init__(self) -> None:
        super().__init__("{task.fields[phase]}", markup=False,
                         table_column=Column(no_wrap=False))

    def render(self, task: Any) -> Any:
        from rich.text import Text

        return Text(str(task.fields.get("phase", "")), no_wrap=True, overflow="ellipsis")


class _Rate(TextColumn):
    def __init__(self) -> None:
        super().__init__("", table_column=Column(no_wrap=True))

    def render(self, task: Any) -> Any:
        from rich.text import Text

        if not task.completed:
            return Text("")
        rate = task.completed / task.elapsed if task.elapsed else 0.0
        return Text(f"{task.completed:,.0f} rows  {rate:,.0f} rows/s", style="cyan")


class LiveProgress:
    """The ``toolbox_cli.progress.Progress`` a terminal sees (thread-safe: the writer's loader
    thread reports rows)."""

    def __init__(self, console: Console) -> None:
        self.display = Progress(SpinnerColumn(),
                                TextColumn("[bold]{task.description}",
                                           table_column=Column(no_wrap=True)),
                                _Phase(), _Rate(),
                                TimeElapsedColumn(table_column=Column(no_wrap=True)),
                                console=console, transient=True)
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()
        self.started = False

    def _task(self, label: str) -> TaskID:
        with self.lock:
            if not self.started:
                self.display.start()
                self.started = True
            if label not in self.tasks:
                self.tasks[label] = self.display.add_task(label, total=None, phase="")
            return self.tasks[label]

    def phase(self, label: str, phase: str) -> None:
        self.display.update(self._task(label), phase=phase)

    def rows(self, label: str, count: int) -> None:
        self.display.advance(self._task(label), count)

    def step(self, label: str, done: int, total: int, detail: str = "", *,
             unit: str = "steps") -> None:
        self.phase(label, step_text(done, total, detail, unit=unit))

    def done(self, label: str) -> None:
        with self.lock:
            task = self.tasks.pop(label, None)
        if task is not None:
            self.display.remove_task(task)

    def stop(self) -> None:
        with self.lock:
            if self.started:
                self.display.stop()
                self.started = False


def step_text(done: int, total: int, detail: str = "", *, unit: str = "steps") -> str:
    """A step as its line shows it: ``requests 12/40: asking 2024-03, 2024-04``."""
    return f"{unit} {done:,}/{total:,}" + (f": {detail}" if detail else "")
