"""The datamart writer: replace whole tables atomically.

Each new table is built in a staging table (chunked multi-row inserts through the driver's
executemany path), and only when every table of the call is complete are they swapped in:
MySQL/MariaDB with one ``RENAME TABLE`` statement (atomic for all its pairs), SQLite with
DROP + ALTER TABLE ... RENAME inside one transaction. Readers see the old rows or the new
rows; a failed or killed run leaves the old tables as they were (at worst a staging table
is left behind, named ``<table>__stg_<tag>``, and dropped by the next run with that tag or
by ``drop_staging_tables``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from math import copysign
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import MetaData, Numeric, Table, inspect
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.engine.processors import to_float
from sqlalchemy.exc import DBAPIError

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.engine import is_mysql, load_table_modules
from toolbox_cli.storage.guard import ShrinkGuard
from toolbox_cli.storage.tables import datamart_metadata

Row = Mapping[str, Any]

log = logging.getLogger("toolbox")

# MySQL/MariaDB answers that mean "LOAD DATA LOCAL is not allowed here": fall back.
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 3950}
# Rows per LOAD DATA file: big enough to amortise the statement, small enough that the last
# load (the only one not overlapped with computing rows) is short.
LOAD_DATA_ROWS = 25_000
_NO_LOCAL_INFILE: set[str] = set()  # servers that refused LOAD DATA LOCAL in this process
_LOCAL_INFILE_OK: set[str] = set()  # servers that took it


def staging_name(table: str, tag: str) -> str:
    return f"{table}__stg_{tag}"


def _old_name(table: str, tag: str) -> str:
    return f"{table}__old_{tag}"


def datamart_table(name: str) -> Table:
    load_table_modules()
    try:
        return datamart_metadata.tables[name]
    except KeyError:
        raise TaskFailed(f"no datamart table named {name!r} is defined") from None


def _staging_copy(table: Table, name: str) -> Table:
    copy = table.to_metadata(MetaData(), name=name)
    # SQLite index names are global to the database: a copied index would clash with the live
    # table's. Datamart tables carry no secondary indexes, but be safe.
    copy.indexes.clear()
    return copy


# Relative error bound (with a wide safety factor) between a float scaled by 10**scale and
# the exact scaled value of its shortest decimal text: a few units of 2**-52.
_HALF_UP_MARGIN = 4e-15
_FACTORS = tuple(float(10**n) for n in range(19))  # exact powers of ten, scales 0..18


def half_up(value: float, scale: int) -> float | None:
    """``float(Decimal(repr(value)).quantize(10**-scale, ROUND_HALF_UP))``, or None.

    Decisions 12 round a float's shortest decimal text (its ``repr``) half-up. That text and
    ``value * 10**scale`` differ by a few units in the last binary place at most, so unless
    the scaled value lies within that distance of a half (a tie, or too close to call), both
    round the same way and the rounded value is an integer divided by 10**scale: a correctly
    rounded float division, the same float that ``float(Decimal)`` gives. The close calls,
    huge values and NaN/inf return None: the caller takes the Decimal route for those.
    """
    factor = _FACTORS[scale]
    scaled = (value if value >= 0.0 else -value) * factor
    if scaled < 1e15:  # also False for NaN and inf
        whole = int(scaled)
        rest = scaled - whole  # exact below 2**52
        margin = scaled * _HALF_UP_MARGIN
        if rest - 0.5 > margin:
            return copysign((whole + 1) / factor, value)  # copysign: -0.001 gives -0.0
        if 0.5 - rest > margin:
            return copysign(whole / factor, value)
    return None


class _RowEncoder:
    """Turns row dicts into tuples in column order, with Numeric rounded half-up once.

    Every column gets its converter once, here, so the per-value work is one call: floats in
    Numeric columns are rounded by ``half_up``, which gives the same value as the Decimal
    route at a fraction of its cost; other values (and its rare close calls) take the
    Decimal route.
    """

    def __init__(self, table: Table, dialect: Dialect) -> None:
        # The surrogate autoincrement key is left to the database.
        self.columns = [c for c in table.columns if c is not table.autoincrement_column]
        self.names = [c.name for c in self.columns]
        self.table_name = table.name
        self.steps: list[tuple[str, Decimal | None, Callable[[Any], Any] | None]] = []
        self._params: list[Callable[[Any], Any] | None] = []
        self._texts: list[Callable[[Any], str]] = []
        for col in self.columns:
            quantum = scale = None
            if isinstance(col.type, Numeric) and col.type.scale is not None:
                scale = col.type.scale
                quantum = Decimal(1).scaleb(-scale)
            process = col.type.bind_processor(dialect)
            self.steps.append((col.name, quantum, process))
            if quantum is None:
                self._params.append(process)
                self._texts.append(_tsv_for(col.type))
            else:
                self._params.append(self._numeric_param(col.name, scale, quantum, process))
                self._texts.append(self._numeric_text(col.name, scale, quantum))
        self._tabs = len(self.steps) - 1
        names = self.names
        self._get_all = itemgetter(*names) if len(names) > 1 else (lambda r: (r[names[0]],))
        self._plain = all(p is None for p in self._params)
        self._str_is_tsv = all(_python_type(c.type) in _STR_IS_TSV for c in self.columns)

    def _values(self, row: Row) -> tuple[Any, ...] | list[Any]:
        try:
            return self._get_all(row)
        except (KeyError, TypeError):  # a missing key is NULL
            return [row.get(name) for name in self.names]

    def encode(self, row: Row) -> tuple[Any, ...]:
        """Values ready for the driver's executemany."""
        values = self._values(row)
        if self._plain:
            return tuple(values)
        return tuple([v if p is None else p(v) for p, v in zip(self._params, values, strict=True)])

    def encode_tsv(self, row: Row) -> str:
        """One line of a LOAD DATA file (tab-separated, backslash escapes, \\N for NULL).

        The fast path is one C-level pass: every value as ``str()`` (a float's shortest
        text, ISO dates), NULL as ``\\N``. Amounts are sent unrounded and the server rounds
        them into their DECIMAL column, half away from zero on the exact decimal text: the
        same value decisions 12 asks of ``Decimal(repr(x)).quantize(ROUND_HALF_UP)`` (a test
        keeps both paths equal). Text almost never needs an escape, so the line is checked
        as a whole: exactly one tab per separator, one backslash per NULL marker, no newline,
        carriage return or NUL. A line that fails the check, or a table with a column type
        whose ``str()`` is not its LOAD DATA text, is built value by value instead (text
        escaped, amounts rounded here, NaN and infinities refused); either way the stored
        row is the same.
        """
        values = self._values(row)
        if self._str_is_tsv:
            line = "\t".join(map(str, map(_NULL_TSV, values, values)))
            # nan, inf, NaN, Inf: how str() spells a NaN or an infinity (float, Decimal);
            # such a line takes the slow path, which refuses the value naming its column
            # (so may a text that contains these letters). Written out, not a loop: this
            # runs for every row.
            if (line.count("\t") == self._tabs and line.count("\\") == values.count(None)
                    and "\n" not in line and "\r" not in line and "\0" not in line
                    and "nan" not in line and "inf" not in line
                    and "NaN" not in line and "Inf" not in line):
                return line + "\n"
        return "\t".join([f(v) for f, v in zip(self._texts, values, strict=True)]) + "\n"

    def _round(self, name: str, value: Any, quantum: Decimal) -> Decimal:
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise TaskFailed(f"{self.table_name}.{name}: {value} cannot be stored")
            value = Decimal(repr(value))
        elif not isinstance(value, Decimal):
            value = Decimal(value)
        if not value.is_finite():
            raise TaskFailed(f"{self.table_name}.{name}: {value} cannot be stored")
        return value.quantize(quantum, rounding=ROUND_HALF_UP)

    def _numeric_param(self, name: str, scale: int, quantum: Decimal,
                       process: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        round_ = self._round
        as_float = process is to_float  # SQLite: the driver gets float(rounded Decimal)
        fast = scale < len(_FACTORS)
        fmt = f"%.{scale}f"

        def param(value: Any) -> Any:
            if value is None:
                return None if process is None else process(None)
            if fast and value.__class__ is float:
                rounded = half_up(value, scale)
                if rounded is not None:
                    if as_float:
                        return rounded
                    exact = Decimal(fmt % rounded)
                    return exact if process is None else process(exact)
            exact = round_(name, value, quantum)
            return exact if process is None else process(exact)

        return param

    def _numeric_text(self, name: str, scale: int, quantum: Decimal) -> Callable[[Any], str]:
        round_ = self._round
        fast = scale < len(_FACTORS)
        fmt = f"%.{scale}f"  # the digits of str(Decimal) at this scale, '-0.00' included

        factor = _FACTORS[scale] if fast else 1.0
        margin = _HALF_UP_MARGIN

        def text(value: Any) -> str:
            kind = value.__class__
            if kind is float and fast:
                # half_up() inlined: this runs for every amount of every row.
                scaled = (value if value >= 0.0 else -value) * factor
                if scaled < 1e15:
                    whole = int(scaled)
                    rest = scaled - whole
                    if rest - 0.5 > scaled * margin:
                        return fmt % copysign((whole + 1) / factor, value)
                    if 0.5 - rest > scaled * margin:
                        return fmt % copysign(whole / factor, value)
            elif value is None:
                return "\\N"
            elif kind is Decimal and value.is_finite():
                return str(value.quantize(quantum, rounding=ROUND_HALF_UP))
            return str(round_(name, value, quantum))

        return text


# None → the NULL marker, anything else → itself (``_NULL_TSV(v, v)``, mapped in C).
_NULL_TSV = {None: "\\N"}.get
# Python types whose str() is their LOAD DATA text (bool, bytes and the rest are not).
_STR_IS_TSV = frozenset({str, int, float, Decimal, dt.date, dt.datetime})


def _python_type(type_: Any) -> type | None:
    try:
        return type_.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return None


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _tsv_for(type_: Any) -> Callable[[Any], str]:
    """``_tsv`` with the column's own type tried first (one class check, no isinstance chain)."""
    try:
        python_type = type_.python_type
    except NotImplementedError:
        return _tsv
    escapes = _TSV_ESCAPES
    if python_type is str:
        return lambda v: v.translate(escapes) if v.__class__ is str else _tsv(v)
    if python_type is dt.datetime:
        return lambda v: v.isoformat(" ") if v.__class__ is dt.datetime else _tsv(v)
    if python_type is dt.date:
        return lambda v: v.isoformat() if v.__class__ is dt.date else _tsv(v)
    if python_type is int:
        return lambda v: str(v) if v.__class__ is int else _tsv(v)
    return _tsv


def _tsv(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_TSV_ESCAPES)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise TaskFailed(f"{value} cannot be stored")
        return repr(value)
    return str(value)


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _insert_sql(conn: Connection, table_name: str, names: list[str]) -> str:
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(n) for n in names)
    marks = ", ".join(["%s"] * len(names)) if conn.dialect.paramstyle in ("format", "pyformat") \
        else ", ".join(["?"] * len(names))
    return f"INSERT INTO {prep.quote(table_name)} ({cols}) VALUES ({marks})"


