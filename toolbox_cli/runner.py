"""The one function that runs any task: lock, ledger row, heartbeat, signals, outcome.

``plan_run`` checks the parameters and decides the source refreshes that run first (bad
input: exit 2 before anything opens); ``run_planned`` locks the task's tables and those of
its refreshes, writes the ledger row, runs the refreshes, checks the sources and runs the
task, and records the outcome. Every way out of a run writes its final state: success,
failure (with the error), an interrupt (Ctrl-C / SIGTERM, recorded as failed with reason
interrupted) or a skip because another run holds the lock. Only a process that dies outright
(kill -9, power loss) leaves ``running`` behind, and the next reader turns that into
``crashed`` (``housekeeping``, which the commands run before a run, not the runner).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.exc import DBAPIError

from toolbox_cli import ledger, timing
from toolbox_cli.clock import business_today, local_text, utcnow
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    ConfigError,
    DatabaseUnreachable,
    Interrupted,
    LockLost,
    Refused,
    TaskFailed,
    ToolboxError,
    disk_message,
)
from toolbox_cli.monitoring import alerts
from toolbox_cli.monitoring.runlog import run_log
from toolbox_cli.progress import NO_PROGRESS, Progress
from toolbox_cli.settings import Settings, scrub, secrets_of
from toolbox_cli.storage import runfiles
from toolbox_cli.storage.engine import (
    Engines,
    check_source_tables,
    describe_location,
    open_engines,
    translate_db_error,
)
from toolbox_cli.storage.guard import guard_for
from toolbox_cli.storage.lock import POLL_SECONDS, TaskLock, lock_for, lock_resources
from toolbox_cli.storage.staging import pause_point
from toolbox_cli.tasks.base import Refresh, RunFlags, TaskSpec, as_mapping
from toolbox_cli.words import rows_text

# Failures that keep their own exit code when a task raises them: the database is out of
# reach (4), the configuration is wrong or the run refused without an explicit flag (2).
# Any other failure of a task that ran is exit 1.
_OWN_EXIT_CODE = (DatabaseUnreachable, ConfigError, Refused)
# A run that holds a lock writes its ledger row a moment after taking it: how long a
# skipped run looks for that row to name the holder.
HOLDER_LOOKUP_SECONDS = 2.0

log = logging.getLogger("toolbox")


@dataclass
class RunOutcome:
    task: str
    status: str
    exit_code: int
    run_id: int | None = None
    rows: dict[str, int] = field(default_factory=dict)
    warnings_count: int = 0
    warnings: list[str] = field(default_factory=list)
    error_type: str | None = None
    error_message: str | None = None
    duration_s: float = 0.0
    traceback: str | None = None

    dry_run: bool = False
    computed: dict[str, int] = field(default_factory=dict)  # judged, swapped in or not
    phases: dict[str, float] | None = None  # with --profile-phases: where the time went

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "traceback"}
        out["summary"] = self.summary()
        return out

    def summary(self) -> str:
        """What happened, after the outcome's status, for the terminal, the run's log and
        cron's mail: the rows swapped in; for a run that swapped nothing, what it had
        computed and why; for a skip, whom it met."""
        if self.dry_run:
            return f"dry run: nothing written (would write {rows_text(self.rows)})" \
                if self.rows else "dry run: nothing written"
        if self.status == ledger.SUCCESS:
            return rows_text(self.rows) or "no rows"
        if self.status == ledger.SKIPPED:
            return self.error_message or "another run holds its tables; not started"
        if self.rows:  # swapped in, then the run failed (its ledger row, say)
            return f"swapped in {rows_text(self.rows)}, then failed (error below)"
        computed = f"computed {rows_text(self.computed)}; " if self.computed else ""
        return f"{computed}nothing swapped in: {failure_reason(self)}"


def failure_reason(outcome: RunOutcome) -> str:
    """A failed run's cause in a few words; the error line below gives it whole."""
    kind = outcome.error_type or ""
    if kind == "GuardTripped":
        return "the guard refused the new content (below)"
    if kind == "Interrupted":
        return "interrupted"
    if kind in ("ConfigError", "NoDatabase"):
        setting = re.search(r"\bTOOLBOX_[A-Z0-9_]+", outcome.error_message or "")
        return f"{setting.group(0)} needs fixing (below)" if setting \
            else "the configuration needs fixing (below)"
    if kind in ("InputError", "RowError", "AnswerRowError", "ImportRejected", "Refused"):
        return "the input needs fixing (below)"
    if kind == "DatabaseUnreachable":
        return "a database could not be reached (below)"
    return "the error below"


