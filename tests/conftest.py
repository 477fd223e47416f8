"""Shared fixtures: a fresh SQLite file or a fresh MariaDB database per test.

MySQL tests are marked ``production``; they run with ``pytest -m production`` against the
server named by TOOLBOX_TEST_MYSQL_URL (``scripts/db-setup`` creates its user).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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
def toolbox_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Settings:
    """TOOLBOX_* variables pointing at a fresh database; returns the loaded settings."""
    for key in list(os.environ):
        if key.startswith("TOOLBOX_") and not key.startswith("TOOLBOX_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TOOLBOX_DATABASE_URL", db_url)
    monkeypatch.setenv("TOOLBOX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TOOLBOX_LOG_DIR", str(tmp_path / "logs"))
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
def mysql_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mysql_url: str) -> Iterator[Engines]:
    """Engines on a fresh MariaDB database only (for MySQL-specific tests)."""
    monkeypatch.setenv("TOOLBOX_DATABASE_URL", mysql_url)
    monkeypatch.setenv("TOOLBOX_DATA_DIR", str(tmp_path / "data"))
    engines = open_engines(load_settings(), create=True)
    init_schema(engines)
    try:
        yield engines
    finally:
        engines.dispose()
