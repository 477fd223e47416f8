"""What a cell may hold and how each job reads it: numbers, dates, texts. One module for all.

The source database is typed, so most columns arrive as what they should be and are used
as they are. A column can still arrive as text: a permissive source (SQLite keeps whatever
it is given), a legacy export, the spec's worked examples as the webservice sent them. Each
rule below is then applied to that column cell by cell, with the row named in any error.
The rules are the specs' (reportes §3.5.1 and §2.4; cxc §3.1–§3.3), one function each:

=====================  =====================================================================
``number_or_none``     KPI amounts: null, blank, ``-``, unparseable → None (then 0, counted)
``lenient_amount``     CXC document amounts: null/blank → 0; ``"10,000.00"`` → 10000; text → 0, noted
``strict_amount``      CXC payment/refund amounts: a number or a plain numeric string, else error
``lenient_int``        ``DiasMora``/``EstadoDevolucion``: null → 0, truncated, unparseable → 0, noted
``whole_number``       ``DiasEfectivo``: ``30``, ``"30"``, ``30.0``; ``"30.5"`` and null → error
``to_id``              ids: ints; floats and numeric strings truncated (noted); else error
``sheet_date``         ``dd/mm/YYYY`` or ISO (time part ignored); blank, ``-``, ``No Aplica`` → None
``four_formats_date``  CXC documents/refunds: dd/mm/yyyy, yyyy-mm-dd, dd-mm-yyyy, yyyy/mm/dd
``iso_payment_date``   CXC ``FechaPago``: ISO date, or ISO datetime exactly at midnight
``iso_timestamp``      audit timestamps: ISO date or datetime
``to_text``            payment/refund texts: null spellings → ``""``, trimmed
=====================  =====================================================================

The spreadsheet imports read text cells with the strict rules of ``compute.text`` (a bad
cell rejects the file with its line). ``sheet_date`` reads a text cell with the same
``text.text_date``; ``number_or_none`` is the lenient twin of ``text.strict_sheet_number``
(which refuses ``1,5`` and unreadable text instead of reading them as 15 and None).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from toolbox_cli import words
from toolbox_cli.compute.text import text_date
from toolbox_cli.errors import InputError

FOUR_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%Y/%m/%d")


class RowError(InputError):
    """A source row that cannot be used; the message names the row and the field."""

    def __init__(self, where: str, fieldname: str, reason: str) -> None:
        super().__init__(f"{where}: {fieldname} {reason}; fix the source row and re-run")


@dataclass
class CoercionLog:
    """Counts the legacy's silent coercions of one source table so the run can report them
    (decisions: "never silent"). One entry per kind, with the first few row identities as
    examples; and per column, the cells whose value was replaced (a null or unreadable
    amount read as 0, a truncated id, a null text stored as ''), against the rows read
    (``read``): decision 21's limit fails the run when a column needed that too often.
    A spelling made canonical (a re-cased TipoPago, a RUC cleaned of ':') is counted in the
    warnings but is no coercion: ``note`` it without a column."""

    max_examples: int = 5
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    rows_read: int = 0
    columns: dict[str, int] = field(default_factory=dict)
    column_examples: dict[str, str] = field(default_factory=dict)

    def note(self, kind: str, where: str, count: int = 1, *, column: str | None = None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + count
        shown = self.examples.setdefault(kind, [])
        if len(shown) < self.max_examples:
            shown.append(where)
        if column is not None:
            self.columns[column] = self.columns.get(column, 0) + count
            self.column_examples.setdefault(column, where)

    def read(self, rows: int) -> None:
        """``rows`` more rows of the table were read."""
        self.rows_read += rows

    def messages(self) -> list[str]:
        return [
            f"{words.count(count, 'value')} coerced: {kind} (e.g. {self._shown(self.examples[kind])})"
            for kind, count in self.counts.items()
        ]

    @staticmethod
    def _shown(examples: list[str]) -> str:
        # "colocaciones IdLiquidacionDet=9, 57, 119": the row's name once, then its ids.
        return ", ".join(examples[:1] + [w.rsplit("=", 1)[-1] for w in examples[1:]])


def _note(log: CoercionLog | None, kind: str, where: str, fieldname: str) -> None:
    if log is not None:
        log.note(kind, where, column=fieldname)


# ---------------------------------------------------------------- scalar rules


def is_missing(value: Any) -> bool:
    """Null in any of the spellings the legacy accepted: None, NaN, blank or "null"."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, Decimal) and value.is_nan():
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "null", "nan")


