"""From a CSV file's records to typed rows of one kind, every bad cell reported.

The header is mapped to the kind's fields (a missing or repeated column rejects the file);
each cell is read by its field's rule and checked against its column's length; every
problem is collected as ``FILE:LINE: column: reason`` (the first ``MAX_REPORTED_ERRORS``
kept, all counted) and raised together as ``ImportRejected``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import String

from toolbox_cli.compute.ruc import ruc_digit_ok, ruc_digits
from toolbox_cli.errors import InputError
from toolbox_cli.imports.csvfile import CsvFile, header_key
from toolbox_cli.imports.kinds import Field, Kind
from toolbox_cli.storage.tables.metadata import magnitude_limit, too_large

MAX_REPORTED_ERRORS = 20


class ImportRejected(InputError):
    """The file was rejected; ``errors`` holds every ``FILE:LINE: column: reason`` found."""

    def __init__(self, errors: Sequence[str], total: int | None = None) -> None:
        self.errors = list(errors)
        self.total = total if total is not None else len(self.errors)
        message = self.errors[0]
        if self.total > 1:
            message += f" (and {self.total - 1} more; nothing was imported)"
        else:
            message += " (nothing was imported)"
        super().__init__(message)


@dataclass
class ParsedFile:
    """A validated file of one kind, ready to write: its rows and what the report says."""

    kind: str
    label: str
    table: str
    rows: list[dict[str, Any]]
    rows_read: int
    duplicates: int = 0
    skipped: int = 0
    hoja: str | None = None
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    # Stored columns of optional fields the file lacks: a merge keeps their stored values.
    absent_columns: list[str] = field(default_factory=list)
    encoding: str = "utf-8"  # the codec that read the file (cp1252 when detected)
    sep: str = ":"  # FILE:LINE, or URL#row N for a sheet (``CsvFile.sep``)

    def at(self, line: int) -> str:
        return f"{self.label}{self.sep}{line}"

    def ref(self, line: int) -> str:
        return f"{'line' if self.sep == ':' else 'row'} {line}"


class CellErrors:
    """Every problem found, as ``FILE:LINE: column: reason``: the first
    ``MAX_REPORTED_ERRORS`` kept for the report, all of them counted."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.total = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append(message)

    def raise_if_any(self) -> None:
        if self.total:
            raise ImportRejected(self.items, self.total)


def _map_header(kind: Kind, csv_file: CsvFile) -> tuple[dict[int, Field], list[str]]:
    """Column index → field; raises on a missing or repeated column."""
    wanted: dict[str, Field] = {}
    for f in kind.fields:
        for name in (f.header, *f.aliases):
            wanted[header_key(name)] = f
    ignored_keys = {header_key(h) for h in kind.ignored}
    mapping: dict[int, Field] = {}
    seen: dict[str, int] = {}
    ignored: list[str] = []
    for index, raw in enumerate(csv_file.header):
        key = header_key(raw)
        found_field = wanted.get(key)
        if found_field is None:
            if raw.strip() and key not in ignored_keys:
                ignored.append(raw.strip())
            continue
        if found_field.header in seen:
            raise ImportRejected([
                f"{csv_file.at(1)}: {raw.strip()}: column appears twice (columns "
                f"{seen[found_field.header] + 1} and {index + 1}); keep one"
            ])
        seen[found_field.header] = index
        mapping[index] = found_field
    missing = [f.header for f in kind.fields if f.header not in seen and f.required]
    if missing:
        found = ", ".join(h.strip() for h in csv_file.header if h.strip())
        raise ImportRejected([
            f"{csv_file.at(1)}: {missing[0]}: missing column"
            + (f" (also missing: {', '.join(missing[1:])})" if missing[1:] else "")
            + f"; the {kind.name} header is {', '.join(f.header for f in kind.fields)}"
            + f" — found: {found}"
        ])
    return mapping, ignored


def _check_fits(kind: Kind, f: Field, value: Any) -> None:
    """The value fits its column: a text its length, a number its DECIMAL's digits."""
    if f.column is None or value is None:
        return
    column = kind.table.c[f.column]
    length = getattr(column.type, "length", None)
    if isinstance(value, str) and isinstance(column.type, String) and length \
            and len(value) > length:
        raise ValueError(f"longer than {length} characters ({len(value)})")
    limit = magnitude_limit(column)
    if limit is not None and isinstance(value, Decimal | int | float) \
            and abs(float(value)) >= limit:
        raise ValueError(too_large(column, value))


@dataclass
class ParsedRows:
    """The rows that parsed, the lines skipped by ``skip_if_blank``, the unknown columns,
    and per RUC column (its header as the file writes it) the (line, digits) of the RUCs
    whose check digit fails (accepted, then reported)."""

    parsed: list[tuple[int, dict[str, Any]]]
    skipped: list[int]
    ignored: list[str]
    absent: list[str]  # the columns of optional fields the file does not have
    bad_check_digits: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


def parse_rows(kind: Kind, csv_file: CsvFile, errors: CellErrors) -> ParsedRows:
    """Every record read by the kind's fields; a bad cell is added to ``errors`` and its
    row left out (the caller rejects the file when ``errors`` is not empty)."""
    mapping, ignored = _map_header(kind, csv_file)
    index_of = {f.header: i for i, f in mapping.items()}
    skip_on = [index_of[h] for h in kind.skip_if_blank]
    absent = [f for f in kind.fields if f.header not in index_of]
    width = len(csv_file.header)
    parsed: list[tuple[int, dict[str, Any]]] = []
    skipped: list[int] = []
    bad_check_digits: dict[str, list[tuple[int, str]]] = {}
    for line, cells in csv_file.rows:
        extra = [c for c in cells[width:] if c.strip()]
        if extra:
            errors.add(f"{csv_file.at(line)}: (row): {len(cells)} cells but the header has "
                       f"{width} columns; check for an unquoted {csv_file.delimiter!r} in a value")
            continue
        if len(cells) < width:
            # A row cut short (a truncated export, a lost line end) would read its missing
            # cells as blank, and a blank amount as 0: the file is refused instead.
            errors.add(f"{csv_file.at(line)}: (row): {len(cells)} cells but the header has "
                       f"{width} columns; every row needs a cell for every column (empty "
                       "ones too): export the file again")
            continue
        if any(not cells[i].strip() for i in skip_on):
            skipped.append(line)
            continue
        row: dict[str, Any] = {f.column: None for f in absent if f.column}
        ok = True
        for index, f in mapping.items():
            try:
                value = f.parse(cells[index])
                _check_fits(kind, f, value)
            except ValueError as exc:
                errors.add(f"{csv_file.at(line)}: {csv_file.header[index].strip()}: {exc}")
                ok = False
                continue
            if f.holds_ruc and not ruc_digit_ok(value):
                bad_check_digits.setdefault(csv_file.header[index].strip(), []).append(
                    (line, ruc_digits(value)))
            if f.column is not None:
                row[f.column] = value
        if ok:
            parsed.append((line, row))
    return ParsedRows(parsed, skipped, ignored, [f.column for f in absent if f.column],
                      bad_check_digits)
