"""What a task receives from the runner: settings, engines, parameters and a writer.

Tasks never touch the ledger: they report rows and warnings here and the runner records them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from toolbox_cli.params import RunFlags
from toolbox_cli.progress import NO_PROGRESS, Progress
from toolbox_cli.settings import Settings, scrub
from toolbox_cli.storage.guard import Coercions, ShrinkGuard, Totals
from toolbox_cli.storage.lock import refuse_unlocked

if TYPE_CHECKING:
    from toolbox_cli.compute.cells import CoercionLog
    from toolbox_cli.storage.writer import Replacement

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
    @property
    def digests(self) -> dict[str, str]: ...


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
    # Called right before a swap publishes tables: the runner stops treating a signal as
    # an interruption from then on (the run has published; it finishes and says so).
    on_publish: Callable[[], None] = lambda: None
    rows: dict[str, int] = field(default_factory=dict)
    # The rows the run computed for each table it then judged, swapped in or not: a run the
    # guard refused says what it had computed.
    computed: dict[str, int] = field(default_factory=dict)
    # Content digests of tables the run wrote, recorded on its ledger row (``demo``).
    digests: dict[str, str] = field(default_factory=dict)
    # The sources the run fetched itself and when (UTC ISO), on its ledger row: list and
    # status say where its operations came from (``operaciones``: the webservice).
    sources: dict[str, str] = field(default_factory=dict)
    # Per source table, the legacy coercions its reads needed (``coercion_log``).
    coercions: dict[str, CoercionLog] = field(default_factory=dict)
    # What the run locked (``TaskSpec.tables`` and its source refreshes'): the writer
    # refuses any other table.
    locked: frozenset[str] = frozenset()
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

    def judge(self, live: Mapping[str, int], new: Mapping[str, int],
              live_totals: Mapping[str, Totals] | None = None,
              new_totals: Mapping[str, Totals] | None = None) -> None:
        """The run's guard on new content, for every write of the run (the datamart writer's
        swaps, imports, sheets; real and dry runs alike): row counts, control totals and
        the coercions of every source column read so far; refuse, or note what
        ``--allow-shrink`` let through."""
        coerced = [Coercions(table, column, count, log.rows_read, log.column_examples[column])
                   for table, log in self.coercions.items()
                   for column, count in log.columns.items()]
        self.computed.update(new)
        self.guard.check(live, new, dry_run=self.dry_run, live_totals=live_totals,
                         new_totals=new_totals, coerced=coerced)
        for note in self.guard.notes:
            self.warn(note)
        self.guard.notes.clear()

    def coercion_log(self, table: str) -> CoercionLog:
        """The run's count of the coercions of source table ``table`` (decision 21): what
        reads it notes there; the guard judges every column of it before a swap."""
        from toolbox_cli.compute.cells import CoercionLog  # Polars: only when a task reads

        return self.coercions.setdefault(table, CoercionLog())

    def check_locked(self, table: str) -> None:
        """Refuse a write into a table this run did not lock (two runs must never write the
        same table at once); the datamart writer checks the same for every table it builds."""
        refuse_unlocked(self.locked, [table])

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

    @contextlib.contextmanager
    def replace_tables(self, *tables: Table, sources: bool = False) -> Iterator[Replacement]:
        """Replace datamart tables atomically, all of them or none, with what the block
        ``add``s to them (``storage/writer.py``)::

            with ctx.replace_tables(kpi) as out:
                for chunk in reads:              # extract
                    out.add(kpi, compute(chunk))  # compute, load

        When the block ends the guard judges every new table against the live one and only
        then are they swapped in; with --dry-run the frames are computed, counted and
        judged the same way, and nothing is written. Rows are counted on the run.
        ``sources``: the tables are source tables, in the source database (the operations
        webservice's refresh of the source contract).
        """
        from toolbox_cli.storage import writer  # Polars: only when a task writes

        engine = self.source if sources else self.datamart
        with writer.replacing(engine, tables, tag=str(self.run_id or "manual"),
                              locked=self.locked, judge=self.judge, dry_run=self.dry_run,
                              check_alive=self.check_alive, on_publish=self.on_publish,
                              progress=self.progress) as out:
            yield out
        for name, count in out.counts.items():
            self.add_rows(name, count)
