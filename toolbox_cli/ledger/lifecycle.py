"""The life of a run in the ledger (``toolbox_runs``): start, heartbeat, finish, crash.

A run is inserted ``running`` (or already ``skipped`` when its table lock is held) with its
host, pid and tables; it beats while it works and ends with its final state, counts and
error. Final-state updates are compare-and-swap on ``status = 'running'`` so a run that was
already declared crashed is never silently resurrected, and vice versa; ``reap_crashed``
declares crashed the runs whose process is gone or whose heartbeat is stale. Here too are
the states (``RunStatus``), the ``Run`` record every reader gets, the host the ledger
stores (``hostname``; its clock is ``clock.utcnow``), and the plain lookups of runs by id, task and
status (``get_run``, ``recent_runs``, ``known_tasks``, ``holder_of``).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine

from toolbox_cli import __version__
from toolbox_cli.clock import utcnow
from toolbox_cli.storage.runfiles import pid_alive
from toolbox_cli.storage.tables.ledger import runs


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
    retry_of: int | None = None
    digests: dict[str, str] = field(default_factory=dict)  # table → content digest
    # What the run fetched itself, and when (UTC ISO): {"operaciones": "2026-12-02T11:40:05"}.
    sources: dict[str, str] = field(default_factory=dict)

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
            retry_of=m["retry_of"], digests=json.loads(m["digests"] or "{}"),
            sources=json.loads(m["sources"] or "{}"),
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
    retry_of: int | None = None,
) -> int:
    now = utcnow()
    values: dict[str, Any] = dict(
        task=task, status=status, trigger=trigger, slot=slot, params=_json(params),
        host=hostname(), pid=os.getpid(), started_at=now, heartbeat_at=now,
        warnings_count=0, version=__version__, log_path=log_path,
        dry_run=bool(params.get("dry_run")), tables=_json(list(tables or [])),
        retry_of=retry_of,
    )
    if status != RUNNING:
        values.update(finished_at=now, duration_s=0.0)
    with engine.begin() as conn:
        result = conn.execute(insert(runs).values(**values))
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row
        return int(key[0])


def record_skipped(engine: Engine, task: str, *, trigger: str, slot: str | None,
                   params: dict[str, Any], holder: str, log_path: str | None = None,
                   tables: list[str] | None = None, retry_of: int | None = None) -> int:
    return record_unstarted(engine, task, SKIPPED, "LockHeld", holder, trigger=trigger,
                            slot=slot, params=params, log_path=log_path, tables=tables,
                            retry_of=retry_of)


def record_unstarted(engine: Engine, task: str, status: str, error_type: str, message: str,
                     *, trigger: str, slot: str | None, params: dict[str, Any],
                     log_path: str | None = None, tables: list[str] | None = None,
                     retry_of: int | None = None) -> int:
    """A run that ended before it started (its lock held, or its lock file not writable):
    one final row with the reason."""
    run_id = start_run(engine, task, trigger=trigger, slot=slot, params=params,
                       status=status, log_path=log_path, tables=tables, retry_of=retry_of)
    with engine.begin() as conn:
        conn.execute(
            update(runs).where(runs.c.id == run_id).values(
                error_type=error_type, error_message=message
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


def live_local_holder(engine: Engine, tables: list[str]) -> tuple[str, Run] | None:
    """A running run of another process of this host, alive, that locks one of ``tables``
    (the table and the run), or None: what confirms a file lock (``storage/lock.py``)."""
    me, pid = hostname(), os.getpid()
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs).where(runs.c.status == RUNNING, runs.c.host == me,
                               runs.c.pid != pid).order_by(runs.c.id.desc())
        ).all()
    for run in map(Run.from_row, rows):
        held = [t for t in tables if t in run.tables]
        if held and pid_alive(run.pid):
            return held[0], run
    return None


def set_log_path(engine: Engine, run_id: int, path: str) -> None:
    """Where the run's log is (a manual run's log is named after its id)."""
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(log_path=path))


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
    digests: dict[str, str] | None = None,
    sources: dict[str, str] | None = None,
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
                digests=_json(digests) if digests else None,
                sources=_json(sources) if sources else None,
            )
        )
    return result.rowcount == 1


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
        if host == me and not pid_alive(pid):
            crashed.append((run_id, f"process {pid} on {host} is gone (killed or host restarted)"))
        elif last <= stale_before:  # silent for the whole stale age: crashed (README)
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
