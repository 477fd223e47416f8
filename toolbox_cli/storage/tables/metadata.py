"""The two schemas every table belongs to, and the column types they share.

``source_metadata`` holds the source contract (what the jobs read, in the source database),
``datamart_metadata`` the ledger and the datamart tables (in the datamart database). Every
table module of this package defines its tables on one of them; the package imports every
module itself (``__init__.py``), so the schemas are complete whoever imports what.
"""

from __future__ import annotations

from sqlalchemy import MetaData, Numeric, String, Text

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