def check_required_sources(ctx: TaskContext, spec: TaskSpec, engines: Engines) -> None:
    """The task's source tables exist, and the required ones are not empty: computing from an
    empty operations table would publish blank dashboards (unless --allow-shrink)."""
    empty = check_source_tables(engines.source, spec.reads, spec.requires)
    if not empty:
        return
    where = describe_location(engines.source.url)
    if not ctx.guard.allow_shrink:
        raise TaskFailed(
            f"source table {empty[0]} in {where} is empty, so there is nothing to compute "
            "from; nothing was refreshed. Check the ETL or view that fills it (--allow-shrink "
            "refreshes anyway)"
        )
    ctx.warn(f"source table {', '.join(empty)} is empty; refreshed anyway because "
             "--allow-shrink was given")


def describe_holder(engines: Engines, lock: TaskLock, settings: Settings, task: str) -> str:
    """Who holds the table this run could not lock: run id, task, host, pid, start (Lima)."""
    table = lock.blocked_on or task
    deadline = time.monotonic() + HOLDER_LOOKUP_SECONDS
    holder = ledger.holder_of(engines.datamart, table)
    while holder is None and time.monotonic() < deadline:
        time.sleep(0.2)
        holder = ledger.holder_of(engines.datamart, table)
    if holder is None:
        who = "another run that is just starting"
    else:
        who = (f"run {holder.id} ({holder.task}, host {holder.host}, pid {holder.pid}, "
               f"started {local_text(holder.started_at, settings.zone)})")
    return f"{table} is locked by {who}; {task} not started (use --wait to queue behind it)"


def _acquire(lock: TaskLock, engines: Engines, wait: bool, on_wait: Callable[[str], None]
             ) -> bool:
    """Take the lock; a lock in files of this host is confirmed by the ledger: a live run of
    this host that locks one of the tables still holds it, whatever happened to its file
    (removed, replaced), and this run waits or is skipped as if the file said so."""
    while lock.acquire(wait, on_wait=on_wait):
        held = ledger.live_local_holder(engines.datamart, lock.resources) \
            if lock.host_local else None
        if held is None:
            return True
        lock.release()
        lock.blocked_on = held[0]
        if not wait:
            return False
        on_wait(held[0])
        time.sleep(POLL_SECONDS)
    return False


class _Heartbeat(threading.Thread):
    """Beats the ledger row and watches the lock until stopped."""

    def __init__(self, engines: Engines, run_id: int, lock: Any, every: float) -> None:
        super().__init__(name="toolbox-heartbeat", daemon=True)
        self.engines, self.run_id, self.lock, self.every = engines, run_id, lock, every
        self.stop_event = threading.Event()
        self.lock_lost = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            if not self.lock.still_held():
                self.lock_lost.set()
            try:
                ledger.heartbeat(self.engines.datamart, self.run_id)
            except Exception:  # the database may be restarting; the task will notice
                log.debug("heartbeat failed", exc_info=True)


