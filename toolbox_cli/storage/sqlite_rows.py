"""Rows into a SQLite staging table: the insert itself, and the process that runs it.

``insert_rows`` is the one way the writer puts prepared rows into SQLite: dates and datetimes
as the text SQLAlchemy stores, ``executemany`` in one ``BEGIN IMMEDIATE`` transaction.

``executemany`` turns every cell into a Python object and binds it while holding the GIL, and
so does the reader's ``fetchall``: in one process the two took turns, and a 100 000-document
`kpi` on SQLite spent as long writing as reading (issue 24). So for a SQLite file the writer
hands each prepared chunk, as Arrow IPC over a pipe, to a child process (``LoaderProcess``,
``python -m toolbox_cli.storage.sqlite_rows``) that inserts it on its own connection, on the
other core, while the run reads and computes the next chunk. The child is one more client of
the file, as another process would be (WAL lets it write while the run reads; the run's own
connections wait for its transaction like for any writer's). It opens the file with the
engine's pragmas (``PRAGMAS``), never creates it, imports only Polars, ignores Ctrl-C (the run
decides when it stops) and ends when the run closes its pipe, or dies with it.

Protocol, both ways length-prefixed: the run sends ``>I`` header length, the header (JSON:
``{"table": staging}``), ``>Q`` payload length, the IPC bytes; the child answers one JSON
line per chunk, ``{"rows": n}``, or ``{"error": message, "kind": class name}`` and exits.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # Polars only when rows are written: engine.py imports PRAGMAS from here
    import polars as pl

# Every SQLite connection of the toolbox (the engine's, the child's).
PRAGMAS = ("PRAGMA journal_mode=WAL",  # readers keep the old table during a swap
           "PRAGMA busy_timeout=30000",
           "PRAGMA synchronous=NORMAL")
# SQLAlchemy's text for SQLite dates and datetimes (what it writes and reads back).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
# The child converts one chunk at a time on one thread: Polars' pool and glibc's per-thread
# arenas would only hold memory (a value already in the environment wins).
_CHILD_ENV = {"POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1"),
              "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "1")}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def insert_rows(conn: sqlite3.Connection, table: str, rows: pl.DataFrame) -> None:
    """``rows`` (prepared: the table's columns and types) appended to ``table`` in one
    transaction; ``conn`` is in autocommit mode (``isolation_level=None``)."""
    import polars as pl

    texts = rows.with_columns(
        [pl.col(c).dt.strftime(SQLITE_DATETIME) for c, t in rows.schema.items()
         if isinstance(t, pl.Datetime)]
        + [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in rows.schema.items() if t == pl.Date])
    sql = (f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in rows.columns)}) "
           f"VALUES ({', '.join('?' * rows.width)})")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, texts.iter_rows())
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(database: str, *, uri: bool) -> sqlite3.Connection:
    """A connection as the engine makes them: autocommit, the toolbox's pragmas."""
    conn = sqlite3.connect(database, uri=uri, timeout=30, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class WriterFailed(Exception):
    """The child could not write a chunk (its reason), or is gone."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class LoaderProcess:
    """The run's side of the child: ``write`` a chunk and wait until it is committed."""

    def __init__(self, database: str, *, uri: bool) -> None:
        self._errors: IO[bytes] = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, database, "1" if uri else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors,
            close_fds=True, env=os.environ | _CHILD_ENV)

    def write(self, table: str, rows: pl.DataFrame) -> int:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        payload = io.BytesIO()
        rows.write_ipc(payload, compression="uncompressed")
        header = json.dumps({"table": table}).encode()
        try:
            self._proc.stdin.write(struct.pack(">I", len(header)) + header
                                   + struct.pack(">Q", payload.getbuffer().nbytes))
            self._proc.stdin.write(payload.getbuffer())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child is gone: its answer (or its absence) says why
        answer = self._proc.stdout.readline()
        if not answer:
            raise WriterFailed(self._gone())
        reply = json.loads(answer)
        if "error" in reply:
            raise WriterFailed(reply["error"], reply.get("kind", ""))
        return int(reply["rows"])

    def close(self) -> None:
        """No more chunks: the child ends once the last one is committed."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        code = self._proc.wait()
        self._errors.close()
        if code != 0:
            raise WriterFailed(f"the SQLite writer process exited with code {code}")

    def kill(self) -> None:
        """Stop now (the run failed): a chunk being inserted is rolled back by SQLite."""
        self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._errors.close()

    def _gone(self) -> str:
        code = self._proc.wait()
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        why = f": {lines[-1]}" if lines else ""
        return f"the SQLite writer process exited with code {code}{why}"


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def _serve(database: str, uri: bool) -> int:
    import polars as pl

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle
    source, answers = sys.stdin.buffer, sys.stdout
    conn: sqlite3.Connection | None = None
    while (head := _read_exactly(source, 4)) is not None:
        header = json.loads(_read_exactly(source, struct.unpack(">I", head)[0]) or b"{}")
        size = _read_exactly(source, 8)
        payload = _read_exactly(source, struct.unpack(">Q", size)[0]) if size else None
        if payload is None:
            return 1  # the run died mid-message
        try:
            if conn is None:
                conn = connect(database, uri=uri)
            rows = pl.read_ipc(io.BytesIO(payload))
            insert_rows(conn, header["table"], rows)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the run
            answers.write(json.dumps({"error": str(exc), "kind": type(exc).__name__}) + "\n")
            answers.flush()
            return 0
        answers.write(json.dumps({"rows": rows.height}) + "\n")
        answers.flush()
    if conn is not None:
        conn.close()
    return 0


def error_for(failure: WriterFailed) -> Any:
    """The exception the run raises for a child's failure: a SQLite error as the driver's own
    class (so the database's errors are told apart as in one process), else ``failure``."""
    kind = getattr(sqlite3, failure.kind, None) if failure.kind else None
    if isinstance(kind, type) and issubclass(kind, sqlite3.Error):
        return kind(str(failure))
    return failure


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1], sys.argv[2] == "1"))
