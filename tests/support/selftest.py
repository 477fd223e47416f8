"""Throw-away datamart tables for the tests of the shared mechanism (writer, runner), and rows
for them, as frames a task hands the writer."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from sqlalchemy import Column, Integer, String, Table, text

from toolbox_cli.storage.tables import datamart_metadata
from toolbox_cli.storage.tables.metadata import Money

selftest_items = Table(
    "selftest_items",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False),
    Column("amount", Money),
)


selftest_other = Table(
    "selftest_other",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False),
)


def items(n: int, prefix: str = "new") -> list[dict]:
    return [{"name": f"{prefix}{i}", "amount": i + 0.005} for i in range(n)]


def names(engine, table: str = "selftest_items") -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT name FROM {table} ORDER BY id"))]


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()}
                         for r in rows], infer_schema_length=None)


def frames(rows, chunk_size: int = 3):  # type: ignore[no-untyped-def]
    """Row dicts as the frames a task hands the writer, ``chunk_size`` rows each."""
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == chunk_size:
            yield frame(chunk)
            chunk = []
    if chunk:
        yield frame(chunk)
