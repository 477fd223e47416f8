"""The run's progress on a terminal: one line per table (or the lock being waited for),
its phase, rows done and rate, on stderr. Only when stderr is a terminal and the run is
not under cron, ``--json`` or ``--quiet``; it disappears when the run ends.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from toolbox_cli.progress import NO_PROGRESS
from toolbox_cli.progress import Progress as ProgressSink


def progress_for(console: Console, *, json_output: bool, quiet: bool) -> ProgressSink:
    """A live display if a person is watching, else ``NO_PROGRESS``."""
    if json_output or quiet or not console.is_terminal \
            or os.environ.get("TOOLBOX_TRIGGER") == "cron":
        return NO_PROGRESS
    return LiveProgress(console)


class _Rate(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

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
        self.display = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                                TextColumn("{task.fields[phase]}"), _Rate(), TimeElapsedColumn(),
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
