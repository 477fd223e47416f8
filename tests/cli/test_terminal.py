"""What a person at a terminal sees (issue 15): tables that fit 80 and 120 columns with ids
and numbers whole, warnings once each with their count, plain date errors, global options
after the command, a log for every run, retry, ISO times with offset, `toolbox config`."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from sqlalchemy import update

from tests.support.paths import REPO
from toolbox_cli.cli import hoist_global_options
from toolbox_cli.context import TaskContext
from toolbox_cli.demo import seed_demo
from toolbox_cli.ledger import get_run
from toolbox_cli.params import RunFlags
from toolbox_cli.storage.tables.ledger import runs

LONG_ERROR = ("kpi: 169 new rows against 3,078 in the live table (95% fewer; the limit is "
              "20%); no table was replaced, the dashboards keep the previous content. Check "
              "the source tables; if the smaller result is right, run again with --allow-shrink")


@pytest.fixture
def cli(cli, toolbox_env):  # type: ignore[no-untyped-def]
    """The test's database, consoles 80 columns wide unless a command says otherwise."""
    return functools.partial(cli, width=80)


@pytest.fixture
def week(engines, toolbox_env, cli):
    """A ledger as a team sees it: refreshes, a dry run, a failure with a long message."""
    seed_demo(engines.source, operations=400, seed=4, today=date(2025, 6, 30))
    for args in (["tablas-reportes"], ["kpi-acumulado"], ["tablas-cxc"], ["kpi", "--dry-run"],
                 ["kpi"]):
        assert cli(*args).exit_code == 0
    with engines.datamart.begin() as conn:  # the last kpi run "failed" with a long error
        last = conn.execute(runs.select().order_by(runs.c.id.desc())).first()
        assert last is not None
        conn.execute(update(runs).where(runs.c.id == last.id).values(
            status="failed", error_type="GuardTripped", error_message=LONG_ERROR,
            rows_written=json.dumps({"kpi": 1_012_345})))
    return last.id


def visible(line: str) -> int:
    return Text.from_ansi(line).cell_len


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", [["status"], ["list"], ["schedule", "show"], ["config"]])
def test_every_table_fits_the_terminal_with_ids_and_numbers_whole(cli, week, width, command
                                                                  ) -> None:
    result = cli(*command, width=width)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(visible(line) for line in lines) <= width, "\n".join(lines)
    if command == ["status"]:
        ids = [int(m.group(1)) for line in lines if (m := re.match(r"\s*(\d+)\s+\S", line))]
        assert ids == list(range(week, 0, -1))  # every run id, whole, newest first
        assert "1,012,345" in result.stdout
        assert "tablas-reportes" in result.stdout and "kpi-acumulado" in result.stdout
        # The long error is never lost: in the table (cut) at 120, under it (folded) at 80.
        plain = " ".join(result.stdout.split())
        assert ("kpi: 169 new rows" in plain) and (width == 120 or "--allow-shrink" in plain)
    if command == ["schedule", "show"]:
        for task in ("tablas-reportes", "tablas-cxc", "kpi-acumulado", "tipo-cambio"):
            assert re.search(rf"^{task}\s", result.stdout, re.M), task


def test_status_wide_shows_a_long_error_whole_on_a_narrow_terminal(cli, week) -> None:
    result = cli("status", "--wide", width=80)
    assert result.exit_code == 0
    assert LONG_ERROR in result.stdout.replace("\n", "")


def test_a_warning_raised_again_is_counted_not_repeated(engines, toolbox_env) -> None:
    ctx = TaskContext(settings=toolbox_env, source=engines.source, datamart=engines.datamart,
                      params=RunFlags(), today=date(2025, 6, 30), run_id=7)
    for _ in range(3):
        ctx.warn("'gustavo paredes' mapped")
    ctx.warn("another")
    ctx.warn("a case", detail=True)
    assert ctx.warnings == ["'gustavo paredes' mapped (×3)", "another", "a case"]
    assert ctx.warnings_count == 3


