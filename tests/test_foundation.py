"""Runner, ledger, lock and atomic writer, on SQLite and (production) MariaDB."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
from sqlalchemy import Column, Integer, String, Table, inspect, select, text, update

from toolbox_cli import ledger
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, TaskFailed
from toolbox_cli.runner import run_task
from toolbox_cli.storage import writer
from toolbox_cli.storage.lock import lock_for
from toolbox_cli.storage.tables import datamart_metadata
from toolbox_cli.storage.tables.ledger import runs
from toolbox_cli.storage.tables.metadata import Money
from toolbox_cli.tasks.base import TaskSpec

selftest_items = Table(
    "selftest_items",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False),
    Column("amount", Money),
)
selftest_other = Table(
    "selftest_other",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False),
)


def _items(n: int, prefix: str = "new") -> list[dict]:
    return [{"name": f"{prefix}{i}", "amount": i + 0.005} for i in range(n)]


def _names(engine, table: str = "selftest_items") -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT name FROM {table} ORDER BY id"))]


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()}
                         for r in rows], infer_schema_length=None)


def _frames(rows, chunk_size: int = 3):  # type: ignore[no-untyped-def]
    """Row dicts as the frames a task hands the writer, ``chunk_size`` rows each."""
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == chunk_size:
            yield _frame(chunk)
            chunk = []
    if chunk:
        yield _frame(chunk)


def _never_refuses(live, new):  # type: ignore[no-untyped-def]
    pass


def _write(engines, tables, tag="t1", chunk_size=3, check_alive=lambda: None):
    """Replace ``tables`` (name → row dicts) through the writer, ``chunk_size`` rows a frame."""
    targets = [datamart_metadata.tables[name] for name in tables]
    with writer.replacing(engines.datamart, targets, tag=tag, locked=set(tables),
                          judge=_never_refuses, check_alive=check_alive) as out:
        for table in targets:
            out.add_all(table, _frames(tables[table.name], chunk_size))
    return out.counts


def test_replace_writes_rows_and_rounds_money_half_up(engines):
    counts = _write(engines, {"selftest_items": _items(7)})
    assert counts == {"selftest_items": 7}
    with engines.datamart.connect() as conn:
        amounts = [r[0] for r in conn.execute(select(selftest_items.c.amount).order_by("id"))]
    # 0.005 → 0.01, 1.005 → 1.01 (half-up on the decimal text, not the binary float)
    assert amounts[:3] == [Decimal("0.01"), Decimal("1.01"), Decimal("2.01")]
    assert not [t for t in inspect(engines.datamart).get_table_names() if "__stg_" in t]


def test_failed_build_leaves_previous_table_intact(engines):
    _write(engines, {"selftest_items": _items(5, "old")})

    def broken():
        yield from _items(4)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        _write(engines, {"selftest_items": broken()}, tag="t2")
    assert _names(engines.datamart) == [f"old{i}" for i in range(5)]
    assert not [t for t in inspect(engines.datamart).get_table_names() if "__stg_" in t]


def test_multi_table_swap_is_all_or_nothing(engines):
    _write(engines, {"selftest_items": _items(2, "old"), "selftest_other": [{"name": "old"}]})

    def failing_second():
        yield {"name": "x"}
        raise TaskFailed("second table failed")

    with pytest.raises(TaskFailed):
        _write(engines, {"selftest_items": _items(3), "selftest_other": failing_second()}, tag="t3")
    assert _names(engines.datamart) == ["old0", "old1"]
    assert _names(engines.datamart, "selftest_other") == ["old"]

    _write(engines, {"selftest_items": _items(3), "selftest_other": [{"name": "new"}]}, tag="t4")
    assert _names(engines.datamart) == ["new0", "new1", "new2"]
    assert _names(engines.datamart, "selftest_other") == ["new"]


def test_nan_is_refused_with_the_column_name(engines):
    with pytest.raises(TaskFailed, match="selftest_items.amount"):
        _write(engines, {"selftest_items": [{"name": "a", "amount": float("nan")}]})


def _replace_items(ctx: TaskContext, n: int) -> None:
    with ctx.replace_tables(selftest_items) as out:
        out.add_all(selftest_items, _frames(_items(n)))


def _spec(func, name="selftest") -> TaskSpec:
    return TaskSpec(name, "test task", lambda ctx, _params: func(ctx), tables=("selftest_items",))


def test_successful_run_records_rows_and_warnings(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        ctx.warn("3 USD rows without an exchange rate")
        _replace_items(ctx, 4)

    outcome = run_task(_spec(task), toolbox_env, {"dry_run": False}, engines=engines)
    assert (outcome.status, outcome.exit_code) == ("success", EXIT_OK)
    run = ledger.get_run(engines.datamart, outcome.run_id)
    assert run.status == "success" and run.rows_written == {"selftest_items": 4}
    assert run.warnings_count == 1 and "USD" in run.warnings[0]
    assert run.trigger == "manual" and run.pid == os.getpid() and run.finished_at is not None


def test_failed_run_records_error_and_exit_1(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        raise ValueError("row LIQ1/F-1: DiasEfectivo 2.5 is not an integer")

    outcome = run_task(_spec(task), toolbox_env, {}, engines=engines)
    assert (outcome.status, outcome.exit_code) == ("failed", EXIT_FAILED)
    run = ledger.get_run(engines.datamart, outcome.run_id)
    assert run.error_type == "ValueError" and "DiasEfectivo" in run.error_message


def test_dry_run_counts_but_writes_nothing(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        _replace_items(ctx, 6)

    outcome = run_task(_spec(task), toolbox_env, {"dry_run": True}, engines=engines)
    assert outcome.rows == {"selftest_items": 6}
    assert _names(engines.datamart) == []


def test_second_run_is_skipped_with_exit_3_while_lock_is_held(engines, toolbox_env):
    holder = lock_for(engines.datamart, ["selftest_items"])
    assert holder.acquire(wait=False)
    try:
        outcome = run_task(_spec(lambda ctx: None), toolbox_env, {}, engines=engines)
    finally:
        holder.release()
    assert (outcome.status, outcome.exit_code) == ("skipped", EXIT_LOCKED)
    assert ledger.get_run(engines.datamart, outcome.run_id).status == "skipped"
    assert run_task(_spec(lambda ctx: None), toolbox_env, {}, engines=engines).exit_code == 0


def test_wait_queues_behind_the_holder(engines, toolbox_env):
    holder = lock_for(engines.datamart, ["selftest_items"])
    assert holder.acquire(wait=False)
    timer = threading.Timer(1.0, holder.release)
    timer.start()
    outcome = run_task(_spec(lambda ctx: None), toolbox_env, {}, engines=engines, wait=True)
    timer.join()
    assert outcome.status == "success"


def test_sigterm_is_recorded_as_interrupted(engines, toolbox_env):
    def task(ctx: TaskContext) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        _replace_items(ctx, 3)

    outcome = run_task(_spec(task), toolbox_env, {}, engines=engines)
    assert outcome.status == "failed" and outcome.error_type == "Interrupted"
    assert "SIGTERM" in outcome.error_message
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_dead_pid_and_stale_heartbeat_are_reaped_as_crashed(engines):
    dead = ledger.start_run(engines.datamart, "selftest", trigger="manual", slot=None, params={})
    stale = ledger.start_run(engines.datamart, "selftest", trigger="cron", slot=None, params={})
    alive = ledger.start_run(engines.datamart, "selftest", trigger="cron", slot=None, params={})
    with engines.datamart.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == dead).values(pid=2**22 + 12345))
        conn.execute(update(runs).where(runs.c.id == stale).values(
            host="other-host", heartbeat_at=ledger.utcnow() - timedelta(hours=1)))
        conn.execute(update(runs).where(runs.c.id == alive).values(host="other-host"))
    assert sorted(ledger.reap_crashed(engines.datamart, stale_after_seconds=300)) == [dead, stale]
    assert ledger.get_run(engines.datamart, alive).status == "running"
    # A late final write from a reaped run does not resurrect it.
    assert not ledger.finish_run(engines.datamart, dead, status="success",
                                 started_at=ledger.utcnow(), rows={}, warnings_count=0,
                                 warnings=[])
    assert ledger.get_run(engines.datamart, dead).status == "crashed"


@pytest.mark.production
def test_run_stops_when_the_lock_connection_is_killed(mysql_url, monkeypatch, tmp_path):
    """The server drops the lock's connection mid-run: the run fails, it does not go on unlocked."""
    import time

    from toolbox_cli.settings import load_settings
    from toolbox_cli.storage.engine import init_schema, open_engines

    monkeypatch.setenv("TOOLBOX_DATABASE_URL", mysql_url)
    monkeypatch.setenv("TOOLBOX_HEARTBEAT_SECONDS", "0.2")
    settings = load_settings()
    engines = open_engines(settings, create=True)
    init_schema(engines)
    killed = threading.Event()

    def task(ctx: TaskContext) -> None:
        lock_name = f"toolbox:{engines.datamart.url.database}:selftest_items"
        with engines.datamart.connect() as conn:
            holder = conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": lock_name}).scalar()
            conn.execute(text(f"KILL {int(holder)}"))
        killed.set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ctx.check_alive()
            time.sleep(0.1)
        _replace_items(ctx, 2)

    try:
        outcome = run_task(_spec(task), settings, {}, engines=engines)
    finally:
        engines.dispose()
    assert killed.is_set()
    assert (outcome.status, outcome.error_type) == ("failed", "LockLost")