def build_staging(
    engine: Engine,
    table: Table,
    rows: Iterable[Row],
    *,
    tag: str,
    chunk_size: int,
    check_alive: Callable[[], None] = lambda: None,
) -> int:
    """Create ``<table>__stg_<tag>`` and fill it; returns the row count."""
    staging = _staging_copy(table, staging_name(table.name, tag))
    staging.drop(engine, checkfirst=True)
    staging.create(engine)
    with engine.connect() as conn:
        encoder = _RowEncoder(table, conn.dialect)
        if bulk_load_available(engine):
            return _load_data_stream(conn, staging.name, encoder, rows, check_alive)
        sql = _insert_sql(conn, staging.name, encoder.names)
        count = 0
        for chunk in _chunks(rows, chunk_size):
            check_alive()
            if any(r.__class__ is EncodedRows for r in chunk):
                raise TaskFailed(f"{table.name}: rows encoded for LOAD DATA reached the INSERT "
                                 "path; ask bulk_load_available() before encoding")
            params = [encoder.encode(r) for r in chunk]
            with conn.begin():
                conn.exec_driver_sql(sql, params)
            count += len(params)
            pause_point("staging")
    return count


class EncodedRows(NamedTuple):
    """Rows already encoded as LOAD DATA lines (by ``tsv_encoder``), ``count`` of them.

    A row stream may carry these blocks instead of row dicts when ``bulk_load_available``
    said yes: worker processes encode in parallel and the writer only copies the text.
    """

    text: str
    count: int


