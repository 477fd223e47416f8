"""A ``toolbox_cli.progress.Progress`` that remembers what a run reported, in order, for the
tests to hold against what their stubs served."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    done: int
    total: int
    detail: str
    unit: str


@dataclass
class Recorder:
    """Every report of a run, per line (thread-safe: the writer's loader thread and the
    tipo-cambio pool's threads report at once)."""

    phases: dict[str, list[str]] = field(default_factory=dict)
    rows_done: dict[str, int] = field(default_factory=dict)
    steps_of: dict[str, list[Step]] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def phase(self, label: str, phase: str) -> None:
        with self._lock:
            self.phases.setdefault(label, []).append(phase)

    def rows(self, label: str, count: int) -> None:
        with self._lock:
            self.rows_done[label] = self.rows_done.get(label, 0) + count

    def step(self, label: str, done: int, total: int, detail: str = "", *,
             unit: str = "steps") -> None:
        with self._lock:
            self.steps_of.setdefault(label, []).append(Step(done, total, detail, unit))

    def done(self, label: str) -> None:
        with self._lock:
            self.finished.append(label)

    def steps(self, label: str) -> list[Step]:
        return list(self.steps_of.get(label, []))

    def details(self, label: str) -> str:
        """Every detail of ``label``'s steps, one a line (to search)."""
        return "\n".join(s.detail for s in self.steps(label))
