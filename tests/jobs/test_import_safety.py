"""Imports never blank stored data (issue 20, item 4): a short row or an unclosed quote
rejects the file with its line; a merge from a file without an optional column keeps the
stored values of that column; the same rows again are kept, not replaced."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.paths import EXAMPLES
from toolbox_cli.jobs.imports import import_job
from toolbox_cli.runner import run_task
from toolbox_cli.storage.tables import contract as src

SALDOS = (EXAMPLES / "saldos.csv").read_text(encoding="utf-8")


def do_import(settings, engines, kind: str, path: Path):  # type: ignore[no-untyped-def]
    job = import_job(kind, path)
    return job.finish(run_task(job.spec, settings, job.params, engines=engines))


def rows(engines, table) -> list[tuple]:  # type: ignore[no-untyped-def]
    with engines.source.connect() as conn:
        return [tuple(r)[1:] if table is src.saldos_caja else tuple(r)
                for r in conn.execute(select(table).order_by(*table.primary_key.columns))]


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("kind", "good", "cut"), [
    # the example: the last saldos row without its last cells
    ("saldos", SALDOS, SALDOS.rstrip("\n").rsplit(";", 2)[0] + "\n"),
    # another kind, another row: a sectores row cut in the middle of the file
    ("sectores", "RUC,SECTOR,GRUPO ECO.\n20100000001,Minería,Grupo A\n20100000002,Pesca,\n",
     "RUC,SECTOR,GRUPO ECO.\n20100000001,Minería\n20100000002,Pesca,\n"),
])
def test_a_row_with_fewer_cells_than_the_header_rejects_the_file(tmp_path, engines, toolbox_env,
                                                                kind, good, cut):
    table = src.saldos_caja if kind == "saldos" else src.sector_pagadores
    assert do_import(toolbox_env, engines, kind, _file(tmp_path, "good.csv", good)).exit_code == 0
    before = rows(engines, table)
    path = _file(tmp_path, "cut.csv", cut)
    done = do_import(toolbox_env, engines, kind, path)
    assert done.exit_code == 2
    line = cut.rstrip("\n").count("\n") + 1 if kind == "saldos" else 2
    assert any(e.startswith(f"{path}:{line}: (row): ") and "cells but the header has" in e
               for e in done.errors), done.errors
    assert rows(engines, table) == before


@pytest.mark.parametrize(("kind", "text", "line"), [
    ("saldos", SALDOS.rstrip("\n") + '\n"06/03/2024;1;2;3;4;5;6\n',
     SALDOS.rstrip("\n").count("\n") + 2),
    ("referidos", 'REFERENCIA,LIQUIDACIÓN,EJECUTIVO,MES\n"Ana,LIQ1,Eva,01/03/2024\n', 2),
])
def test_a_quote_left_open_to_the_end_rejects_the_file_naming_its_line(tmp_path, engines,
                                                                      toolbox_env, kind, text,
                                                                      line):
    path = _file(tmp_path, "open.csv", text)
    done = do_import(toolbox_env, engines, kind, path)
    assert done.exit_code == 2
    assert done.errors == [f"{path}:{line}: a quoted value opened on this line is never "
                           'closed; close its quote (") or remove it']


def test_a_merge_without_the_optional_column_keeps_the_stored_values(tmp_path, engines,
                                                                     toolbox_env):
    do_import(toolbox_env, engines, "sectores", EXAMPLES / "sectores.csv")
    path = _file(tmp_path, "sin_grupo.csv",
                 "RUC,SECTOR\n20100000001,Minería y Energía\n20100000009,Pesca\n")
    done = do_import(toolbox_env, engines, "sectores", path)
    assert done.exit_code == 0
    stored = {r[0]: (r[1], r[2]) for r in rows(engines, src.sector_pagadores)}
    assert stored["20100000001"] == ("Minería y Energía", "Grupo Andino")  # group kept
    assert stored["20100000009"] == ("Pesca", None)  # a new payer: no group to keep
    assert stored["20100000003"] == ("Agroindustria", "Grupo Costa Verde")  # untouched
    assert f"{path}: no column for GrupoEco: the stored GrupoEco of the rows it replaces " \
           "are kept" in done.outcome.warnings


@pytest.mark.parametrize("kind", ["sectores", "saldos"])
def test_the_same_rows_again_are_kept_not_replaced(engines, toolbox_env, kind):
    path = EXAMPLES / f"{kind}.csv"
    first = do_import(toolbox_env, engines, kind, path).result
    again = do_import(toolbox_env, engines, kind, path).result
    assert (again.added, again.replaced, again.unchanged, again.written) == \
        (0, 0, first.added, 0)
    assert again.kept == first.added


def test_a_changed_amount_is_replaced_and_the_rest_kept(tmp_path, engines, toolbox_env):
    do_import(toolbox_env, engines, "saldos", EXAMPLES / "saldos.csv")
    header, first, *others = SALDOS.rstrip("\n").split("\n")
    changed = first.rsplit(";", 1)[0] + ";123.45"
    done = do_import(toolbox_env, engines, "saldos",
                     _file(tmp_path, "s.csv", "\n".join([header, changed, *others]) + "\n"))
    assert (done.result.replaced, done.result.unchanged) == (1, len(others))
    assert Decimal("123.45") in {r[-1] for r in rows(engines, src.saldos_caja)}
