"""What a task receives from the runner: settings, engines, parameters and a writer.

Tasks never touch the ledger: they report rows and warnings here and the runner records them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Engine

from toolbox_cli.params import RunFlags
from toolbox_cli.settings import Settings, scrub
from toolbox_cli.storage import staging
from toolbox_cli.storage.guard import ShrinkGuard
from toolbox_cli.storage.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    import polars as pl

# Distinct warnings a run keeps (`toolbox status ID --warnings` lists them), and how many
# of them are also printed on stderr while it runs.
MAX_STORED_WARNINGS = 2000
SHOWN_WARNINGS = 8


class PastRun(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def task(self) -> str: ...
    @property
    def rows_written(self) -> dict[str, int]: ...
    @property
    def params(self) -> dict[str, Any]: ...


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
    guard: ShrinkGuard = field(default_factory=ShrinkGuard)
    history: RunHistory = field(default_factory=_NoHistory)
    progress: Progress = NO_PROGRESS
    secrets: list[str] = field(default_factory=list)  # scrubbed from every warning
    # Each distinct warning and how many times it was raised, in first-seen order.
    _warnings: dict[str, int] = field(default_factory=dict)
    _shown: int = 0

    @property
    def warnings(self) -> list[str]:
        """Every distinct warning, ``(×N)`` when raised N > 1 times; past the first
        ``MAX_STORED_WARNINGS`` one line says how many more there were."""
        out = [m if n == 1 else f"{m} (×{n})" for m, n in self._warnings.items()]
        if len(out) > MAX_STORED_WARNINGS:
            rest = len(out) - MAX_STORED_WARNINGS
            out = [*out[:MAX_STORED_WARNINGS], f"… and {rest} more warnings, not kept"]
        return out

    @property
    def warnings_count(self) -> int:
        """How many distinct warnings the run raised."""
        return len(self._warnings)

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

    def warn(self, message: str, *, detail: bool = False) -> None:
        """Record a warning on the run: a message raised again only counts. The first few
        distinct ones are also printed on stderr as they come, unless ``detail`` (one case
        of a warning already printed, kept for ``toolbox status ID --warnings``). Secrets
        are scrubbed first, so none reaches the screen, the log or the ledger."""
        message = scrub(message, self.secrets) or ""
        if message in self._warnings:
            self._warnings[message] += 1
            return
        self._warnings[message] = 1
        if detail:
            return
        self._shown += 1
        if self._shown <= SHOWN_WARNINGS:
            log.warning(message)
        elif self._shown == SHOWN_WARNINGS + 1:
            where = f"toolbox status {self.run_id} --warnings" if self.run_id else "the run"
            log.warning("more warnings follow; %s lists every one", where)

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
                counts[name] = 0
                self.progress.phase(name, "reading and computing (dry run)")
                for frame in frames:
                    rows = writer.prepare(frame, table).height
                    counts[name] += rows
                    self.progress.rows(name, rows)
                self.progress.done(name)
            self.guard.check(staging.live_counts(self.datamart, counts), counts, dry_run=True)
        else:
            counts = writer.replace_tables(
                self.datamart,
                tables,
                tag=str(self.run_id or "manual"),
                check_alive=self.check_alive,
                guard=self.guard,
                progress=self.progress,
            )
        self._record_guard_notes()
        for name, count in counts.items():
            self.add_rows(name, count)
        return counts