class Signals:
    """SIGTERM in this process, so that a signal never contradicts the ledger.

    While a run may still stop with nothing published (``interruptible``), SIGTERM raises
    ``Interrupted`` in the main thread and the run is recorded as interrupted. From the
    moment a swap is about to publish tables (``shielded``), and while the outcome is
    recorded, reported and printed, it is remembered instead (``pending``): the run
    finishes, the ledger says what happened, and the process exits with the ledger's code.
    ``installed()`` nests: the command holds it around the whole run and its output line,
    the runner around the run."""

    def __init__(self) -> None:
        self.raising = False
        self.pending: int | None = None
        self._depth = 0
        self._previous: Any = None

    def _handler(self, signum: int, _frame: Any) -> None:
        if self.raising:
            self.raising = False
            raise Interrupted(f"interrupted by signal {signal.Signals(signum).name}")
        self.pending = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[Signals]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        if self._depth == 0:
            self._previous = signal.signal(signal.SIGTERM, self._handler)
            self.pending = None
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            self.raising = False
            if self._depth == 0:
                signal.signal(signal.SIGTERM, self._previous)

    def interruptible(self) -> None:
        """From now on SIGTERM stops the run; one that came already stops it now."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Interrupted(f"interrupted by signal {signal.Signals(signum).name}")
        self.raising = self._depth > 0

    def shielded(self) -> None:
        """From now on SIGTERM is remembered, not raised."""
        self.raising = False

    def take(self) -> int | None:
        """The signal that came while shielded, if any (taken: asked once)."""
        signum, self.pending = self.pending, None
        return signum


SIGNALS = Signals()


def _notify_end(engines: Engines, settings: Settings, run_id: int) -> None:
    try:
        run = ledger.get_run(engines.datamart, run_id)
    except DBAPIError:
        return  # the ledger is out of reach: the next reader finds the run and notifies
    if run is not None:
        alerts.notify_run_end(engines.datamart, settings, run)


def _finish_with_retries(engines: Engines, run_id: int, **kwargs: Any) -> bool:
    # The database may be the thing that failed the run: retry briefly before giving up
    # (the row then stays ``running`` and is reaped as crashed by the next reader).
    for attempt in range(3):
        try:
            return ledger.finish_run(engines.datamart, run_id, **kwargs)
        except DBAPIError as exc:
            log.error("could not record the end of run %s (attempt %d): %s",
                      run_id, attempt + 1, exc.orig)
            time.sleep(1.0 * (attempt + 1))
    return False


@dataclass(frozen=True)
class RunPlan:
    """A run decided and checked, before anything opens: the task, its resolved parameters,
    the business date and the source refreshes it does first."""

    spec: TaskSpec
    params: RunFlags
    today: date
    refreshes: tuple[Refresh, ...] = ()

    @property
    def resources(self) -> list[str]:
        """What the run locks: the task's tables and those its refreshes write."""
        return lock_resources(self.spec.tables + tuple(t for r in self.refreshes
                                                       for t in r.tables), self.spec.name)


def check_spec_tables(spec: TaskSpec) -> None:
    """Every table ``spec`` writes, reads or requires is one the table registry defines."""
    from toolbox_cli.storage.tables import undefined

    unknown = undefined((*spec.tables, *spec.reads, *spec.requires))
    if unknown:
        raise ConfigError(f"task {spec.name} names table {unknown[0]!r}, which is not "
                          "defined in toolbox_cli/storage/tables")


def plan_run(spec: TaskSpec, settings: Settings,
             params: Mapping[str, Any] | RunFlags | None = None) -> RunPlan:
    """``spec`` with ``params`` (its parameters dataclass, or a mapping of them) checked and
    resolved for today in Lima, with the source refreshes it does first; bad parameters
    or settings raise ``InputError``/``ConfigError`` before anything starts."""
    check_spec_tables(spec)
    today = business_today(settings)
    resolved = spec.parse(params).resolved(today)
    refreshes = tuple(r for source in spec.refresh_first
                      if (r := source.plan(spec, resolved, settings)) is not None)
    return RunPlan(spec, resolved, today, refreshes)


def run_task(
    spec: TaskSpec,
    settings: Settings,
    params: Mapping[str, Any] | RunFlags | None = None,
    **how: Any,
) -> RunOutcome:
    """``run_planned(plan_run(spec, settings, params), settings, **how)``."""
    return run_planned(plan_run(spec, settings, params), settings, **how)


