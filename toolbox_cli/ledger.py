"""The run ledger: one row per run in ``toolbox_runs``.

Facts are stored (times in UTC, counts, errors); states such as late and missed are
derived when read. Final-state updates are compare-and-swap on ``status = 'running'`` so a
run that was already declared crashed is never silently resurrected, and vice versa.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from toolbox_cli import __version__
from toolbox_cli.storage.tables import notifications, runs, schedule_installs


class RunStatus(StrEnum):
    """The state of a run in the ledger (``toolbox_runs.status``)."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CRASHED = "crashed"


RUNNING, SUCCESS, FAILED, SKIPPED, CRASHED = RunStatus
FINAL_STATES = (SUCCESS, FAILED, SKIPPED, CRASHED)
STATES = tuple(RunStatus)

ERROR_MESSAGE_MAX = 4000


def utcnow() -> datetime:
    """Naive UTC, as stored in DATETIME columns."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def hostname() -> str:
    return socket.gethostname()


@dataclass(frozen=True)
class Run:
    id: int
    task: str
    status: str
    trigger: str
    slot: str | None
    params: dict[str, Any]
    host: str
    pid: int
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None
    duration_s: float | None
    rows_written: dict[str, int]
    warnings_count: int
    warnings: list[str]
    error_type: str | None
    error_message: str | None
    version: str
    log_path: str | None
    dry_run: bool = False
    tables: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Any) -> Run:
        m = row._mapping
        return cls(
            id=m["id"], task=m["task"], status=m["status"], trigger=m["trigger"],
            slot=m["slot"], params=json.loads(m["params"] or "{}"), host=m["host"],
            pid=m["pid"], started_at=m["started_at"], finished_at=m["finished_at"],
            heartbeat_at=m["heartbeat_at"], duration_s=m["duration_s"],
            rows_written=json.loads(m["rows_written"] or "{}"),
            warnings_count=m["warnings_count"] or 0, warnings=json.loads(m["warnings"] or "[]"),
            error_type=m["error_type"], error_message=m["error_message"],
            version=m["version"], log_path=m["log_path"],
            dry_run=bool(m["dry_run"]), tables=json.loads(m["tables"] or "[]"),
        )

    def total_rows(self) -> int:
        return sum(self.rows_written.values())


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


def start_run(
    engine: Engine,
    task: str,
    *,
    trigger: str,
    slot: str | None,
    params: dict[str, Any],
    status: str = RUNNING,
    log_path: str | None = None,
    tables: list[str] | None = None,
) -> int:
    now = utcnow()
    values = dict(
        task=task, status=status, trigger=trigger, slot=slot, params=_json(params),
        host=hostname(), pid=os.getpid(), started_at=now, heartbeat_at=now,
        warnings_count=0, version=__version__, log_path=log_path,
        dry_run=bool(params.get("dry_run")), tables=_json(list(tables or [])),
    )
    if status != RUNNING:
        values.update(finished_at=now, duration_s=0.0)
    with engine.begin() as conn:
        result = conn.execute(insert(runs).values(**values))
        return int(result.inserted_primary_key[0])


def record_skipped(engine: Engine, task: str, *, trigger: str, slot: str | None,
                   params: dict[str, Any], holder: str, log_path: str | None = None,
                   tables: list[str] | None = None) -> int:
    run_id = start_run(engine, task, trigger=trigger, slot=slot, params=params,
                       status=SKIPPED, log_path=log_path, tables=tables)
    with engine.begin() as conn:
        conn.execute(
            update(runs).where(runs.c.id == run_id).values(
                error_type="LockHeld", error_message=holder
            )
        )
    return run_id


def holder_of(engine: Engine, table: str, *, exclude: int | None = None) -> Run | None:
    """The running run that locks ``table`` (the newest, should there be several)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs).where(runs.c.status == RUNNING).order_by(runs.c.id.desc())
        ).all()
    for run in map(Run.from_row, rows):
        if table in run.tables and run.id != exclude:
            return run
    return None


