"""Monitoring derived from the schedule and the ledger: missed slots, late runs, problems,
stale tables, installed slots that never fired, metrics.
"""


from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, insert, update
from typer.testing import CliRunner

from tests.support.crontab import GRACE, LIMA, SLOTS
from tests.support.runs import run_named
from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.demo import seed_demo
from toolbox_cli.monitoring import freshness, housekeeping, monitor
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.settings import load_settings
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.ledger import runs as runs_table
from toolbox_cli.storage.tables.ledger import schedule_installs


def lima(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A Lima wall time on November 2026 as naive UTC, the ledger's convention."""
    return (datetime(2026, 11, day, hour, minute, second, tzinfo=LIMA)
            .astimezone(UTC).replace(tzinfo=None))


def add_run(engine, task: str, started: datetime, *, status: str = "success",  # type: ignore[no-untyped-def]
            trigger: str = "cron", slot: str | None = None, duration: float | None = 60.0) -> int:
    with engine.begin() as conn:
        result = conn.execute(insert(runs_table).values(
            task=task, status=status, trigger=trigger, slot=slot, params="{}", host="test",
            pid=1, started_at=started, heartbeat_at=started,
            finished_at=None if status == "running" else started + timedelta(seconds=duration or 0),
            duration_s=None if status == "running" else duration,
            warnings_count=0, version="test",
        ))
        return int(result.inserted_primary_key[0])


def test_slot_without_a_run_after_its_grace_period_is_missed(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    add_run(db, "tablas-reportes", lima(27, 7, 0, 5), slot="07:00")
    add_run(db, "tablas-reportes", lima(27, 18, 0, 4), slot="18:00")
    add_run(db, "tablas-reportes", lima(28, 7, 0, 3), status="skipped", slot="07:00")
    add_run(db, "tablas-reportes", lima(28, 18, 2), trigger="manual")  # does not count

    def missed(now: datetime) -> list[tuple[str, datetime]]:
        runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(now) - monitor.LOOKBACK)
        return [(m.slot, m.due_at) for m in monitor.missed_slots(
            SLOTS, runs, now, GRACE, zone=LIMA, lookback=timedelta(hours=30))]

    assert missed(lima(28, 18, 14)) == []  # still within the grace period
    assert missed(lima(28, 18, 16)) == [("18:00", lima(28, 18, 0))]
    # Two days later with no cron run since: every slot in the window is missed.
    assert missed(lima(30, 8, 0)) == [
        ("07:00", lima(29, 7, 0)), ("18:00", lima(29, 18, 0)), ("07:00", lima(30, 7, 0))]


def test_the_missed_grace_is_read_from_the_settings(engines, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What ``list`` and ``status`` watch (``housekeeping.watch``): tablas-reportes' 18:00
    slot is missed 15 min after its time by default (README: TOOLBOX_MISSED_GRACE_MINUTES
    ``15``), 30 min after with ``TOOLBOX_MISSED_GRACE_MINUTES=30``."""
    add_run(engines.datamart, "tablas-reportes", lima(28, 7, 0, 4), slot="07:00")

    def missed(now: datetime) -> list[str]:
        _slots, found, _late = housekeeping.watch(engines, load_settings(), now)
        return [f"{m.task} {m.slot}" for m in found]

    second = timedelta(seconds=1)
    assert missed(lima(28, 18, 15) - second) == []
    assert missed(lima(28, 18, 15)) == ["tablas-reportes 18:00"]
    monkeypatch.setenv("TOOLBOX_MISSED_GRACE_MINUTES", "30")
    assert missed(lima(28, 18, 30) - second) == []
    assert missed(lima(28, 18, 30)) == ["tablas-reportes 18:00"]


def test_slots_are_watched_from_the_first_cron_run_on(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    now = lima(28, 19, 0)
    runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(now) - monitor.LOOKBACK)
    assert monitor.missed_slots(SLOTS, runs, now, GRACE, zone=LIMA,
                                active_since=ledger.first_cron_runs(db)) == []
    add_run(db, "tablas-reportes", lima(28, 7, 0, 2), slot="07:00")
    runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(now) - monitor.LOOKBACK)
    got = monitor.missed_slots(SLOTS, runs, now, GRACE, zone=LIMA,
                               active_since=ledger.first_cron_runs(db))
    assert [(m.task, m.slot, m.due_at) for m in got] == [("tablas-reportes", "18:00", lima(28, 18, 0))]


def test_run_far_beyond_its_usual_duration_is_late(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    for day, seconds in ((25, 200.0), (26, 260.0), (27, 240.0)):
        add_run(db, "tablas-reportes", lima(day, 7, 0), slot="07:00", duration=seconds)
    running = add_run(db, "tablas-reportes", lima(28, 7, 0), slot="07:00", status="running")
    slow = add_run(db, "kpi", lima(28, 7, 0), trigger="manual", status="running")
    runs = ledger.runs_for_monitoring(db, monitor.as_utc_naive(lima(28, 7, 11)) - monitor.LOOKBACK)
    durations = ledger.recent_durations(db, monitor.DURATION_HISTORY)
    assert sorted(durations["tablas-reportes"]) == [200.0, 240.0, 260.0]
    # median 240 s x 3 = 12 min for tablas-reportes; kpi has no history: 30 min.
    assert monitor.late_runs(runs, lima(28, 7, 11), durations=durations) == []
    late = monitor.late_runs(runs, lima(28, 7, 13), durations=durations)
    assert [(lr.run.id, lr.expected) for lr in late] == [(running, timedelta(minutes=12))]
    assert {lr.run.id for lr in monitor.late_runs(runs, lima(28, 7, 31), durations=durations)} \
        == {running, slow}
    assert monitor.late_threshold([10.0, 20.0]) == timedelta(minutes=10)  # floor


def test_check_reports_what_happened_since_each_tasks_last_success(engines) -> None:  # type: ignore[no-untyped-def]
    db = engines.datamart
    add_run(db, "kpi", lima(20, 9, 0), status="failed", trigger="manual")  # old, never fixed
    add_run(db, "tablas-reportes", lima(27, 7, 0, 5), status="failed", slot="07:00")
    add_run(db, "tablas-reportes", lima(27, 9, 0), trigger="manual")  # made good
    crashed = add_run(db, "tablas-reportes", lima(27, 18, 0, 5), status="crashed", slot="18:00")
    add_run(db, "tablas-cxc", lima(27, 8, 0), trigger="manual")
    now = lima(28, 8, 0)  # the 07:00 slot of the 28th fired no run
    problems = monitor.check_problems(db, SLOTS, now, GRACE, zone=LIMA)
    assert [(p.kind, p.task, p.at) for p in problems] == [
        ("failed", "kpi", lima(20, 9, 0)),
        ("crashed", "tablas-reportes", lima(27, 18, 0, 5)),
        ("missed", "tablas-reportes", lima(28, 7, 0)),
    ]
    assert problems[1].run_id == crashed

    add_run(db, "tablas-reportes", lima(28, 8, 5), trigger="manual")
    add_run(db, "kpi", lima(28, 8, 6), trigger="manual")
    assert monitor.check_problems(db, SLOTS, lima(28, 8, 10), GRACE, zone=LIMA) == []


TODAY = datetime(2024, 3, 31).date()


def run(task: str, engines, **params):  # type: ignore[no-untyped-def]
    return run_named(task, load_settings(), engines, as_of=TODAY, **params)


def test_max_age_is_the_longest_gap_between_slots_plus_grace():
    slots = schedule.configured_slots({"tablas-reportes": ["0 7 * * *", "0 18 * * *"],
                                       "tipo-cambio": ["30 6 * * *"], "kpi": []}, {})
    now = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    grace = timedelta(minutes=15)
    age = lambda task, **o: freshness.max_age(task, slots, zone=LIMA, now=now, grace=grace,  # noqa: E731
                                              overrides=o)
    assert age("tablas-reportes") == timedelta(hours=13, minutes=15)
    assert age("tipo-cambio") == timedelta(hours=24, minutes=15)
    assert age("kpi") is None
    assert age("kpi", kpi=90) == timedelta(minutes=90)


def test_a_task_older_than_its_limit_is_stale_in_list_and_check(engines, monkeypatch):
    finished = (datetime.now(UTC) - timedelta(hours=30)).replace(tzinfo=None)
    with engines.datamart.begin() as conn:
        conn.execute(insert(runs_table).values(
            task="tipo-cambio", status="success", trigger="manual", params="{}", host="h", pid=1,
            started_at=finished, finished_at=finished, warnings_count=0, version="t"))
    cli = CliRunner()
    reset_settings()
    listed = {t["task"]: t for t in json.loads(cli.invoke(app, ["list", "--json"]).stdout)}
    assert listed["tipo-cambio"]["stale"] is True
    assert listed["tipo-cambio"]["max_age_seconds"] == (24 * 60 + 15) * 60
    assert listed["tipo-cambio"]["refreshed_at"].endswith("-05:00")
    assert listed["kpi"]["stale"] is False and listed["kpi"]["age_seconds"] is None
    table = cli.invoke(app, ["list"], env={"COLUMNS": "140"}).stdout
    assert "stale" in table
    check = cli.invoke(app, ["status", "--check", "--json"])
    assert check.exit_code == 1
    kinds = [(p["kind"], p["task"]) for p in json.loads(check.stdout)["problems"]]
    assert ("stale", "tipo-cambio") in kinds
    monkeypatch.setenv("TOOLBOX_MAX_AGE_MINUTES", '{"tipo-cambio": 3000}')
    reset_settings()
    assert cli.invoke(app, ["status", "--check"]).exit_code == 0
    reset_settings()


def test_an_installed_slot_that_never_fires_is_a_problem_until_cron_runs_it(engines):
    db = engines.datamart
    installed = datetime(2026, 11, 28, 10, 0)  # 05:00 Lima; the 07:00 slot is due at 12:00 UTC
    ledger.record_install(db, "crontab", [("tablas-reportes", "07:00", "0 7 * * *")])
    with db.begin() as conn:
        conn.execute(update(schedule_installs).values(installed_at=installed))
    check = lambda now: [p for p in monitor.check_problems(  # noqa: E731
        db, [], now, timedelta(minutes=15), zone=LIMA) if p.kind == "never-fired"]
    assert check(datetime(2026, 11, 28, 12, 10)) == []  # not due + grace yet
    (problem,) = check(datetime(2026, 11, 28, 12, 20))
    assert problem.task == "tablas-reportes" and "has not fired it" in problem.message
    with db.begin() as conn:
        conn.execute(insert(runs_table).values(
            task="tablas-reportes", status="success", trigger="cron", slot="07:00", params="{}",
            host=ledger.hostname(), pid=1, started_at=datetime(2026, 11, 28, 12, 0, 4),
            warnings_count=0, version="t"))
    assert check(datetime(2026, 11, 28, 12, 20)) == []
    ledger.record_install(db, "crontab", [])  # schedule remove
    assert ledger.installed_slots(db) == []


def test_schedule_install_records_the_slots_it_installed(engines, monkeypatch, tmp_path):
    path = tmp_path / "toolbox"
    reset_settings()
    result = CliRunner().invoke(app, ["schedule", "install", "--file", str(path), "--user", "root",
                                      "--host-tz", "UTC", "--mailto", "datos@empresa.pe"])
    reset_settings()
    assert result.exit_code == 0, result.output
    assert "MAILTO=datos@empresa.pe" in path.read_text()
    recorded = ledger.installed_slots(engines.datamart)
    assert {(s.task, s.slot, s.target) for s in recorded} >= {("tablas-reportes", "07:00", str(path))}


def test_metrics_parse_back_and_the_textfile_is_written(engines, tmp_path):
    seed_demo(engines.source, operations=100, seed=2, today=TODAY)
    ok = run("tablas-reportes", engines)
    with engines.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    run("tablas-reportes", engines)
    run("tablas-reportes", engines, dry_run=True)  # dry runs do not count
    reset_settings()
    text = CliRunner().invoke(app, ["metrics"]).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    task = (("task", "tablas-reportes"),)
    assert samples[("toolbox_runs_total", (("status", "success"),) + task)] == 1
    assert samples[("toolbox_runs_total", (("status", "failed"),) + task)] == 1
    assert samples[("toolbox_last_run_status", (("status", "failed"),) + task)] == 1
    assert samples[("toolbox_last_run_status", (("status", "success"),) + task)] == 0
    stored = ledger.get_run(engines.datamart, ok.run_id)
    assert samples[("toolbox_last_success_timestamp_seconds", task)] == \
        stored.finished_at.replace(tzinfo=UTC).timestamp()
    assert ("toolbox_table_max_age_seconds", task) in samples
    path = tmp_path / "toolbox.prom"
    assert CliRunner().invoke(app, ["metrics", "--textfile", str(path)]).exit_code == 0
    reset_settings()
    assert path.read_text().splitlines()[-1] != "" and "toolbox_runs_total" in path.read_text()


def test_metrics_give_the_rows_the_last_run_wrote_per_table(engines):
    seed_demo(engines.source, operations=50, seed=2, today=TODAY)
    ran = run("kpi", engines)
    assert ran.status == "success", ran.error_message
    reset_settings()
    text = CliRunner().invoke(app, ["metrics"]).stdout
    reset_settings()
    rows = [s for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "toolbox_last_run_rows" and s.labels["task"] == "kpi"]
    assert [(s.labels["table"], s.value) for s in rows] == [("kpi", ran.rows["kpi"])]