def run_planned(
    plan: RunPlan,
    settings: Settings,
    *,
    trigger: str | None = None,
    slot: str | None = None,
    wait: bool = False,
    engines: Engines | None = None,
    progress: Progress = NO_PROGRESS,
    retry_of: int | None = None,
) -> RunOutcome:
    """Run ``plan`` through the lock and the ledger. ``progress`` is told the phases (a
    terminal draws them); ``retry_of`` is the run this one re-runs (``toolbox retry``)."""
    spec, resolved = plan.spec, plan.params
    if timing.enabled():
        timing.reset()
        timing.add("start-up", timing.process_age() or 0.0)
    trigger = trigger or os.environ.get("TOOLBOX_TRIGGER") or "manual"
    slot = slot or os.environ.get("TOOLBOX_SLOT") or None
    log_path = os.environ.get("TOOLBOX_LOG_PATH") or None
    secrets = secrets_of(settings) + list(spec.secrets)
    own_engines = engines is None
    engines = engines or open_engines(settings)
    try:
        resources = plan.resources
        lock = lock_for(engines.datamart, resources)
        try:
            acquired = _acquire(lock, engines, wait, _WaitShown(engines, settings, progress))
        except OSError as exc:  # a lock file that cannot be written (a full disk)
            message = scrub(disk_message(exc), secrets) or ""
            run_id = ledger.record_unstarted(
                engines.datamart, spec.name, ledger.FAILED, "LockFileError", message,
                trigger=trigger, slot=slot, params=as_mapping(resolved), log_path=log_path,
                tables=resources, retry_of=retry_of)
            return RunOutcome(spec.name, ledger.FAILED, EXIT_FAILED, run_id=run_id,
                              error_type="LockFileError", error_message=message,
                              dry_run=resolved.dry_run)
        if not acquired:
            message = describe_holder(engines, lock, settings, spec.name)
            run_id = ledger.record_skipped(
                engines.datamart, spec.name, trigger=trigger, slot=slot,
                params=as_mapping(resolved), holder=message, log_path=log_path,
                tables=resources, retry_of=retry_of,
            )
            return RunOutcome(
                spec.name, ledger.SKIPPED, EXIT_LOCKED, run_id=run_id,
                error_type="LockHeld", error_message=message, dry_run=resolved.dry_run,
            )
        progress.done("lock")
        how = _How(trigger, slot, log_path, secrets, progress, retry_of)
        try:
            return _run_locked(plan, settings, engines, lock, how)
        finally:
            lock.release()
    finally:
        if own_engines:
            engines.dispose()


@dataclass(frozen=True)
class _How:
    """How a run was started and is watched."""

    trigger: str
    slot: str | None
    log_path: str | None  # the cron wrapper's log file
    secrets: list[str]
    progress: Progress
    retry_of: int | None


class _WaitShown:
    """``--wait``: what the run is queued behind, on the progress display."""

    def __init__(self, engines: Engines, settings: Settings, progress: Progress) -> None:
        self.engines, self.settings, self.progress = engines, settings, progress
        self.asked: dict[str, float] = {}

    def __call__(self, table: str) -> None:
        now = time.monotonic()
        if now - self.asked.get(table, -10.0) < 2.0:
            return
        self.asked[table] = now
        holder = ledger.holder_of(self.engines.datamart, table)
        who = f"run {holder.id} ({holder.task}, host {holder.host})" if holder else "another run"
        self.progress.phase("lock", f"waiting for {who} to finish with {table}")


def _run_locked(plan: RunPlan, settings: Settings, engines: Engines, lock: Any,
                how: _How) -> RunOutcome:
    spec, params = plan.spec, plan.params
    with timing.phase("ledger"):
        run_id = ledger.start_run(engines.datamart, spec.name, trigger=how.trigger,
                                  slot=how.slot, params=as_mapping(params),
                                  log_path=how.log_path, tables=plan.resources,
                                  retry_of=how.retry_of)
    header = (f"# toolbox: task={spec.name} run={run_id} trigger={how.trigger} "
              f"host={ledger.hostname()} pid={os.getpid()}"
              + (f" retry_of={how.retry_of}" if how.retry_of else ""))
    with SIGNALS.installed(), \
            run_log(settings, spec.name, run_id, cron_log=how.log_path, header=header) as opened:
        if opened.stream is not None and opened.path is not None:
            ledger.set_log_path(engines.datamart, run_id, str(opened.path))
        outcome = _run_logged(plan, settings, engines, lock, run_id, how,
                              log_problem=opened.problem)
        opened.line(f"# finished {opened.now()} {outcome.status} exit code {outcome.exit_code}"
                    f": {outcome.summary()}")
        if outcome.error_message:
            opened.line(f"# error: {outcome.error_message}")
        if outcome.traceback and outcome.status != ledger.SUCCESS:
            opened.line(outcome.traceback)
        if outcome.phases:
            line = "phases: " + json.dumps(outcome.phases)
            opened.line(line)
            sys.stderr.write(line + "\n")
    return outcome