def heartbeat(engine: Engine, run_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(runs).where(and_(runs.c.id == run_id, runs.c.status == RUNNING))
            .values(heartbeat_at=utcnow())
        )


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    started_at: datetime,
    rows: dict[str, int],
    warnings_count: int,
    warnings: list[str],
    error_type: str | None = None,
    error_message: str | None = None,
    duration_s: float | None = None,
) -> bool:
    """Write the final state; False if the run was no longer ``running`` (declared crashed)."""
    now = utcnow()
    if duration_s is None:
        duration_s = max((now - started_at).total_seconds(), 0.0)
    if error_message and len(error_message) > ERROR_MESSAGE_MAX:
        error_message = error_message[: ERROR_MESSAGE_MAX - 1] + "…"
    with engine.begin() as conn:
        result = conn.execute(
            update(runs)
            .where(and_(runs.c.id == run_id, runs.c.status == RUNNING))
            .values(
                status=status, finished_at=now, heartbeat_at=now,
                duration_s=round(duration_s, 3),
                rows_written=_json(rows), warnings_count=warnings_count,
                warnings=_json(warnings), error_type=error_type, error_message=error_message,
            )
        )
    return result.rowcount == 1


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_crashed(engine: Engine, *, stale_after_seconds: int, now: datetime | None = None) -> list[int]:
    """Mark as ``crashed`` every running run whose process is gone or whose heartbeat is stale.

    A dead pid only counts on this host (pids mean nothing elsewhere); any host's run is
    crashed once its heartbeat is older than the threshold.
    """
    now = now or utcnow()
    stale_before = now - timedelta(seconds=stale_after_seconds)
    me = hostname()
    with engine.connect() as conn:
        candidates = conn.execute(
            select(runs.c.id, runs.c.host, runs.c.pid, runs.c.heartbeat_at, runs.c.started_at)
            .where(runs.c.status == RUNNING)
        ).all()
    crashed: list[tuple[int, str]] = []
    for run_id, host, pid, beat, started in candidates:
        last = beat or started
        if host == me and not _pid_alive(pid):
            crashed.append((run_id, f"process {pid} on {host} is gone (killed or host restarted)"))
        elif last < stale_before:
            crashed.append((run_id, f"no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC"))
    marked = []
    for run_id, reason in crashed:
        with engine.begin() as conn:
            result = conn.execute(
                update(runs)
                .where(and_(runs.c.id == run_id, runs.c.status == RUNNING))
                .values(status=CRASHED, finished_at=now, error_type="Crashed", error_message=reason)
            )
        if result.rowcount == 1:
            marked.append(run_id)
    return marked


def known_tasks(engine: Engine) -> list[str]:
    """Every task name the ledger has seen (imports and demo included)."""
    with engine.connect() as conn:
        return sorted(conn.execute(select(runs.c.task).distinct()).scalars())


def recent_runs(engine: Engine, *, task: str | None = None, status: str | None = None,
                limit: int = 20) -> list[Run]:
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if task:
        query = query.where(runs.c.task == task)
    if status:
        query = query.where(runs.c.status == status)
    with engine.connect() as conn:
        return [Run.from_row(r) for r in conn.execute(query)]


def get_run(engine: Engine, run_id: int) -> Run | None:
    with engine.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return Run.from_row(row) if row else None


def last_run_per_task(engine: Engine) -> dict[str, Run]:
    """The newest real run of each task (skipped runs included, dry runs never)."""
    newest = (select(func.max(runs.c.id)).where(runs.c.dry_run.is_(False))
              .group_by(runs.c.task).scalar_subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(runs).where(runs.c.id.in_(newest))).all()
    return {r.task: r for r in map(Run.from_row, rows)}


def last_cron_run(engine: Engine, task: str, slot: str) -> Run | None:
    """The newest real run that cron started for this slot of the task."""
    with engine.connect() as conn:
        row = conn.execute(
            select(runs).where(runs.c.task == task, runs.c.trigger == "cron",
                               runs.c.slot == slot, runs.c.dry_run.is_(False))
            .order_by(runs.c.id.desc()).limit(1)
        ).first()
    return Run.from_row(row) if row is not None else None


# ---------------------------------------------------------------- monitoring
# Late, missed and failing are derived from these facts when read (monitor.py). Dry runs are
# left out of every one of them: a dry run never stands for a task's refresh.

_REAL = runs.c.dry_run.is_(False)


def runs_for_monitoring(engine: Engine, since: datetime) -> list[Run]:
    """Real runs started at or after ``since`` (naive UTC), plus every run still running."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs)
            .where(_REAL, or_(runs.c.started_at >= since, runs.c.status == RUNNING))
            .order_by(runs.c.id)
        ).all()
    return [Run.from_row(r) for r in rows]


def last_success_per_task(engine: Engine) -> dict[str, Run]:
    """Task -> its newest real successful run."""
    newest = (select(func.max(runs.c.id)).where(_REAL, runs.c.status == SUCCESS)
              .group_by(runs.c.task).scalar_subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(runs).where(runs.c.id.in_(newest))).all()
    return {r.task: r for r in map(Run.from_row, rows)}


def first_cron_runs(engine: Engine) -> dict[str, datetime]:
    """Task -> start of its first cron-triggered run: from then on its slots are watched."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.task, func.min(runs.c.started_at))
            .where(_REAL, runs.c.trigger == "cron")
            .group_by(runs.c.task)
        ).all()
    return {task: started for task, started in rows}


