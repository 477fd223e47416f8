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

from toolbox_cli.compute import cells, text
from toolbox_cli.compute.normalize import ruc_pagador_key


def test_compute_text_imports_no_polars() -> None:
    probe = "import sys, toolbox_cli.compute.text; print('polars' in sys.modules)"
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
    assert text.ruc_text(" 20123456789.0 ") == "20123456789"
    assert text.ruc_text("20 12:3") == "20 12:3"  # kept as written ...
    assert ruc_pagador_key("20 12:3") == "20123"  # ... the KPI's key is another rule
    for bad in ("", "2.01235E+10"):
        with pytest.raises(ValueError):
            text.ruc_text(bad)


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


def test_texts() -> None:
    assert text.required_text(" a ") == "a"
    with pytest.raises(ValueError, match="required"):
        text.required_text("  ")
    assert text.optional_text("  ") is None and text.optional_text(" b ") == "b"
    assert text.blank_text("  ") == ""
    assert text.blank_text(" null ") == "null"  # typed in a sheet: kept ...
    assert cells.to_text(" null ") == ""  # ... a database null spelling is not
