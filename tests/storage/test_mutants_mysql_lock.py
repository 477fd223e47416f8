"""The MySQL/MariaDB table lock (design: "One writer of a table at a time, across hosts")
against the real server: ``GET_LOCK`` per table on one dedicated autocommit connection held
for the whole run, taken in sorted order, the ones taken let go when one cannot be had.

The tests of one session share a throw-away database (``throwaway_mysql``, as the
``mysql_url`` fixture; one per module saves creating eight), so their lock names
(``toolbox:<database>:<table>``) are theirs alone, also when ``make mutate`` runs two
sessions at once; each test lets go of every lock it took. A second connection plays the
other host: it holds a table with ``GET_LOCK``, asks the server who holds one
(``IS_USED_LOCK``) and kills the lock's connection (``KILL``) to lose a lock for real. The
statements the lock sends are read off the engine's ``before_cursor_execute`` event: the
real statements on their way to the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from tests.conftest import throwaway_mysql
from toolbox_cli.storage import lock as lockmod
from toolbox_cli.storage.engine import make_engine
from toolbox_cli.storage.lock import MySQLLock, lock_for

pytestmark = pytest.mark.production

GET = "SELECT GET_LOCK(%s, %s)"
HELD = "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()"
RELEASE = "SELECT RELEASE_LOCK(%s)"
DEADLINE = 30.0  # seconds; every wait below ends as soon as its condition holds
RUNAWAY = 50  # statements of one lock (a test sends at most 10): it no longer stops polling


class _OtherHost:
    """A connection of its own on the test's server: another host's run."""

    def __init__(self, engine: Engine) -> None:
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.id = self.conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()

    def hold(self, name: str) -> bool:
        return self.conn.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (name,)).scalar() == 1

    def let_go(self, name: str) -> None:
        assert self.conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (name,)).scalar() == 1

    def holder(self, name: str) -> int | None:
        """The id of the connection that holds ``name``, None when it is free."""
        held = self.conn.exec_driver_sql("SELECT IS_USED_LOCK(%s)", (name,)).scalar()
        return None if held is None else int(held)

    def kill(self, ident: int) -> None:
        self.conn.exec_driver_sql(f"KILL CONNECTION {int(ident)}")

    def waiting_for(self, name: str) -> list[int]:
        """The connections blocked in a GET_LOCK of ``name`` right now."""
        rows = self.conn.exec_driver_sql(
            "SELECT id FROM information_schema.processlist "
            "WHERE info LIKE 'SELECT GET_LOCK(%%' AND info LIKE %s AND id <> CONNECTION_ID()",
            (f"%'{name}'%",)).all()
        return [int(row[0]) for row in rows]


def _eventually(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < end, f"not within {DEADLINE:.0f} s: {what}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def mysql_url() -> Iterator[str]:
    """A throw-away database on the test server for this module, dropped afterwards."""
    yield from throwaway_mysql()


@pytest.fixture
def database(mysql_url: str) -> str:
    name = make_url(mysql_url).database
    assert name
    return name


@pytest.fixture
def engine(mysql_url: str) -> Iterator[Engine]:
    """The engine a run locks with (``make_engine``: pooled, as in production)."""
    engine = make_engine(make_url(mysql_url))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def other(mysql_url: str) -> Iterator[_OtherHost]:
    engine = make_engine(make_url(mysql_url))
    host = _OtherHost(engine)
    try:
        yield host
    finally:
        host.conn.close()
        engine.dispose()


Statement = tuple[int, str, Any]


def _record(engine: Engine, before: Callable[[Statement], None] | None = None
            ) -> list[Statement]:
    """What ``engine`` sends from now on: (server connection id, statement, parameters);
    ``before`` sees each one before it goes to the server."""
    sent: list[Statement] = []

    def listen(conn: Connection, _cursor: Any, statement: str, params: Any,
               _context: Any, _many: bool) -> None:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        sent.append((dbapi.thread_id(), statement, params))  # type: ignore[attr-defined]  # PyMySQL's connection
        if len(sent) > RUNAWAY:
            raise RuntimeError(f"{len(sent)} statements: the lock no longer stops")
        if before is not None:
            before(sent[-1])

    event.listen(engine, "before_cursor_execute", listen)
    return sent


def _names(database: str, *tables: str) -> list[str]:
    return [f"toolbox:{database}:{table}" for table in tables]


def test_get_lock_takes_every_table_in_order_on_one_autocommit_connection(engine, other,
                                                                          database):
    kpi, saldos = _names(database, "kpi", "saldos")
    lock = MySQLLock(engine, ["kpi", "saldos"])
    sent = _record(engine)
    assert lock.acquire(wait=False)
    ours = other.holder(kpi)
    assert ours is not None and ours != other.id
    assert other.holder(saldos) == ours  # one connection holds both
    assert sent == [(ours, GET, (kpi, 0)), (ours, GET, (saldos, 0))]
    assert lock.conn is not None
    assert lock.conn.exec_driver_sql("SELECT @@autocommit").scalar() == 1
    assert lock.blocked_on is None and lock.still_held()
    sent.clear()
    lock.release()
    assert [s for s in sent if s[1] == RELEASE] == [(ours, RELEASE, (saldos,)),
                                                     (ours, RELEASE, (kpi,))]
    # Let go on the server, not only forgotten: the engine's pool keeps the connection.
    assert other.holder(kpi) is None and other.holder(saldos) is None
    assert lock.conn is None and not lock.still_held()
    lock.release()  # twice is harmless
    assert other.hold(kpi) and other.hold(saldos)


def test_a_held_table_without_wait_gives_up_at_once_and_frees_what_it_took(engine, other,
                                                                          database):
    kpi, saldos, tipo_cambio = _names(database, "kpi", "saldos", "tipo_cambio")
    assert other.hold(saldos)
    lock = MySQLLock(engine, ["kpi", "saldos", "tipo_cambio"])
    sent = _record(engine)
    waited: list[str] = []
    assert lock.acquire(wait=False, on_wait=waited.append) is False
    assert lock.blocked_on == "saldos" and waited == []
    # At once (no timeout on the server), and tipo_cambio never asked for.
    assert [s[1:] for s in sent if s[1] == GET] == [(GET, (kpi, 0)), (GET, (saldos, 0))]
    assert other.holder(kpi) is None  # let go
    assert other.holder(saldos) == other.id and other.holder(tipo_cambio) is None
    assert lock.conn is None and not lock.still_held()
    other.let_go(saldos)
    assert lock.acquire(wait=False) and lock.blocked_on is None
    assert other.holder(kpi) == other.holder(saldos) == other.holder(tipo_cambio) != other.id
    lock.release()
    assert other.holder(kpi) is None


def test_wait_queues_behind_the_holder_and_says_so_while_blocked(engine, other, database,
                                                                  monkeypatch):
    monkeypatch.setattr(lockmod, "POLL_SECONDS", 0.05)
    kpi, saldos = _names(database, "kpi", "saldos")
    assert other.hold(saldos)
    lock = MySQLLock(engine, ["kpi", "saldos"])
    sent = _record(engine)
    waited: list[str] = []
    seen_while_blocked: list[tuple[int | None, int | None]] = []

    def on_wait(table: str) -> None:
        waited.append(table)
        seen_while_blocked.append((other.holder(kpi), other.holder(saldos)))
        if len(waited) == 2:
            other.let_go(saldos)

    assert lock.acquire(wait=True, on_wait=on_wait)
    ours = other.holder(kpi)
    assert waited == ["saldos", "saldos"]
    assert seen_while_blocked == [(ours, other.id)] * 2  # kpi taken first, then queued
    assert [s for s in sent if s[1] == GET] == (
        [(ours, GET, (kpi, 0.05))] + [(ours, GET, (saldos, 0.05))] * 3)
    assert lock.blocked_on is None and lock.still_held() and other.holder(saldos) == ours
    lock.release()
    assert other.holder(kpi) is None and other.holder(saldos) is None


def test_a_waiting_lock_is_queued_on_the_server_and_gets_the_table_once_let_go(
        engine, other, database, monkeypatch):
    """Blocked inside one GET_LOCK (a poll longer than the whole test): the server hands
    the table over the moment the holder lets go, no poll later."""
    monkeypatch.setattr(lockmod, "POLL_SECONDS", 3 * DEADLINE)
    (kpi,) = _names(database, "kpi")
    assert other.hold(kpi)
    lock = MySQLLock(engine, ["kpi"])
    _record(engine)  # the runaway guard
    waited: list[str] = []
    queued: list[int] = []

    def blocked() -> bool:
        queued[:] = other.waiting_for(kpi)
        return bool(queued)

    def let_go_once_queued() -> None:
        try:
            _eventually(blocked, "the lock blocked in GET_LOCK")
        finally:
            other.let_go(kpi)

    helper = threading.Thread(target=let_go_once_queued)
    helper.start()
    try:
        assert lock.acquire(wait=True, on_wait=waited.append)
    finally:
        helper.join(DEADLINE)
    assert queued and waited == []
    assert other.holder(kpi) == queued[0] and lock.still_held()
    lock.release()


def test_wait_without_a_callback_still_queues(engine, other, database, monkeypatch):
    monkeypatch.setattr(lockmod, "POLL_SECONDS", 0.05)
    (kpi,) = _names(database, "kpi")
    assert other.hold(kpi)
    asked: list[Statement] = []

    def before(statement: Statement) -> None:
        if statement[1] == GET:
            asked.append(statement)
            if len(asked) == 3:  # two polls timed out; the third finds it free
                other.let_go(kpi)

    _record(engine, before)
    lock = MySQLLock(engine, ["kpi"])
    assert lock.acquire(wait=True)
    assert [s[2] for s in asked] == [(kpi, 0.05)] * 3
    assert lock.still_held() and other.holder(kpi) == asked[0][0]
    lock.release()


def test_still_held_asks_the_server_for_every_table_and_false_when_one_is_lost(
        engine, other, database):
    kpi, saldos = _names(database, "kpi", "saldos")
    lock = MySQLLock(engine, ["kpi", "saldos"])
    assert not lock.still_held()  # never acquired: no connection
    assert lock.acquire(wait=False)
    ours = other.holder(kpi)
    sent = _record(engine)
    assert lock.still_held() is True
    assert sent == [(ours, HELD, (kpi,)), (ours, HELD, (saldos,))]
    # The second table lost while the connection lives (nobody holds it: NULL) ...
    assert lock.conn is not None
    assert lock.conn.exec_driver_sql(RELEASE, (saldos,)).scalar() == 1
    assert lock.still_held() is False
    # ... then taken by another host.
    assert other.hold(saldos)
    assert lock.still_held() is False
    other.let_go(saldos)
    assert lock.conn.exec_driver_sql(GET, (saldos, 0)).scalar() == 1
    assert lock.still_held() is True
    # A killed connection holds nothing, and asking on it fails: not held.
    other.kill(ours)
    _eventually(lambda: other.holder(kpi) is None, "the killed connection's locks dropped")
    assert lock.still_held() is False
    lock.release()


def test_release_survives_a_dead_connection_and_forgets_it(engine, other, database):
    (kpi,) = _names(database, "kpi")
    lock = MySQLLock(engine, ["kpi"])
    assert lock.acquire(wait=False)
    ours = other.holder(kpi)
    assert ours is not None
    other.kill(ours)
    lock.release()  # its RELEASE_LOCK fails on the dead connection: no error
    assert lock.conn is None and not lock.still_held()
    _eventually(lambda: other.holder(kpi) is None, "the server dropped the killed lock")
    assert lock.acquire(wait=False)  # a fresh connection from the pool
    assert other.holder(kpi) not in (None, ours)
    lock.release()
    assert lock.conn is None and other.holder(kpi) is None


def test_lock_for_a_mariadb_engine_is_a_get_lock_on_the_ledgers_database(engine, other,
                                                                          database):
    lock = lock_for(engine, ["kpi", "saldos"])
    assert isinstance(lock, MySQLLock) and lock.host_local is False
    assert lock.resources == ["kpi", "saldos"]
    assert lock.names == _names(database, "kpi", "saldos")
    assert lock.blocked_on is None and lock.conn is None
    assert lock.acquire(wait=False)
    assert all(other.holder(name) not in (None, other.id) for name in lock.names)
    lock.release()
