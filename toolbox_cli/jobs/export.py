"""``toolbox export TABLE``: a datamart table as the file an analyst opens (the legacy API's
Excel and CSV downloads of ``kpi``, ``kpi_acumulado``, ``nuevos_clientes_nuevos_pagadores``).

The table is read in keyset chunks (``storage.sources.iter_table_chunks``, by its numbered
key) and each chunk is written at once, so memory stays that of a chunk whatever the size:

- ``csv``: UTF-8 with a byte-order mark (Excel then reads ñ and accents right), comma
  separated, dates ``YYYY-MM-DD``, amounts with a dot;
- ``xlsx``: XlsxWriter in its constant-memory mode, a row at a time; dates and date-times
  are date cells, amounts numbers shown ``#,##0.00``, whole numbers numbers; the header row
  frozen and filtered; each column as wide as its header and the first chunk's values need
  (at most 60); at most 1 048 575 rows, the sheet's limit;
- ``parquet``: the typed columns, a row group per chunk.

``--desde``/``--hasta`` filter on the table's date column: ``FechaOperacion`` where the table
has one, else its first date column (``FechaPago`` of ``cxc_pagos_fact``,
``FechaDesembolso`` of ``cxc_dev_fact``). The file is written under a temporary name beside
the target and renamed when complete: a failed export leaves no half file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Date, DateTime, Integer, Numeric, Table, func, select
from sqlalchemy.engine import Engine

from toolbox_cli.errors import InputError, did_you_mean
from toolbox_cli.progress import NO_PROGRESS, Progress
from toolbox_cli.storage.sources import iter_table_chunks
from toolbox_cli.storage.tables import datamart_metadata, ledger_tables
from toolbox_cli.storage.tables.metadata import is_amount

FORMATS = ("csv", "xlsx", "parquet")
XLSX_MAX_ROWS = 1_048_575  # 2^20 rows of a sheet, one of them the header
CHUNK = 50_000
_MAX_WIDTH = 60


@dataclass(frozen=True)
class Export:
    table: Table
    fmt: str
    desde: date | None
    hasta: date | None

    @property
    def date_column(self) -> str | None:
        return date_column(self.table)


def exportable() -> dict[str, Table]:
    """The datamart tables (not the ledger's), by name."""
    ledger = {t.name for t in ledger_tables()}
    return {n: t for n, t in datamart_metadata.tables.items() if n not in ledger}


def resolve_table(name: str) -> Table:
    tables = exportable()
    by_legacy = {str(t.info["legacy_name"]): t for t in tables.values() if t.info.get("legacy_name")}
    table = tables[name] if name in tables else by_legacy.get(name)
    if table is None:
        raise InputError(f"no datamart table {name!r}{did_you_mean(name, [*tables, *by_legacy])}; "
                         f"choose from {', '.join(sorted(tables))}")
    return table


def date_column(table: Table) -> str | None:
    if "FechaOperacion" in table.c:
        return "FechaOperacion"
    for column in table.columns:
        if isinstance(column.type, Date | DateTime):
            return column.name
    return None


def _id_column(table: Table) -> str:
    (column,) = table.primary_key.columns
    return column.name


def _where(table: Table, desde: date | None, hasta: date | None) -> list[Any]:
    name = date_column(table)
    if name is None:
        return []
    column = table.c[name]
    datetime_ = isinstance(column.type, DateTime)
    where = []
    if desde is not None:
        where.append(column >= (datetime.combine(desde, time()) if datetime_ else desde))
    if hasta is not None:
        where.append(column < datetime.combine(hasta + timedelta(days=1), time())
                     if datetime_ else column <= hasta)
    return where


def count_rows(engine: Engine, export: Export) -> int:
    query = select(func.count()).select_from(export.table)
    for condition in _where(export.table, export.desde, export.hasta):
        query = query.where(condition)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def chunks(engine: Engine, export: Export, size: int = CHUNK) -> Iterator[pl.DataFrame]:
    """The rows to export, in the table's order (its id), chunk by chunk, without the id."""
    table = export.table
    key = _id_column(table)
    names = [c.name for c in table.columns]
    shown = [n for n in names if n != key]
    for chunk in iter_table_chunks(engine, table, names, key, size,
                                   where=_where(table, export.desde, export.hasta)):
        yield chunk.select(shown)


def default_name(table: Table, fmt: str, today: date) -> Path:
    return Path(f"{table.name}_{today.isoformat()}.{fmt}")


def write(engine: Engine, export: Export, target: Path, *,
          progress: Progress = NO_PROGRESS) -> int:
    """Write the export to ``target`` (atomically); the rows written."""
    total = count_rows(engine, export)
    if export.fmt == "xlsx" and total > XLSX_MAX_ROWS:
        raise InputError(f"{total:,} rows do not fit in a sheet (at most {XLSX_MAX_ROWS:,}); "
                         "narrow --desde/--hasta or use --format csv or parquet")
    writer = {"csv": _write_csv, "xlsx": _write_xlsx, "parquet": _write_parquet}[export.fmt]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    label = export.table.name
    try:
        progress.phase(label, f"exporting {total:,} rows")

        def counted() -> Iterator[pl.DataFrame]:
            for chunk in chunks(engine, export):
                yield chunk
                progress.rows(label, chunk.height)

        written = writer(export.table, counted(), Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        progress.done(label)
    return written


def _write_csv(table: Table, frames: Iterator[pl.DataFrame], path: Path) -> int:
    rows = 0
    with open(path, "wb") as f:
        for i, frame in enumerate(frames):
            frame.write_csv(f, include_header=i == 0, include_bom=i == 0,
                            date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M:%S")
            rows += frame.height
        if rows == 0:  # the header alone
            pl.DataFrame(schema={c.name: pl.String for c in table.columns
                                 if c.name != _id_column(table)}).write_csv(f, include_bom=True)
    return rows


def _write_parquet(table: Table, frames: Iterator[pl.DataFrame], path: Path) -> int:
    import pyarrow.parquet as pq

    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for frame in frames:
            arrow = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, arrow.schema, compression="zstd")
            writer.write_table(arrow)
            rows += frame.height
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        from toolbox_cli.storage.frames import polars_dtype

        pl.DataFrame(schema={c.name: polars_dtype(c) for c in table.columns
                             if c.name != _id_column(table)}).write_parquet(path)
    return rows


def _write_xlsx(table: Table, frames: Iterator[pl.DataFrame], path: Path) -> int:
    import xlsxwriter

    columns = [c for c in table.columns if c.name != _id_column(table)]
    # ZIP64 lets the sheet's XML pass 4 GB (about a million kpi rows); Python's zipfile
    # writes its records only for a member that needs them, so smaller files are unchanged.
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                           "strings_to_formulas": False, "strings_to_urls": False,
                                           "use_zip64": True})
    sheet = book.add_worksheet(table.name[:31])
    header = book.add_format({"bold": True, "bg_color": "#DDE3EC", "bottom": 1})
    formats = {
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "amount": book.add_format({"num_format": "#,##0.00"}),
        "integer": book.add_format({"num_format": "0"}),
        "number": book.add_format({"num_format": "General"}),
    }
    writers: list[Callable[[int, int, Any], Any]] = []
    kinds: list[str] = []
    for column in columns:
        kind = ("datetime" if isinstance(column.type, DateTime)
                else "date" if isinstance(column.type, Date)
                else "integer" if isinstance(column.type, Integer)
                else "amount" if is_amount(column)
                else "number" if isinstance(column.type, Numeric) else "text")
        kinds.append(kind)
        writers.append(_cell_writer(sheet, kind, formats.get(kind)))
    rows = 0
    first = True
    for frame in frames:
        if first:
            _set_widths(sheet, columns, kinds, frame)
            sheet.write_row(0, 0, [c.name for c in columns], header)
            first = False
        for values in frame.iter_rows():
            rows += 1
            for c, value in enumerate(values):
                if value is not None:
                    writers[c](rows, c, value)
    if first:
        _set_widths(sheet, columns, kinds, None)
        sheet.write_row(0, 0, [c.name for c in columns], header)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, rows, len(columns) - 1)
    book.close()
    return rows


def _cell_writer(sheet: Any, kind: str, fmt: Any) -> Callable[[int, int, Any], Any]:
    """The XlsxWriter call for a cell of ``kind``, its format bound."""
    if kind == "text":
        return sheet.write_string
    method = sheet.write_datetime if kind in ("date", "datetime") else sheet.write_number

    def write(row: int, col: int, value: Any) -> Any:
        return method(row, col, value, fmt)

    return write


def _set_widths(sheet: Any, columns: Sequence[Any], kinds: Sequence[str],
                sample: pl.DataFrame | None) -> None:
    fixed = {"date": 11, "datetime": 19}
    for i, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
        width = fixed.get(kind, 0)
        if not width and sample is not None and sample.height:
            values = sample[column.name].head(1000)
            shown = values.cast(pl.String).str.len_chars().max() if kind == "text" else \
                values.abs().max() if values.dtype.is_numeric() else None
            if kind == "text":
                width = int(shown or 0)
            elif shown is not None:
                width = len(f"{float(shown):,.2f}")
        width = min(max(width, len(column.name)) + 2, _MAX_WIDTH)
        sheet.set_column(i, i, width)
