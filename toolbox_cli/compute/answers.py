"""The operations webservice's answers read into the source tables' typed columns.

A chunk of answer rows (JSON objects) becomes a frame in the shape of its source table,
one rule per column type, each the frame twin of a rule of ``compute.cells``
(``webservice.md`` "Spellings"):

==============  =========================================================================
ids             required; ``12``, ``12.0``, ``"12"``; a fraction is truncated (``to_id``,
                counted), anything else fails the run naming the row
numbers         ``1234.5``, ``"1234.5"``, ``"10,000.00"`` (``number_or_none``); ``""``,
                ``-``, ``null``, ``No Aplica`` are no value (NULL); other text is NULL and
                counted as a coercion (decision 21's limit then judges the column)
whole numbers   ``DiasEfectivo``: a fraction fails the row (``whole_number``); ``DiasMora``,
                ``EstadoDevolucion``: truncated (``lenient_int``), junk NULL, counted
dates          ``dd/mm/YYYY``, ``YYYY-MM-DD``, ``dd-mm-YYYY``, ``YYYY/mm/dd``
                (``four_formats_date``), an ISO date-time's date; no-date spellings NULL;
                anything else NULL and counted, or fails the row where the date is required
date-times      ISO, with ``T`` or a space, seconds optional; a plain date is midnight
texts           as given (a number as its JSON spelling); longer than the column fails
==============  =========================================================================

A field absent from a row is NULL and counted like a coercion of that column, so an answer
that lost a field fails decision 21's limit instead of publishing a column of NULLs.
Errors name the row as ``endpoint#row N: column: reason`` (N counts from 1 in the answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Date, DateTime, Integer, Numeric, String, Table

from toolbox_cli.compute.cells import FOUR_DATE_FORMATS, CoercionLog
from toolbox_cli.errors import InputError

NO_VALUE = ("", "-", "null", "nan", "none", "no aplica")  # lower-cased, trimmed
_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M",
                     "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
_ISO_STAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"  # an ISO date-time: its date is read
# Whole-number columns where a fraction is an error rather than truncated.
STRICT_WHOLE = frozenset({"DiasEfectivo"})


class AnswerRowError(InputError):
    """A row of an answer that cannot be stored: ``endpoint#row N: column: reason``."""


@dataclass(frozen=True)
class Columns:
    """How one endpoint's rows fill one source table."""

    endpoint: str  # as messages name it: "subquery-cab"
    table: Table
    omitted: tuple[str, ...] = ()  # columns this endpoint does not carry (another fills them)
    required: tuple[str, ...] = ()  # besides the table's non-nullable columns

    @property
    def carried(self) -> list[Any]:
        return [c for c in self.table.columns if c.name not in self.omitted]

    def is_required(self, column: Any) -> bool:
        return not column.nullable or column.primary_key or column.name in self.required

    def key(self) -> str:
        return self.table.primary_key.columns.values()[0].name


def typed_chunk(spec: Columns, rows: Sequence[dict[str, Any]], first: int,
                log: CoercionLog) -> pl.DataFrame:
    """``rows`` (answer rows ``first``, ``first + 1``, … counting from 1) as a frame of
    ``spec.table``'s carried columns, typed; coercions noted in ``log``."""
    log.read(len(rows))
    raw = {c.name: pl.Series(c.name, [r.get(c.name) for r in rows], dtype=pl.String,
                             strict=False) for c in spec.carried}
    frame = pl.DataFrame(raw).with_row_index("__row", offset=first)
    key = spec.key()
    absent = _absent_counts(rows, [c.name for c in spec.carried])
    out: dict[str, pl.Series] = {}
    for column in spec.carried:
        out[column.name] = _typed(spec, column, frame, key, log, absent.get(column.name, 0))
    return pl.DataFrame(out)


def _absent_counts(rows: Sequence[dict[str, Any]], names: list[str]) -> dict[str, int]:
    """Per column, how many rows lack the field altogether (not null: absent)."""
    width = len(names)
    if all(len(r) >= width for r in rows) and all(n in rows[0] for n in names):
        # Every row has at least as many fields as the table wants: count only those rows
        # that lack one (rare), not every field of every row.
        short = [r for r in rows if any(n not in r for n in names)] \
            if any(len(r) != len(rows[0]) for r in rows) else []
    else:
        short = list(rows)
    counts: dict[str, int] = {}
    for r in short:
        for n in names:
            if n not in r:
                counts[n] = counts.get(n, 0) + 1
    return counts


