"""The writer's rounding (decision 12): money rounded half-up once, on the float's shortest
decimal text, to its column's scale (DECIMAL(18,2) money, 6 decimals for rates), just
before writing; the expected values are written out or computed here with ``decimal``,
never with the writer's own ``half_up``.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
from sqlalchemy import Column, Date, DateTime, Integer, MetaData, Numeric, String, Table

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage import writer


def _decimal_half_up(value: float, scale: int) -> float:
    """Decision 12 in ``decimal``: the shortest text of the float, half away from zero."""
    return float(Decimal(repr(value)).quantize(Decimal(10) ** -scale, rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("value, scale, expected", [
    (2.675, 2, 2.68),  # the float is 2.67499999..., its text 2.675: a tie, away from zero
    (-2.675, 2, -2.68),
    (1.005, 2, 1.01),
    (0.125, 2, 0.13),
    (-0.125, 2, -0.13),
    (1.0000005, 6, 1.000001),
    (3.8465145, 6, 3.846515),
    (19.99, 2, 19.99),
    (1234567.125, 2, 1234567.13),
    (0.004, 2, 0.0),
    (7.5, 0, 8.0),
])
def test_half_up_rounds_the_shortest_text_half_away_from_zero(value, scale, expected):
    assert writer.half_up(value, scale) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_half_up_refuses_what_is_not_a_number_naming_it(bad):
    with pytest.raises(ValueError) as caught:
        writer.half_up(bad, 2)
    assert caught.value.args == (bad,) or (math.isnan(bad) and math.isnan(caught.value.args[0]))


def _round(values: list[float | None], scale: int) -> list[float | None]:
    frame = pl.DataFrame({"a": values}, schema={"a": pl.Float64})
    return writer._round_money(frame, {"a": scale})["a"].to_list()


def test_a_frame_rounds_ties_and_near_ties_like_decimal_at_every_scale():
    rng = random.Random(26)
    for scale in (0, 2, 6):
        step = 10.0 ** -(scale + 1)
        values: list[float | None] = [k * step * 5 for k in range(-400, 400)]  # every tie
        values += [rng.uniform(-1e6, 1e6) for _ in range(3000)]
        values += [v + d for v in (1.005, 2.675, -2.675) for d in (-1e-9, -1e-13, 0.0, 1e-13, 1e-9)]
        values += [1e15 + 0.5, -(1e15 + 0.5), 9.99e14 + 0.125, 5e-7, -5e-7, 1e-300, 0.0, None]
        got = _round(values, scale)
        want = [None if v is None else _decimal_half_up(v, scale) for v in values]
        assert got == want, scale


def test_a_frame_rounds_each_column_to_its_own_scale_and_leaves_the_others_alone():
    frame = pl.DataFrame({
        "Moneda": ["PEN", "USD", "PEN"],
        "Monto": [2.675, -1.005, 10.0],
        "Tasa": [3.8465145, 0.0000005, -1.2345675],
        "Libre": [2.675, 1.005, 0.125],
    })
    out = writer._round_money(frame, {"Monto": 2, "Tasa": 6})
    assert out.columns == ["Moneda", "Monto", "Tasa", "Libre"]
    assert out["Moneda"].to_list() == ["PEN", "USD", "PEN"]
    assert out["Monto"].to_list() == [2.68, -1.01, 10.0]
    assert out["Tasa"].to_list() == [3.846515, 0.000001, -1.234568]
    assert out["Libre"].to_list() == [2.675, 1.005, 0.125]
    assert out.schema["Monto"] == pl.Float64 and out.schema["Tasa"] == pl.Float64


def test_a_frame_whose_close_calls_are_in_one_column_rounds_every_column():
    """Only one column holds a tie (the Decimal route); the other keeps the fast result."""
    frame = pl.DataFrame({"a": [2.675, 1.25], "b": [1.234, 5.678]})
    out = writer._round_money(frame, {"a": 2, "b": 1})
    assert out["a"].to_list() == [2.68, 1.25]
    assert out["b"].to_list() == [1.2, 5.7]


def test_a_single_row_and_an_empty_frame_and_no_money_columns():
    assert _round([2.675], 2) == [2.68]
    assert _round([1.234], 2) == [1.23]
    assert _round([None], 2) == [None]
    empty = pl.DataFrame({"a": []}, schema={"a": pl.Float64})
    assert writer._round_money(empty, {"a": 2}).equals(empty)
    frame = pl.DataFrame({"a": [2.675]})
    assert writer._round_money(frame, {})["a"].to_list() == [2.675]


def test_the_fast_path_flags_exactly_the_close_calls():
    frame = pl.DataFrame({"a": [2.675, 2.6751, -1.005, 1.23, 1e15, 0.0, None],
                          "d": [100.0] * 7})
    rounded, close = writer._half_up_fast("a", "d")
    out = frame.select(rounded, close)
    assert out["a__close"].to_list() == [True, False, True, False, True, False, False]
    assert out["a"].to_list()[1:2] + out["a"].to_list()[3:4] == [2.68, 1.23]
    assert out["a"].to_list()[2] in (-1.0, -1.01)  # a close call: the Decimal route decides


# ---------------------------------------------------------------- prepare


def _table() -> Table:
    return Table(
        "mutants_t", MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("Codigo", String(20)),
        Column("Dias", Integer),
        Column("Monto", Numeric(18, 2)),
        Column("Tasa", Numeric(12, 6)),
        Column("Bruto", Numeric()),
        Column("Fecha", Date),
        Column("Momento", DateTime),
        info={"key": ("Codigo",)},
    )


def _frame(**over: list[object]) -> pl.DataFrame:
    data: dict[str, list[object]] = {
        "Momento": [datetime(2025, 6, 30, 7, 0, 1, 5)], "Fecha": [date(2025, 6, 30)],
        "Bruto": [2.675], "Tasa": [3.8465145], "Monto": [-2.675], "Dias": [30.0],
        "Codigo": [12], "extra": ["dropped"]}
    data.update(over)
    return pl.DataFrame(data)


def test_prepare_puts_the_frame_in_the_tables_shape_and_rounds_its_money():
    out = writer.prepare(_frame(), _table())
    assert out.columns == ["Codigo", "Dias", "Monto", "Tasa", "Bruto", "Fecha", "Momento"]
    assert out.schema == {"Codigo": pl.String, "Dias": pl.Int64, "Monto": pl.Float64,
                          "Tasa": pl.Float64, "Bruto": pl.Float64, "Fecha": pl.Date,
                          "Momento": pl.Datetime("us")}
    assert out.row(0) == ("12", 30, -2.68, 3.846515, 2.675,  # a NUMERIC without scale: as is
                          date(2025, 6, 30), datetime(2025, 6, 30, 7, 0, 1, 5))


def test_prepare_names_the_columns_the_rows_lack():
    with pytest.raises(TaskFailed) as caught:
        writer.prepare(_frame().drop("Monto", "Fecha"), _table())
    assert str(caught.value) == "mutants_t: the computed rows have no Monto, Fecha"


@pytest.mark.parametrize("column", ["Monto", "Bruto"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_prepare_refuses_an_amount_that_cannot_be_stored(column, bad):
    frame = _frame(**{column: [bad, 1.0]}, **{c: v * 2 for c, v in _frame().to_dict(as_series=False).items()
                                               if c != column})
    with pytest.raises(TaskFailed) as caught:
        writer.prepare(frame, _table())
    assert str(caught.value) == f"mutants_t.{column}: {bad} cannot be stored"


def test_prepare_finds_the_bad_amount_after_good_rows():
    frame = pl.concat([_frame(Monto=[1.5]), _frame(Monto=[math.nan])])
    with pytest.raises(TaskFailed, match=r"^mutants_t\.Monto: nan cannot be stored$"):
        writer.prepare(frame, _table())


def test_prepare_of_no_rows_keeps_the_shape():
    out = writer.prepare(_frame().clear(), _table())
    assert out.height == 0
    assert out.columns == ["Codigo", "Dias", "Monto", "Tasa", "Bruto", "Fecha", "Momento"]


def test_prepare_of_a_table_of_only_its_key_is_an_empty_frame():
    table = Table("only_id", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True))
    assert writer.prepare(pl.DataFrame({"x": [1]}), table).shape == (0, 0)