def test_status_warnings_lists_every_warning_and_the_summary_points_there(cli, week) -> None:
    result = cli("kpi")
    run_id = int(re.search(r"run (\d+)", result.stdout).group(1))
    assert f"warnings (toolbox status {run_id} --warnings)" in result.stdout
    shown = cli("status", str(run_id)).stdout
    every = cli("status", str(run_id), "--warnings", width=200).stdout
    data = json.loads(cli("status", str(run_id), "--json").stdout)
    assert len(data["warnings"]) == data["warnings_count"]
    assert all(w in every for w in data["warnings"])
    if len(data["warnings"]) > 5:
        assert f"toolbox status {run_id} --warnings" in shown
    assert cli("status", "--warnings").exit_code == 2


def test_json_times_are_iso_with_the_lima_offset(cli, week) -> None:
    data = json.loads(cli("status", "--json").stdout)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-05:00", r["started_at"])
               for r in data)
    listing = json.loads(cli("list", "--json").stdout)
    assert any(t["last_run"] and t["last_run"]["started_at"].endswith("-05:00") for t in listing)


@pytest.mark.parametrize(("value", "message"), [
    ("2024-02-30", "2024-02-30 is not a real date"),
    ("31-12-2024", "use YYYY-MM-DD, e.g. 2024-12-31"),
])
def test_date_errors_say_what_is_wrong_in_plain_words(cli, engines, value, message) -> None:
    result = cli("kpi", "--desde", value)
    assert result.exit_code == 2
    assert message in result.output and "%Y" not in result.output


def test_help_shows_date_metavars_and_no_bool(cli) -> None:
    result = cli("kpi", "-h", width=120)
    assert "--desde YYYY-MM-DD" in result.stdout and "--allow-future" in result.stdout
    assert "<bool>" not in result.stdout and "%Y" not in result.stdout


def test_a_cut_off_after_today_needs_allow_future(cli, engines) -> None:
    future = (date.today() + timedelta(days=40)).isoformat()
    refused = cli("kpi", "--fecha-corte", future, "--dry-run")
    assert refused.exit_code == 2 and "--allow-future" in refused.stderr
    seed_demo(engines.source, operations=50, seed=2, today=date(2025, 6, 30))
    assert cli("kpi", "--fecha-corte", future, "--allow-future", "--dry-run").exit_code == 0


def test_global_options_are_taken_after_the_command_too() -> None:
    assert hoist_global_options(["kpi", "--debug", "--dry-run"]) == ["--debug", "kpi",
                                                                     "--dry-run"]
    assert hoist_global_options(["status", "-q", "--env-file", "/e", "5"]) == [
        "-q", "--env-file", "/e", "status", "5"]
    assert hoist_global_options(["--env-file=/e", "import", "x", "--", "--debug"]) == [
        "--env-file=/e", "import", "x", "--", "--debug"]


