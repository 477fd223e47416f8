"""Core CLI behaviour: config, errors and exit codes, status and list."""


from __future__ import annotations

import json

import pytest

from tests.support.loopback import free_port
from toolbox_cli.errors import EXIT_USAGE

SECRET = "s3cr3t-Pa55"


def test_config_masks_the_password(cli, toolbox_env):
    result = cli("config", "--json",
                 TOOLBOX_DATABASE_URL=f"mysql+pymysql://u:{SECRET}@127.0.0.1:3306/db",
                 TOOLBOX_SOURCE_PASSWORD=SECRET)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    data = json.loads(result.stdout)
    assert data["database_url"] == "mysql+pymysql://u:***@127.0.0.1:3306/db"
    assert data["source_password"] == "********"
    assert data["timezone"] == "America/Lima"


def test_unreachable_database_exits_4_naming_host_and_port_not_password(cli, toolbox_env):
    port = free_port()
    result = cli("status",
                 TOOLBOX_DATABASE_URL=f"mysql+pymysql://u:{SECRET}@127.0.0.1:{port}/db")
    assert result.exit_code == 4
    assert f"127.0.0.1:{port}" in result.stderr
    assert SECRET not in result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TOOLBOX_DATABASE_URL": "postgresql://u@localhost/db"}, "unsupported scheme"),
        ({"TOOLBOX_DATABASE_URL": "not a url"}, "not a database URL"),
        ({"TOOLBOX_TIMEZONE": "Mars/Olympus"}, "TOOLBOX_TIMEZONE"),
        ({"TOOLBOX_TASA_FONDEO_PEN": "abc"}, "TOOLBOX_TASA_FONDEO_PEN"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(cli, toolbox_env, env, needle):
    result = cli("status", **env)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_env_file_readable_by_others_is_refused(cli, toolbox_env, tmp_path):
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(f"TOOLBOX_DATABASE_PASSWORD={SECRET}\n")
    env_file.chmod(0o644)
    result = cli("--env-file", str(env_file), "config")
    assert result.exit_code == 2 and "chmod 600" in result.stderr
    env_file.chmod(0o600)
    result = cli("--env-file", str(env_file), "config")
    assert result.exit_code == 0 and SECRET not in result.output


def test_status_of_unknown_run_exits_2(cli, engines):
    result = cli("status", "999")
    assert result.exit_code == 2 and "no run with id 999" in result.stderr


def test_db_init_is_idempotent(cli, toolbox_env):
    first = cli("db", "init", "--json")
    assert first.exit_code == 0, first.output
    assert "toolbox_runs" in json.loads(first.stdout)["created"]
    second = cli("db", "init", "--json")
    assert json.loads(second.stdout)["created"] == []


def test_list_shows_every_registered_task(cli, engines):
    from toolbox_cli.registry import all_tasks

    result = cli("list", "--json")
    assert result.exit_code == 0, result.output
    names = [t["task"] for t in json.loads(result.stdout)]
    assert names == sorted(all_tasks())


@pytest.mark.production
def test_wrong_password_exits_2_without_echoing_it(cli, tmp_path):
    from sqlalchemy.engine import make_url

    from tests.conftest import MYSQL_URL

    url = make_url(MYSQL_URL).set(password=SECRET).render_as_string(hide_password=False)
    result = cli("status", TOOLBOX_DATABASE_URL=url, TOOLBOX_DATA_DIR=str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "refused the login" in result.stderr and SECRET not in result.output


@pytest.mark.production
def test_missing_database_exits_2_naming_it(cli, tmp_path):
    from sqlalchemy.engine import make_url

    from tests.conftest import MYSQL_URL

    url = make_url(MYSQL_URL).set(database="no_such_db_q7").render_as_string(
        hide_password=False)
    result = cli("status", TOOLBOX_DATABASE_URL=url, TOOLBOX_DATA_DIR=str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "no_such_db_q7" in result.stderr and "does not exist" in result.stderr


def test_status_check_fails_until_the_failed_task_succeeds_again(cli, toolbox_env, engines):
    from toolbox_cli.runner import run_task
    from toolbox_cli.tasks.base import TaskSpec

    def boom(ctx, _params):
        raise RuntimeError("source table colocaciones is empty")

    assert cli("status", "--check").exit_code == 0
    run_task(TaskSpec("selftest", "test", boom), toolbox_env, {}, engines=engines)
    result = cli("status", "--check", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(p["kind"], p["task"]) for p in problems] == [("failed", "selftest")]
    assert "colocaciones is empty" in problems[0]["message"]
    run_task(TaskSpec("selftest", "test", lambda ctx, _params: None), toolbox_env, {}, engines=engines)
    assert cli("status", "--check").exit_code == 0


def test_list_json_gives_lima_schedule_and_next_run(cli, engines):
    result = cli("list", "--json")
    tasks = {t["task"]: t for t in json.loads(result.stdout)}
    assert tasks["tablas-reportes"]["schedule"] == ["07:00", "18:00"]
    assert tasks["tablas-reportes"]["next_run"].endswith("-05:00")
    assert tasks["kpi"]["schedule"] == [] and tasks["kpi"]["next_run"] is None




def test_status_refuses_unknown_filters_listing_the_valid_ones(engines, cli):
    bad_status = cli("status", "--status", "sucess")
    assert bad_status.exit_code == EXIT_USAGE
    assert ("unknown status 'sucess' (did you mean success?); use one of: running, success, "
            "failed, skipped, crashed") in bad_status.stderr
    bad_task = cli("status", "--task", "kpii")
    assert bad_task.exit_code == EXIT_USAGE
    assert "unknown task 'kpii' (did you mean kpi?)" in bad_task.stderr
    assert "tablas-cxc" in bad_task.stderr
    assert cli("status", "--task", "kpi", "--status", "failed").exit_code == 0
