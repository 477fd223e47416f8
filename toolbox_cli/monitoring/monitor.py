"""Late, missed and failing runs, derived when read from the schedule and the ledger.

Nothing here is stored: like a healthcheck's "grace" or "down", each state is computed from
the facts (slots, ledger rows) and one clock reading passed in as ``now``. Ledger times are
naive UTC; ``now`` may be aware (any zone) or naive UTC.

Pure functions: ``missed_slots``, ``late_runs``, ``find_problems``; ``check_problems``
gathers their inputs with the ledger's queries. Dry runs never take part: they stand for no
refresh (the ledger's monitoring queries leave them out).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import croniter
from sqlalchemy.engine import Engine

from toolbox_cli import ledger
from toolbox_cli.clock import as_utc_naive, to_local
from toolbox_cli.ledger import CRASHED, FAILED, RUNNING, SUCCESS, Run
from toolbox_cli.monitoring import freshness
from toolbox_cli.schedule.slots import Slot
from toolbox_cli.words import count

LOOKBACK = timedelta(hours=48)
# A cron run starts a few seconds after its minute; hosts' clocks may disagree a little.
EARLY_TOLERANCE = timedelta(minutes=1)
# Late: beyond LATE_FACTOR x the median of recent successful durations, and never sooner
# than LATE_MINIMUM; without history, after the legacy soft time limit (1800 s).
LATE_FACTOR = 3.0
LATE_MINIMUM = timedelta(minutes=10)
LATE_WITHOUT_HISTORY = timedelta(minutes=30)
DURATION_HISTORY = 10


@dataclass(frozen=True)
class MissedSlot:
    task: str
    slot: str  # "07:00", Lima
    expr: str  # business-time cron expression
    due_at: datetime  # naive UTC: when cron should have fired
    grace_ended_at: datetime  # naive UTC

    def describe(self, zone: tzinfo) -> str:
        local = self.due_at.replace(tzinfo=UTC).astimezone(zone)
        return f"{self.task} {self.slot}: no run started by {local:%Y-%m-%d %H:%M} + grace"


def slot_occurrences(
    slot: Slot, zone: tzinfo, start: datetime, end: datetime
) -> list[datetime]:
    """Firings of ``slot`` in ``(start, end]`` (naive UTC in and out)."""
    it = croniter(slot.expr, start.replace(tzinfo=UTC).astimezone(zone))
    found: list[datetime] = []
    while True:
        due = as_utc_naive(it.get_next(datetime))
        if due > end:
            return found
        found.append(due)


def _answers(run: Run, slot: Slot, due: datetime, grace: timedelta) -> bool:
    """Did this run start because of (or in place of) this firing of the slot?

    Only cron runs count: a manual run at 07:05 says nothing about whether cron works. A
    run carrying another slot's label belongs to that slot.
    """
    return (
        run.task == slot.task
        and run.trigger == "cron"
        and (run.slot is None or run.slot == slot.label)
        and due - EARLY_TOLERANCE <= run.started_at <= due + grace
    )


def missed_slots(
    slots: Sequence[Slot],
    runs: Iterable[Run],
    now: datetime,
    grace: timedelta,
    *,
    zone: tzinfo,
    lookback: timedelta = LOOKBACK,
    active_since: Mapping[str, datetime] | None = None,
) -> list[MissedSlot]:
    """Slot firings in the last ``lookback`` with no cron run started within ``grace``.

    A firing is judged only once its grace period is over (``due + grace <= now``).
    ``runs`` must cover the window (``ledger.runs_for_monitoring``); any run started by cron
    counts, whatever its outcome (a skipped run means cron did fire). ``zone`` is the
    business zone the slots' expressions are written in (settings.zone).

    ``active_since`` (task -> naive UTC) ignores a task's firings before that moment: pass
    each task's first cron run so a schedule that was never installed is not "missed"
    (``ledger.first_cron_runs``). A task missing from the mapping is then not checked at all;
    ``None`` checks every slot over the whole window.
    """
    now = as_utc_naive(now)
    runs = list(runs)
    missed = []
    for slot in slots:
        start = now - lookback
        if active_since is not None:
            since = active_since.get(slot.task)
            if since is None:
                continue
            start = max(start, as_utc_naive(since) - EARLY_TOLERANCE)
        for due in slot_occurrences(slot, zone, start, now - grace):
            if not any(_answers(run, slot, due, grace) for run in runs):
                missed.append(MissedSlot(slot.task, slot.label, slot.expr, due, due + grace))
    return sorted(missed, key=lambda m: (m.due_at, m.task))


@dataclass(frozen=True)
class LateRun:
    run: Run
    running_for: timedelta
    expected: timedelta  # the threshold it went past

    def describe(self) -> str:
        return (
            f"{self.run.task} run {self.run.id} running for "
            f"{int(self.running_for.total_seconds() // 60)} min "
            f"(late after {int(self.expected.total_seconds() // 60)} min)"
        )


def late_threshold(durations: Sequence[float]) -> timedelta:
    """How long a run of a task may take before it is late, from recent success durations."""
    if not durations:
        return LATE_WITHOUT_HISTORY
    usual = timedelta(seconds=statistics.median(durations))
    return max(LATE_MINIMUM, usual * LATE_FACTOR)


def late_runs(
    runs: Iterable[Run],
    now: datetime,
    *,
    durations: Mapping[str, Sequence[float]] | None = None,
) -> list[LateRun]:
    """Runs still ``running`` far beyond their task's usual duration.

    ``durations`` maps task -> durations (s) of its recent successful runs; when omitted it
    is taken from the successful runs within ``runs`` (the newest ``DURATION_HISTORY``).
    A run's clock starts at ``started_at``; crashed runs are the reaper's business, not ours.
    """
    now = as_utc_naive(now)
    runs = list(runs)
    if durations is None:
        durations = successful_durations(runs)
    late = []
    for run in runs:
        if run.status != RUNNING:
            continue
        running_for = now - run.started_at
        threshold = late_threshold(durations.get(run.task, ()))
        if running_for > threshold:
            late.append(LateRun(run, running_for, threshold))
    return late


def successful_durations(runs: Iterable[Run], keep: int = DURATION_HISTORY) -> dict[str, list[float]]:
    """Task -> durations of its newest ``keep`` successful runs."""
    out: dict[str, list[float]] = {}
    for run in sorted(runs, key=lambda r: r.id, reverse=True):
        if run.status == SUCCESS and run.duration_s is not None:
            got = out.setdefault(run.task, [])
            if len(got) < keep:
                got.append(run.duration_s)
    return out


@dataclass(frozen=True)
class Problem:
    kind: str  # missed | failed | crashed | late | stale | never-fired
    task: str
    at: datetime  # naive UTC: the slot's firing or the run's start
    message: str
    run_id: int | None = None


def find_problems(
    slots: Sequence[Slot],
    runs: Iterable[Run],
    now: datetime,
    grace: timedelta,
    *,
    zone: tzinfo,
    last_success: Mapping[str, datetime],
    last_success_id: Mapping[str, int] | None = None,
    active_since: Mapping[str, datetime] | None = None,
    durations: Mapping[str, Sequence[float]] | None = None,
    lookback: timedelta = LOOKBACK,
    include_late: bool = False,
) -> list[Problem]:
    """Everything missed, failed or crashed since each task's last success (pure).

    ``last_success`` maps task -> start (naive UTC) of its newest successful run; a failure,
    crash or missed firing before that start has been made good and is not reported.
    ``last_success_id`` (task -> that run's id) orders runs exactly: two runs may start in
    the same second. ``runs`` must hold every failed/crashed run after those starts
    (``check_problems`` loads them). Late runs are reported only with ``include_late``.
    """
    now = as_utc_naive(now)
    runs = list(runs)

    def after_success(task: str, at: datetime) -> bool:
        success = last_success.get(task)
        return success is None or at > success

    def run_after_success(run: Run) -> bool:
        if last_success_id is not None and run.task in last_success_id:
            return run.id > last_success_id[run.task]
        return after_success(run.task, run.started_at)

    problems = [
        Problem("missed", m.task, m.due_at,
                f"{m.task}: slot {m.slot} (Lima) fired no run by {m.grace_ended_at:%Y-%m-%d %H:%M} UTC")
        for m in missed_slots(slots, runs, now, grace, zone=zone, lookback=lookback,
                              active_since=active_since)
        if after_success(m.task, m.due_at)
    ]
    for run in runs:
        if run.status in (FAILED, CRASHED) and run_after_success(run):
            problems.append(Problem(
                run.status, run.task, run.started_at,
                f"{run.task} run {run.id} {run.status}: {run.error_message or run.error_type or ''}"
                .rstrip(": "),
                run.id,
            ))
    if include_late:
        problems += [
            Problem("late", lr.run.task, lr.run.started_at, lr.describe(), lr.run.id)
            for lr in late_runs(runs, now, durations=durations)
        ]
    return sorted(problems, key=lambda p: (p.at, p.task, p.kind))


@dataclass(frozen=True)
class TaskState:
    """One task's current trouble, what ``status --check`` prints as one line: the kinds of
    problem it has now, since when, how many failed or crashed runs since its last success,
    and the newest problem (the one to look at first)."""

    task: str
    kinds: tuple[str, ...]  # in the order of KIND_ORDER
    since: datetime  # naive UTC: its oldest problem still open
    attempts: int  # failed and crashed runs since its last success
    last: Problem
    monitored: bool  # a scheduled refresh; imports and demo are interactive runs

    @property
    def state(self) -> str:
        return self.kinds[0]

    def describe(self, zone: tzinfo) -> str:
        """``failed since 2026-12-03 08:06, 3 failed runs; also stale; last: run 24 failed:
        …`` (the task is the line's label)."""
        local = to_local(self.since, zone)
        since = f" since {local:%Y-%m-%d %H:%M}" if local else ""
        runs = f", {count(self.attempts, 'failed run')}" if self.attempts else ""
        also = f"; also {', '.join(self.kinds[1:])}" if self.kinds[1:] else ""
        last = self.last.message
        for prefix in (f"{self.task}: ", f"{self.task} "):
            last = last.removeprefix(prefix)
        return f"{self.state}{since}{runs}{also}; last: {last}"


# The first kind a task has is its state: a failure outranks the staleness it causes.
KIND_ORDER = ("crashed", "failed", "missed", "never-fired", "stale", "late")


def task_states(problems: Sequence[Problem], interactive: Callable[[str], bool]
                ) -> list[TaskState]:
    """``problems`` grouped by task, one ``TaskState`` each, monitored tasks first (pure);
    ``interactive`` tells the runs a person starts (imports, demo) from the rest."""
    by_task: dict[str, list[Problem]] = {}
    for p in sorted(problems, key=lambda p: (p.at, p.task, p.kind)):
        by_task.setdefault(p.task, []).append(p)
    states = []
    for task, found in by_task.items():
        kinds = tuple(k for k in KIND_ORDER if any(p.kind == k for p in found)) \
            + tuple(sorted({p.kind for p in found} - set(KIND_ORDER)))
        attempts = sum(p.kind in (FAILED, CRASHED) for p in found)
        states.append(TaskState(task, kinds, found[0].at, attempts, found[-1],
                                not interactive(task)))
    return sorted(states, key=lambda s: (not s.monitored, s.since, s.task))


# ---------------------------------------------------------------- from the ledger


def watch(engine: Engine, slots: Sequence[Slot], now: datetime, grace: timedelta, *,
          zone: tzinfo) -> tuple[list[MissedSlot], list[LateRun]]:
    """Missed slots and late runs now, from the ledger (``list`` and ``status`` show them)."""
    recent = ledger.runs_for_monitoring(engine, as_utc_naive(now) - LOOKBACK)
    missed = missed_slots(slots, recent, now, grace, zone=zone,
                          active_since=ledger.first_cron_runs(engine))
    late = late_runs(recent, now, durations=ledger.recent_durations(engine, DURATION_HISTORY))
    return missed, late


def freshness_now(engine: Engine, tasks: Sequence[str], slots: Sequence[Slot], now: datetime,
                  grace: timedelta, *, zone: tzinfo, overrides: Mapping[str, int]
                  ) -> dict[str, freshness.Freshness]:
    """Each task's age since its last real success, and whether it is stale."""
    refreshed = {task: run.finished_at or run.started_at
                 for task, run in ledger.last_success_per_task(engine).items()}
    return freshness.freshness(tasks, refreshed, slots, now=now, zone=zone, grace=grace,
                               overrides=overrides)


def never_fired(engine: Engine, now: datetime, grace: timedelta, *, zone: tzinfo
                ) -> list[freshness.NeverFired]:
    """Installed slots whose first firing (plus grace) is past with no cron run since."""
    now = as_utc_naive(now)
    found = []
    for inst in ledger.installed_slots(engine):
        due = freshness.first_due(inst.expr, zone, inst.installed_at)
        if due + grace > now:
            continue
        since = inst.installed_at - EARLY_TOLERANCE
        if ledger.cron_runs_since(engine, inst.task, inst.slot, inst.host, since) == 0:
            found.append(freshness.NeverFired(inst.task, inst.slot, inst.host, inst.target,
                                              inst.installed_at, due))
    return found


def check_problems(
    engine: Engine,
    slots: Sequence[Slot],
    now: datetime,
    grace: timedelta,
    *,
    zone: tzinfo,
    tasks: Sequence[str] = (),
    max_age_overrides: Mapping[str, int] | None = None,
    include_late: bool = False,
) -> list[Problem]:
    """What ``toolbox status --check`` reports; an empty list means exit 0.

    Failed, crashed and missed since each task's last success (``find_problems``); the
    stale ones among ``tasks``; installed slots that never fired. Slots are watched for
    missed firings from each task's first cron run on (see ``missed_slots``). Call the crash
    reaper first so that dead runs are already ``crashed``.
    """
    successes = ledger.last_success_per_task(engine)
    last_success = {task: run.started_at for task, run in successes.items()}
    last_success_id = {task: run.id for task, run in successes.items()}
    recent = ledger.runs_for_monitoring(engine, as_utc_naive(now) - LOOKBACK)
    seen = {r.id for r in recent}
    runs = recent + [r for r in ledger.unresolved_failures(engine, last_success_id)
                     if r.id not in seen]
    problems = find_problems(
        slots, runs, now, grace, zone=zone, last_success=last_success,
        last_success_id=last_success_id,
        active_since=ledger.first_cron_runs(engine),
        durations=ledger.recent_durations(engine, DURATION_HISTORY) if include_late else None,
        include_late=include_late,
    )
    ages = freshness_now(engine, tasks, slots, now, grace, zone=zone,
                         overrides=max_age_overrides or {})
    problems += [Problem("stale", f.task, f.refreshed_at or as_utc_naive(now), f.describe())
                 for f in ages.values() if f.stale]
    problems += [Problem("never-fired", n.task, n.due_at, n.describe(zone))
                 for n in never_fired(engine, now, grace, zone=zone)]
    return sorted(problems, key=lambda p: (p.at, p.task, p.kind))