def _where(spec: Columns, frame: pl.DataFrame, index: int, key: str) -> str:
    row = frame.row(index, named=True)
    ident = f" ({key}={row[key]})" if row.get(key) not in (None, "") else ""
    return f"{spec.endpoint}#row {row['__row']}{ident}"


def _fail(spec: Columns, frame: pl.DataFrame, mask: pl.Series, key: str, column: str,
          reason: str) -> None:
    index = int(mask.arg_true()[0])
    value = frame[column][index]
    shown = "missing" if value is None else f"{value!r} {reason}"
    raise AnswerRowError(f"{_where(spec, frame, index, key)}: {column}: {shown}; fix it in "
                         "the operations system and re-run")


def _note(spec: Columns, frame: pl.DataFrame, mask: pl.Series, key: str, column: str,
          kind: str, log: CoercionLog, count: int | None = None) -> None:
    hits = int(mask.sum()) if count is None else count
    if hits:
        where = _where(spec, frame, int(mask.arg_true()[0]), key) if mask.any() \
            else spec.endpoint
        log.note(f"{spec.table.name}.{column}: {kind}", where, hits, column=column)


def _typed(spec: Columns, column: Any, frame: pl.DataFrame, key: str, log: CoercionLog,
           absent: int) -> pl.Series:
    name, kind = column.name, column.type
    text = frame[name].str.strip_chars()
    given = text.is_not_null() & ~text.str.to_lowercase().is_in(NO_VALUE)
    required = spec.is_required(column)
    if absent:
        log.note(f"{spec.table.name}.{name}: field absent from the answer, stored NULL",
                 spec.endpoint, absent, column=name)
    if isinstance(kind, String) and not isinstance(kind, Numeric):
        values = frame[name]
        if required and values.is_null().any():
            _fail(spec, frame, values.is_null(), key, name, "is missing")
        if kind.length:
            long = values.str.len_chars() > kind.length
            if long.any():
                _fail(spec, frame, long.fill_null(False), key, name,
                      f"is longer than the {kind.length} characters its column holds")
        return values
    if isinstance(kind, Integer | Numeric):
        number = text.str.replace_all(",", "").cast(pl.Float64, strict=False)
        number = number.set(~given, None)
        junk = given & (number.is_null() | number.is_infinite())
        if required and (~given).any():
            _fail(spec, frame, ~given, key, name, "is missing")
        if junk.any():
            if required or name in STRICT_WHOLE:
                _fail(spec, frame, junk, key, name, "is not a number")
            _note(spec, frame, junk, key, name, "not a number, stored NULL", log)
        if not isinstance(kind, Integer):
            return number
        fraction = number.is_not_null() & (number != number.floor())
        if fraction.any():
            if name in STRICT_WHOLE:
                _fail(spec, frame, fraction.fill_null(False), key, name,
                      "is not a whole number")
            _note(spec, frame, fraction.fill_null(False), key, name,
                  "fraction truncated to an integer", log)
        return number.cast(pl.Int64, strict=False)  # truncates toward zero
    t = pl.col(name)
    if isinstance(kind, DateTime):
        stamp = pl.DataFrame({name: text}).select(pl.coalesce(
            [t.str.to_datetime(f, strict=False, time_unit="us") for f in _DATETIME_FORMATS]
            + [t.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))]
        ).alias(name))[name]
        return _judged_date(spec, frame, key, name, log, given, stamp, required)
    if isinstance(kind, Date):
        day = pl.DataFrame({name: text}).select(pl.coalesce(
            [t.str.to_date(f, strict=False) for f in FOUR_DATE_FORMATS]
            + [pl.when(t.str.contains(_ISO_STAMP)).then(t.str.slice(0, 10))
               .str.to_date("%Y-%m-%d", strict=False)]).alias(name))[name]
        return _judged_date(spec, frame, key, name, log, given, day, required)
    return frame[name]


def _judged_date(spec: Columns, frame: pl.DataFrame, key: str, name: str, log: CoercionLog,
                 given: pl.Series, value: pl.Series, required: bool) -> pl.Series:
    if required and (~given).any():
        _fail(spec, frame, ~given, key, name, "is missing")
    bad = given & value.is_null()
    if bad.any():
        if required:
            _fail(spec, frame, bad, key, name, "is not a date (dd/mm/YYYY or YYYY-MM-DD)")
        _note(spec, frame, bad, key, name, "not a date, stored NULL", log)
    return value.alias(name)
