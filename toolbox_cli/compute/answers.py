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

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
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

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.carried]

    def is_required(self, column: Any) -> bool:
        return not column.nullable or column.primary_key or column.name in self.required

    def key(self) -> str:
        return self.table.primary_key.columns.values()[0].name


# The checks of a column, by kind: a failed one fails the row, a noted one is a coercion.
_FAILS = {"missing": "is missing", "junk_strict": "is not a number",
          "fraction_strict": "is not a whole number",
          "bad_date_required": "is not a date (dd/mm/YYYY or YYYY-MM-DD)",
          "too_long": "is longer than its column holds"}
_NOTES = {"junk": "not a number, stored NULL", "fraction": "fraction truncated to an integer",
          "bad_date": "not a date, stored NULL"}


@dataclass
class TextChunk:
    """Rows ``first``, ``first + 1``, … (counting from 1 in the answer) of an answer as text
    columns (``answer_frame``), and per column how many of them lacked the field."""

    first: int
    frame: pl.DataFrame
    absent: dict[str, int]


# Answer rows held as Python dicts at once: a document's dict with its 46 fields is about
# 5 KB, so 1 000 of them are 5 MB where the 5 000 of a chunk were 25 MB (and a fuller
# heap); their text frames are concatenated up to the chunk's size.
DICT_BATCH = 1000


def text_chunks(rows: Iterable[dict[str, Any]], names: Sequence[str], size: int,
                batch: int = DICT_BATCH) -> Iterator[TextChunk]:
    """The answer's rows as ``TextChunk`` of ``size`` rows (the last one shorter), turned
    into frames ``batch`` dicts at a time."""
    it, first = iter(rows), 1
    while True:
        parts: list[pl.DataFrame] = []
        absent: dict[str, int] = {}
        height = 0
        while height < size and (dicts := list(islice(it, min(batch, size - height)))):
            parts.append(answer_frame(dicts, names))
            for name, count in _absent_counts(dicts, list(names)).items():
                absent[name] = absent.get(name, 0) + count
            height += len(dicts)
            del dicts
        if not height:
            return
        yield TextChunk(first, pl.concat(parts) if len(parts) > 1 else parts[0], absent)
        first += height


def typed_chunk(spec: Columns, chunk: TextChunk, log: CoercionLog) -> pl.DataFrame:
    """A chunk of answer rows as a frame of ``spec.table``'s carried columns, typed;
    coercions noted in ``log``. One Polars plan computes every column and one more counts
    every check; a row is looked at only when a check found something."""
    log.read(chunk.frame.height)
    frame = chunk.frame.with_row_index("__row", offset=chunk.first)
    key = spec.key()
    values, checks = [], {}
    for column in spec.carried:
        value, found = _rule(spec, column)
        values.append(value.alias(column.name))
        checks.update({(column.name, kind): mask for kind, mask in found.items()})
    counts = frame.select([mask.sum().alias(f"{name}\x1f{kind}")
                           for (name, kind), mask in checks.items()]).row(0)
    for (name, kind), count in zip(checks, counts, strict=True):
        if not count:
            continue
        mask = frame.select(checks[(name, kind)].alias("m"))["m"]
        index = int(mask.arg_true()[0])
        if kind in _FAILS:
            value = frame[name][index]
            shown = "missing" if kind == "missing" or value is None \
                else f"{value!r} {_FAILS[kind]}"
            where = _where(spec, frame, index, key if name != key else None)
            raise AnswerRowError(f"{where}: {name}: {shown}; fix it "
                                 "in the operations system and re-run")
        log.note(f"{spec.table.name}.{name}: {_NOTES[kind]}", _where(spec, frame, index, key),
                 int(count), column=name)
    for name, count in chunk.absent.items():
        log.note(f"{spec.table.name}.{name}: field absent from the answer, stored NULL",
                 spec.endpoint, count, column=name)
    return frame.select(values)


