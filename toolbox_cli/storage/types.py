"""Column types shared by every table definition."""

from __future__ import annotations

from sqlalchemy import Numeric, String, Text

# Money is exact: DECIMAL(18,2), never FLOAT (FLOAT loses cents above 10 000).
Money = Numeric(18, 2)
# Rates, percentages and exchange rates keep 6 decimals.
Rate = Numeric(18, 6)
Code = String(40)
Ruc = String(20)
Name = String(200)
ShortText = String(100)
LongText = Text
