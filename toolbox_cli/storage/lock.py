"""One run per task at a time, across hosts.

MySQL/MariaDB: ``GET_LOCK`` on one dedicated connection held for the whole run; the server
releases it if that connection dies, so a killed run never leaves a stale lock. SQLite: an
``flock`` on a file beside the database, released by the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Connection, Engine

from toolbox_cli.storage.engine import is_mysql

POLL_SECONDS = 2.0


class TaskLock(Protocol):
    name: str

    def acquire(self, wait: bool) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class MySQLLock:
    def __init__(self, engine: Engine, task: str) -> None:
        self.engine = engine
        raw = f"toolbox:{engine.url.database}:{task}"
        # GET_LOCK names are limited to 64 characters.
        self.name = raw if len(raw) <= 64 else "toolbox:" + hashlib.sha1(raw.encode()).hexdigest()
        self.conn: Connection | None = None
        # The heartbeat thread and the task thread both ask whether the lock is still held;
        # a PyMySQL connection must not be used by two threads at once.
        self._mutex = threading.Lock()

    def acquire(self, wait: bool) -> bool:
        self.conn = self.engine.connect()
        # The lock connection does nothing else; autocommit keeps no transaction open on it.
        self.conn = self.conn.execution_options(isolation_level="AUTOCOMMIT")
        while True:
            got = self.conn.exec_driver_sql(
                "SELECT GET_LOCK(%s, %s)", (self.name, POLL_SECONDS if wait else 0)
            ).scalar()
            if got == 1:
                return True
            if not wait:
                self.conn.close()
                self.conn = None
                return False

    def still_held(self) -> bool:
        with self._mutex:
            if self.conn is None:
                return False
            try:
                row = self.conn.exec_driver_sql(
                    "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", (self.name,)
                ).scalar()
            except Exception:
                return False
            return row == 1

    def release(self) -> None:
        with self._mutex:
            self._release()

    def _release(self) -> None:
        if self.conn is None:
            return
        try:
            self.conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (self.name,))
        except Exception:
            pass  # the server drops the lock with the connection anyway
        finally:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.fd: int | None = None

    def acquire(self, wait: bool) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    return False
                time.sleep(0.2)
                continue
            self.fd = fd
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return True

    def still_held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def lock_for(engine: Engine, task: str) -> TaskLock:
    if is_mysql(engine):
        return MySQLLock(engine, task)
    db = engine.url.database or ":memory:"
    base = Path(db) if db != ":memory:" else Path("/tmp/toolbox-memory.db")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in task)
    return FileLock(base.with_name(f"{base.name}.{safe}.lock"))
