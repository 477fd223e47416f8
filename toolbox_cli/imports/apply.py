"""Writing a validated file to its table, in one transaction, by the import's mode.

How the file meets the stored rows: ``merge`` by the kind's key (new keys added, same keys
replaced, other stored rows kept); ``add`` new keys only (tipo-cambio: a stored rate is
kept and a different one reported); ``overwrite`` (tipo-cambio ``--overwrite``: a merge);
``sheet`` (fuera-sistema: the file's sheet replaced, the other kept); ``replace`` (the
whole table, after the run's shrink guard). Keys compare as the database does (``fold``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from typing import Any

from sqlalchemy import Integer, Numeric, Table, delete, func, insert, select, tuple_
from sqlalchemy.engine import Connection, Engine

from toolbox_cli.compute.text import fold
from toolbox_cli.errors import InputError
from toolbox_cli.imports.kinds import Kind, get_kind, rates_as_stored
from toolbox_cli.imports.rows import ParsedFile

# How an import meets the rows already stored (``toolbox import --help``):
MERGE = "merge"  # by key: new keys added, same keys replaced, the other stored rows kept
ADD = "add"  # new keys only: a stored key keeps its values (exchange rates, by default)
OVERWRITE = "overwrite"  # tipo-cambio --overwrite: a merge that corrects stored rates
SHEET = "sheet"  # fuera-sistema: the file's sheet (PEN or USD) replaced, the other kept
REPLACE = "replace"  # --replace: the whole table, guarded like a datamart swap


def import_mode(kind: Kind, *, replace: bool = False, overwrite: bool = False) -> str:
    if replace and overwrite:
        raise InputError("--replace and --overwrite exclude each other; pick one")
    if overwrite:
        if kind.name != "tipo-cambio":
            raise InputError("--overwrite only applies to: toolbox import tipo-cambio FILE "
                             f"(a {kind.name} import already replaces rows with the same key)")
        return OVERWRITE
    if replace:
        if kind.default_mode == SHEET:
            raise InputError("--replace does not apply to fuera-sistema: an import always "
                             "replaces its own sheet (PEN or USD) and keeps the other")
        return REPLACE
    return kind.default_mode


@dataclass
class ImportResult:
    kind: str
    file: str
    table: str
    mode: str
    rows_read: int  # data rows in the file
    written: int = 0  # rows written to the table
    added: int = 0  # file rows whose key was not stored
    replaced: int = 0  # stored rows replaced (same key; or every previous row with --replace)
    kept: int = 0  # stored rows left as they were
    duplicates: int = 0  # file rows superseded by a later row with the same key
    skipped: int = 0  # rows dropped by a spec rule (fuera-sistema without RUC)
    unchanged: int = 0  # add mode: keys already stored with the same values
    conflicts: int = 0  # add mode: keys stored with other values (kept, not overwritten)
    hoja: str | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    encoding: str = "utf-8"  # the codec that read the file (cp1252 when detected)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _rounded(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Numeric values rounded half-up to their column's scale, once, before writing."""
    scales = {c.name: Decimal(1).scaleb(-c.type.scale) for c in table.columns
              if isinstance(c.type, Numeric) and not isinstance(c.type, Integer)
              and c.type.scale is not None}
    out = []
    for row in rows:
        row = dict(row)
        for name, quantum in scales.items():
            if isinstance(row.get(name), Decimal):
                row[name] = row[name].quantize(quantum, rounding=ROUND_HALF_UP)
        out.append(row)
    return out


def _key(kind: Kind, row: Any) -> tuple[Any, ...]:
    """A row's key as the database compares it: texts folded (MySQL's collation ignores
    case and accents), so two spellings of one key are one key on both backends."""
    return tuple(fold(v) if isinstance(v, str) else v for v in (row[c] for c in kind.key))


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]], chunk_size: int) -> None:
    for chunk in _chunks(_rounded(table, rows), chunk_size):
        conn.execute(insert(table), chunk)


def _delete_rows(conn: Connection, table: Table, pks: list[tuple[Any, ...]]) -> None:
    """Delete stored rows by primary key (as read, so the match is exact on both backends)."""
    pk_cols = list(table.primary_key.columns)
    for chunk in _chunks(pks, 500):
        if len(pk_cols) == 1:
            conn.execute(delete(table).where(pk_cols[0].in_([pk[0] for pk in chunk])))
        else:
            conn.execute(delete(table).where(tuple_(*pk_cols).in_(chunk)))


