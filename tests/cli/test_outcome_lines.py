"""The line a run ends with says what happened (issue 23): the rows swapped in; for a run that
swapped nothing, what it had computed and why; for a skip, who holds the table; for a
setting, which one. ``status`` shows how long a running run has run and marks a retry;
``status --check`` gives one line per task and keeps interactive runs out of its verdict."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta

from sqlalchemy import delete, update

from toolbox_cli import clock, ledger
from toolbox_cli.registry import is_interactive
from toolbox_cli.storage.lock import lock_for
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables.ledger import runs as runs_table


def _outcome_line(stdout: str, task: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(f"{task}: "))


def test_a_tripped_guard_says_what_was_computed_and_that_nothing_was_swapped(cli, demo) -> None:  # type: ignore[no-untyped-def]
    assert cli("kpi").exit_code == 0
    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones).where(src.colocaciones.c.IdLiquidacionDet % 2 == 0))
    result = cli("kpi", width=400)
    assert result.exit_code == 1
    line = _outcome_line(result.stdout, "kpi")
    found = re.fullmatch(r"kpi: failed \(run \d+, [\d.]+s\): computed kpi=([\d,]+); nothing "
                         r"swapped in: the guard refused the new content \(below\)", line)
    assert found, line
    # The count computed is the guard's "new rows": the same number, with its separators.
    assert f"kpi: {found.group(1)} new rows against" in result.stderr
    assert "no rows" not in result.stdout


def test_a_setting_the_run_needs_is_named_on_the_outcome_line(cli, demo) -> None:  # type: ignore[no-untyped-def]
    result = cli("tipo-cambio", TOOLBOX_TIPO_CAMBIO_PROVIDER="decolecta", width=400)
    assert result.exit_code == 2
    line = _outcome_line(result.stdout, "tipo-cambio")
    assert line.endswith("nothing swapped in: TOOLBOX_TIPO_CAMBIO_TOKEN needs fixing (below)")
    assert "error: TOOLBOX_TIPO_CAMBIO_TOKEN is not set" in result.stderr


def test_a_skip_names_the_holder_once(cli, demo) -> None:  # type: ignore[no-untyped-def]
    holder = ledger.start_run(demo.datamart, "tablas-reportes", trigger="cron", slot="07:00",
                              params={}, tables=["kpi"])
    lock = lock_for(demo.datamart, ["kpi"])
    assert lock.acquire(wait=False)
    try:
        result = cli("kpi", width=400)
    finally:
        lock.release()
    assert result.exit_code == 3
    line = _outcome_line(result.stdout, "kpi")
    assert f"kpi is locked by run {holder} (tablas-reportes, host " in line
    assert line.endswith("kpi not started (use --wait to queue behind it)")
    assert "error:" not in result.stderr  # said once, on the outcome line


def test_a_running_run_shows_how_long_it_has_run(cli, demo) -> None:  # type: ignore[no-untyped-def]
    run_id = ledger.start_run(demo.datamart, "kpi", trigger="manual", slot=None, params={},
                              tables=["kpi"])
    started = clock.utcnow() - timedelta(seconds=125)
    with demo.datamart.begin() as conn:
        conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(
            started_at=started, heartbeat_at=clock.utcnow(), pid=os.getpid(),
            host=ledger.hostname()))
    listed = cli("status", width=120).stdout
    row = next(line for line in listed.splitlines() if line.lstrip().startswith(f"{run_id} "))
    assert re.search(r"running .* 2m0[5-9]s…", row), row  # 125 s, and the test's own seconds
    assert " - " not in row.split("running", 1)[1][:30]


def test_a_retry_is_marked_in_the_list(cli, demo) -> None:  # type: ignore[no-untyped-def]
    first = cli("kpi", "--desde", "2030-01-01", "--allow-future", "--hasta", "2030-01-02")
    first_id = int(re.search(r"\(run (\d+),", first.stdout).group(1))
    retried = cli("retry", str(first_id))
    retry_id = int(re.search(r"\(run (\d+),", retried.stdout).group(1))
    row = next(line for line in cli("status", width=160).stdout.splitlines()
               if line.lstrip().startswith(f"{retry_id} "))
    assert f"retry of {first_id}" in row


def _fail_an_import(cli, tmp_path, n: int) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / f"bad{n}.csv"
    bad.write_text("RUC,SECTOR,GRUPO ECO.\nnot-a-ruc,X,Y\n", encoding="utf-8")
    assert cli("import", "sectores", str(bad)).exit_code != 0


def test_check_gives_one_line_per_task_and_leaves_imports_out_of_the_verdict(  # type: ignore[no-untyped-def]
        cli, demo, tmp_path) -> None:
    for n in range(3):
        _fail_an_import(cli, tmp_path, n)
    alone = cli("status", "--check", width=200)
    assert alone.exit_code == 0, alone.stdout  # an analyst's bad CSVs do not turn it red
    assert "interactive runs (not part of the verdict):" in alone.stdout
    (line,) = [x for x in alone.stdout.splitlines() if "import:sectores" in x]
    assert "failed since" in line and "3 failed runs" in line

    with demo.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    for _ in range(2):
        assert cli("tablas-reportes").exit_code == 1
    check = cli("status", "--check", width=200)
    assert check.exit_code == 1
    lines = [x for x in check.stdout.splitlines() if "tablas-reportes" in x]
    assert len(lines) == 1 and "2 failed runs" in lines[0]
    assert lines[0].startswith("tablas-reportes failed since ")
    data = json.loads(cli("status", "--check", "--json").stdout)
    assert data["ok"] is False
    assert [(t["task"], t["state"], t["attempts"]) for t in data["tasks"]] == \
        [("tablas-reportes", "failed", 2)]
    assert [(t["task"], t["attempts"]) for t in data["interactive"]] == [("import:sectores", 3)]


def test_the_interactive_rule_matches_the_specs_not_monitored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from toolbox_cli.imports.kinds import KINDS
    from toolbox_cli.jobs.demo import SPEC
    from toolbox_cli.jobs.imports import ImportJob, ImportParams
    from toolbox_cli.registry import TASKS

    assert not SPEC.monitored and is_interactive(SPEC.name)
    for kind in KINDS.values():
        spec = ImportJob(kind, str(tmp_path / "x.csv"), "x.csv", ImportParams()).spec
        assert not spec.monitored and is_interactive(spec.name)
    assert not any(is_interactive(spec.name) for spec in TASKS)
