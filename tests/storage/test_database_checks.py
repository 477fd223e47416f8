"""Only db init and demo create a database; a missing, foreign or old one is refused with a
one-line hint.
"""

from __future__ import annotations

import json
import os

from sqlalchemy import create_engine, insert

from tests.support.paths import EXAMPLES
from toolbox_cli import clock
from toolbox_cli.errors import EXIT_USAGE
from toolbox_cli.storage.tables.ledger import runs as runs_table


def test_a_command_in_the_wrong_directory_creates_nothing(tmp_path, monkeypatch, cli):
    for key in [k for k in os.environ if k.startswith("TOOLBOX_") and not k.startswith("TOOLBOX_TEST")]:
        monkeypatch.delenv(key)
    elsewhere = tmp_path / "some-other-dir"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for args in (["status"], ["list"], ["kpi"], ["import", "sectores", str(EXAMPLES / "sectores.csv")]):
        result = cli(*args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert f"no toolbox database at {elsewhere / 'data' / 'toolbox.db'}; run toolbox db init" \
            in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert list(elsewhere.iterdir()) == []


def test_a_mistyped_sqlite_path_creates_no_directories(tmp_path, cli, toolbox_env):
    url = f"sqlite:///{tmp_path}/no/such/dir/toolbox.db"
    result = cli("status", TOOLBOX_DATABASE_URL=url)
    assert result.exit_code == EXIT_USAGE and "no toolbox database at" in result.stderr
    assert not (tmp_path / "no").exists()


def test_a_database_without_a_toolbox_table_names_it(engines, cli):
    with engines.source.begin() as conn:
        conn.exec_driver_sql("DROP TABLE referidos_alias")
    result = cli("kpi")
    assert result.exit_code == EXIT_USAGE
    assert "source table referidos_alias is missing" in result.stderr
    assert "run toolbox db init" in result.stderr
    assert "OperationalError" not in result.output and "ProgrammingError" not in result.output


def test_a_database_with_no_toolbox_tables_is_refused(toolbox_env, cli, db_url):
    engine = create_engine(db_url)  # an existing, empty database (or SQLite file)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    engine.dispose()
    result = cli("status")
    assert result.exit_code == EXIT_USAGE
    assert "has no toolbox tables; run toolbox db init" in result.stderr


def test_an_old_ledger_is_refused_until_db_init_upgrades_it(engines, cli):
    """A ledger from before migrations (no dry_run column, no version row) keeps its rows."""
    with engines.datamart.begin() as conn:
        conn.execute(insert(runs_table).values(
            task="kpi", status="success", trigger="cron", host="h", pid=1,
            started_at=clock.utcnow(), warnings_count=0, version="0.1.0"))
        for table in ("toolbox_schema_version", "toolbox_schedule_installs", "toolbox_notifications"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
    if engines.datamart.dialect.name == "sqlite":
        with engines.datamart.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN tables")
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN dry_run")
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN retry_of")
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN digests")
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN sources")
    else:
        with engines.datamart.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE toolbox_runs DROP COLUMN tables, DROP COLUMN dry_run, "
                                 "DROP COLUMN retry_of, DROP COLUMN digests, DROP COLUMN sources")
    refused = cli("status")
    assert refused.exit_code == EXIT_USAGE
    assert "ledger" in refused.stderr and "run toolbox db init to upgrade it" in refused.stderr
    upgraded = cli("--debug", "db", "init")
    assert upgraded.exit_code == 0, upgraded.output
    runs = json.loads(cli("status", "--json").stdout)
    assert [(r["task"], r["dry_run"]) for r in runs] == [("kpi", False)]


def test_the_head_revision_in_code_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from toolbox_cli.storage.schema import LEDGER_HEAD, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == LEDGER_HEAD
