"""Rules for a value typed as text, in plain Python (no Polars): the command line's date
options use them too, so they stay cheap to import.

Each rule takes the text of one cell and returns its value, or raises ``ValueError(reason)``
with a reason written for the person who fixes the file (the caller says where: the
imports prefix ``FILE:LINE: column:``). They are *strict*: a value they cannot read for
certain is an error, never a guess and never a silent 0. The frame jobs read legacy rows
with the *lenient* rules of ``compute.cells``; where both exist the pair is named below.
RUCs have a module of their own (``compute.ruc``), spellings too (``compute.spellings``).

=======================  ==================================================================
``fold``                 comparison key of a text: no accents, case-folded (MySQL's collation)
``required_text``        trimmed, non-empty (``optional_text``: blank → None;
                         ``blank_text``: blank → ``""``; ``cells.to_text`` differs on ``null``)
``text_date``            ``dd/mm/YYYY`` or ISO; ``cells.sheet_date`` reads text with it
``required_date``        a text date, blank an error (``optional_date``: blank → None;
                         ``cells.sheet_date`` also reads ``-`` and ``No Aplica`` as None)
``strict_sheet_number``  ``1,234.50``, ``-7``, ``90%``; refuses ``1,5`` (the lenient
                         twin is ``cells.number_or_none``)
``required_number``      a strict number; blank is an error
``strict_number_or``     blank-like cells → a default, others strict numbers
``stored_rate``          an exchange rate at tipo_cambio's scale (``rate_problem``: why not)
=======================  ==================================================================
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class NotARealDate(ValueError):
    """A date in a valid format whose day or month does not exist (``2024-02-30``)."""


_TEXT_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TEXT_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?")


# ---------------------------------------------------------------- texts


def fold(text: str) -> str:
    """Comparison key: no accents, case-folded, trimmed.

    Used for header matching and for duplicate keys, because MySQL's default collation
    compares ``María`` and ``MARIA`` as equal: two rows the database would see as one key
    must be one key here too, or the insert fails on MariaDB only.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold().strip()


def required_text(text: str) -> str:
    """Trimmed text; a blank cell is an error (a key or a mandatory name)."""
    s = text.strip()
    if not s:
        raise ValueError("empty; a value is required")
    return s


def optional_text(text: str) -> str | None:
    """Trimmed text; a blank cell is None (stored as NULL)."""
    return text.strip() or None


def blank_text(text: str) -> str:
    """Text kept as written (trimmed); a blank cell stays ``""`` as in the legacy sheets.

    Unlike ``cells.to_text`` (payment/refund rows from the database), ``null`` and ``nan``
    are kept as the words they are: in a sheet they were typed by someone."""
    return text.strip()


# ---------------------------------------------------------------- dates


def text_date(text: str) -> date:
    """A date typed as text: ``dd/mm/YYYY`` (the sheets' format) or ISO
    ``YYYY-MM-DD[Thh:mm...]``, never guessed (imports, the rate provider's answers, the
    command line's options; ``cells.sheet_date`` reads text cells with it)."""
    s = text.strip()
    if m := _TEXT_DMY.fullmatch(s):
        day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := _TEXT_ISO.fullmatch(s):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        raise ValueError(f"{text!r} is not a date; write dd/mm/YYYY or YYYY-MM-DD")
    try:
        return date(year, month, day)
    except ValueError:
        raise NotARealDate(f"{text!r} is not a real date (day/month out of range)") from None


def required_date(text: str) -> date:
    """A ``text_date``; a blank cell is an error."""
    if not text.strip():
        raise ValueError("empty; a date is required")
    return text_date(text)


def optional_date(text: str) -> date | None:
    """A ``text_date``; only a blank cell is None.

    Strict twin of ``cells.sheet_date``, which also reads ``-`` and ``No Aplica`` as no
    date in legacy rows: in an imported sheet those are errors to fix."""
    return text_date(text) if text.strip() else None


# ---------------------------------------------------------------- numbers

_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


def strict_sheet_number(text: str) -> Decimal:
    """A number as a spreadsheet writes it: ``1,234.50``, ``-7``, ``0.015``, ``90%`` (= 0.9).

    The imports' rule (reportes §2.4, §3.8): a comma only as a thousands separator in
    groups of three, so ``1,5`` and ``1.234,50`` are refused with the fix to make, as are
    accounting negatives ``(5.00)`` and currency symbols. Not the KPI's rule: the lenient
    ``cells.number_or_none`` reads legacy database rows, drops every comma and returns None
    for what it cannot read."""
    s = text.strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    if _PLAIN_NUMBER.fullmatch(s) or _GROUPED_NUMBER.fullmatch(s):
        try:
            value = Decimal(s.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the patterns only admit valid text
            raise ValueError(f"{text!r} is not a number") from None
        return value / 100 if percent else value
    if _DECIMAL_COMMA.fullmatch(s):
        raise ValueError(
            f"{text!r} uses a comma as decimal separator; write {s.replace(',', '.')}"
        )
    if s.startswith("(") and s.endswith(")"):
        raise ValueError(f"{text!r} is an accounting negative; write -{s[1:-1]}")
    if re.search(r"[A-Za-z$/]", s) and re.search(r"\d", s):
        raise ValueError(f"{text!r} is not a number; remove currency symbols and text")
    raise ValueError(f"{text!r} is not a number")


def required_number(text: str) -> Decimal:
    """A ``strict_sheet_number``; a blank cell is an error."""
    if not text.strip():
        raise ValueError("empty; a number is required")
    return strict_sheet_number(text)


def strict_number_or(default: Decimal | None,
                     blanks: tuple[str, ...] = ("", "-")) -> Callable[[str], Decimal | None]:
    """A rule: blank-like cells (the ``blanks`` of the kind's spec) → ``default``; anything
    else must be a ``strict_sheet_number``.

    Not ``cells.number_or_none``: that lenient rule also turns unreadable text into None;
    here ``x`` is an error even when ``default`` is None."""

    def parse(text: str) -> Decimal | None:
        return default if text.strip() in blanks else strict_sheet_number(text)

    return parse


# ---------------------------------------------------------------- exchange rates

RATE_QUANTUM = Decimal("0.000001")  # tipo_cambio's scale (6 decimals, decisions 12)


def rate_problem(value: Decimal) -> str | None:
    """Why ``value`` is not a plausible PEN per USD rate (0 < rate < 100; a thousands comma
    read as ``3,710`` is not one), or None. Imports and the rate provider's answers alike."""
    if not value.is_finite() or value <= 0:
        return "must be greater than 0"
    if value >= 100:
        return "is not a plausible PEN/USD rate"
    return None


def stored_rate(value: Decimal) -> Decimal:
    """A rate as ``tipo_cambio`` keeps it: half-up to 6 decimals."""
    return value.quantize(RATE_QUANTUM, ROUND_HALF_UP)
