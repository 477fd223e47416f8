"""What cron mails: the wrapper is silent on success and summarises a failure; MAILTO covers
only the toolbox's entries.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from crontab import CronTab
from sqlalchemy import delete

from tests.support.crontab import LIMA
from tests.support.paths import REPO
from toolbox_cli import ledger
from toolbox_cli.demo import seed_demo
from toolbox_cli.schedule import entries
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.storage.tables import contract as src

TODAY = datetime(2024, 3, 31).date()


def _wrapper_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    env_file = tmp_path / "toolbox.env"
    env_file.write_text(f"TOOLBOX_DATABASE_URL={db_url}\nTOOLBOX_DATA_DIR={tmp_path / 'data'}\n"
                        f"TOOLBOX_LOG_DIR={tmp_path / 'logs'}\n"
                        f"TOOLBOX_METRICS_TEXTFILE={tmp_path / 'metrics' / 'toolbox.prom'}\n")
    env_file.chmod(0o600)
    (tmp_path / "metrics").mkdir()
    return {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TOOLBOX_ENV_FILE": str(env_file)}


def test_the_cron_wrapper_is_silent_on_success_and_summarises_a_failure(engines, db_url, tmp_path):
    seed_demo(engines.source, operations=100, seed=2, today=TODAY)
    env = _wrapper_env(tmp_path, db_url)
    wrapper = REPO / "scripts" / "toolbox-cron"
    ok = subprocess.run([str(wrapper), "07:00", "kpi"], env=env, capture_output=True, text=True,
                        timeout=180)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    prom = (tmp_path / "metrics" / "toolbox.prom").read_text()
    assert 'toolbox_last_run_status{status="success",task="kpi"} 1.0' in prom

    with engines.source.begin() as conn:
        conn.execute(delete(src.colocaciones))
    failed = subprocess.run([str(wrapper), "07:00", "kpi"], env=env, capture_output=True,
                            text=True, timeout=180)
    assert failed.returncode == 1
    run_id = ledger.recent_runs(engines.datamart, task="kpi", limit=1)[0].id
    log = next(p for p in sorted((tmp_path / "logs").glob("kpi-*.log"))
               if f"run {run_id}" in p.read_text())
    assert failed.stdout.splitlines() == [
        "toolbox: kpi failed (slot 07:00 Lima, exit code 1)",
        f"  run:    {run_id}",
        f"  error:  {ledger.get_run(engines.datamart, run_id).error_message}",
        f"  log:    {log}",
        f"  more:   toolbox status {run_id}",
    ]
    assert failed.stderr == ""


def test_the_cron_wrapper_summarises_a_database_that_is_not_there(tmp_path):
    env = _wrapper_env(tmp_path, f"sqlite:///{tmp_path / 'missing.db'}")
    result = subprocess.run([str(REPO / "scripts" / "toolbox-cron"), "18:00", "tablas-reportes"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == "toolbox: tablas-reportes usage or configuration error (slot 18:00 Lima, exit code 2)"
    assert lines[1] == "  run:    not recorded in the ledger"
    assert "no toolbox database at" in lines[2]


def test_install_mailto_covers_only_the_toolbox_entries(tmp_path):
    foreign = "MAILTO=root\n0 1 * * * /usr/bin/foreign-one\n"
    path = tmp_path / "crontab"
    path.write_text(foreign)
    slots = schedule.configured_slots({"kpi": ["0 7 * * *"]}, {})
    plan = entries.build_plan(slots, business=LIMA, host=ZoneInfo("UTC"),
                               now=datetime.now(UTC), project_dir=Path("/opt/toolbox"),
                               mailto="datos@empresa.pe")
    for _ in range(2):  # idempotent
        tab = CronTab(tabfile=str(path))
        entries.apply_plan(tab, plan)
        entries.write_crontab(tab, path)
    text = path.read_text()
    assert text.count("MAILTO=datos@empresa.pe") == 1
    effective = {job.command: job.env.all().get("MAILTO") for job in CronTab(tabfile=str(path)).crons}
    assert effective == {"/usr/bin/foreign-one": "root",
                         "/opt/toolbox/scripts/toolbox-cron 07:00 kpi": "datos@empresa.pe"}
    # A foreign entry below the block: the block moves to the end, the entry keeps root.
    path.write_text(text + "5 1 * * * /usr/bin/foreign-two\n")
    tab = CronTab(tabfile=str(path))
    entries.apply_plan(tab, plan)
    entries.write_crontab(tab, path)
    effective = {job.command: job.env.all().get("MAILTO") for job in CronTab(tabfile=str(path)).crons}
    assert effective["/usr/bin/foreign-two"] == "root"
    tab = CronTab(tabfile=str(path))
    entries.remove_entries(tab)
    entries.write_crontab(tab, path)
    # (a blank line may stay where the block was before it moved)
    assert [line for line in path.read_text().splitlines() if line] == \
        [*foreign.splitlines(), "5 1 * * * /usr/bin/foreign-two"]
    with pytest.raises(Exception, match="not a mail address"):
        entries.build_plan(slots, business=LIMA, host=ZoneInfo("UTC"), now=datetime.now(UTC),
                            mailto="ops@x\nMAILTO=evil")
