# No string parsing here: `toolbox import saldos` reads the sheet's "1,234.50" strictly (test_imports.py).
"""Cash balances (reportes.md §2.6, §3.8; decisions.md 8): ``saldos_frame`` on typed frames."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from toolbox_cli.compute.saldos import SALDO_FIELDS, saldos_frame
from toolbox_cli.errors import InputError

COLUMNS = ("FechaOperacion", *SALDO_FIELDS)


def _row(ident: int, day: Any, **amounts: Any) -> dict[str, Any]:
    """A `saldos_caja` row: its id, the day and the six amounts (0.0 unless given)."""
    row: dict[str, Any] = {"id": ident, "FechaOperacion": day}
    row.update({name: amounts.get(name, 0.0) for name in SALDO_FIELDS})
    return row


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as the source reader types them: Date, and Money columns as Float64."""
    schema = {"id": pl.Int64, "FechaOperacion": pl.Date, **{n: pl.Float64 for n in SALDO_FIELDS}}
    return pl.DataFrame(rows, schema=schema)


def test_rows_pass_through_in_order_with_duplicates_and_negatives() -> None:
    out = saldos_frame(_frame([
        _row(1, date(2024, 3, 5), SaldoTotalCaja=1234.5),
        _row(2, date(2024, 3, 4), SaldoTotalCaja=-250000.1, MontoOvernight=-3.1),
        _row(3, date(2024, 3, 5), SaldoTotalCaja=1234.5),  # the same day and amount again
    ]))
    assert out["FechaOperacion"].to_list() == [
        datetime(2024, 3, 5), datetime(2024, 3, 4), datetime(2024, 3, 5)]
    assert out["SaldoTotalCaja"].to_list() == [1234.5, -250000.1, 1234.5]
    assert out["MontoOvernight"].to_list() == [0.0, -3.1, 0.0]
    assert out.columns == list(COLUMNS)  # the id only names rows in errors


def test_output_is_typed_datetime_and_floats() -> None:
    out = saldos_frame(_frame([_row(1, date(2024, 3, 4))]))
    assert dict(out.schema) == {"FechaOperacion": pl.Datetime("us"),
                                **{name: pl.Float64 for name in SALDO_FIELDS}}


def test_a_day_given_as_a_datetime_is_that_day_at_midnight() -> None:
    source = _frame([_row(1, date(2024, 3, 4))]).with_columns(
        pl.lit(datetime(2024, 3, 4, 17, 45)).alias("FechaOperacion"))
    assert saldos_frame(source)["FechaOperacion"].to_list() == [datetime(2024, 3, 4)]


def test_integer_and_decimal_amounts_are_floats() -> None:
    # The legacy crashed on JSON integers (§3.8); exact DECIMAL values read as floats too.
    source = pl.DataFrame({
        "id": [1, 2], "FechaOperacion": [date(2024, 3, 4), date(2024, 3, 5)],
        **{name: [7, -2] for name in SALDO_FIELDS},
    }).with_columns(pl.Series("SaldoTotalCaja", [Decimal("-3.10"), Decimal("1234.50")]))
    out = saldos_frame(source)
    assert out["EvolucionCaja"].to_list() == [7.0, -2.0]
    assert out["SaldoTotalCaja"].to_list() == [-3.1, 1234.5]
    assert all(out.schema[name] == pl.Float64 for name in SALDO_FIELDS)


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_a_null_or_nan_amount_is_zero(missing: float | None) -> None:
    out = saldos_frame(_frame([
        _row(1, date(2024, 3, 4), SaldoTotalCaja=missing, EvolucionCaja=5.0),
        _row(2, date(2024, 3, 5), CostoExcesoCaja=missing, SaldoTotalCaja=-1.0),
    ]))
    assert out["SaldoTotalCaja"].to_list() == [0.0, -1.0]
    assert out["CostoExcesoCaja"].to_list() == [0.0, 0.0]
    assert out["EvolucionCaja"].to_list() == [5.0, 0.0]
    assert out.null_count().sum_horizontal().item() == 0


def test_an_all_null_amount_column_is_zero() -> None:
    source = _frame([_row(1, date(2024, 3, 4))]).with_columns(
        pl.lit(None).alias("MontoOvernight"))  # a column the reader typed as Null
    assert saldos_frame(source)["MontoOvernight"].to_list() == [0.0]


def test_a_blank_day_fails_naming_the_row() -> None:
    source = _frame([_row(16, date(2024, 3, 4)), _row(17, None), _row(18, None)])
    with pytest.raises(InputError, match=r"saldos_caja id=17 has no FechaOperacion"):
        saldos_frame(source)


def test_the_row_is_named_by_the_key_given_or_by_the_table() -> None:
    source = _frame([_row(17, None)]).rename({"id": "IdSaldo"})
    with pytest.raises(InputError, match="saldos_caja IdSaldo=17 has no FechaOperacion"):
        saldos_frame(source, key="IdSaldo")
    with pytest.raises(InputError, match="saldos: saldos_caja has no FechaOperacion"):
        saldos_frame(source.drop("IdSaldo"))


@pytest.mark.parametrize("name", COLUMNS)
def test_a_missing_field_fails_naming_it(name: str) -> None:
    source = _frame([_row(1, date(2024, 3, 4))]).drop(name)
    with pytest.raises(InputError, match=f"has no {name};.*all seven fields"):
        saldos_frame(source)


def test_every_missing_field_is_named() -> None:
    source = _frame([_row(1, date(2024, 3, 4))]).drop("MontoOvernight", "SaldoTotalCaja")
    with pytest.raises(InputError, match="has no MontoOvernight, SaldoTotalCaja;"):
        saldos_frame(source)


def test_no_rows_give_no_output() -> None:
    out = saldos_frame(_frame([]))
    assert out.height == 0 and out.columns == list(COLUMNS)


def test_chunks_give_the_rows_of_the_whole() -> None:
    """The task streams `saldos_caja` in id order, chunk by chunk: a pure pass-through."""
    rows = [_row(i, date(2024, 1, 1 + i % 28), SaldoTotalCaja=i * 1.5 - 20) for i in range(1, 41)]
    whole = saldos_frame(_frame(rows))
    chunked = pl.concat([saldos_frame(_frame(rows[i:i + 7])) for i in range(0, len(rows), 7)])
    assert chunked.equals(whole) and whole.height == 40