tricky_text = Table(
    "selftest_text",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(40)),
    Column("day", __import__("sqlalchemy").Date),
    Column("amount", Money),
)


def test_values_round_trip_through_the_bulk_path(engines):
    import datetime as dt

    rows = [
        {"label": "tab\there", "day": dt.date(2024, 3, 4), "amount": Decimal("12345.675")},
        {"label": "new\nline \\ back", "day": None, "amount": None},
        {"label": "Año ñandú \\N", "day": dt.date(2019, 7, 1), "amount": -0.005},
        {"label": None, "day": dt.date(2026, 11, 28), "amount": 1234567.891},
    ]
    _write(engines, {"selftest_text": rows}, chunk_size=2)
    with engines.datamart.connect() as conn:
        got = conn.execute(select(tricky_text).order_by(tricky_text.c.id)).all()
    assert [tuple(r)[1:] for r in got] == [
        ("tab\there", dt.date(2024, 3, 4), Decimal("12345.68")),
        ("new\nline \\ back", None, None),
        ("Año ñandú \\N", dt.date(2019, 7, 1), Decimal("-0.01")),
        (None, dt.date(2026, 11, 28), Decimal("1234567.89")),
    ]


def _tricky_amounts() -> list[float]:
    import random

    rng = random.Random(12)
    values = [k + 0.005 for k in range(-50, 50)]  # ties a binary float sits just below
    values += [k / 1000 for k in range(-3000, 3000, 5)]  # x.xx5 and x.xx0 all around zero
    values += [round(rng.uniform(-1e7, 1e7), 3) for _ in range(400)]
    values += [rng.uniform(-1e9, 1e9) for _ in range(200)]  # full-precision floats
    values += [0.0, -0.0, -0.001, 1e-9, 123456789012.345, -9999999999999.995, 2.675, 1.005]
    return values


