"""The table lock (design: "One writer of a table at a time, across hosts"), unit by unit.

What a run locks (its tables, sorted, once each), the MySQL lock names, which lock an
engine gets, and the SQLite lock: an ``flock`` per table on a file beside the database.
The MySQL/MariaDB lock itself (``GET_LOCK`` per table on one dedicated connection) is
checked against the real server in ``tests/storage/test_mutants_mysql_lock.py``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage import lock as lockmod
from toolbox_cli.storage.lock import (
    FileLock,
    lock_for,
    lock_resources,
    refuse_unlocked,
)

# ---------------------------------------------------------------- what a run locks


def test_a_run_writes_only_the_tables_it_locked():
    refuse_unlocked(["kpi", "saldos"], ["saldos", "kpi"])
    refuse_unlocked([], [])
    with pytest.raises(TaskFailed) as caught:
        refuse_unlocked(["kpi"], ["kpi", "saldos", "cxc_dev_fact"])
    assert str(caught.value) == (
        "saldos, cxc_dev_fact: not locked by this run, so it may not be written; add it to "
        "the task's tables (TaskSpec.tables)")


def test_a_run_locks_its_tables_sorted_once_each_or_its_task_name():
    assert lock_resources(["saldos", "kpi", "saldos"], "tablas-reportes") == ["kpi", "saldos"]
    assert lock_resources([], "tipo-cambio") == ["tipo-cambio"]


def test_lock_names_carry_the_database_and_stay_within_mysqls_64_characters():
    assert lockmod._mysql_lock_name("dm", "kpi") == "toolbox:dm:kpi"
    fits = "t" * (64 - len("toolbox:dm:"))
    assert lockmod._mysql_lock_name("dm", fits) == f"toolbox:dm:{fits}"
    long = fits + "x"
    digest = hashlib.sha1(f"toolbox:dm:{long}".encode()).hexdigest()
    assert lockmod._mysql_lock_name("dm", long) == f"toolbox:{digest}"
    assert len(lockmod._mysql_lock_name("dm", long)) <= 64


def test_lock_for_takes_a_list_of_tables_not_one_string(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'toolbox.db'}")
    with pytest.raises(TypeError) as caught:
        lock_for(engine, "kpi")
    assert str(caught.value) == "lock_for takes a list of table names, not one string"


def test_lock_for_sqlite_is_one_file_per_table_beside_the_database(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'toolbox.db'}")
    lock = lock_for(engine, ["kpi", "a b/c:d-e_f"])
    assert isinstance(lock, FileLock) and lock.host_local is True
    assert lock.resources == ["kpi", "a b/c:d-e_f"]
    assert lock.paths == [tmp_path / "toolbox.db.kpi.lock", tmp_path / "toolbox.db.a_b_c_d-e_f.lock"]
    assert lock.names == [str(p) for p in lock.paths]
    assert lock.fds == [] and lock.blocked_on is None


def test_lock_for_a_sqlite_uri_and_an_in_memory_database():
    uri = create_engine("sqlite:///file:/srv/tbx/toolbox.db?mode=rw&uri=true")
    assert lock_for(uri, ["kpi"]).names == ["/srv/tbx/toolbox.db.kpi.lock"]
    memory = create_engine("sqlite://")
    assert lock_for(memory, ["kpi"]).names == ["/tmp/toolbox-memory.db.kpi.lock"]


# ---------------------------------------------------------------- SQLite: flock files


def _other_process_holds(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_file_lock_takes_every_file_and_writes_its_pid(tmp_path):
    paths = [tmp_path / "db.kpi.lock", tmp_path / "db.saldos.lock"]
    paths[1].write_text("12345678 stale text\n")
    lock = FileLock(paths, ["kpi", "saldos"])
    assert lock.acquire(wait=False)
    assert lock.still_held() and lock.blocked_on is None and len(lock.fds) == 2
    for path in paths:
        assert path.read_text() == f"{os.getpid()}\n"  # the stale text truncated away
    assert paths[0].stat().st_mode & 0o777 == 0o600  # a new file: its owner's only
    other = FileLock(paths[:1], ["kpi"])
    assert other.acquire(wait=False) is False and other.blocked_on == "kpi"
    lock.release()
    assert lock.fds == [] and not lock.still_held()
    assert other.acquire(wait=False)
    other.release()


def test_a_held_file_without_wait_gives_up_and_frees_what_it_took(tmp_path):
    paths = [tmp_path / "db.a.lock", tmp_path / "db.b.lock", tmp_path / "db.c.lock"]
    fd = _other_process_holds(paths[1])
    try:
        lock = FileLock(paths, ["a", "b", "c"])
        assert lock.acquire(wait=False) is False
        assert lock.blocked_on == "b" and lock.fds == []
        assert not paths[2].exists()  # never asked for
        probe = FileLock(paths[:1], ["a"])
        assert probe.acquire(wait=False)  # "a" was let go
        probe.release()
    finally:
        os.close(fd)


def test_a_file_lock_waits_saying_so_then_takes_the_file(tmp_path, monkeypatch):
    path = tmp_path / "db.kpi.lock"
    fd = _other_process_holds(path)
    sleeps: list[float] = []
    waited: list[str] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            os.close(fd)

    monkeypatch.setattr(lockmod.time, "sleep", sleep)
    lock = FileLock([path], ["kpi"])
    assert lock.acquire(wait=True, on_wait=waited.append)
    assert waited == ["kpi", "kpi"] and sleeps == [0.2, 0.2]
    assert lock.still_held() and lock.blocked_on is None
    lock.release()


def test_a_file_lock_waits_without_a_callback(tmp_path, monkeypatch):
    path = tmp_path / "db.kpi.lock"
    fd = _other_process_holds(path)
    monkeypatch.setattr(lockmod.time, "sleep", lambda seconds: os.close(fd))
    lock = FileLock([path], ["kpi"])
    assert lock.acquire(wait=True)
    lock.release()


def test_a_lock_file_replaced_before_the_flock_is_locked_anew(tmp_path, monkeypatch):
    """A file removed between our open and our flock would let another process lock a new
    file of that name: the lock takes whatever file the path names now."""
    path = tmp_path / "db.kpi.lock"
    real_flock = fcntl.flock
    replaced: list[int] = []

    def flock(fd: int, operation: int) -> None:
        real_flock(fd, operation)
        if operation & fcntl.LOCK_EX and not replaced:
            replaced.append(os.fstat(fd).st_ino)
            path.unlink()
            path.write_text("")  # another process's new file

    monkeypatch.setattr(lockmod.fcntl, "flock", flock)
    lock = FileLock([path], ["kpi"])
    assert lock.acquire(wait=False)
    assert os.fstat(lock.fds[0]).st_ino == path.stat().st_ino != replaced[0]
    assert path.read_text() == f"{os.getpid()}\n"
    lock.release()


def test_a_file_lock_needs_one_resource_per_file(tmp_path):
    lock = FileLock([tmp_path / "db.a.lock", tmp_path / "db.b.lock"], ["a"])
    with pytest.raises(ValueError):
        lock.acquire(wait=False)
    lock.release()


def test_same_file_is_false_for_a_removed_or_other_file(tmp_path):
    path = tmp_path / "x.lock"
    path.write_text("")
    fd = os.open(path, os.O_RDWR)
    try:
        assert lockmod._same_file(fd, path)
        other = tmp_path / "y.lock"
        other.write_text("")
        assert not lockmod._same_file(fd, other)
        path.unlink()
        assert not lockmod._same_file(fd, path)
    finally:
        os.close(fd)


def test_a_lock_file_that_cannot_be_written_lets_go_and_names_the_file(tmp_path, monkeypatch):
    paths = [tmp_path / "db.a.lock", tmp_path / "db.b.lock"]
    real_write = os.write
    writes = []

    def write(fd: int, data: bytes) -> int:
        writes.append(data)
        if len(writes) == 2:  # the second table's file
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(lockmod.os, "write", write)
    lock = FileLock(paths, ["a", "b"])
    with pytest.raises(OSError) as caught:
        lock.acquire(wait=False)
    assert (caught.value.errno, caught.value.strerror, caught.value.filename) == (
        28, "No space left on device", str(paths[1]))
    assert lock.fds == []
    probe = FileLock(paths, ["a", "b"])
    monkeypatch.setattr(lockmod.os, "write", real_write)
    assert probe.acquire(wait=False)  # both let go
    probe.release()
