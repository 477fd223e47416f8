"""``toolbox db init``: it creates a missing MySQL/MariaDB database when the user may, names
the grant it needs when the user may not, and names the database as a user writes it. Only
``db init`` creates a database on a server; every other command asks for it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import MYSQL_URL


@pytest.fixture
def missing_db() -> Iterator[str]:
    """The name of a database that does not exist on the test server; dropped afterwards if
    a test created it."""
    name = f"tbx_init_{uuid.uuid4().hex[:10]}"
    yield name
    admin = create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


def _exists(name: str) -> bool:
    admin = create_engine(MYSQL_URL)
    with admin.connect() as conn:
        found = conn.execute(text("SELECT DEFAULT_CHARACTER_SET_NAME FROM "
                                  "information_schema.SCHEMATA WHERE SCHEMA_NAME = :n"),
                             {"n": name}).scalar()
    admin.dispose()
    return found is not None


@pytest.fixture
def unprivileged() -> Iterator[tuple[str, str, str]]:
    """A user of the test server with no privilege at all (made by the test server's admin
    user, dropped afterwards): (user, password, host part of the account)."""
    host = make_url(MYSQL_URL).host or "localhost"
    user, password = f"tbx_np_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"))
    try:
        yield user, password, host
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{user}'@'{host}'"))
        admin.dispose()


@pytest.mark.production
def test_db_init_creates_the_missing_database_and_only_db_init_does(cli, clean_env, missing_db):
    server = make_url(MYSQL_URL)
    url = server.set(database=missing_db).render_as_string(hide_password=False)
    where = f"database {missing_db} on {server.host}:{server.port or 3306}"

    for command in (["status"], ["demo", "--operations", "50"], ["list"]):
        refused = cli(*command, TOOLBOX_DATABASE_URL=url)
        assert refused.exit_code == 2, refused.output
        assert "does not exist" in refused.stderr and "toolbox db init" in refused.stderr
        assert not _exists(missing_db), f"toolbox {' '.join(command)} created the database"

    first = cli("db", "init")
    assert first.exit_code == 0, first.output
    assert f"created {where} (utf8mb4)" in first.stdout
    assert re.search(rf"created \d+ tables? in {re.escape(where)}:", first.stdout), first.stdout
    assert "mysql+pymysql://" not in first.stdout
    assert _exists(missing_db)
    again = cli("db", "init", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["databases_created"] == []
    assert cli("status").exit_code == 0


@pytest.mark.production
@pytest.mark.parametrize("rights", ["none", "select on it"])
def test_db_init_without_the_right_to_create_names_the_grant(cli, clean_env, missing_db,
                                                             unprivileged, rights):
    user, password, host = unprivileged
    if rights != "none":  # the server then says "unknown database" rather than "denied"
        admin = create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"GRANT SELECT ON `{missing_db}`.* TO '{user}'@'{host}'"))
        admin.dispose()
    server = make_url(MYSQL_URL)
    url = server.set(username=user, password=None, database=missing_db).render_as_string()
    result = cli("db", "init", TOOLBOX_DATABASE_URL=url, TOOLBOX_DATABASE_PASSWORD=password)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line, result.stderr
    assert f"GRANT ALL PRIVILEGES ON `{missing_db}`.* TO '{user}'@'{host}'" in line
    assert "Traceback" not in result.output and password not in result.output
    assert not _exists(missing_db)
    # Any other command: the login was right, the rights are missing (not "refused the login").
    status = cli("status", TOOLBOX_DATABASE_URL=url, TOOLBOX_DATABASE_PASSWORD=password)
    assert status.exit_code == 2, status.output
    if rights == "none":
        assert f"user {user!r} may not use database {missing_db} on " in status.stderr
    assert "refused the login" not in status.stderr


def test_db_init_names_the_sqlite_file_not_the_driver_url(cli, clean_env):
    path = clean_env / "data" / "toolbox.db"
    first = cli("db", "init")
    assert first.exit_code == 0, first.output
    assert f"in SQLite file {path}:" in first.stdout.replace("\n", " ")
    assert "sqlite:" not in first.stdout
    again = cli("db", "init")
    assert f"schema up to date in SQLite file {path}" in again.stdout.replace("\n", " ")
