"""``toolbox export TABLE`` (issue 22, item 4): each format read back equals the table, the
date filter at its boundaries, bad input exit 2 with the choices; SQLite and MariaDB."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from tests.support.runs import run_on_demo
from toolbox_cli.jobs import export as job
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.frames import read_table
from toolbox_cli.storage.tables.reportes import kpi, nuevos_clientes_nuevos_pagadores


@pytest.fixture
def refreshed(demo: Engines, toolbox_env: Settings) -> Engines:
    assert run_on_demo(toolbox_env, demo, "tablas-reportes").status == "success"
    return demo


def _table(engines: Engines, table: Any) -> pl.DataFrame:
    names = [c.name for c in table.columns if c.name != "id"]
    return read_table(engines.datamart, table, [*names, "id"]).sort("id").select(names)


def _money(frame: pl.DataFrame) -> pl.DataFrame:
    """Amounts to their cents (a float read back from a file is the same float)."""
    return frame.with_columns(pl.col(pl.Float64).round(6))


def test_xlsx_read_back_equals_the_table_with_typed_cells(cli: Any, refreshed: Engines,
                                                          tmp_path: Path) -> None:
    target = tmp_path / "kpi.xlsx"
    result = cli("export", "kpi", "-o", str(target))
    assert result.exit_code == 0, result.output
    expected = _table(refreshed, kpi)
    assert f"exported {expected.height:,} rows of kpi to {target}" in \
        " ".join(result.output.split())
    sheet = openpyxl.load_workbook(target, read_only=False).active
    header = [c.value for c in sheet[1]]
    assert header == expected.columns
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}" \
        f"{expected.height + 1}"
    got = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert len(got) == expected.height
    column = {name: i for i, name in enumerate(header)}
    for name, dtype in expected.schema.items():
        values = [row[column[name]] for row in got]
        want = expected[name].to_list()
        if dtype == pl.Date:  # a date cell (openpyxl reads it as midnight)
            assert values == [None if v is None else datetime.combine(v, datetime.min.time())
                              for v in want], name
        elif dtype.is_numeric():
            assert [v is None for v in values] == [v is None for v in want], name
            assert [v for v in values if v is not None] == \
                pytest.approx([v for v in want if v is not None], abs=1e-9), name
            assert all(isinstance(v, int | float) for v in values if v is not None), name
        else:
            assert values == want, name
    amount = sheet.cell(2, column["NetoConfirmado"] + 1)
    assert amount.number_format == "#,##0.00" and isinstance(amount.value, int | float)
    # kpi's dates are DATETIME (the legacy's): date-time cells.
    assert sheet.cell(2, column["FechaOperacion"] + 1).number_format == "yyyy-mm-dd hh:mm:ss"
    assert isinstance(sheet.cell(2, column["FechaOperacion"] + 1).value, datetime)
    width = sheet.column_dimensions[sheet.cell(1, column["RazonSocialCliente"] + 1)
                                    .column_letter].width
    assert width > len("RazonSocialCliente")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_read_back_equal_the_table(cli: Any, refreshed: Engines, tmp_path: Path,
                                                   fmt: str) -> None:
    target = tmp_path / f"kpi.{fmt}"
    assert cli("export", "kpi", "--format", fmt, "-o", str(target)).exit_code == 0
    expected = _table(refreshed, kpi)
    if fmt == "csv":
        assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
        got = pl.read_csv(target, schema=expected.schema, try_parse_dates=False)
    else:
        got = pl.read_parquet(target)
    assert got.schema == expected.schema
    assert _money(got).equals(_money(expected), null_equal=True)


def test_the_date_filter_includes_both_ends(cli: Any, refreshed: Engines, tmp_path: Path) -> None:
    days = _table(refreshed, kpi)["FechaOperacion"].dt.date().unique().sort()
    desde, hasta = days[1], days[-2]
    target = tmp_path / "part.csv"
    args = ["export", "kpi", "-f", "csv", "--desde", str(desde), "--hasta", str(hasta),
            "-o", str(target)]
    assert cli(*args).exit_code == 0
    got = pl.read_csv(target, try_parse_dates=True)["FechaOperacion"].dt.date()
    expected = _table(refreshed, kpi).filter(
        pl.col("FechaOperacion").dt.date().is_between(desde, hasta))
    assert got.len() == expected.height and got.min() == desde and got.max() == hasta
    # A date-time column (the first of a month at 00:00): --hasta takes its whole day.
    months = _table(refreshed, nuevos_clientes_nuevos_pagadores)["FechaOperacion"]
    last = months.max().date()
    target = tmp_path / "n.parquet"
    assert cli("export", "nuevos_clientes_nuevos_pagadores", "-f", "parquet", "--desde",
               str(last), "--hasta", str(last), "-o", str(target)).exit_code == 0
    assert pl.read_parquet(target).height == (months.dt.date() == last).sum() > 0


@pytest.mark.parametrize(("args", "says"), [
    (["kpis"], "no datamart table 'kpis' (did you mean kpi?); choose from"),
    (["kpi", "--desde", "2024-13-01"], "does not match the formats '%Y-%m-%d'"),
    (["kpi", "--format", "xls"], "--format 'xls' is not one of csv, xlsx, parquet"),
    (["kpi", "--desde", "2024-03-02", "--hasta", "2024-03-01"],
     "--hasta 2024-03-01 is before --desde 2024-03-02; swap them"),
])
def test_bad_input_exits_2_saying_the_choices(cli: Any, refreshed: Engines, tmp_path: Path,
                                              args: list[str], says: str) -> None:
    result = cli("export", *args, "-o", str(tmp_path / "x.xlsx"))
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())
    assert not (tmp_path / "x.xlsx").exists()


def test_an_existing_file_is_kept_without_force(cli: Any, refreshed: Engines,
                                                tmp_path: Path) -> None:
    target = tmp_path / "kpi.csv"
    target.write_text("the analyst's own notes")
    result = cli("export", "kpi", "-f", "csv", "-o", str(target))
    assert result.exit_code == 2 and "exists; give --force to replace it" in result.output
    assert target.read_text() == "the analyst's own notes"
    assert cli("export", "kpi", "-f", "csv", "-o", str(target), "--force").exit_code == 0
    assert target.read_bytes().startswith(b"\xef\xbb\xbfCodigoLiquidacion,")


def test_a_sheet_holds_its_limit_and_not_one_row_more(cli: Any, refreshed: Engines,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _table(refreshed, kpi).height
    monkeypatch.setattr(job, "XLSX_MAX_ROWS", rows)
    assert cli("export", "kpi", "-o", str(tmp_path / "fits.xlsx")).exit_code == 0
    monkeypatch.setattr(job, "XLSX_MAX_ROWS", rows - 1)
    result = cli("export", "kpi", "-o", str(tmp_path / "over.xlsx"))
    assert result.exit_code == 2
    assert f"{rows:,} rows do not fit in a sheet (at most {rows - 1:,})" in \
        " ".join(result.output.split())
    assert not (tmp_path / "over.xlsx").exists()


def test_the_default_name_is_the_table_and_today(cli: Any, refreshed: Engines, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("export", "saldos", "-f", "csv").exit_code == 0
    (made,) = tmp_path.glob("saldos_*.csv")
    assert date.fromisoformat(made.stem.split("_", 1)[1])