def recent_durations(engine: Engine, keep: int) -> dict[str, list[float]]:
    """Task -> durations of its newest ``keep`` real successful runs."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.task, runs.c.duration_s)
            .where(_REAL, runs.c.status == SUCCESS, runs.c.duration_s.is_not(None))
            .order_by(runs.c.id.desc())
            .limit(keep * 50)
        ).all()
    out: dict[str, list[float]] = {}
    for task, duration in rows:
        got = out.setdefault(task, [])
        if len(got) < keep:
            got.append(duration)
    return out


def unresolved_failures(engine: Engine, last_success_id: dict[str, int]) -> list[Run]:
    """Real failed or crashed runs after their task's last success (however old)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs).where(_REAL, runs.c.status.in_((FAILED, CRASHED)))
            .order_by(runs.c.id)
        ).all()
    return [
        r for r in map(Run.from_row, rows)
        if r.task not in last_success_id or r.id > last_success_id[r.task]
    ]


# ---------------------------------------------------------------- who wrote the source tables


def last_success(engine: Engine, task: str) -> Run | None:
    """The newest real successful run of ``task``."""
    with engine.connect() as conn:
        row = conn.execute(
            select(runs).where(_REAL, runs.c.task == task, runs.c.status == SUCCESS)
            .order_by(runs.c.id.desc()).limit(1)
        ).first()
    return Run.from_row(row) if row is not None else None


def writers_since(engine: Engine, after_id: int, tables: set[str], *, exclude_task: str
                  ) -> list[Run]:
    """Real successful runs after ``after_id`` (of any task but ``exclude_task``) that wrote
    rows into one of ``tables``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs).where(_REAL, runs.c.id > after_id, runs.c.status == SUCCESS,
                               runs.c.task != exclude_task)
            .order_by(runs.c.id)
        ).all()
    return [
        run for run in map(Run.from_row, rows)
        if any(count and table in tables for table, count in run.rows_written.items())
    ]


class History:
    """The ledger as a task may read it (``TaskContext.history``): who wrote what."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def last_success(self, task: str) -> Run | None:
        return last_success(self.engine, task)

    def writers_since(self, after_id: int, tables: set[str], *, exclude_task: str) -> list[Run]:
        return writers_since(self.engine, after_id, tables, exclude_task=exclude_task)


def previous_final_run(engine: Engine, task: str, before_id: int) -> Run | None:
    """The real run of ``task`` that ended before ``before_id`` (skipped runs aside): what a
    success recovers from, if it failed or crashed."""
    with engine.connect() as conn:
        row = conn.execute(
            select(runs).where(_REAL, runs.c.task == task, runs.c.id < before_id,
                               runs.c.status.in_((SUCCESS, FAILED, CRASHED)))
            .order_by(runs.c.id.desc()).limit(1)
        ).first()
    return Run.from_row(row) if row is not None else None


def run_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """(task, status) -> number of real runs, for the metrics."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.task, runs.c.status, func.count()).where(_REAL)
            .group_by(runs.c.task, runs.c.status)
        ).all()
    return {(task, status): count for task, status, count in rows}


# ---------------------------------------------------------------- notifications, installs


def claim_notification(engine: Engine, event: str, *, kind: str, task: str,
                       run_id: int | None) -> bool:
    """Record that ``event`` is being notified; False if some process already did (the
    unique key lets exactly one of several readers that notice a crash send it)."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(notifications).values(
                event=event[:190], kind=kind, task=task, run_id=run_id, sent_at=utcnow(),
                delivered=False))
    except IntegrityError:
        return False
    return True


def mark_delivered(engine: Engine, event: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(notifications).where(notifications.c.event == event[:190])
                     .values(delivered=True))


@dataclass(frozen=True)
class InstalledSlot:
    host: str
    target: str
    task: str
    slot: str
    expr: str
    installed_at: datetime


def record_install(engine: Engine, target: str, slots: list[tuple[str, str, str]]) -> None:
    """What ``schedule install`` wrote into ``target`` on this host: (task, slot label,
    Lima expression) each; replaces the previous record of that crontab."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(schedule_installs).where(
            schedule_installs.c.host == hostname(), schedule_installs.c.target == target))
        if slots:
            conn.execute(insert(schedule_installs), [
                dict(host=hostname(), target=target, task=task, slot=slot, expr=expr,
                     installed_at=now) for task, slot, expr in slots])


def installed_slots(engine: Engine) -> list[InstalledSlot]:
    with engine.connect() as conn:
        rows = conn.execute(select(schedule_installs).order_by(schedule_installs.c.id)).all()
    return [InstalledSlot(r.host, r.target, r.task, r.slot, r.expr, r.installed_at) for r in rows]


def cron_runs_since(engine: Engine, task: str, slot: str, host: str, since: datetime) -> int:
    """Real runs cron started on ``host`` for this slot at or after ``since`` (naive UTC)."""
    with engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(runs).where(
                _REAL, runs.c.task == task, runs.c.trigger == "cron", runs.c.slot == slot,
                runs.c.host == host, runs.c.started_at >= since)
        ).scalar_one())