def tsv_encoder(table_name: str, dialect: Dialect) -> Callable[[Row], str]:
    """The LOAD DATA line of one row of a datamart table (what the bulk path writes)."""
    return _RowEncoder(datamart_table(table_name), dialect).encode_tsv


def bulk_load_available(engine: Engine) -> bool:
    """Whether the writer will use LOAD DATA LOCAL on this database (MySQL/MariaDB that
    allow it). Probed once per server and process, with an empty file into a temporary
    table, before any row is consumed."""
    if not is_mysql(engine):
        return False
    key = str(engine.url)
    if key in _NO_LOCAL_INFILE:
        return False
    if key in _LOCAL_INFILE_OK:
        return True
    try:
        with engine.connect() as conn, tempfile.NamedTemporaryFile("w", suffix=".tsv") as empty:
            conn.exec_driver_sql("CREATE TEMPORARY TABLE toolbox_probe (x INT)")
            conn.exec_driver_sql(
                "LOAD DATA LOCAL INFILE %s INTO TABLE toolbox_probe (x)", (empty.name,))
            conn.exec_driver_sql("DROP TEMPORARY TABLE toolbox_probe")
    except DBAPIError as exc:
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if code not in _LOCAL_INFILE_REFUSED:
            raise
        log.info("LOAD DATA LOCAL refused (%s); using multi-row INSERT", code)
        _NO_LOCAL_INFILE.add(key)
        return False
    _LOCAL_INFILE_OK.add(key)
    return True


