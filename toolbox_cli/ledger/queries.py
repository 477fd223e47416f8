"""What monitoring, metrics, alerts and tasks read of the runs: read-only queries.

Facts are stored (times in UTC, counts, errors); states such as late, missed and failing
are derived from these views when read (``monitoring/monitor.py``), and a dry run never
stands for a task's refresh. Here: the newest run of each task and cron slot, the runs and
successes monitoring watches, durations and counts for the metrics, who wrote a source
table since a run (``History``, what a task may read of earlier runs), the run a success
recovers from, and the cron runs seen since a slot was installed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from toolbox_cli.ledger.lifecycle import CRASHED, FAILED, RUNNING, SUCCESS, Run
from toolbox_cli.storage.tables.ledger import runs

# ---------------------------------------------------------------- the newest run of a task, of a slot


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
# Late, missed and failing are derived from these facts when read (monitoring/monitor.py). Dry runs are
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


def cron_runs_since(engine: Engine, task: str, slot: str, host: str, since: datetime) -> int:
    """Real runs cron started on ``host`` for this slot at or after ``since`` (naive UTC)."""
    with engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(runs).where(
                _REAL, runs.c.task == task, runs.c.trigger == "cron", runs.c.slot == slot,
                runs.c.host == host, runs.c.started_at >= since)
        ).scalar_one())
