"""The datamart writer on SQLite and MariaDB: staging tables swapped in atomically, all tables
or none, money rounded half-up once, every value round-tripped through the bulk path.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
from sqlalchemy import Column, Integer, String, Table, inspect, select

from tests.support.selftest import frames, items, names, selftest_items
from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage import writer
from toolbox_cli.storage.tables import datamart_metadata
from toolbox_cli.storage.tables.metadata import Money


def _never_refuses(*_counts_and_totals):  # type: ignore[no-untyped-def]
    pass


def _write(engines, tables, tag="t1", chunk_size=3, check_alive=lambda: None):
    """Replace ``tables`` (name → row dicts) through the writer, ``chunk_size`` rows a frame."""
    targets = [datamart_metadata.tables[name] for name in tables]
    with writer.replacing(engines.datamart, targets, tag=tag, locked=set(tables),
                          judge=_never_refuses, check_alive=check_alive) as out:
        for table in targets:
            for frame in frames(tables[table.name], chunk_size):
                out.add(table, frame)
    return out.counts


def test_replace_writes_rows_and_rounds_money_half_up(engines):
    counts = _write(engines, {"selftest_items": items(7)})
    assert counts == {"selftest_items": 7}
    with engines.datamart.connect() as conn:
        amounts = [r[0] for r in conn.execute(select(selftest_items.c.amount).order_by("id"))]
    # 0.005 → 0.01, 1.005 → 1.01 (half-up on the decimal text, not the binary float)
    assert amounts[:3] == [Decimal("0.01"), Decimal("1.01"), Decimal("2.01")]
    assert not [t for t in inspect(engines.datamart).get_table_names() if "__stg_" in t]


def test_failed_build_leaves_previous_table_intact(engines):
    _write(engines, {"selftest_items": items(5, "old")})

    def broken():
        yield from items(4)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        _write(engines, {"selftest_items": broken()}, tag="t2")
    assert names(engines.datamart) == [f"old{i}" for i in range(5)]
    assert not [t for t in inspect(engines.datamart).get_table_names() if "__stg_" in t]


def test_multi_table_swap_is_all_or_nothing(engines):
    _write(engines, {"selftest_items": items(2, "old"), "selftest_other": [{"name": "old"}]})

    def failing_second():
        yield {"name": "x"}
        raise TaskFailed("second table failed")

    with pytest.raises(TaskFailed):
        _write(engines, {"selftest_items": items(3), "selftest_other": failing_second()}, tag="t3")
    assert names(engines.datamart) == ["old0", "old1"]
    assert names(engines.datamart, "selftest_other") == ["old"]

    _write(engines, {"selftest_items": items(3), "selftest_other": [{"name": "new"}]}, tag="t4")
    assert names(engines.datamart) == ["new0", "new1", "new2"]
    assert names(engines.datamart, "selftest_other") == ["new"]


def test_nan_is_refused_with_the_column_name(engines):
    with pytest.raises(TaskFailed, match="selftest_items.amount"):
        _write(engines, {"selftest_items": [{"name": "a", "amount": float("nan")}]})


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
    _write(engines, {"selftest_items": items(3, "old")})
    with pytest.raises(TaskFailed, match="selftest_items.amount"):
        _write(engines, {"selftest_items": [{"name": "x", "amount": bad}]}, tag="t2")
    assert names(engines.datamart) == [f"old{i}" for i in range(3)]


@pytest.mark.production
def test_bulk_load_refuses_a_value_that_does_not_fit(mysql_engines):
    with pytest.raises(TaskFailed, match="selftest_text"):
        _write(mysql_engines, {"selftest_text": [{"label": "x" * 41}]})


@pytest.mark.production
def test_insert_fallback_when_the_server_refuses_local_infile(mysql_engines, monkeypatch):
    monkeypatch.setattr(writer, "_NO_LOCAL_INFILE", {str(mysql_engines.datamart.url)})
    counts = _write(mysql_engines, {"selftest_items": items(7)})
    assert counts == {"selftest_items": 7}
    assert names(mysql_engines.datamart) == [f"new{i}" for i in range(7)]


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
