"""README "Code layout and adding a task", followed literally on a copy of the package: the
three steps add a task that writes a new datamart table, and ``db init``, the task itself,
``list``, the schedule and the guard all know it."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from tests.support.paths import README, REPO, TOOLBOX


def _readme_steps() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Code layout and adding a task"):text.index("## Tests")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _apply(steps: list[str], package: Path) -> None:
    """Each block whose first line names a file is that file; the other is the two lines
    to add to the registry (the import, and the SPEC in TASKS)."""
    for block in steps:
        first = block.splitlines()[0]
        if first.startswith("# toolbox_cli/"):
            path = package.parent / first[2:].strip()
            path.write_text(block, encoding="utf-8")
            continue
        import_line, entry = [line for line in block.splitlines() if line.strip()]
        registry = package / "registry.py"
        source = registry.read_text(encoding="utf-8")
        anchor = "from toolbox_cli.tasks import "
        assert anchor in source and import_line.startswith(anchor)
        source = source.replace(anchor, import_line + "\n" + anchor, 1)
        head, tasks = source.split("TASKS: tuple[TaskSpec, ...] = (\n", 1)
        body, tail = tasks.split("\n)\n", 1)
        registry.write_text(f"{head}TASKS: tuple[TaskSpec, ...] = (\n{body}\n{entry}\n)\n{tail}",
                            encoding="utf-8")


def _saldos_diarios(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute('SELECT "FechaOperacion", "SaldoTotalCaja" FROM saldos_diarios '
                            "ORDER BY id").fetchall()


def test_the_readme_steps_add_a_task_that_writes_a_new_table(tmp_path: Path) -> None:
    steps = _readme_steps()
    assert len(steps) == 3
    copy = tmp_path / "src"
    shutil.copytree(REPO / "toolbox_cli", copy / "toolbox_cli",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _apply(steps, copy / "toolbox_cli")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy), "TOOLBOX_DATA_DIR": str(tmp_path / "data")}

    def toolbox(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TOOLBOX, *args], env={**env, **extra}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    init = toolbox("db", "init")
    assert init.returncode == 0, init.stderr
    assert "saldos_diarios" in init.stdout  # db init created the new table
    assert toolbox("demo", "--operations", "200").returncode == 0

    help_text = toolbox("saldos-diarios", "--help").stdout
    assert "--fecha-corte" in help_text and "toolbox saldos-diarios --dry-run" in help_text
    run = toolbox("saldos-diarios", TOOLBOX_MAX_SHRINK_PERCENT_TABLES='{"saldos_diarios": 10}')
    assert run.returncode == 0, run.stderr
    db = tmp_path / "data" / "toolbox.db"
    with sqlite3.connect(db) as conn:
        balances = conn.execute("SELECT COUNT(*) FROM saldos_caja").fetchone()[0]
    stored = _saldos_diarios(db)
    assert len(stored) == balances > 0
    assert f"saldos_diarios={balances:,}" in run.stdout  # counts grouped, as in the README

    listed = {t["task"]: t for t in json.loads(toolbox("list", "--json").stdout)}
    assert listed["saldos-diarios"]["tables"] == ["saldos_diarios"]
    assert listed["saldos-diarios"]["schedule"] == ["07:00"]
    assert listed["saldos-diarios"]["last_run"]["status"] == "success"
    plan = toolbox("schedule", "install", "--dry-run", "--host-tz", "UTC", "--project-dir",
                   "/opt/toolbox")
    assert plan.returncode == 0, plan.stderr
    assert "toolbox:saldos-diarios@07:00" in plan.stdout  # 07:00 Lima is 12:00 UTC
    assert any(line.startswith("0 12 * * *") and "saldos-diarios" in line
               for line in plan.stdout.splitlines())

    # The guard judges the new table: a source that lost most of its rows keeps it.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM saldos_caja WHERE id > 3")
    tripped = toolbox("saldos-diarios")
    assert tripped.returncode == 1
    assert "saldos_diarios: 3 new rows against" in tripped.stderr
    assert _saldos_diarios(db) == stored
    # ... and a per-table limit naming it is a setting like any other.
    allowed = toolbox("saldos-diarios", TOOLBOX_MAX_SHRINK_PERCENT_TABLES='{"saldos_diarios": 100}')
    assert allowed.returncode == 0, allowed.stderr
    assert len(_saldos_diarios(db)) == 3