def _load_data_stream(conn: Connection, name: str, encoder: _RowEncoder, rows: Iterable[Row],
                      check_alive: Callable[[], None]) -> int:
    """The server's bulk path: rows go to a TSV file as they come, loaded every N rows.

    Only the file grows, never a list of rows, so memory stays flat whatever the table size.
    Two files take turns: while the server loads one (a worker thread waits on the socket,
    which releases the GIL), the next rows are computed and written to the other, so the
    server's work overlaps ours instead of adding to it. At most one load is in flight and
    it is always finished before the next starts, the staging pause point runs, or the
    connection is given back.
    """
    count = 0
    pending = 0
    in_flight: tuple[Future[None], int] | None = None

    def finish() -> None:
        nonlocal count, in_flight
        if in_flight is not None:
            future, size = in_flight
            in_flight = None
            future.result()  # re-raises a failed load here, in the task's thread
            count += size
            pause_point("staging")

    with ExitStack() as stack:
        files = [stack.enter_context(tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", newline="", suffix=".tsv")) for _ in range(2)]
        # Entered last, so it is shut down (waiting for a running load) before the files close.
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="toolbox-load"))
        current = 0

        def load() -> None:
            nonlocal in_flight, pending, current
            fh = files[current]
            fh.flush()
            check_alive()
            finish()
            in_flight = (pool.submit(_load_file, conn, name, encoder, fh.name, pending), pending)
            pending = 0
            current = 1 - current
            files[current].seek(0)
            files[current].truncate()

        write = files[current].file.write  # the file itself, not the wrapper's __getattr__
        encode = encoder.encode_tsv
        for row in rows:
            if row.__class__ is EncodedRows:
                write(row.text)
                pending += row.count
            else:
                write(encode(row))
                pending += 1
            if pending >= LOAD_DATA_ROWS:
                load()
                write = files[current].file.write
        if pending:
            load()
        finish()
    return count


def _load_file(conn: Connection, table_name: str, encoder: _RowEncoder, path: str, expected: int) -> None:
    q = conn.dialect.identifier_preparer.quote
    cols = ", ".join(q(n) for n in encoder.names)
    with conn.begin():
        # Notes (a value rounded to its column's scale: see encode_tsv) are not recorded;
        # warnings, which mean a value did not fit, still are.
        conn.exec_driver_sql("SET SESSION sql_notes = 0")
        result = conn.exec_driver_sql(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {q(table_name)} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({cols})",
            (path,),
        )
        loaded = result.rowcount
        # LOCAL turns data errors into warnings; a warning means a value did not fit.
        warning = conn.exec_driver_sql("SHOW WARNINGS LIMIT 1").first() if expected else None
        conn.exec_driver_sql("SET SESSION sql_notes = 1")
    if warning is not None:
        raise TaskFailed(f"{table_name}: bulk load rejected a value: {warning[2]}")
    if loaded != expected:
        raise TaskFailed(f"{table_name}: bulk load wrote {loaded} of {expected} rows")


