"""The monitoring limits at their boundary and one second either side, in the pure rules that
``list`` and ``status --check`` read: the missed-slot grace (``monitor.missed_slots``) and the
freshness limit (``freshness.freshness``).

The expected values come from the README: ``TOOLBOX_MISSED_GRACE_MINUTES`` (default 15), "a
slot with no run started this long after its time is ``missed``"; a task's maximum age is
"its longest gap between two of its slots plus the grace (``tablas-reportes`` at 07:00 and
18:00: 13 h 15 min; ``tipo-cambio`` daily: 24 h 15 min), or ``TOOLBOX_MAX_AGE_MINUTES``", and
a task is "marked stale past it". Only cron runs answer a slot; one started up to a minute
early still does (``monitor.EARLY_TOLERANCE``: hosts' clocks disagree a little).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.support.crontab import GRACE, LIMA, SLOTS
from toolbox_cli.ledger import Run
from toolbox_cli.monitoring import freshness, monitor
from toolbox_cli.schedule import slots as schedule

SECOND = timedelta(seconds=1)


def lima(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A Lima wall time in November 2026 as naive UTC (Lima is UTC-5 all year)."""
    return datetime(2026, 11, day, hour, minute, second) + timedelta(hours=5)


def cron_run(run_id: int, started: datetime, slot: str) -> Run:
    return Run(id=run_id, task="tablas-reportes", status="success", trigger="cron", slot=slot,
               params={}, host="h", pid=1, started_at=started, finished_at=started,
               heartbeat_at=started, duration_s=60.0, rows_written={}, warnings_count=0,
               warnings=[], error_type=None, error_message=None, version="t", log_path=None)


# The 07:00 firing of the 28th ran: the schedule is watched from then on.
MORNING = cron_run(1, lima(28, 7, 0, 4), "07:00")
WATCHED = {"tablas-reportes": MORNING.started_at}


def missed(now: datetime, *runs: Run, grace: timedelta = GRACE) -> list[str]:
    return [f"{m.slot}@{m.due_at:%H:%M}" for m in monitor.missed_slots(
        SLOTS, [MORNING, *runs], now, grace, zone=LIMA, active_since=WATCHED)]


# ---------------------------------------------------------------- the missed-slot grace


@pytest.mark.parametrize(("now", "expected"), [
    (lima(28, 18, 15) - SECOND, []),  # 18:14:59: still within the grace
    (lima(28, 18, 15), ["18:00@23:00"]),  # 15 min after its time, no run: missed
    (lima(28, 18, 15) + SECOND, ["18:00@23:00"]),
])
def test_a_slot_with_no_run_fifteen_minutes_after_its_time_is_missed(now, expected):
    assert missed(now) == expected


@pytest.mark.parametrize(("started", "answers"), [
    (lima(28, 18, 15) - SECOND, True),
    (lima(28, 18, 15), True),  # started within the grace, at its very end
    (lima(28, 18, 15) + SECOND, False),  # too late to be the slot's run
    (lima(28, 17, 59), True),  # a minute early: a host clock a little ahead
    (lima(28, 17, 59) - SECOND, False),
])
def test_a_cron_run_answers_its_slot_from_a_minute_early_to_the_end_of_the_grace(started,
                                                                                  answers):
    late_evening = lima(28, 20, 0)
    assert missed(late_evening, cron_run(2, started, "18:00")) == \
        ([] if answers else ["18:00@23:00"])


@pytest.mark.parametrize(("now", "expected"), [
    (lima(28, 18, 30) - SECOND, []),
    (lima(28, 18, 30), ["18:00@23:00"]),
    (lima(28, 18, 30) + SECOND, ["18:00@23:00"]),
])
def test_a_longer_grace_moves_the_missed_boundary_with_it(now, expected):
    """``TOOLBOX_MISSED_GRACE_MINUTES=30``: the same slot is missed at 18:30, not 18:15."""
    assert missed(now, grace=timedelta(minutes=30)) == expected
    assert missed(lima(28, 18, 29), cron_run(2, lima(28, 18, 29), "18:00"),
                  grace=timedelta(minutes=30)) == []  # a run 29 min late still answers


# ---------------------------------------------------------------- the freshness limit


NOW = lima(28, 8, 0)
TWICE_A_DAY = timedelta(hours=13, minutes=15)  # README: tablas-reportes, 07:00 and 18:00
DAILY = timedelta(hours=24, minutes=15)  # README: tipo-cambio, daily


def stale(task: str, age: timedelta, slots=SLOTS, *, grace: timedelta = GRACE,  # type: ignore[no-untyped-def]
          overrides: dict[str, int] | None = None) -> bool:
    ages = freshness.freshness([task], {task: NOW - age}, slots, now=NOW, zone=LIMA,
                               grace=grace, overrides=overrides or {})
    return ages[task].stale


@pytest.mark.parametrize(("age", "is_stale"), [
    (TWICE_A_DAY - SECOND, False),
    (TWICE_A_DAY, False),  # the limit itself: stale only *past* it
    (TWICE_A_DAY + SECOND, True),
])
def test_tables_older_than_the_longest_gap_plus_the_grace_are_stale(age, is_stale):
    assert stale("tablas-reportes", age) is is_stale


@pytest.mark.parametrize(("age", "is_stale"), [
    (DAILY - SECOND, False), (DAILY, False), (DAILY + SECOND, True)])
def test_a_daily_task_is_stale_a_day_and_the_grace_after_its_refresh(age, is_stale):
    daily = schedule.configured_slots({"tipo-cambio": ["30 6 * * *"]}, {})
    assert stale("tipo-cambio", age, daily) is is_stale


@pytest.mark.parametrize("day", [
    23, 24, 25, 26,  # Monday to Thursday 08:00 Lima
    27,  # Friday, after its 07:30 firing (the window once started at now: 24 h here)
    28,  # Saturday
    29,  # Sunday
], ids=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
def test_the_longest_gap_counts_not_the_usual_one_on_any_day(day):
    """Weekdays at 07:30: Friday to Monday is 72 h, so the limit is 72 h + the grace,
    whatever day of the week it is read on."""
    weekdays = schedule.configured_slots({"kpi-acumulado": ["30 7 * * 1-5"]}, {})
    now = lima(day, 8, 0)
    limit = freshness.max_age("kpi-acumulado", weekdays, zone=LIMA, now=now, grace=GRACE,
                              overrides={})
    assert limit == timedelta(hours=72) + GRACE


def test_the_grace_is_part_of_the_freshness_limit():
    longer = timedelta(minutes=30)  # TOOLBOX_MISSED_GRACE_MINUTES=30: 13 h 30 min
    limit = timedelta(hours=13, minutes=30)
    assert (stale("tablas-reportes", limit, grace=longer),
            stale("tablas-reportes", limit + SECOND, grace=longer)) == (False, True)


@pytest.mark.parametrize(("age", "is_stale"), [
    (timedelta(minutes=90) - SECOND, False),
    (timedelta(minutes=90), False),
    (timedelta(minutes=90) + SECOND, True),
])
def test_a_max_age_override_replaces_the_schedules_limit(age, is_stale):
    """``TOOLBOX_MAX_AGE_MINUTES={"tablas-reportes": 90}``: 90 min, not 13 h 15 min."""
    assert stale("tablas-reportes", age, overrides={"tablas-reportes": 90}) is is_stale


def test_a_task_without_slots_or_override_is_never_stale():
    assert stale("kpi", timedelta(days=400)) is False
    assert stale("kpi", timedelta(minutes=91), overrides={"kpi": 90}) is True