def _number_from_text(text: str) -> Decimal:
    """Parse a numeric string (scientific notation accepted); raises ValueError."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not number.is_finite():
        raise ValueError(text)
    return number


def _as_decimal(value: int | float | Decimal) -> Decimal:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(value)
        return Decimal(repr(value))  # repr: 0.1 stays 0.1, not 0.1000000000000000055...
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(value)
    return number


def number_or_none(value: Any) -> float | None:
    """KPI amounts (reportes §3.5.1): a float, or None for null / blank / ``-`` / unparseable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    text = str(value).strip().replace(",", "")
    if text in ("", "-"):
        return None
    try:
        number = float(Decimal(text))
    except (InvalidOperation, ValueError):
        return None
    return None if math.isnan(number) else number


def to_id(value: Any, fieldname: str, where: str, log: CoercionLog | None = None) -> int:
    """Required integer id: ints as they are, floats and numeric strings truncated (legacy).

    A truncated fraction (``"12.7"`` → 12) is accepted like the legacy did, but noted.
    """
    if isinstance(value, bool) or is_missing(value):
        raise RowError(where, fieldname, "is missing")
    if isinstance(value, int):
        return value
    try:
        if isinstance(value, str):
            number = _number_from_text(value.strip().replace(",", ""))
        elif isinstance(value, float | Decimal):
            number = _as_decimal(value)
        else:
            raise ValueError(value)
    except ValueError:
        raise RowError(where, fieldname, f"is not a number ({value!r})") from None
    whole = int(number)  # int() truncates toward zero, as the legacy did
    if number != whole:
        _note(log, f"{fieldname} truncated to an integer", where, fieldname)
    return whole


def strict_amount(value: Any, fieldname: str, where: str) -> float:
    """Required payment/refund amount: a number or a plain numeric string.

    Null, blank and strings with thousands separators (``"1,000.50"``) are errors (cxc 3.1).
    """
    if isinstance(value, bool) or is_missing(value):
        raise RowError(where, fieldname, "is missing")
    try:
        if isinstance(value, str):
            text = value.strip()
            if "," in text:
                raise ValueError(text)
            return float(_number_from_text(text))
        if isinstance(value, int | float | Decimal):
            return float(_as_decimal(value))
    except ValueError:
        pass
    raise RowError(where, fieldname, f"is not a plain number ({value!r})")


def lenient_amount(value: Any, fieldname: str, where: str,
                   log: CoercionLog | None = None) -> float:
    """Document amount (cxc 3.3 step A): null → 0; ``"10,000.00"`` → 10000; text → 0.

    The legacy turned unparsable text into 0 silently; we keep the value but note it.
    """
    if isinstance(value, bool) or is_missing(value):
        _note(log, f"null {fieldname} read as 0", where, fieldname)
        return 0.0
    try:
        if isinstance(value, str):
            return float(_number_from_text(value.strip().replace(",", "")))
        if isinstance(value, int | float | Decimal):
            return float(_as_decimal(value))
    except ValueError:
        pass
    _note(log, f"unparsable {fieldname} read as 0", where, fieldname)
    return 0.0


def lenient_int(value: Any, fieldname: str, where: str, log: CoercionLog | None = None) -> int:
    """``DiasMora`` / ``EstadoDevolucion``: null → 0, numbers truncated, unparsable → 0."""
    if isinstance(value, bool) or is_missing(value):
        _note(log, f"null {fieldname} read as 0", where, fieldname)
        return 0
    if isinstance(value, int):
        return value
    try:
        if isinstance(value, str):
            return int(_number_from_text(value.strip()))
        if isinstance(value, float | Decimal):
            return int(_as_decimal(value))
    except ValueError:
        pass
    _note(log, f"unparsable {fieldname} read as 0", where, fieldname)
    return 0


def whole_number(value: Any, fieldname: str, where: str) -> int:
    """``DiasEfectivo``: ``30``, ``"30"`` and ``30.0`` are fine; ``"30.5"`` and null are errors."""
    if isinstance(value, bool) or is_missing(value):
        raise RowError(where, fieldname, "is missing")
    if isinstance(value, int):
        return value
    try:
        if isinstance(value, str):
            number = _number_from_text(value.strip())
        elif isinstance(value, float | Decimal):
            number = _as_decimal(value)
        else:
            raise ValueError(value)
    except ValueError:
        raise RowError(where, fieldname, f"is not a number ({value!r})") from None
    if number != int(number):
        raise RowError(where, fieldname, f"is not a whole number ({value!r})")
    return int(number)