def pause_point(phase: str) -> None:
    """Fault-injection hook for the crash tests: TOOLBOX_PAUSE_AT=<phase>:<seconds>.

    Announces the phase on stderr and sleeps, so a test can kill the process at an exact
    point of the write (staging, before_swap, after_swap). Does nothing when unset.
    """
    wanted = os.environ.get("TOOLBOX_PAUSE_AT", "")
    name, _, seconds = wanted.partition(":")
    if name == phase:
        print(f"toolbox-pause: {phase}", file=sys.stderr, flush=True)
        time.sleep(float(seconds or 30))


def swap_in(engine: Engine, names: list[str], *, tag: str, check_alive=lambda: None) -> None:
    """Swap every staging table in at once."""
    existing = set(inspect(engine).get_table_names())
    check_alive()
    pause_point("before_swap")
    if is_mysql(engine):
        q = engine.dialect.identifier_preparer.quote
        pairs: list[str] = []
        for name in names:
            if name in existing:
                pairs.append(f"{q(name)} TO {q(_old_name(name, tag))}")
            pairs.append(f"{q(staging_name(name, tag))} TO {q(name)}")
        with engine.connect() as conn:
            # One RENAME TABLE statement is atomic for all of its pairs.
            conn.exec_driver_sql("RENAME TABLE " + ", ".join(pairs))
            for name in names:
                if name in existing:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(_old_name(name, tag))}")
    else:
        q = engine.dialect.identifier_preparer.quote
        with engine.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}")
                conn.exec_driver_sql(f"ALTER TABLE {q(staging_name(name, tag))} RENAME TO {q(name)}")


def live_counts(engine: Engine, names: Iterable[str]) -> dict[str, int]:
    """Rows in each live table (0 for a table that does not exist yet)."""
    existing = set(inspect(engine).get_table_names())
    q = engine.dialect.identifier_preparer.quote
    counts = {}
    with engine.connect() as conn:
        for name in names:
            counts[name] = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {q(name)}").scalar_one()) \
                if name in existing else 0
    return counts


def replace_tables(
    engine: Engine,
    tables: Mapping[str, Iterable[Row]],
    *,
    tag: str,
    chunk_size: int = 5000,
    check_alive: Callable[[], None] = lambda: None,
    guard: ShrinkGuard | None = None,
) -> dict[str, int]:
    """Build every table in staging, in the order given, then swap them all in.

    Before the swap ``guard`` compares each new table with the live one; a refused table
    fails the call and every live table stays as it was.
    """
    counts: dict[str, int] = {}
    built: list[str] = []
    try:
        for name, rows in tables.items():
            counts[name] = build_staging(
                engine, datamart_table(name), rows,
                tag=tag, chunk_size=chunk_size, check_alive=check_alive,
            )
            built.append(name)
        if guard is not None:
            guard.check(live_counts(engine, built), counts)
        swap_in(engine, built, tag=tag, check_alive=check_alive)
    except BaseException:
        drop_staging_tables(engine, tag, only=list(tables))
        raise
    pause_point("after_swap")
    return counts


def drop_staging_tables(engine: Engine, tag: str, only: list[str] | None = None) -> list[str]:
    """Drop the staging tables a run left behind (killed, crashed or failed)."""
    try:
        names = inspect(engine).get_table_names()
    except Exception:  # the database may be the reason we are cleaning up
        return []
    suffixes = (f"__stg_{tag}", f"__old_{tag}")
    dropped = []
    q = engine.dialect.identifier_preparer.quote
    for name in names:
        if name.endswith(suffixes) and (only is None or _base_name(name) in only):
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}")
                dropped.append(name)
            except Exception:
                pass
    return dropped


def _base_name(name: str) -> str:
    return name.rsplit("__stg_", 1)[0].rsplit("__old_", 1)[0]
