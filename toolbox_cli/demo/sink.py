"""Where the demo rows go: per-table buffers written in chunks through executemany.

Every row of the book passes through ``Sink.add``; each table's buffer is flushed with one
``exec_driver_sql`` per CHUNK rows (the driver's executemany path, no per-row statement),
on the connection of the caller's transaction, so a failed seed writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

CHUNK = 5000


class Sink:
    """Per-table buffers flushed every CHUNK rows with one executemany each."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.buffers: dict[str, list[tuple[Any, ...]]] = {}
        self.encoders: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {}
        self.sql: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: Table, row: dict[str, Any]) -> None:
        name = table.name
        if name not in self.encoders:
            self._prepare(table)
        buf = self.buffers[name]
        buf.append(self.encoders[name](row))
        if len(buf) >= CHUNK:
            self._flush(name)

    def _prepare(self, table: Table) -> None:
        dialect = self.conn.dialect
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        names = [c.name for c in columns]
        # Only the columns whose type needs a bind processor on this dialect (dates on
        # SQLite, for instance) pay for a Python call per value.
        procs = [(i, p) for i, c in enumerate(columns)
                 if (p := c.type.bind_processor(dialect)) is not None]

        def encode(row: dict[str, Any]) -> tuple[Any, ...]:
            values = list(map(row.get, names))
            for i, proc in procs:
                if values[i] is not None:
                    values[i] = proc(values[i])
            return tuple(values)

        q = dialect.identifier_preparer.quote
        mark = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
        self.sql[table.name] = (
            f"INSERT INTO {q(table.name)} ({', '.join(q(n) for n in names)}) "
            f"VALUES ({', '.join([mark] * len(names))})"
        )
        self.encoders[table.name] = encode
        self.buffers[table.name] = []

    def _flush(self, name: str) -> None:
        buf = self.buffers[name]
        if buf:
            self.conn.exec_driver_sql(self.sql[name], buf)
            self.counts[name] = self.counts.get(name, 0) + len(buf)
            self.buffers[name] = []

    def flush_all(self) -> None:
        for name in list(self.buffers):
            self._flush(name)
