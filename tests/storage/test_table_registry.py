"""One explicit table registry (issue 19): every table is defined in storage/tables/, complete
in any process whoever imported what; specs name only defined tables; a run writes only what
it locked; per-table settings are checked against the registry."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from sqlalchemy import Table

from tests.support.paths import EXAMPLES, README, TOOLBOX
from tests.support.selftest import frames, items, selftest_items, selftest_other
from toolbox_cli.context import TaskContext
from toolbox_cli.errors import ConfigError
from toolbox_cli.imports import KINDS
from toolbox_cli.jobs import demo
from toolbox_cli.jobs.imports import import_job
from toolbox_cli.registry import TASKS
from toolbox_cli.runner import run_task
from toolbox_cli.storage.tables import datamart_metadata, guarded_tables, source_metadata, undefined
from toolbox_cli.tasks.base import TaskSpec

# The datamart tables the dashboards read and the source contract (README "Datamart tables",
# "Source contract"): written out here, not read from the code under test.
DATAMART = {"kpi", "kpi_acumulado", "nuevos_clientes_nuevos_pagadores", "saldos",
            "actualizacion_reportes", "cxc_pagos_fact", "cxc_dev_fact", "cxc_acumulado_dim"}
SOURCES = {"colocaciones", "colocaciones_pagos", "colocaciones_devoluciones", "tipo_cambio",
           "sector_pagadores", "operaciones_fuera_sistema", "referidos", "referidos_alias",
           "saldos_caja", "cxc_codigos_especiales"}


def test_every_table_is_defined_in_a_fresh_process_whichever_module_it_imports() -> None:
    """Importing the smallest corner of the registry (the ledger's tables) is enough."""
    probe = ("import json, toolbox_cli.storage.tables.ledger; "
             "from toolbox_cli.storage.tables import guarded_tables; "
             "print(json.dumps(guarded_tables()))")
    out = subprocess.run([TOOLBOX[0], "-c", probe], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert set(json.loads(out)) == DATAMART | SOURCES


def test_every_spec_names_only_defined_tables() -> None:
    specs = [*TASKS, demo.SPEC, *(import_job(kind, EXAMPLES / "saldos.csv").spec
                                  for kind in KINDS)]
    for spec in specs:
        assert undefined((*spec.tables, *spec.reads, *spec.requires)) == [], spec.name
    assert {t for spec in TASKS for t in spec.tables} >= DATAMART - {"actualizacion_reportes"}


def test_every_table_is_kept_in_utf8mb4_on_mysql() -> None:
    tables: list[Table] = [*source_metadata.tables.values(), *datamart_metadata.tables.values()]
    for table in tables:
        if table.name.startswith("selftest_"):
            continue  # defined by the tests, after the registry
        assert table.kwargs["mysql_charset"] == "utf8mb4", table.name


def test_a_spec_naming_an_undefined_table_is_refused_before_the_run(toolbox_env, engines) -> None:
    spec = TaskSpec("selftest", "test", lambda ctx, _params: None, tables=("no_such_table",))
    with pytest.raises(ConfigError, match="no_such_table"):
        run_task(spec, toolbox_env, {}, engines=engines)


def test_the_writer_refuses_a_table_the_run_did_not_lock(toolbox_env, engines) -> None:
    def sneaky(ctx: TaskContext, _params: object) -> None:
        with ctx.replace_tables(selftest_other) as out:  # the spec locks selftest_items only
            for frame in frames([{"name": "x"}]):
                out.add(selftest_other, frame)

    spec = TaskSpec("selftest", "test", sneaky, tables=("selftest_items",))
    outcome = run_task(spec, toolbox_env, {}, engines=engines)
    assert outcome.status == "failed"
    assert "selftest_other: not locked by this run" in outcome.error_message
    # ... while the table it locked is written.
    def honest(ctx: TaskContext, _params: object) -> None:
        with ctx.replace_tables(selftest_items) as out:
            for frame in frames(items(2)):
                out.add(selftest_items, frame)

    ok = run_task(TaskSpec("selftest", "test", honest, tables=("selftest_items",)),
                  toolbox_env, {}, engines=engines)
    assert (ok.status, ok.rows) == ("success", {"selftest_items": 2})


def _readme_example_setting() -> str:
    row = next(line for line in README.read_text().splitlines()
               if line.startswith("| `TOOLBOX_MAX_SHRINK_PERCENT_TABLES`"))
    found = re.search(r"e\.g\. `(\{.*?\})`", row)
    assert found is not None
    return found.group(1)


def test_the_readme_shrink_setting_works_on_every_command_in_a_fresh_process(tmp_path) -> None:
    """The README's own example, through the real `toolbox` in new processes: the runs, an
    import and the readers take it; a table name that does not exist is still refused."""
    setting = _readme_example_setting()
    assert json.loads(setting) == {"saldos": 50, "kpi": 10}
    env = {"PATH": "/usr/bin:/bin", "TOOLBOX_DATA_DIR": str(tmp_path / "data"),
           "TOOLBOX_MAX_SHRINK_PERCENT_TABLES": setting}
    commands = [["db", "init"], ["demo", "--operations", "300"], ["kpi"], ["tablas-reportes"],
                ["kpi-acumulado"], ["tablas-cxc"], ["kpi", "--dry-run"],
                ["import", "saldos", str(EXAMPLES / "saldos.csv")], ["list"], ["status"],
                ["status", "--check"], ["config"], ["metrics"]]
    for args in commands:
        done = subprocess.run([*TOOLBOX, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert "names no table" not in done.stderr, (args, done.stderr)
        if args != ["status", "--check"]:  # --check: exit 1 for what it finds, e.g. staleness
            assert done.returncode == 0, (args, done.stderr)
    bad = subprocess.run([*TOOLBOX, "kpi"], env={**env, "TOOLBOX_MAX_SHRINK_PERCENT_TABLES":
                                                 '{"kpis": 10}'},
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "TOOLBOX_MAX_SHRINK_PERCENT_TABLES names no table 'kpis'" in bad.stderr
    assert set(guarded_tables()) >= {"saldos", "kpi"}
