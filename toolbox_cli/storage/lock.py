"""One writer of a table at a time, across hosts.

A run locks every table it writes (``TaskSpec.tables``), taken one by one in sorted order
so two runs that want overlapping sets can never deadlock; a run that cannot take one
releases what it took. So `kpi` and `tablas-reportes`, which both write `kpi`, never run
side by side, while `kpi` and `tablas-cxc` can.

MySQL/MariaDB: ``GET_LOCK`` per table on one dedicated connection held for the whole run;
the server releases them if that connection dies, so a killed run never leaves a stale
lock. SQLite: an ``flock`` per table on a file beside the database, released by the kernel
when the process dies. A file lock is only as good as the file: removing or replacing it lets
another process lock a new file of that name, so a file lock is confirmed by the ledger too
(``host_local``: the runner refuses to start while a live run of this host holds the table).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Connection, Engine

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.engine import is_mysql, sqlite_path

POLL_SECONDS = 2.0


class TaskLock(Protocol):
    names: list[str]
    resources: list[str]
    # True when the lock lives in files of this host (a removed file would not keep a
    # second process out): the runner confirms it against the ledger.
    host_local: bool

    def acquire(self, wait: bool, on_wait: Callable[[str], None] | None = None) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...

    blocked_on: str | None


def refuse_unlocked(locked: Collection[str], tables: Iterable[str]) -> None:
    """A run writes only what it locked (two runs must never write one table at once):
    TaskFailed naming the first of ``tables`` that is not in ``locked``."""
    unlocked = [name for name in tables if name not in locked]
    if unlocked:
        raise TaskFailed(f"{', '.join(unlocked)}: not locked by this run, so it may not be "
                         "written; add it to the task's tables (TaskSpec.tables)")


def lock_resources(tables: Sequence[str], fallback: str) -> list[str]:
    """What a run locks: its tables in a fixed order (the task name if it writes none)."""
    return sorted(set(tables)) or [fallback]


def _mysql_lock_name(database: str | None, resource: str) -> str:
    raw = f"toolbox:{database}:{resource}"
    # GET_LOCK names are limited to 64 characters.
    return raw if len(raw) <= 64 else "toolbox:" + hashlib.sha1(raw.encode()).hexdigest()


class MySQLLock:
    host_local = False

    def __init__(self, engine: Engine, resources: Sequence[str]) -> None:
        self.engine = engine
        self.resources = list(resources)
        self.names = [_mysql_lock_name(engine.url.database, r) for r in self.resources]
        self.conn: Connection | None = None
        self.blocked_on: str | None = None  # the table another run holds
        # The heartbeat thread and the task thread both ask whether the lock is still held;
        # a PyMySQL connection must not be used by two threads at once.
        self._mutex = threading.Lock()

    def acquire(self, wait: bool, on_wait: Callable[[str], None] | None = None) -> bool:
        """Take every lock, in order; with ``wait``, queue behind their holders, calling
        ``on_wait(table)`` about once a second while blocked on ``table``."""
        conn = self.engine.connect()
        # The lock connection does nothing else; autocommit keeps no transaction open on it.
        self.conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for resource, name in zip(self.resources, self.names, strict=True):
            while True:
                got = self.conn.exec_driver_sql(
                    "SELECT GET_LOCK(%s, %s)", (name, POLL_SECONDS if wait else 0)
                ).scalar()
                if got == 1:
                    break
                if wait and on_wait is not None:
                    on_wait(resource)
                if not wait:
                    self.blocked_on = resource
                    with self._mutex:
                        self._release()  # closing the connection frees what we took
                    return False
        self.blocked_on = None
        return True

    def still_held(self) -> bool:
        with self._mutex:
            if self.conn is None:
                return False
            try:
                for name in self.names:
                    row = self.conn.exec_driver_sql(
                        "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", (name,)
                    ).scalar()
                    if row != 1:
                        return False
            except Exception:
                return False
            return True

    def release(self) -> None:
        with self._mutex:
            self._release()

    def _release(self) -> None:
        if self.conn is None:
            return
        try:
            for name in reversed(self.names):
                self.conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (name,))
        except Exception:
            pass  # the server drops the locks with the connection anyway
        finally:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


class FileLock:
    """flock on one file per table, beside the SQLite database."""

    host_local = True

    def __init__(self, paths: Sequence[Path], resources: Sequence[str]) -> None:
        self.paths = list(paths)
        self.resources = list(resources)
        self.names = [str(p) for p in self.paths]
        self.fds: list[int] = []
        self.blocked_on: str | None = None

    def acquire(self, wait: bool, on_wait: Callable[[str], None] | None = None) -> bool:
        try:
            return self._acquire(wait, on_wait)
        except OSError:  # a lock file that cannot be written: let go of those taken
            self.release()
            raise

    def _acquire(self, wait: bool, on_wait: Callable[[str], None] | None) -> bool:
        for path, resource in zip(self.paths, self.resources, strict=True):
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    if not wait:
                        self.blocked_on = resource
                        self.release()
                        return False
                    if on_wait is not None:
                        on_wait(resource)
                    time.sleep(0.2)
                    continue
                if _same_file(fd, path):
                    break
                # Removed or replaced between our open and our flock: lock what is there now.
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            self.fds.append(fd)
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError as exc:  # name the file (os.write does not)
                raise OSError(exc.errno, exc.strerror, str(path)) from None
        self.blocked_on = None
        return True

    def still_held(self) -> bool:
        return len(self.fds) == len(self.paths)

    def release(self) -> None:
        for fd in reversed(self.fds):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self.fds = []


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def lock_for(engine: Engine, resources: Sequence[str]) -> TaskLock:
    """The lock over ``resources`` (table names, see ``lock_resources``) in the ledger's
    database: the lock is where every host running this deployment looks."""
    if isinstance(resources, str):
        raise TypeError("lock_for takes a list of table names, not one string")
    if is_mysql(engine):
        return MySQLLock(engine, resources)
    db = sqlite_path(engine.url)
    base = Path(db) if db != ":memory:" else Path("/tmp/toolbox-memory.db")
    paths = []
    for resource in resources:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in resource)
        paths.append(base.with_name(f"{base.name}.{safe}.lock"))
    return FileLock(paths, resources)