def _run_logged(plan: RunPlan, settings: Settings, engines: Engines, lock: Any, run_id: int,
                how: _How, *, log_problem: str | None = None) -> RunOutcome:
    spec, params = plan.spec, plan.params
    secrets = how.secrets
    started_at = utcnow()
    t0 = time.monotonic()
    beat = _Heartbeat(engines, run_id, lock, settings.heartbeat_seconds)

    def check_alive() -> None:
        if beat.lock_lost.is_set() or not lock.still_held():
            raise LockLost(
                f"lost the lock of {spec.name} (its database connection dropped); "
                "stopped so that two runs cannot overlap"
            )

    published: list[bool] = []

    def on_publish() -> None:
        SIGNALS.shielded()
        published.append(True)

    ctx = TaskContext(settings=settings, source=engines.source, datamart=engines.datamart,
                      params=params, today=plan.today, run_id=run_id, check_alive=check_alive,
                      on_publish=on_publish, locked=frozenset(plan.resources),
                      history=ledger.History(engines.datamart), progress=how.progress,
                      secrets=secrets)
    if log_problem:
        ctx.warn(log_problem)
    monitored = spec.monitored and not ctx.dry_run
    pinger = alerts.Pinger(settings, spec.name, run_id, runfiles.database_key(engines.datamart.url))
    if monitored:
        pinger.start()
    status, exit_code = ledger.SUCCESS, EXIT_OK
    error_type = error_message = tb = None
    task_seconds = 0.0
    beat.start()
    try:
        with runfiles.scratch(engines.datamart.url, run_id):
            SIGNALS.interruptible()
            ctx.guard = guard_for(settings, allow_shrink=params.allow_shrink,
                                  ranged=hasattr(params, "desde"))
            for refresh in plan.refreshes:
                log.info("refreshing %s first (%s)", refresh.source, ", ".join(refresh.tables))
                refresh.run(ctx)
            check_required_sources(ctx, spec, engines)
            t_task = time.monotonic()
            try:
                spec.run(ctx, params)
            finally:
                task_seconds = time.monotonic() - t_task
    except (KeyboardInterrupt, Interrupted) as exc:
        status, exit_code = ledger.FAILED, EXIT_FAILED
        error_type = "Interrupted"
        error_message = str(exc) or "interrupted (Ctrl-C)"
        tb = traceback.format_exc()
    except Exception as exc:  # every failure becomes a result, never an escape
        translated = translate_db_error(exc, engines.datamart.url)
        err = translated or exc
        status = ledger.FAILED
        exit_code = err.exit_code if isinstance(err, _OWN_EXIT_CODE) else EXIT_FAILED
        error_type = type(err).__name__
        error_message = str(err) if isinstance(err, ToolboxError) \
            else disk_message(exc) if isinstance(exc, OSError) \
            else f"{type(exc).__name__}: {exc}"
        # One line: SQLAlchemy appends the statement and a link on lines of their own (the
        # traceback, shown with --debug, keeps them).
        error_message = error_message.strip().split("\n", 1)[0]
        tb = traceback.format_exc()
    finally:
        SIGNALS.shielded()  # the outcome is recorded whatever comes now
        beat.stop_event.set()
        beat.join(timeout=5)
    late = SIGNALS.take()
    if late is not None:
        when = "after the tables were swapped in" if published else "as the run was ending"
        ctx.warn(f"{signal.Signals(late).name} came {when}; the run finished and is recorded "
                 "as it ended")
    error_message = scrub(error_message, secrets)
    tb = scrub(tb, secrets)
    ctx_warnings = ctx.warnings  # scrubbed as they were raised
    duration = time.monotonic() - t0
    with timing.phase("ledger"):
        recorded = _finish_with_retries(
            engines, run_id, status=status, started_at=started_at, duration_s=duration,
            rows=ctx.rows, warnings_count=ctx.warnings_count, warnings=ctx_warnings,
            error_type=error_type, error_message=error_message,
            digests=ctx.digests if status == ledger.SUCCESS else None,
            sources=ctx.sources,
        )
    pause_point("recorded")
    if not recorded and status == ledger.SUCCESS:
        # Either the ledger is unreachable or another reader declared us crashed: say so.
        status, exit_code = ledger.FAILED, EXIT_FAILED
        error_type = "LedgerWriteFailed"
        error_message = "the task finished but its ledger row could not be updated"
    if monitored:
        pinger.finish(status == ledger.SUCCESS)
        _notify_end(engines, settings, run_id)
    return RunOutcome(
        spec.name, status, exit_code, run_id=run_id, rows=dict(ctx.rows),
        warnings_count=ctx.warnings_count, warnings=ctx_warnings, error_type=error_type,
        error_message=error_message, duration_s=round(duration, 3), traceback=tb,
        dry_run=ctx.dry_run, computed=dict(ctx.computed),
        phases=timing.summary(task_seconds, duration) if timing.enabled() else None,
    )