def answer_frame(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> pl.DataFrame:
    """The fields ``names`` of answer rows as text columns (a JSON number as its spelling,
    a missing field as null), built by Polars; a value Polars cannot take as text (a nested
    object or list, an integer beyond 64 bits) is kept as its JSON text, which the column's
    rule then refuses or counts like any unreadable value."""
    schema = dict.fromkeys(names, pl.String)
    try:
        return pl.from_dicts(rows, schema=schema, strict=False)
    except pl.exceptions.PolarsError:
        def text(value: Any) -> str | None:
            if value is None or isinstance(value, str):
                return value
            return json.dumps(value) if isinstance(value, dict | list) else str(value)

        return pl.DataFrame({n: [text(r.get(n)) for r in rows] for n in names}, schema=schema)


def _absent_counts(rows: Sequence[dict[str, Any]], names: list[str]) -> dict[str, int]:
    """Per column, how many rows lack the field altogether (not null: absent). Rows with
    every field are the rule: only a row shorter than the first, or a first row without
    one of them, is looked at field by field."""
    width = len(rows[0]) if rows else 0
    if rows and all(n in rows[0] for n in names):
        short = [r for r in rows if len(r) < width or len(r) != width]
        short = [r for r in short if any(n not in r for n in names)]
    else:
        short = list(rows)
    counts: dict[str, int] = {}
    for r in short:
        for n in names:
            if n not in r:
                counts[n] = counts.get(n, 0) + 1
    return counts


def _where(spec: Columns, frame: pl.DataFrame, index: int, key: str | None) -> str:
    """``endpoint#row N``, with the row's key when it has one (not for the key's own error)."""
    row = frame.row(index, named=True)
    ident = f" ({key}={row[key]})" if key and row.get(key) not in (None, "") else ""
    return f"{spec.endpoint}#row {row['__row']}{ident}"


def _rule(spec: Columns, column: Any) -> tuple[pl.Expr, dict[str, pl.Expr]]:
    """The expression of ``column``'s typed value, and its checks (kind → a row mask)."""
    name, kind = column.name, column.type
    raw = pl.col(name)
    text = raw.str.strip_chars()
    given = text.is_not_null() & ~text.str.to_lowercase().is_in(NO_VALUE)
    required = spec.is_required(column)
    checks: dict[str, pl.Expr] = {}
    if isinstance(kind, Integer | Numeric):
        number = pl.when(given).then(text.str.replace_all(",", "")
                                     .cast(pl.Float64, strict=False))
        junk = given & (number.is_null() | number.is_infinite())
        if isinstance(kind, Integer):  # beyond 2^53 a float is no longer the integer written
            junk = junk | (given & (number.abs() >= 2.0 ** 53)).fill_null(False)
        if required:
            checks["missing"] = ~given
        checks["junk_strict" if required or name in STRICT_WHOLE else "junk"] = junk
        if not isinstance(kind, Integer):
            return number, checks
        fraction = (number.is_not_null() & (number != number.floor())).fill_null(False)
        checks["fraction_strict" if name in STRICT_WHOLE else "fraction"] = fraction
        return number.cast(pl.Int64, strict=False), checks  # truncates toward zero
    if isinstance(kind, DateTime):
        value = pl.coalesce(
            [text.str.to_datetime(f, strict=False, time_unit="us") for f in _DATETIME_FORMATS]
            + [text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))])
    elif isinstance(kind, Date):
        value = pl.coalesce(
            [text.str.to_date(f, strict=False) for f in FOUR_DATE_FORMATS]
            + [pl.when(text.str.contains(_ISO_STAMP)).then(text.str.slice(0, 10))
               .str.to_date("%Y-%m-%d", strict=False)])
    else:  # text, as given
        if required:
            checks["missing"] = raw.is_null()
        if isinstance(kind, String) and kind.length:
            checks["too_long"] = (raw.str.len_chars() > kind.length).fill_null(False)
        return raw, checks
    value = pl.when(given).then(value)
    if required:
        checks["missing"] = ~given
    checks["bad_date_required" if required else "bad_date"] = given & value.is_null()
    return value, checks
