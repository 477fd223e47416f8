"""Every rule about a RUC (a Peruvian taxpayer number), in one place, for every job and import.

- ``ruc_text``: the value stored, as written (``20123456789.0`` from a number cell →
  ``20123456789``); also the rule for a document number kept as text;
- ``ruc_digits`` / ``ruc_key``: the matching key, without the spaces and ``:`` of the legacy
  sheets (reportes §3.2, decisions 17): how a payer is looked up in ``sector_pagadores`` and
  compared between jobs; ``ruc_key`` is the same rule on a Polars column;
- ``required_ruc``: a RUC cell of an import: 11 digits once cleaned, stored as written;
- ``ruc_check_digit`` / ``ruc_digit_ok``: SUNAT's modulo-11 check digit (imports count the
  RUCs that fail it, they do not reject them).

Plain Python: the expression is built from the column it is given, so this module imports
no Polars and the command line may use it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

# The noise legacy sheets carry in a RUC (reportes §3.2).
RUC_NOISE = r"[\s:]"
_RUC_NOISE = re.compile(RUC_NOISE)
_RUC = re.compile(r"[0-9]{11}")
_RUC_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_SCIENTIFIC = re.compile(r"[\d.,]+[eE][+-]?\d+")
_FLOAT_INTEGER = re.compile(r"(\d+)\.0*")


def ruc_text(text: str) -> str:
    """A RUC (or document number) kept as text, as stored (reportes §2.4.2): a number
    cell's ``20123456789.0`` → ``20123456789``; scientific notation (digits already lost)
    and a blank cell are errors. The value as written, not the matching key (``ruc_digits``)."""
    s = text.strip()
    if not s:
        raise ValueError("empty")
    if _SCIENTIFIC.fullmatch(s):
        raise ValueError(
            f"{text!r} is in scientific notation and has lost digits; "
            "format the column as text in the spreadsheet and export again"
        )
    if m := _FLOAT_INTEGER.fullmatch(s):
        return m.group(1)
    return s


def ruc_digits(text: str) -> str:
    """The matching key of a RUC: without the spaces and ``:`` of the legacy sheets:
    ``20123 456789:`` → ``20123456789``."""
    return _RUC_NOISE.sub("", text)


def ruc_key(column: pl.Expr) -> pl.Expr:
    """``ruc_digits`` on a column of RUC texts: ``2022222 2222`` → ``20222222222``."""
    return column.str.replace_all(RUC_NOISE, "")


def required_ruc(text: str) -> str:
    """A RUC cell: ``ruc_text`` (the value stored, as written), which must be 11 digits
    once ``ruc_digits`` has removed its spaces and ``:``; anything else (10 digits, a letter)
    is an error. The check digit is not enforced here (``ruc_digit_ok``): the imports count
    the RUCs that fail it and say so, they do not reject them."""
    stored = ruc_text(text)
    if not _RUC.fullmatch(ruc_digits(stored)):
        raise ValueError(f"{text.strip()!r} is not a RUC: 11 digits expected")
    return stored


def ruc_check_digit(first_ten: str) -> str:
    """SUNAT's modulo-11 check digit of a RUC's first ten digits: weights 5,4,3,2,7,6,5,4,3,2,
    ``r = 11 - sum % 11``, and r = 10 → 0, r = 11 → 1. ``2010004721`` → ``8``."""
    if not re.fullmatch(r"[0-9]{10}", first_ten):
        raise ValueError(f"{first_ten!r}: ten digits expected")
    total = sum(int(d) * w for d, w in zip(first_ten, _RUC_WEIGHTS, strict=True))
    check = 11 - total % 11
    return str(check - 10 if check >= 10 else check)


def ruc_digit_ok(ruc: str) -> bool:
    """Whether an 11-digit RUC (spaces and ``:`` ignored) ends in its check digit; False for
    anything that is not 11 digits."""
    digits = ruc_digits(ruc)
    return bool(_RUC.fullmatch(digits)) and digits[10] == ruc_check_digit(digits[:10])
