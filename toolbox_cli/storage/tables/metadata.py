"""The two schemas every table belongs to, and the column types they share.

``source_metadata`` holds the source contract (what the jobs read, in the source database),
``datamart_metadata`` the ledger and the datamart tables (in the datamart database). Every
table module of this package defines its tables on one of them; the package imports every
module itself (``__init__.py``), so the schemas are complete whoever imports what.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, MetaData, Numeric, String, Text

source_metadata = MetaData()
datamart_metadata = MetaData()

# Money is exact: DECIMAL(18,2), never FLOAT (FLOAT loses cents above 10 000).
Money = Numeric(18, 2)
# Rates, percentages and exchange rates keep 6 decimals.
Rate = Numeric(18, 6)
Code = String(40)
Ruc = String(20)
Name = String(200)
ShortText = String(100)
LongText = Text


def is_amount(column: Any) -> bool:
    """A money column (``Money``, DECIMAL(18, 2)): what ``compare --tolerance`` applies to
    and what ``export`` shows with thousands separators."""
    kind = column.type
    return isinstance(kind, Numeric) and not isinstance(kind, Float) \
        and (kind.precision, kind.scale) == (Money.precision, Money.scale)


def magnitude_limit(column: Any) -> float | None:
    """The smallest absolute value a DECIMAL(p, s) column cannot hold, 10**(p - s); None for
    a column of another type. The one rule of "too large for its column", for the source
    readers, the datamart writer and the imports."""
    kind = column.type
    if isinstance(kind, Numeric) and not isinstance(kind, Float) and kind.precision is not None:
        return float(10 ** (kind.precision - (kind.scale or 0)))
    return None


def too_large(column: Any, value: Any) -> str:
    """How to say that ``value`` does not fit ``column``."""
    kind = column.type
    digits = kind.precision - (kind.scale or 0)
    return (f"{value:g} is too large for {column.table.name}.{column.name}, a "
            f"DECIMAL({kind.precision},{kind.scale or 0}) (at most {digits} digits before the "
            "decimal point)")
