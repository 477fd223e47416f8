"""Shared fixtures: an environment of the test's own, a fresh SQLite file or a fresh MariaDB
database per test, engines on it, the command line.

MySQL tests are marked ``production``; they run with ``pytest -m production`` against the
server named by TOOLBOX_TEST_MYSQL_URL (``scripts/db-setup`` creates its user). Every test
gets its own database, so the suite runs in parallel (pytest-xdist, ``make test``).
Helpers that are not fixtures are in ``tests/support/``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.cli import ToolboxRunner
from tests.support.runs import DEMO_TODAY
from toolbox_cli.demo import seed_demo
from toolbox_cli.settings import Settings, load_settings
from toolbox_cli.storage.engine import Engines, init_schema, open_engines

DEFAULT_MYSQL_URL = "mysql+pymysql://toolbox:tbx-test-pw@127.0.0.1:3306/test"
MYSQL_URL = os.environ.get("TOOLBOX_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'toolbox.db'}"


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A throw-away database on the test server, dropped afterwards."""
    yield from throwaway_mysql()


@pytest.fixture
def other_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh database on ``db_url``'s backend (the other side of a comparison)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
    else:
        yield from throwaway_mysql()


def throwaway_mysql() -> Iterator[str]:
    server = make_url(MYSQL_URL)
    name = f"tbx_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.production)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over SQLite (default run) and MariaDB (``-m production``)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "mysql_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No TOOLBOX_* variable of the developer's shell; data and logs in the test's own
    directory (returned)."""
    for key in list(os.environ):
        if key.startswith("TOOLBOX_") and not key.startswith("TOOLBOX_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TOOLBOX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TOOLBOX_LOG_DIR", str(tmp_path / "logs"))
    return tmp_path


@pytest.fixture
def toolbox_env(monkeypatch: pytest.MonkeyPatch, clean_env: Path, db_url: str) -> Settings:
    """TOOLBOX_* variables pointing at a fresh database; returns the loaded settings."""
    monkeypatch.setenv("TOOLBOX_DATABASE_URL", db_url)
    return load_settings()


@pytest.fixture
def engines(toolbox_env: Settings) -> Iterator[Engines]:
    """Engines on a fresh database with every table created."""
    engines = open_engines(toolbox_env, create=True)
    init_schema(engines)
    try:
        yield engines
    finally:
        engines.dispose()


@pytest.fixture
def demo(engines: Engines) -> Engines:
    """``engines`` holding a demo book of 1 000 operations (seed 8) as of ``DEMO_TODAY``."""
    seed_demo(engines.source, operations=1000, seed=8, today=DEMO_TODAY)
    return engines


@pytest.fixture
def mysql_engines(monkeypatch: pytest.MonkeyPatch, clean_env: Path, mysql_url: str
                  ) -> Iterator[Engines]:
    """Engines on a fresh MariaDB database only (for MySQL-specific tests)."""
    monkeypatch.setenv("TOOLBOX_DATABASE_URL", mysql_url)
    engines = open_engines(load_settings(), create=True)
    init_schema(engines)
    try:
        yield engines
    finally:
        engines.dispose()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> ToolboxRunner:
    """The command line in this process, settings read afresh at each command:
    ``cli("status", "--json")`` or ``cli.invoke(app, ["status", "--json"])``. With
    ``toolbox_env`` or ``engines`` it works on the test's database."""
    return ToolboxRunner(monkeypatch)
