"""The shared rules for values typed as text (``compute.text``) and their lenient twins.

The imports' cells are read by these rules (``test_imports.py`` covers them through whole
files); here each rule on its own, and where a frame rule of ``compute.cells`` differs on
purpose, the difference.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal

import pytest

from toolbox_cli.compute import cells, ruc, text


def test_compute_text_and_ruc_import_no_polars() -> None:
    probe = ("import sys, toolbox_cli.compute.text, toolbox_cli.compute.ruc; "
             "print('polars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "False"


def test_fold_is_the_collation_key() -> None:
    assert text.fold(" María ") == text.fold("MARIA") == "maria"
    assert text.fold("Ñandú") == "nandu"


@pytest.mark.parametrize(("cell", "expected"), [
    ("1,234.50", Decimal("1234.50")), ("-7", Decimal(-7)), (".5", Decimal("0.5")),
    ("90%", Decimal("0.9")), (" 1e3 ", Decimal("1e3")),
])
def test_strict_sheet_number_reads_what_a_sheet_writes(cell: str, expected: Decimal) -> None:
    assert text.strict_sheet_number(cell) == expected


@pytest.mark.parametrize(("cell", "lenient"), [("1,5", 15.0), ("1.234,50", 1.2345), ("abc", None),
                                               ("-", None)])
def test_strict_sheet_number_refuses_what_the_lenient_kpi_rule_reads(
        cell: str, lenient: float | None) -> None:
    with pytest.raises(ValueError):
        text.strict_sheet_number(cell)
    assert cells.number_or_none(cell) == lenient


def test_strict_number_or_gives_the_default_for_blanks_only() -> None:
    zero = text.strict_number_or(Decimal(0), ("", "-", "<"))
    assert zero(" ") == zero("-") == zero("<") == Decimal(0)
    assert zero("2") == Decimal(2)
    nothing = text.strict_number_or(None)
    assert nothing("") is None
    with pytest.raises(ValueError, match="is not a number"):
        nothing("x")  # unlike cells.number_or_none, text is never read as "no value"
    with pytest.raises(ValueError, match="required"):
        text.required_number(" ")


def test_ruc_text_is_the_stored_text_not_the_matching_key() -> None:
    assert ruc.ruc_text(" 20123456789.0 ") == "20123456789"
    assert ruc.ruc_text("20 12:3") == "20 12:3"  # kept as written ...
    assert ruc.ruc_digits("20 12:3") == "20123"  # ... the KPI's key is another rule
    for bad in ("", "2.01235E+10"):
        with pytest.raises(ValueError):
            ruc.ruc_text(bad)


@pytest.mark.parametrize(("cell", "stored"), [
    ("20100047218", "20100047218"), (" 20100047218.0 ", "20100047218"),
    ("2010004 7218", "2010004 7218"), ("20:100047218 ", "20:100047218"),
    ("20100047210", "20100047210"),  # a failing check digit is still a RUC
])
def test_required_ruc_is_11_digits_after_the_kpis_cleaning(cell: str, stored: str) -> None:
    assert ruc.required_ruc(cell) == stored  # the stored value: ruc_text's, unchanged
    assert ruc.required_ruc(cell) == ruc.ruc_text(cell)
    assert len(ruc.ruc_digits(stored)) == 11


@pytest.mark.parametrize("cell", ["2012345678", "201234567890", "2012345678A", "2O100047218",
                                  "20-100047218", "2010004721.8", "٢٠١٠٠٠٤٧٢١٨"])
def test_required_ruc_refuses_what_is_not_11_digits(cell: str) -> None:
    with pytest.raises(ValueError, match=r"is not a RUC: 11 digits expected"):
        ruc.required_ruc(cell)


def test_required_ruc_keeps_ruc_texts_errors() -> None:
    for blank_or_lost in ("", " ", "2.01E+10"):
        with pytest.raises(ValueError, match="empty|scientific"):
            ruc.required_ruc(blank_or_lost)


def test_the_ruc_key_of_a_cell_and_of_a_column_are_one_rule() -> None:
    """reportes §3.2: every ':' and space removed, whether one cell (imports) or a column."""
    import polars as pl

    cells_ = ["2022222 2222", "20:222222222", " 20222222222:\t", "20\xa0222222222"]
    column = pl.DataFrame({"r": cells_}).select(ruc.ruc_key(pl.col("r")))["r"].to_list()
    assert [ruc.ruc_digits(c) for c in cells_] == column == ["20222222222"] * 4


@pytest.mark.parametrize(("first_ten", "digit"), [
    ("2010004721", "8"), ("2013131295", "5"),  # the demo's pinned examples
    ("2010000000", "9"), ("1040000001", "3"),
    ("2010000003", "3"),
])
def test_ruc_check_digit_is_sunats_modulo_11(first_ten: str, digit: str) -> None:
    assert ruc.ruc_check_digit(first_ten) == digit
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    r = 11 - sum(int(d) * w for d, w in zip(first_ten, weights, strict=True)) % 11
    assert digit == {10: "0", 11: "1"}.get(r, str(r))
    assert ruc.ruc_digit_ok(first_ten + digit)
    assert not ruc.ruc_digit_ok(first_ten + str((int(digit) + 1) % 10))


def test_ruc_check_digit_covers_r_10_and_r_11() -> None:
    results = {}
    for n in range(2000):
        first_ten = f"20{n:08d}"
        weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
        r = 11 - sum(int(d) * w for d, w in zip(first_ten, weights, strict=True)) % 11
        results.setdefault(r, ruc.ruc_check_digit(first_ten))
    assert results[10] == "0" and results[11] == "1"
    assert set(results) == set(range(1, 12))


def test_ruc_digit_ok_ignores_the_noise_and_refuses_non_rucs() -> None:
    assert ruc.ruc_digit_ok("20100 047218:") and not ruc.ruc_digit_ok("20100047219")
    assert not ruc.ruc_digit_ok("2010004721") and not ruc.ruc_digit_ok("2010004721X")
    with pytest.raises(ValueError, match="ten digits"):
        ruc.ruc_check_digit("201000472")


def test_the_demo_spells_rucs_by_the_same_rule() -> None:
    from toolbox_cli.demo import catalogue, ruc_with_check_digit

    assert ruc_with_check_digit is catalogue.ruc_with_check_digit
    for first_ten in ("2010004721", "2013131295", "1040000001"):
        assert ruc_with_check_digit(first_ten) == first_ten + ruc.ruc_check_digit(first_ten)
        assert ruc.ruc_digit_ok(ruc_with_check_digit(first_ten))


def test_dates_of_an_import_and_of_a_legacy_row_read_text_alike() -> None:
    for cell in ("04/03/2024", "4/3/2024", "2024-03-04", "2024-03-04T05:00:00.000Z"):
        assert text.text_date(cell) == cells.sheet_date(cell) == date(2024, 3, 4)
    for bad in ("31/02/2024", "2024/03/04", "March 4"):
        with pytest.raises(ValueError) as imported:
            text.text_date(bad)
        with pytest.raises(ValueError) as legacy:
            cells.sheet_date(bad)
        assert str(imported.value) == str(legacy.value)
    assert cells.sheet_date(datetime(2024, 3, 5, 23, 0)) == date(2024, 3, 5)


def test_an_imported_date_is_strict_about_blank_spellings() -> None:
    assert text.optional_date(" ") is None
    for legacy_blank in ("-", "No Aplica"):
        assert cells.sheet_date(legacy_blank) is None
        with pytest.raises(ValueError):
            text.optional_date(legacy_blank)
    with pytest.raises(ValueError, match="required"):
        text.required_date("")


def test_text_cells_are_trimmed_and_a_blank_required_text_is_refused() -> None:
    assert text.required_text(" a ") == "a"
    with pytest.raises(ValueError, match="required"):
        text.required_text("  ")
    assert text.optional_text("  ") is None and text.optional_text(" b ") == "b"
    assert text.blank_text("  ") == ""
    assert text.blank_text(" null ") == "null"  # typed in a sheet: kept ...
    assert cells.to_text(" null ") == ""  # ... a database null spelling is not