def to_text(value: Any) -> str:
    """Payment/refund text: null spellings → ``""``, strings trimmed, other types as text."""
    if isinstance(value, str):
        text = value.strip()
        return "" if text.lower() in ("", "null", "nan") else text
    if is_missing(value):
        return ""
    return str(value)


def sheet_date(value: Any) -> date | None:
    """A calendar date from a native date/datetime or text as the sheets write it:
    ``dd/mm/YYYY`` or ISO-8601 (``2024-03-20T05:00:00.000Z``: the date as written, no time
    zone conversion), read by ``text.text_date`` like an imported cell. Blank, ``-`` and
    ``No Aplica`` are empty; other text is a ValueError for the caller to report with the
    row's identity."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if text in ("", "-") or text.casefold() == "no aplica":
        return None
    return text_date(text)


def four_formats_date(value: Any, fieldname: str, where: str, *, required: bool) -> date | None:
    """Document/refund dates: ``date`` objects, or text in one of the four legacy formats.

    A time part is an error for text (cxc 6.2); a ``datetime`` object is accepted only at
    midnight, which is what a DATE column read through some drivers looks like.
    """
    if is_missing(value):
        if required:
            raise RowError(where, fieldname, "is missing")
        return None
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise RowError(where, fieldname, f"has a time part ({value.isoformat()})")
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for fmt in FOUR_DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    raise RowError(where, fieldname, f"is not a date dd/mm/yyyy or yyyy-mm-dd ({value!r})")


def iso_payment_date(value: Any, where: str) -> date:
    """``FechaPago``: ISO ``YYYY-MM-DD`` (or an ISO datetime exactly at midnight); required."""
    if is_missing(value):
        raise RowError(where, "FechaPago", "is missing")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            return datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text) if "T" in text or " " in text else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise RowError(where, "FechaPago", f"is not an ISO date YYYY-MM-DD ({value!r})")
        moment = parsed
    else:
        raise RowError(where, "FechaPago", f"is not a date ({value!r})")
    if moment.time() != datetime.min.time():
        raise RowError(where, "FechaPago", f"has a time part ({moment.isoformat()})")
    return moment.date()


def iso_timestamp(value: Any, fieldname: str, where: str) -> datetime | None:
    """Audit timestamps: null stays null; ISO date or datetime; anything else is an error."""
    if is_missing(value):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RowError(where, fieldname, f"is not an ISO date or datetime ({value!r})")


# ---------------------------------------------------------------- on columns


def cellwise(frame: pl.DataFrame, name: str, rule: Callable[[Any, str], Any], dtype: Any,
             wheres: Sequence[str]) -> pl.Series:
    """The slow path: ``rule(value, where)`` for every cell of a column that did not arrive
    with its type (``wheres[i]`` names row ``i`` in errors)."""
    values = [rule(value, where) for value, where in zip(frame[name].to_list(), wheres,
                                                           strict=True)]
    return pl.Series(name, values, dtype=dtype)


def arrived_as(frame: pl.DataFrame, name: str, *dtypes: Any) -> bool:
    """Whether a column is one of ``dtypes`` already (or all null: nothing to read)."""
    have = frame.schema[name]
    return have == pl.Null or any(have == d or (isinstance(d, type) and isinstance(have, d))
                                  for d in dtypes)


def arrived_as_numbers(frame: pl.DataFrame, name: str) -> bool:
    """Whether a column can skip the cell rules: numeric already and every float finite (a NaN
    or an infinity takes the cell path, where the rules say what it means)."""
    return not needing_number_rules(frame, [name])


def needing_number_rules(frame: pl.DataFrame, names: Sequence[str]) -> list[str]:
    """Of ``names``, the columns that must be read cell by cell: not numeric, or a float
    column holding a NaN or an infinity (one pass over the frame for all of them)."""
    pending = [n for n in names if not arrived_as(frame, n, *NUMBERS)]
    floats = [n for n in names if n not in pending and frame.schema[n].is_float()]
    if floats and frame.height:
        finite = frame.select([pl.col(n).is_finite().fill_null(True).all().alias(n)
                               for n in floats]).row(0, named=True)
        pending += [n for n, ok in finite.items() if not ok]
    return [n for n in names if n in pending]


NUMBERS = (pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8, pl.UInt64, pl.UInt32,
           pl.UInt16, pl.UInt8, pl.Decimal)
