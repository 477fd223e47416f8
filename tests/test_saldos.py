"""Cash balances parsing (reportes.md §2.6, §3.8; decisions.md 8), pure function."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

import pytest

from toolbox_cli.compute.saldos import (
    SALDO_FIELDS,
    SaldosBuilder,
    parse_saldo_number,
    saldos_rows,
)
from toolbox_cli.errors import InputError


@pytest.mark.parametrize(
    ("raw", "expected", "coerced"),
    [
        # The examples of §3.8.
        ("1,234.50", 1234.5, False),
        ("-", 0.0, False),
        ("(5.00)", 0.0, True),
        (7, 7.0, False),
        # Blanks and nulls are zero without complaint.
        ("", 0.0, False),
        ("  ", 0.0, False),
        (None, 0.0, False),
        # Negatives are kept (decisions 8).
        (-12.5, -12.5, False),
        ("-1,000.25", -1000.25, False),
        (Decimal("-3.10"), -3.1, False),
        # Floats kept; NaN and unreadable text become 0 and are reported.
        (2.75, 2.75, False),
        (float("nan"), 0.0, True),
        ("S/ 10", 0.0, True),
        ("12,5", 125.0, False),  # "," is a thousands separator, as in the legacy
    ],
)
def test_parse_saldo_number(raw, expected, coerced) -> None:  # type: ignore[no-untyped-def]
    value, was_coerced = parse_saldo_number(raw)
    assert value == expected and not math.isnan(value)
    assert was_coerced is coerced


def _raw(day, **amounts) -> dict:  # type: ignore[no-untyped-def]
    row = {"FechaOperacion": day}
    row.update({name: amounts.get(name, 0) for name in SALDO_FIELDS})
    return row


def test_rows_pass_through_in_order_with_duplicates_and_negatives() -> None:
    rows = saldos_rows([
        _raw("05/03/2024", SaldoTotalCaja="1,234.50", EvolucionCaja="-"),
        _raw(date(2024, 3, 4), SaldoTotalCaja=Decimal("-250000.10"), MontoOvernight=None),
        _raw("05/03/2024", SaldoTotalCaja=7),
    ])
    assert [r["FechaOperacion"] for r in rows] == [
        datetime(2024, 3, 5), datetime(2024, 3, 4), datetime(2024, 3, 5)]
    assert [r["SaldoTotalCaja"] for r in rows] == [1234.5, -250000.1, 7.0]
    assert rows[0]["EvolucionCaja"] == 0.0 and rows[1]["MontoOvernight"] == 0.0
    assert all(set(r) == {"FechaOperacion", *SALDO_FIELDS} for r in rows)


def test_dd_mm_yyyy_is_day_first() -> None:
    (row,) = saldos_rows([_raw("04/03/2024")])
    assert row["FechaOperacion"] == datetime(2024, 3, 4)


@pytest.mark.parametrize("bad", ["", None, "2024-03-04", "31/02/2024", "20/3/24x"])
def test_a_blank_or_malformed_day_fails_naming_the_row(bad) -> None:  # type: ignore[no-untyped-def]
    builder = SaldosBuilder()
    with pytest.raises(InputError, match="saldos_caja id=17"):
        builder.row(_raw(bad), "saldos_caja id=17")


def test_a_missing_field_fails() -> None:
    raw = _raw("04/03/2024")
    del raw["MontoOvernight"]
    with pytest.raises(InputError, match="MontoOvernight"):
        saldos_rows([raw])


def test_coercions_are_counted_and_reported() -> None:
    builder = SaldosBuilder()
    builder.row(_raw("04/03/2024", SaldoTotalCaja="(5.00)", CostoExcesoCaja="S/ 10"), "row 1")
    builder.row(_raw("05/03/2024", SaldoTotalCaja="1,234.50"), "row 2")
    (warning,) = builder.warnings()
    assert "2 unreadable" in warning and "'(5.00)'" in warning and "row 1" in warning
    assert SaldosBuilder().warnings() == []
