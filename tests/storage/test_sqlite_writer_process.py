"""A SQLite file's staging tables are written by a child process (issue 24): the rows it
commits are the rows the run prepared, its failures are the run's failures with the
database's own reason, and it never outlives the run."""

from __future__ import annotations

import os
import signal
import sqlite3
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import inspect

from tests.support.selftest import frames, items, names
from toolbox_cli.storage import writer
from toolbox_cli.storage.engine import sqlite_path
from toolbox_cli.storage.sqlite_rows import LoaderProcess, WriterFailed
from toolbox_cli.storage.tables import datamart_metadata

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _children() -> set[int]:
    me = os.getpid()
    found = set()
    for task in Path(f"/proc/{me}/task").iterdir():
        try:  # each thread's children; a thread may end meanwhile
            found.update(int(pid) for pid in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return found


def _replace(engines, rows, *, tag="p1", during=lambda out: None):  # type: ignore[no-untyped-def]
    table = datamart_metadata.tables["selftest_items"]
    with writer.replacing(engines.datamart, [table], tag=tag, locked={"selftest_items"},
                          judge=lambda *_: None) as out:
        for i, frame in enumerate(frames(rows, 3)):
            out.add(table, frame)
            if i == 0:
                during(out)
    return out


def test_the_rows_are_written_by_a_child_that_is_gone_when_the_run_ends(engines):
    before = _children()
    seen: list[set[int]] = []
    _replace(engines, items(7), during=lambda out: seen.append(_children() - before))
    assert len(seen[0]) == 1  # one writer process while the table is built
    assert _children() - before == set()
    assert names(engines.datamart) == [f"new{i}" for i in range(7)]


def test_a_failure_in_the_child_fails_the_run_with_the_database_reason(engines):
    """The staging table vanishes under the writer: SQLite's own error, in its own class,
    reaches the run; the live table keeps its rows and no staging table is left."""
    _replace(engines, items(2, "old"))

    def drop_staging(out):  # type: ignore[no-untyped-def]
        path = sqlite_path(engines.datamart.url)
        with sqlite3.connect(path, timeout=30) as conn:
            conn.execute('DROP TABLE "selftest_items__stg_p2"')

    with pytest.raises(sqlite3.OperationalError, match="no such table: selftest_items__stg_p2"):
        _replace(engines, items(30), tag="p2", during=drop_staging)
    assert names(engines.datamart) == ["old0", "old1"]
    assert not [t for t in inspect(engines.datamart).get_table_names() if "__stg_" in t]


def test_a_killed_child_fails_the_run_naming_how_it_ended(engines):
    _replace(engines, items(2, "old"))
    before = _children()

    def kill_child(out):  # type: ignore[no-untyped-def]
        for pid in _children() - before:
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(WriterFailed, match="the SQLite writer process exited with code -9"):
        _replace(engines, items(30), tag="p3", during=kill_child)
    assert names(engines.datamart) == ["old0", "old1"]
    assert _children() - before == set()


def test_the_child_commits_each_value_as_the_run_prepared_it(engines):
    """Through the pipe and back: floats bit for bit, texts with quotes and newlines, NULLs,
    dates as SQLAlchemy's text."""
    path = sqlite_path(engines.datamart.url)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (f REAL, s TEXT, d DATE, n INTEGER)")
    rows = pl.DataFrame({
        "f": [0.1 + 0.2, -0.0, 1e300, None], "s": ["a'b\"c", "línea\nnueva", "", None],
        "d": [date(2024, 2, 29), date(1999, 12, 31), None, date(2024, 1, 1)],
        "n": [1, None, 2**62, -5]})
    child = LoaderProcess(path, uri=False)
    assert child.write("t", rows) == 4
    child.close()
    with sqlite3.connect(path) as conn:
        stored = conn.execute("SELECT f, s, d, n FROM t ORDER BY rowid").fetchall()
    assert stored == [(0.30000000000000004, "a'b\"c", "2024-02-29", 1),
                      (-0.0, "línea\nnueva", "1999-12-31", None),
                      (1e300, "", None, 2**62), (None, None, "2024-01-01", -5)]


def test_the_writer_never_creates_a_missing_file(db_url, tmp_path):
    """The engine opens the file read-write only (``mode=rw``); so does the child."""
    missing = tmp_path / "nowhere.db"
    child = LoaderProcess(f"file:{missing}?mode=rw", uri=True)
    with pytest.raises(WriterFailed, match="unable to open database file"):
        child.write("t", pl.DataFrame({"x": [1]}))
    child.close()
    assert not missing.exists()

