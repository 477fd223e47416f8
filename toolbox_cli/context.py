"""What a task receives from the runner: settings, engines, parameters and a writer.

Tasks never touch the ledger: they report rows and warnings here and the runner records them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import Engine

from toolbox_cli.params import RunFlags
from toolbox_cli.settings import Settings
from toolbox_cli.storage import staging
from toolbox_cli.storage.guard import ShrinkGuard

if TYPE_CHECKING:
    import polars as pl

MAX_STORED_WARNINGS = 20


class PastRun(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def task(self) -> str: ...
    @property
    def rows_written(self) -> dict[str, int]: ...


class RunHistory(Protocol):
    """What a task may know of earlier runs (the runner hands it ``ledger.History``)."""

    def last_success(self, task: str) -> PastRun | None: ...

    def writers_since(self, after_id: int, tables: set[str], *, exclude_task: str
                      ) -> Sequence[PastRun]: ...


class _NoHistory:
    def last_success(self, task: str) -> PastRun | None:
        return None

    def writers_since(self, after_id: int, tables: set[str], *, exclude_task: str
                      ) -> Sequence[PastRun]:
        return []

log = logging.getLogger("toolbox")


@dataclass
class TaskContext:
    settings: Settings
    source: Engine
    datamart: Engine
    params: RunFlags
    today: date  # business date (Lima) when the run started
    run_id: int | None = None
    check_alive: Callable[[], None] = lambda: None
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    warnings_count: int = 0
    guard: ShrinkGuard = field(default_factory=ShrinkGuard)
    history: RunHistory = field(default_factory=_NoHistory)

    @property
    def dry_run(self) -> bool:
        return self.params.dry_run

    def check_shrink(self, live: Mapping[str, int], new: Mapping[str, int]) -> None:
        """The guard for writes that do not go through ``replace_tables`` (imports)."""
        self.guard.check(live, new, dry_run=self.dry_run)
        self._record_guard_notes()

    def _record_guard_notes(self) -> None:
        for note in self.guard.notes:
            self.warn(note)
        self.guard.notes.clear()

    def warn(self, message: str) -> None:
        """Record a warning on the run (count + the first few messages)."""
        self.warnings_count += 1
        if len(self.warnings) < MAX_STORED_WARNINGS:
            self.warnings.append(message)
        log.warning(message)

    def add_rows(self, table: str, count: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + count

    def replace_tables(self, tables: Mapping[str, Iterable[pl.DataFrame]]) -> dict[str, int]:
        """Replace datamart tables atomically, all of them or none.

        Each table's frames are written chunk by chunk into a staging table; the guard
        compares every new table with the live one, and the swap happens only after every
        table is built and passed. With --dry-run the frames are computed and counted and the
        guard judges them as it would a real run, but nothing is written.
        """
        from toolbox_cli.storage import writer  # Polars: only when a task writes

        if self.dry_run:
            counts = {}
            for name, frames in tables.items():
                table = staging.datamart_table(name)
                counts[name] = sum(writer.prepare(frame, table).height for frame in frames)
            self.guard.check(staging.live_counts(self.datamart, counts), counts, dry_run=True)
        else:
            counts = writer.replace_tables(
                self.datamart,
                tables,
                tag=str(self.run_id or "manual"),
                check_alive=self.check_alive,
                guard=self.guard,
            )
        self._record_guard_notes()
        for name, count in counts.items():
            self.add_rows(name, count)
        return counts
