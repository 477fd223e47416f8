"""The toolbox's own long-lived schema: the run ledger, versioned with Alembic.

Datamart tables are rebuilt from their definition at every refresh and the source-contract
tables are created by ``toolbox db init``; only the ledger keeps rows across versions of the
toolbox, so only it needs migrations. They live in ``storage/migrations`` and run from
``toolbox db init`` (never implicitly: two hosts upgrading at once would race).

Every other command only *checks*, with one cheap query and without importing Alembic, that
the ledger exists and is at ``LEDGER_HEAD``; if not, it stops with a one-line hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from toolbox_cli.errors import NoDatabase

if TYPE_CHECKING:
    from collections.abc import Callable

    from alembic.config import Config

# The newest migration in storage/migrations/versions (a test keeps the two equal).
LEDGER_HEAD = "0006"
# The revision of a ledger created before migrations existed (no version table).
LEDGER_BASELINE = "0001"
# Our own name, so a datamart database shared with another Alembic project never clashes.
VERSION_TABLE = "toolbox_schema_version"
LEDGER_TABLE = "toolbox_runs"

MIGRATIONS = Path(__file__).with_name("migrations")


def ledger_revision(conn: Connection) -> str | None:
    """The ledger's schema revision; None when no version is recorded."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _alembic_config(conn: Connection) -> Config:
    from alembic.config import Config  # alembic only when the ledger is checked

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    config.attributes["version_table"] = VERSION_TABLE
    return config


def upgrade_ledger(engine: Engine, create_ledger: Callable[[Connection], None]) -> str:
    """Bring the ledger to ``LEDGER_HEAD``; returns what was done (for ``db init``).

    A new database gets the current tables (``create_ledger``) and is stamped at the head;
    a ledger from before migrations is stamped at the baseline first, then upgraded.
    """
    from alembic import command

    with engine.begin() as conn:
        config = _alembic_config(conn)
        has_ledger = inspect(conn).has_table(LEDGER_TABLE)
        revision = ledger_revision(conn)
        if not has_ledger:
            create_ledger(conn)
            command.stamp(config, LEDGER_HEAD)
            return "created"
        if revision is None:
            command.stamp(config, LEDGER_BASELINE)
            revision = LEDGER_BASELINE
        if revision == LEDGER_HEAD:
            return "current"
        command.upgrade(config, LEDGER_HEAD)
        return f"upgraded {revision} → {LEDGER_HEAD}"


def check_ledger(engine: Engine, where: str) -> None:
    """Raise NoDatabase unless the ledger exists and is at the current revision."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(LEDGER_TABLE):
            raise NoDatabase(f"{where} has no toolbox tables; run toolbox db init")
        revision = ledger_revision(conn) or LEDGER_BASELINE
    if revision != LEDGER_HEAD:
        raise NoDatabase(
            f"the ledger in {where} is at schema {revision}, this toolbox needs {LEDGER_HEAD}; "
            "run toolbox db init to upgrade it"
        )