def test_debug_after_the_command_shows_the_traceback(cli, engines) -> None:
    env = {**os.environ, "TOOLBOX_DATABASE_URL": "mysql+pymysql://u@127.0.0.1:9/db"}
    quiet = subprocess.run([sys.executable, "-m", "toolbox_cli", "status"], env=env,
                           capture_output=True, text=True, timeout=60)
    loud = subprocess.run([sys.executable, "-m", "toolbox_cli", "status", "--debug"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert quiet.returncode == loud.returncode == 4
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr


def test_every_manual_run_writes_its_log_and_logs_prints_it(cli, engines, toolbox_env) -> None:
    seed_demo(engines.source, operations=80, seed=5, today=date(2025, 6, 30))
    assert cli("kpi").exit_code == 0
    run = json.loads(cli("status", "--json").stdout)[0]
    assert run["log_path"] and Path(run["log_path"]).parent == toolbox_env.resolved_log_dir
    text = cli("logs", str(run["id"])).stdout
    assert f"task=kpi run={run['id']}" in text
    assert re.search(r"# started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d -05:00", text)
    assert "# finished" in text and "success exit code 0" in text
    assert cli("logs", "9999").exit_code == 2


def test_retry_reruns_with_the_stored_parameters(cli, engines, toolbox_env) -> None:
    seed_demo(engines.source, operations=80, seed=5, today=date(2025, 6, 30))
    assert cli("kpi", "--desde", "01/01/2024", "--hasta", "2025-06-30", "--fecha-corte",
               "2025-06-30").exit_code == 0
    first = json.loads(cli("status", "--json").stdout)[0]
    result = cli("retry", str(first["id"]))
    assert result.exit_code == 0, result.output
    assert f"retrying run {first['id']}" in result.stdout
    again = json.loads(cli("status", "--json").stdout)[0]
    assert again["id"] == first["id"] + 1 and again["retry_of"] == first["id"]
    assert again["params"] == first["params"]
    assert cli("retry", "9999").exit_code == 2


def test_config_is_aligned_says_unset_and_where_each_value_comes_from(cli, toolbox_env,
                                                                      tmp_path) -> None:
    env_file = tmp_path / "toolbox.env"
    env_file.write_text("TOOLBOX_CHUNK_SIZE=1234\nTOOLBOX_CHUNK_SIZ=1\n")
    env_file.chmod(0o600)
    result = cli("--env-file", str(env_file), "config", width=120,
                 TOOLBOX_DATBASE_URL="sqlite:///x.db")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()
            if line.startswith("TOOLBOX_")}
    assert "(not set)" in rows["TOOLBOX_DATABASE_PASSWORD"]
    assert f"settings (env file {env_file})" in result.stdout
    assert "1234" in rows["TOOLBOX_CHUNK_SIZE"]
    assert rows["TOOLBOX_CHUNK_SIZE"].rstrip().endswith("env file")
    assert rows["TOOLBOX_DATABASE_URL"].rstrip().endswith("environment")
    assert rows["TOOLBOX_TIMEZONE"].rstrip().endswith("default")
    starts = {line.index(line.split()[1]) for line in rows.values()}
    assert len(starts) == 1  # the values start in one column
    assert "TOOLBOX_DATBASE_URL (environment) is not a toolbox setting" in result.stderr
    assert "did you mean TOOLBOX_DATABASE_URL?" in result.stderr
    assert "did you mean TOOLBOX_CHUNK_SIZE?" in result.stderr


# ----------------------------------------------------------------------------- a real terminal


def _tmux(session: str, *args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("trigger", ["manual", "cron"])
def test_progress_shows_on_a_real_terminal_and_never_under_cron(engines, toolbox_env, trigger
                                                                ) -> None:
    """`toolbox kpi` in a tmux pseudo-terminal: while it writes (held 3 s at a chunk) the
    progress line shows the table, the phase and rows; started as cron would, nothing."""
    seed_demo(engines.source, operations=600, seed=6, today=date(2025, 6, 30))
    session = f"tbx{os.getpid()}{trigger}"
    done = Path(toolbox_env.data_dir) / "done"
    done.parent.mkdir(parents=True, exist_ok=True)
    command = (f"cd {REPO} && TOOLBOX_DATABASE_URL={toolbox_env.database_url} "
               f"TOOLBOX_DATA_DIR={toolbox_env.data_dir} TOOLBOX_TRIGGER={trigger} "
               f"TOOLBOX_CHUNK_SIZE=300 TOOLBOX_PAUSE_AT=staging:2 "
               f"{sys.executable} -m toolbox_cli kpi --fecha-corte 2025-06-30; touch {done}")
    _tmux(session, "new-session", "-d", "-s", session, "-x", "120", "-y", "40")
    try:
        _tmux(session, "send-keys", "-t", session, command, "Enter")
        seen, deadline = "", time.monotonic() + 120
        while not done.exists():
            assert time.monotonic() < deadline, "kpi did not finish in the tmux session"
            screen = _tmux(session, "capture-pane", "-p", "-t", session)
            if "rows/s" in screen or "reading and computing" in screen:
                seen = screen
            time.sleep(0.2)
        time.sleep(0.3)
        final = _tmux(session, "capture-pane", "-p", "-t", session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "kpi: success" in final
    if trigger == "manual":
        assert "kpi" in seen and ("writing" in seen or "reading and computing" in seen), seen
        assert "rows/s" not in final.split("kpi: success")[-1]  # gone when the run ends
    else:
        assert seen == "", seen
    run = get_run(engines.datamart, json.loads(subprocess.run(
        [sys.executable, "-m", "toolbox_cli", "status", "--json", "-n", "1"],
        env={**os.environ, "TOOLBOX_DATABASE_URL": toolbox_env.database_url},
        capture_output=True, text=True, check=True).stdout)[0]["id"])
    assert run is not None and run.status == "success"