def _merge(conn: Connection, kind: Kind, parsed: ParsedFile, result: ImportResult, *,
           chunk_size: int, dry_run: bool) -> None:
    """Merge (or, in add mode, only add) the file's rows by the kind's key."""
    table = kind.table
    pk_cols = list(table.primary_key.columns)
    stored: dict[tuple[Any, ...], list[Any]] = {}
    for row in conn.execute(select(table)).mappings():
        stored.setdefault(_key(kind, row), []).append(row)
    incoming = [row for row in parsed.rows if _key(kind, row) not in stored]
    result.added = len(incoming)
    matched = {_key(kind, row) for row in parsed.rows} & stored.keys()
    write: list[dict[str, Any]] = []
    remove: list[tuple[Any, ...]] = []
    if result.mode == ADD:
        _compare_rates(parsed, stored, matched, result)
        write = incoming
    else:
        for new in _rounded(table, _keeping_absent(parsed, stored, kind, result)):
            old = stored.get(_key(kind, new), [])
            if len(old) == 1 and all(old[0][c] == v for c, v in new.items()):
                result.unchanged += 1  # the same row again: kept as it is
                continue
            write.append(new)
            remove += [tuple(r[c.name] for c in pk_cols) for r in old]
    result.replaced = len(remove)
    result.kept = sum(len(rows) for rows in stored.values()) - len(remove)
    result.written = len(write)
    if not dry_run:
        _delete_rows(conn, table, remove)
        _insert(conn, table, write, chunk_size)


def _keeping_absent(parsed: ParsedFile, stored: dict[tuple[Any, ...], list[Any]],
                    kind: Kind, result: ImportResult) -> list[dict[str, Any]]:
    """The file's rows; where the file lacks an optional column, a row that replaces a
    stored one keeps that stored value (a new row has none). The report says so."""
    if not parsed.absent_columns:
        return parsed.rows
    out = []
    for row in parsed.rows:
        old = stored.get(_key(kind, row))
        out.append({**row, **{c: old[0][c] for c in parsed.absent_columns}} if old else row)
    names = ", ".join(parsed.absent_columns)
    result.warnings.append(f"{parsed.label}: no column for {names}: the stored {names} of the "
                           "rows it replaces are kept")
    return out


def _compare_rates(parsed: ParsedFile, stored: dict[tuple[Any, ...], list[Any]],
                   matched: set[tuple[Any, ...]], result: ImportResult) -> None:
    """Add mode (exchange rates): a stored date keeps its rates; a different rate in the file
    is reported, and ``--overwrite`` is the way to correct it."""
    for row in sorted(parsed.rows, key=lambda r: r["TipoCambioFecha"]):
        key = (row["TipoCambioFecha"],)
        if key not in matched:
            continue
        old, new = rates_as_stored(stored[key][0]), rates_as_stored(row)
        if old == new:
            result.unchanged += 1
            continue
        result.conflicts += 1
        if result.conflicts <= 10:
            result.warnings.append(
                f"{parsed.label}: {key[0]}: stored rates {old[0]}/{old[1]} kept; the file says "
                f"{new[0]}/{new[1]} (use --overwrite to correct stored rates)"
            )


def _replace(conn: Connection, kind: Kind, parsed: ParsedFile, result: ImportResult, *,
             chunk_size: int, dry_run: bool, check_shrink: Callable[[int, int], None]) -> None:
    """The whole table (--replace) or the file's sheet, after the shrink guard."""
    table = kind.table
    where = table.c.Hoja == parsed.hoja if result.mode == SHEET else None
    count_q = select(func.count()).select_from(table)
    previous = conn.execute(count_q if where is None else count_q.where(where)).scalar_one()
    check_shrink(previous, len(parsed.rows))
    result.added, result.replaced, result.written = len(parsed.rows), previous, len(parsed.rows)
    if result.mode == SHEET:
        result.kept = conn.execute(count_q.where(table.c.Hoja != parsed.hoja)).scalar_one()
    if not dry_run:
        conn.execute(delete(table) if where is None else delete(table).where(where))
        _insert(conn, table, parsed.rows, chunk_size)


def apply_import(engine: Engine, parsed: ParsedFile, *, mode: str | None = None,
                 dry_run: bool = False, chunk_size: int = 5000,
                 check_shrink: Callable[[int, int], None] = lambda live, new: None
                 ) -> ImportResult:
    """Write a validated file to its table in one transaction (or only count, with dry_run).

    ``check_shrink(live, new)`` is the run's guard for the modes that replace rows wholesale
    (``--replace``, a sheet): it raises to refuse."""
    kind = get_kind(parsed.kind)
    mode = mode or kind.default_mode
    result = ImportResult(parsed.kind, parsed.label, kind.table.name, mode, parsed.rows_read,
                          duplicates=parsed.duplicates, skipped=parsed.skipped,
                          hoja=parsed.hoja, dry_run=dry_run, warnings=list(parsed.warnings),
                          ignored_columns=list(parsed.ignored_columns),
                          encoding=parsed.encoding)
    with engine.begin() as conn:
        if mode in (REPLACE, SHEET):
            _replace(conn, kind, parsed, result, chunk_size=chunk_size, dry_run=dry_run,
                     check_shrink=check_shrink)
        else:
            _merge(conn, kind, parsed, result, chunk_size=chunk_size, dry_run=dry_run)
    return result
