"""Every bad setting is exit 2 with one line naming the variable and what is wrong, whichever
command starts (issue 20, items 7 and 12): through the real `toolbox` in a subprocess, in
the environment and in env files, and through the cron wrapper."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO, TOOLBOX

# What a user must never read: Python's or pydantic's own words.
NOT_FOR_USERS = ("Traceback", "Input should", "pydantic", "SettingsError", "unexpected",
                 "errors.pydantic.dev")


def toolbox(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "TOOLBOX_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([*TOOLBOX, *args], env={**base, **env}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not any(word in result.stderr for word in NOT_FOR_USERS), result.stderr
    return lines[0]


@pytest.mark.parametrize(("variable", "value", "expected"), [
    # the examples of the issue
    ("TOOLBOX_SHEETS", '{"a": "x",}',
     "TOOLBOX_SHEETS: not valid JSON (expecting property name enclosed in double quotes at "
     "character 11)"),
    ("TOOLBOX_SCHEDULE_SLOTS", "[1,2", "TOOLBOX_SCHEDULE_SLOTS: not valid JSON (expecting ',' "
     "delimiter at character 5)"),
    ("TOOLBOX_MAX_AGE_MINUTES", "abc", "TOOLBOX_MAX_AGE_MINUTES: not valid JSON"),
    ("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"saldo": 50}',
     "TOOLBOX_MAX_SHRINK_PERCENT_TABLES names no table 'saldo' (did you mean saldos?)"),
    ("TOOLBOX_MAX_AGE_MINUTES", '{"kpii": 10}',
     "TOOLBOX_MAX_AGE_MINUTES names no task 'kpii' (did you mean kpi?)"),
    ("TOOLBOX_PING_URL", "https://hc-ping.com/KEY", "TOOLBOX_PING_URL: must name the task "
     "with {task}"),
    ("TOOLBOX_CHUNK_SIZE", "abc", "TOOLBOX_CHUNK_SIZE: must be a whole number, not 'abc'"),
    # others of the same classes
    ("TOOLBOX_HEARTBEAT_SECONDS", "0", "TOOLBOX_HEARTBEAT_SECONDS: must be more than 0, not 0"),
    ("TOOLBOX_TIPO_CAMBIO_ATTEMPTS", "11", "TOOLBOX_TIPO_CAMBIO_ATTEMPTS: must be at most 10"),
    ("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"kpi": "ten"}',
     "TOOLBOX_MAX_SHRINK_PERCENT_TABLES: kpi: must be a number, not 'ten'"),
    ("TOOLBOX_SHEETS", '{"sectore": "https://example.org/x"}',
     "TOOLBOX_SHEETS: 'sectore' is not a sheet (did you mean sectores?)"),
    ("TOOLBOX_SCHEDULE_SLOTS", '{"tablas-reportes": ["0 7 * *"]}',
     "schedule of tablas-reportes: '0 7 * *'"),
])
def test_a_bad_setting_is_named_by_every_command(tmp_path, variable, value, expected) -> None:
    """The setting is refused by commands that do not use it too: `status`, `config`."""
    for command in (["status"], ["config"], ["kpi"]):
        line = one_line_error(toolbox(tmp_path, *command, **{variable: value}))
        assert expected in line, (command, line)


def test_a_bad_command_line_number_is_said_in_plain_words(tmp_path) -> None:
    """Typer checks a value's type with pydantic; the words are the toolbox's (app.py)."""
    for args, expected in ((["logs", "abc"], "'RUN_ID': must be a whole number, not 'abc'"),
                           (["status", "--limit", "0"], "must be at least 1, not 0"),
                           (["demo", "--operations", "1.5"], "must be a whole number")):
        result = toolbox(tmp_path, *args)
        assert result.returncode == 2
        assert expected in result.stderr, result.stderr
        assert not any(word in result.stderr for word in NOT_FOR_USERS), result.stderr


@pytest.mark.parametrize(("content", "expected"), [
    ("TOOLBOX_CHUNK_SIZE=500\nfoo bar baz\n", "line 2: cannot read 'foo bar baz'"),
    ("TOOLBOX_DATABASE_PASSWORD\n", "line 1: TOOLBOX_DATABASE_PASSWORD has no value"),
    ('# the password\nTOOLBOX_DATABASE_PASSWORD="unterminated\n', "line 2: cannot read"),
    ("TOOLBOX_MAX_AGE_MINUTES={kpi: 10}\n", "TOOLBOX_MAX_AGE_MINUTES: not valid JSON"),
])
def test_an_env_file_line_that_cannot_be_read_is_named(tmp_path, content, expected) -> None:
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(content)
    env_file.chmod(0o600)
    line = one_line_error(toolbox(tmp_path, "--env-file", str(env_file), "config"))
    assert expected in line
    if "line" in expected:
        assert str(env_file) in line


def test_an_env_file_that_is_a_directory_is_called_one(tmp_path) -> None:
    line = one_line_error(toolbox(tmp_path, "--env-file", str(tmp_path), "status"))
    assert f"env file {tmp_path} is a directory" in line


def test_the_cron_wrapper_mails_the_bad_setting(tmp_path) -> None:
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(f"TOOLBOX_DATA_DIR={tmp_path / 'data'}\nTOOLBOX_LOG_DIR={tmp_path / 'logs'}"
                        "\nTOOLBOX_SHEETS={\"a\": \"x\",}\n")
    env_file.chmod(0o600)
    result = subprocess.run([str(REPO / "scripts" / "toolbox-cron"), "07:00", "tablas-reportes"],
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                                 "TOOLBOX_ENV_FILE": str(env_file)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "usage or configuration error" in result.stdout.splitlines()[0]
    assert "bad setting TOOLBOX_SHEETS: not valid JSON" in result.stdout
    assert "SettingsError" not in result.stdout
