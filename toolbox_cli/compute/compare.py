"""Two copies of a table compared by key, column by column (``toolbox compare``).

The shape of the answer follows what users of dbt's audit-helper (``compare_relations``,
``compare_column_values``) and datafold's data-diff ask for: first the counts (rows matched,
only on the left, only on the right; per column the number of differing cells), then a
few examples (the key and both values).

The rules, one per kind of column, applied to both frames as Polars expressions (no Python
per row):

- the frames are joined on the key; a NULL in a key column matches a NULL (a new-client row
  of ``nuevos_clientes_nuevos_pagadores`` has no payer). When a key repeats in either
  frame, its rows are paired in the order of their other columns, and the result says so;
- a number is compared on its stored scale (the column's DECIMAL places, half away from
  zero): ``1.004`` and ``1.00`` are equal in a ``DECIMAL(…, 2)``; ``tolerance`` is how far
  two amounts (the money columns) may be apart and still count as equal;
- a text is compared exactly: a different case or a trailing space is a difference;
- a NULL against a value is a difference; two NULLs are equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

OCCURRENCE = "__occurrence"
_RIGHT = "__right"


@dataclass
class ColumnDiff:
    name: str
    differing: int
    examples: list[dict[str, Any]] = field(default_factory=list)  # key, left, right


@dataclass
class TableDiff:
    """The comparison of one table: ``left`` is the toolbox's, ``right`` the other one."""

    table: str
    right_table: str
    key: tuple[str, ...]
    left_rows: int = 0
    right_rows: int = 0
    matched: int = 0
    only_left: int = 0
    only_right: int = 0
    only_left_examples: list[dict[str, Any]] = field(default_factory=list)
    only_right_examples: list[dict[str, Any]] = field(default_factory=list)
    columns: list[ColumnDiff] = field(default_factory=list)  # every column compared
    repeated_keys: bool = False  # rows of a repeated key paired in order
    notes: list[str] = field(default_factory=list)  # columns not compared, and why

    @property
    def differing_columns(self) -> list[ColumnDiff]:
        return [c for c in self.columns if c.differing]

    @property
    def equal(self) -> bool:
        return not (self.only_left or self.only_right or self.differing_columns)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "against_table": self.right_table, "key": list(self.key),
            "equal": self.equal, "rows_left": self.left_rows, "rows_right": self.right_rows,
            "matched": self.matched, "only_left": self.only_left, "only_right": self.only_right,
            "only_left_examples": self.only_left_examples,
            "only_right_examples": self.only_right_examples,
            "repeated_keys_paired_in_order": self.repeated_keys,
            "columns": {c.name: {"differing": c.differing, "examples": c.examples}
                        for c in self.columns},
            "notes": self.notes,
        }


def _with_occurrence(frame: pl.DataFrame, key: Sequence[str], others: Sequence[str]
                     ) -> pl.DataFrame:
    """``frame`` with the number of each row among the rows of its key, counted in the
    order of the other columns (so both sides pair a repeated key's rows the same way)."""
    ordered = frame.sort([*key, *others], nulls_last=True)
    return ordered.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over(key)
                                .alias(OCCURRENCE))


def _repeats(frame: pl.DataFrame, key: Sequence[str]) -> bool:
    return frame.height > 0 and frame.select(pl.struct(key).is_duplicated().any()).item()


def _differs(name: str, dtype: pl.DataType, scale: int | None, tolerance: float) -> pl.Expr:
    left, right = pl.col(name), pl.col(f"{name}{_RIGHT}")
    null_mismatch = left.is_null() != right.is_null()
    if dtype.is_numeric():
        if scale is not None:
            left, right = _on_scale(left, scale), _on_scale(right, scale)
            # Half a unit of the last place below the tolerance absorbs the floats' error.
            apart = (left - right).abs() > tolerance + 0.5 * 10.0 ** -(scale + 2)
        else:
            apart = left != right
        return null_mismatch | apart.fill_null(False)
    return null_mismatch | (left != right).fill_null(False)


def _on_scale(value: pl.Expr, scale: int) -> pl.Expr:
    """``value`` rounded to ``scale`` places, half away from zero (as DECIMAL stores it)."""
    factor = 10.0 ** scale
    shifted = value.cast(pl.Float64) * factor
    return shifted.abs().add(0.5 + 1e-9).floor().mul(shifted.sign()) / factor


def compare_frames(left: pl.DataFrame, right: pl.DataFrame, *, table: str, right_table: str,
                   key: Sequence[str], scales: Mapping[str, int | None],
                   amounts: Sequence[str] = (), tolerance: float = 0.0, examples: int = 5,
                   ) -> TableDiff:
    """Compare the columns both frames have (``scales``: each numeric column's stored
    decimal places, None for a whole or floating number; ``amounts``: the columns
    ``tolerance`` applies to)."""
    key = tuple(key)
    result = TableDiff(table, right_table, key, left_rows=left.height, right_rows=right.height)
    compared = [c for c in left.columns if c in right.columns and c not in key]
    for name in left.columns:
        if name not in right.columns and name not in key:
            result.notes.append(f"{name}: only in {table}")
    for name in right.columns:
        if name not in left.columns:
            result.notes.append(f"{name}: only in {right_table}")
    left, right = left.select(*key, *compared), right.select(*key, *compared)
    for name in compared:  # one type per column on both sides (a legacy INT against BIGINT)
        if left.schema[name] != right.schema[name]:
            right = right.with_columns(pl.col(name).cast(left.schema[name], strict=False))
    join_on = list(key)
    if _repeats(left, key) or _repeats(right, key):
        result.repeated_keys = True
        left = _with_occurrence(left, key, compared)
        right = _with_occurrence(right, key, compared)
        join_on.append(OCCURRENCE)
    joined = (left.with_columns(pl.lit(True).alias("__in_left"))
              .join(right.rename({c: f"{c}{_RIGHT}" for c in compared})
                    .with_columns(pl.lit(True).alias("__in_right")),
                    on=join_on, how="full", coalesce=True, nulls_equal=True))
    in_left, in_right = pl.col("__in_left").fill_null(False), pl.col("__in_right").fill_null(False)
    only_left = joined.filter(in_left & ~in_right)
    only_right = joined.filter(~in_left & in_right)
    both = joined.filter(in_left & in_right)
    result.matched, result.only_left, result.only_right = \
        both.height, only_left.height, only_right.height
    result.only_left_examples = _keys(only_left.head(examples), key)
    result.only_right_examples = _keys(only_right.head(examples), key)
    if not compared:
        return result
    flags = both.with_columns(
        _differs(c, left.schema[c], scales.get(c), tolerance if c in amounts else 0.0)
        .alias(f"__differs_{c}") for c in compared)
    counts = flags.select(pl.col(f"__differs_{c}").sum().alias(c) for c in compared
                          ).row(0, named=True)
    for name in compared:
        diff = ColumnDiff(name, int(counts[name] or 0))
        if diff.differing:
            sample = flags.filter(pl.col(f"__differs_{name}")).head(examples)
            diff.examples = [{"key": _key_of(row, key), "left": row[name],
                              "right": row[f"{name}{_RIGHT}"]}
                             for row in sample.iter_rows(named=True)]
        result.columns.append(diff)
    return result


def _key_of(row: Mapping[str, Any], key: Sequence[str]) -> dict[str, Any]:
    return {k: row[k] for k in key}


def _keys(frame: pl.DataFrame, key: Sequence[str]) -> list[dict[str, Any]]:
    return [_key_of(row, key) for row in frame.select(*key).iter_rows(named=True)]