def _stored_amounts(engine) -> list[Decimal]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(selftest_items.c.amount).order_by("id"))]


def test_every_write_path_rounds_amounts_like_decisions_12(engines, monkeypatch):
    """Half-up of the float's shortest text, whoever does it: this process (SQLite, the
    insert fallback, a line with escapes) or the server (MariaDB's bulk path)."""
    values = _tricky_amounts()
    rows = [{"name": f"v{i}", "amount": v} for i, v in enumerate(values)]
    expected = [Decimal(repr(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for v in values]
    _write(engines, {"selftest_items": rows}, chunk_size=97)
    assert _stored_amounts(engines.datamart) == expected
    # The same rows through the other MySQL path (LOAD DATA refused → executemany).
    monkeypatch.setattr(writer, "_NO_LOCAL_INFILE", {str(engines.datamart.url)})
    _write(engines, {"selftest_items": rows}, tag="t2", chunk_size=97)
    assert _stored_amounts(engines.datamart) == expected


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_an_amount_that_is_not_finite_fails_the_write_and_keeps_the_table(engines, bad):
    _write(engines, {"selftest_items": _items(3, "old")})
    with pytest.raises(TaskFailed, match="selftest_items.amount"):
        _write(engines, {"selftest_items": [{"name": "x", "amount": bad}]}, tag="t2")
    assert _names(engines.datamart) == [f"old{i}" for i in range(3)]


@pytest.mark.production
def test_bulk_load_refuses_a_value_that_does_not_fit(mysql_engines):
    with pytest.raises(TaskFailed, match="selftest_text"):
        _write(mysql_engines, {"selftest_text": [{"label": "x" * 41}]})


@pytest.mark.production
def test_insert_fallback_when_the_server_refuses_local_infile(mysql_engines, monkeypatch):
    monkeypatch.setattr(writer, "_NO_LOCAL_INFILE", {str(mysql_engines.datamart.url)})
    counts = _write(mysql_engines, {"selftest_items": _items(7)})
    assert counts == {"selftest_items": 7}
    assert _names(mysql_engines.datamart) == [f"new{i}" for i in range(7)]


def test_money_in_the_frame_rounds_like_decimal_half_up_on_the_shortest_text():
    """decisions 12: the vectorised rounding of ``prepare`` is ``half_up`` for every float:
    ties of the decimal text (1.005, -2.675), values a hair off a tie, large and tiny ones."""
    import random

    rng = random.Random(12)
    values = [k / 1000 for k in range(-20000, 20000, 5)]  # every tie of three decimals
    values += [rng.uniform(-1e6, 1e6) for _ in range(20000)]
    values += [v + d for v in (1.005, 2.675, 1234567.125) for d in (-1e-9, -1e-12, 0.0, 1e-12)]
    values += [1e15 + 0.5, 9.87654321e14 + 0.125, 1e-300, -0.001, 0.0, -0.0, None]
    frame = pl.DataFrame({"name": ["x"] * len(values), "amount": values},
                         schema={"name": pl.String, "amount": pl.Float64})
    out = writer.prepare(frame, selftest_items)["amount"].to_list()
    expected = [None if v is None else writer.half_up(v, 2) for v in values]
    assert out == expected
