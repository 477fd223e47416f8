"""A table's content as one digest: the same rows, in any physical order, give the same
digest; a changed value, an added, removed or swapped row gives another.

The rows are read through the source readers (``frames.read_table``) in primary-key order,
in chunks of ``chunk_size``, and written as CSV text into one SHA-256, so memory stays flat
however large the table. ``demo`` records the digests of what it wrote and compares them
before it replaces anything again.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Table, tuple_
from sqlalchemy.engine import Engine

from toolbox_cli.storage.frames import read_table


def table_digest(engine: Engine, table: Table, chunk_size: int = 50_000) -> str:
    """``sha256:`` and the hex digest of every row of ``table`` (every column, the key too)."""
    names = [c.name for c in table.columns]
    key = [c for c in table.primary_key.columns]
    digest = hashlib.sha256()
    last: tuple[Any, ...] | None = None
    while True:
        where = [tuple_(*key) > tuple_(*last)] if last is not None else []
        frame = read_table(engine, table, names, where=where, order_by=key, limit=chunk_size,
                           key=key[0].name)
        digest.update(frame.write_csv(include_header=False).encode("utf-8"))
        if frame.height < chunk_size:
            return f"sha256:{digest.hexdigest()}"
        last = tuple(frame.row(-1, named=True)[c.name] for c in key)
