"""The command line starts light and its commands come from one place.

`toolbox --help` lists every command without importing a database driver, the settings or
Polars; `list`, `status` and `schedule show` never import Polars; the task commands are
generated from the registry, one option per parameter field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolbox_cli.cli import app
from toolbox_cli.cli.app import COMMANDS
from toolbox_cli.cli.common import reset_settings
from toolbox_cli.registry import TASKS
from toolbox_cli.tasks.base import flag_of

HEAVY = ("polars", "sqlalchemy", "pydantic_settings", "pyarrow", "connectorx", "rich.markdown")


def imported_by(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The modules a real `toolbox ARGS` process had imported when it exited."""
    probe = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print('MODULES=' + json.dumps(sorted(sys.modules)),"
        " file=sys.stderr))\n"
        "from toolbox_cli.cli import main\n"
        f"sys.argv = ['toolbox', *{args!r}]\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def test_help_imports_no_driver_no_settings_no_polars() -> None:
    modules = imported_by(["--help"])
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}
    assert "toolbox_cli.runner" not in modules and "toolbox_cli.ledger" not in modules


@pytest.mark.parametrize(("args", "command_module"), [
    (["list"], "toolbox_cli.cli.cmd_core"), (["status"], "toolbox_cli.cli.cmd_core"),
    (["schedule", "show"], "toolbox_cli.cli.cmd_schedule")])
def test_list_status_and_schedule_show_never_import_polars(args: list[str], command_module: str,
                                                           toolbox_env) -> None:  # type: ignore[no-untyped-def]
    env = {"TOOLBOX_DATABASE_URL": toolbox_env.database_url,
           "TOOLBOX_DATA_DIR": str(toolbox_env.data_dir)}
    subprocess.run([sys.executable, "-m", "toolbox_cli", "db", "init"], env={**os.environ, **env},
                   check=True, capture_output=True, timeout=60)
    modules = imported_by(args, env)
    assert command_module in modules  # the command did run: its module was imported
    assert not {m for m in modules if m.split(".")[0] in ("polars", "pyarrow", "connectorx")}


def test_help_lists_every_task_and_command_with_its_summary() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for spec in TASKS:
        assert f"{spec.name}" in result.output and spec.description in result.output
    for name, (_module, text) in COMMANDS.items():
        assert text in result.output, name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_summary_is_the_first_line_of_its_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert " ".join(COMMANDS[name][1].split()) in " ".join(result.output.split())


@pytest.mark.parametrize("spec", TASKS, ids=lambda s: s.name)
def test_every_parameter_of_a_task_is_an_option_of_its_command(spec) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, [spec.name, "-h"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for f in dataclasses.fields(spec.params):
        for name in flag_of(f).name.split("/"):  # "--operaciones/--sin-operaciones": both
            assert name in result.output
    assert "--wait" in result.output and "--json" in result.output
    assert spec.example in result.output
    assert "<bool>" not in result.output.lower() and "BOOLEAN" not in result.output


def test_date_options_take_iso_and_day_first_dates(toolbox_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from toolbox_cli.cli import task_commands

    seen = []
    monkeypatch.setattr("toolbox_cli.cli.common.run_spec_command",
                        lambda spec, params, **kw: seen.append(params))
    runner = CliRunner()
    assert runner.invoke(app, ["kpi", "--desde", "01/02/2024", "--hasta", "2024-03-31"]
                         ).exit_code == 0
    assert str(seen[0].desde) == "2024-02-01" and str(seen[0].hasta) == "2024-03-31"
    bad = runner.invoke(app, ["kpi", "--desde", "2024-13-01"])
    assert bad.exit_code == 2
    assert "not a real date" in bad.output and "Traceback" not in bad.output
    assert task_commands.parse_date_option(None) is None


def test_reversed_range_is_a_usage_error_before_any_database_is_opened(tmp_path: Path,
                                                                       monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOOLBOX_DATABASE_URL", f"sqlite:///{tmp_path}/nothing-here.db")
    reset_settings()
    result = CliRunner().invoke(app, ["kpi", "--desde", "2024-03-05", "--hasta", "2024-03-01"])
    reset_settings()
    assert result.exit_code == 2
    assert "is before --desde" in result.stderr and "no toolbox database" not in result.stderr
    assert not (tmp_path / "nothing-here.db").exists()
