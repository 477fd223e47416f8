"""``toolbox compare``: the toolbox's tables against the same tables in another database
(the legacy's datamart, before the cut-over), read as frames and compared by
``compute.compare``.

Which tables: by default every datamart table a task writes; ``--table`` picks some, by
the toolbox's name or the legacy's (decision 24: ``CXCPagosFact`` is ``cxc_pagos_fact``),
and may name any table a task writes. On the other side a table is looked for under the
toolbox's name, then under the legacy's.

Which rows match: each table's key from the registry (``info["key"]``); a table without one
is matched on its unique columns, else on its primary key unless that is a number the
database counts (``id``), else on all its columns, and the result says which. A surrogate
``id`` is never compared: each system numbers its rows its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Integer, MetaData, Numeric, Table, inspect
from sqlalchemy.engine import Engine

from toolbox_cli.compute.compare import TableDiff, compare_frames
from toolbox_cli.errors import InputError, did_you_mean
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.frames import read_table
from toolbox_cli.storage.sources import iter_table_chunks
from toolbox_cli.storage.tables import datamart_metadata, source_metadata
from toolbox_cli.storage.tables.metadata import is_amount

READ_CHUNK = 100_000  # rows per keyset chunk on SQLite (its driver hands Python tuples)


@dataclass(frozen=True)
class Compared:
    """A table to compare and how its rows are matched."""

    table: Table
    key: tuple[str, ...]
    how: str  # how the key was chosen, for the notes

    @property
    def legacy_name(self) -> str | None:
        name = self.table.info.get("legacy_name")
        return str(name) if name else None


def resolve(names: Sequence[str], written: Iterable[str]) -> list[Compared]:
    """The tables ``names`` (toolbox or legacy names) among ``written``, the tables the
    tasks write; none named: the datamart tables among them, what the dashboards read. A
    name that is none of them is an ``InputError`` naming the valid choices."""
    metadata = {**source_metadata.tables, **datamart_metadata.tables}
    tables = {name: metadata[name] for name in written}
    default = sorted(n for n in tables if n in datamart_metadata.tables)
    by_legacy = {str(t.info["legacy_name"]): n for n, t in tables.items()
                 if t.info.get("legacy_name")}
    chosen: list[str] = []
    for name in names or default:
        real = name if name in tables else by_legacy.get(name)
        if real is None:
            hint = did_you_mean(name, [*tables, *by_legacy])
            raise InputError(f"no table {name!r} to compare{hint}; choose from "
                             f"{', '.join(sorted(tables))} (or the legacy's "
                             f"{', '.join(sorted(by_legacy))})")
        if real not in chosen:
            chosen.append(real)
    return [matched_on(tables[n]) for n in chosen]


def _surrogate(table: Table) -> list[str]:
    """The primary key the database numbers (``id``), which is never compared."""
    pk = list(table.primary_key.columns)
    if len(pk) == 1 and isinstance(pk[0].type, Integer) and pk[0].autoincrement is True:
        return [pk[0].name]
    return []


def matched_on(table: Table) -> Compared:
    if key := table.info.get("key"):
        return Compared(table, tuple(key), "its key")
    for constraint in table.constraints:
        columns = [c.name for c in getattr(constraint, "columns", [])]
        if columns and constraint.__class__.__name__ == "UniqueConstraint":
            return Compared(table, tuple(columns), "its unique columns")
    unique = [c.name for c in table.columns if c.unique]
    if unique:
        return Compared(table, tuple(unique[:1]), "its unique column")
    surrogate = _surrogate(table)
    pk = [c.name for c in table.primary_key.columns]
    if pk and not surrogate:
        return Compared(table, tuple(pk), "its primary key")
    return Compared(table, tuple(c.name for c in table.columns if c.name not in surrogate),
                    "all its columns (it has no key)")


def other_name(engine: Engine, compared: Compared) -> str | None:
    """The table's name in the other database: the toolbox's, else the legacy's."""
    names = set(inspect(engine).get_table_names()) | set(inspect(engine).get_view_names())
    for name in (compared.table.name, compared.legacy_name):
        if name and name in names:
            return name
    return None


def read_whole(engine: Engine, table: Table, names: Sequence[str]) -> pl.DataFrame:
    """Columns ``names`` of the whole table as one frame: on SQLite in keyset chunks of its
    numbered key (a million rows fetched at once are a million Python tuples), on
    MySQL/MariaDB in one read (connectorx hands Arrow)."""
    surrogate = _surrogate(table)
    if engine.dialect.name == "sqlite" and surrogate:
        id_ = surrogate[0]
        parts = list(iter_table_chunks(engine, table, [*names, *([id_] if id_ not in names
                                                                  else [])], id_, READ_CHUNK))
        if not parts:
            return read_table(engine, table, names)
        return pl.concat(parts).select(names)
    return read_table(engine, table, names)


def compare_table(left: Engine, right: Engine, compared: Compared, *, tolerance: float,
                  examples: int) -> TableDiff | str:
    """The comparison of one table, or why it cannot be compared (one line)."""
    table = compared.table
    name = other_name(right, compared)
    if name is None:
        also = f" nor {compared.legacy_name}" if compared.legacy_name else ""
        return f"the other database has no table {table.name}{also}"
    surrogate = set(_surrogate(table)) - set(compared.key)
    theirs = {c["name"] for c in inspect(right).get_columns(name)}
    ours = [c.name for c in table.columns if c.name not in surrogate]
    missing_key = [k for k in compared.key if k not in theirs]
    if missing_key:
        return f"{name} in the other database has no {', '.join(missing_key)} to match rows on"
    common = [c for c in ours if c in theirs]
    mine = read_whole(left, table, ours)
    other_table = table.to_metadata(MetaData(), name=name)
    other = read_whole(right, other_table, common)
    scales = {c.name: _scale(c) for c in table.columns}
    amounts = [c.name for c in table.columns if is_amount(c)]
    result = compare_frames(mine, other, table=table.name, right_table=name, key=compared.key,
                            scales=scales, amounts=amounts, tolerance=tolerance,
                            examples=examples)
    result.notes[:0] = [f"rows matched on {', '.join(compared.key)} ({compared.how})"]
    if surrogate:
        result.notes.append(f"{', '.join(sorted(surrogate))}: numbered by each database, "
                            "not compared")
    result.notes += [f"{c}: only in {name}" for c in sorted(theirs - set(ours) - surrogate)]
    return result


def _scale(column: object) -> int | None:
    kind = getattr(column, "type", None)
    if isinstance(kind, Numeric) and not isinstance(kind, Integer):
        return getattr(kind, "scale", None)
    return None


def compare_tables(engines: Engines, right: Engine, tables: Iterable[Compared], *,
                   tolerance: float = 0.0, examples: int = 5) -> list[TableDiff | tuple[str, str]]:
    """Each table's comparison, or (its name, why it could not be compared)."""
    out: list[TableDiff | tuple[str, str]] = []
    for compared in tables:
        left = engines.datamart if compared.table.name in datamart_metadata.tables \
            else engines.source
        result = compare_table(left, right, compared, tolerance=tolerance, examples=examples)
        out.append((compared.table.name, result) if isinstance(result, str) else result)
    return out
