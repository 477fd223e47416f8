"""``toolbox import``: the RUC columns of every kind (``compute.ruc.required_ruc``).

A RUC must be 11 digits once the spaces and ``:`` of the legacy sheets are removed (the KPI's
cleaning, ``compute.ruc.ruc_digits``); anything else rejects the file like any bad cell.
The value is stored as it was before this rule (trimmed, ``.0`` dropped). A RUC whose SUNAT
check digit fails is accepted and counted: one warning per file and column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.support.paths import EXAMPLES
from toolbox_cli.cli import app
from toolbox_cli.compute.ruc import required_ruc, ruc_digit_ok, ruc_digits
from toolbox_cli.compute.text import fold
from toolbox_cli.imports import KINDS, header_key, parse_file
from toolbox_cli.jobs.imports import import_job
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.contract import operaciones_fuera_sistema, sector_pagadores

PEN_LINES = (EXAMPLES / "fuera_sistema_pen.csv").read_text(encoding="utf-8").splitlines()
GOOD = ("20100000017", "20100000025", "20600000013", "10400000013")  # check digits hold
assert all(ruc_digit_ok(r) for r in GOOD)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def do_import(settings: Settings, kind: str, path: Path, **kw):
    job = import_job(kind, path, **kw)
    return job.finish(run_task(job.spec, settings, job.params))


def sectors(engines: Engines) -> dict[str, str]:
    with engines.source.connect() as conn:
        rows = conn.execute(select(sector_pagadores)).mappings().all()
    return {r["RUCPagador"]: r["Sector"] for r in rows}


def pen_sheet(tmp_path: Path, cliente: str, deudor: str, *, line: int = 1) -> Path:
    """The PEN example with one row's client and payer RUC replaced."""
    cells = PEN_LINES[line].split(",")
    assert (cells[3], cells[5]) in (("20600000011", "20100000001"), ("20600000022", "20100000004"))
    cells[3], cells[5] = cliente, deudor
    lines = list(PEN_LINES)
    lines[line] = ",".join(cells)
    return write(tmp_path, "pen.csv", "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- which columns


def test_every_ruc_column_of_every_kind_is_read_as_a_ruc() -> None:
    found = {(kind.name, f.header) for kind in KINDS.values() for f in kind.fields
             if f.holds_ruc}
    assert found == {("sectores", "RUC"), ("fuera-sistema", "RUC Cliente"),
                     ("fuera-sistema", "RUC DEUDOR")}
    # A guard for kinds to come: a column named like a RUC, or stored in a RUC column, is one.
    for kind in KINDS.values():
        for f in kind.fields:
            if "ruc" in header_key(f.header).split() or fold(f.column or "").startswith("ruc"):
                assert f.holds_ruc, (kind.name, f.header)


# ----------------------------------------------------------------------------- rejected


@pytest.mark.parametrize("bad", ["2012345678", "2012345678A", "RUC20123456", "201234567890",
                                 "2012345678.0", "20-123456786"])
def test_a_ruc_that_is_not_11_digits_rejects_the_file(
    bad: str, tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    assert do_import(toolbox_env, "sectores", EXAMPLES / "sectores.csv").exit_code == 0
    before = sectors(engines)
    path = write(tmp_path, "pagadores.csv",
                 f"RUC,SECTOR,GRUPO ECO.\n{GOOD[0]},Pesca,\n{bad},Minería,\n")
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 2
    assert done.errors == [f"{path}:3: RUC: {bad!r} is not a RUC: 11 digits expected"]
    assert sectors(engines) == before  # all or nothing


def test_cli_names_file_line_and_column_of_a_bad_ruc(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write(tmp_path, "pagadores.csv", "ruc,sector\n 2012345678 ,Pesca\n20100000017,Retail\n")
    result = cli.invoke(app, ["import", "sectores", str(path)])
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first == (f"error: {path}:2: ruc: '2012345678' is not a RUC: 11 digits expected "
                     "(nothing was imported)")
    assert sectors(engines) == {}


def test_off_system_client_and_payer_rucs_are_checked_and_all_listed(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    path = pen_sheet(tmp_path, "2060000001", "2010000000X")
    done = do_import(toolbox_env, "fuera-sistema", path)
    assert done.exit_code == 2
    assert done.errors == [
        f"{path}:2: RUC Cliente: '2060000001' is not a RUC: 11 digits expected",
        f"{path}:2: RUC DEUDOR: '2010000000X' is not a RUC: 11 digits expected",
    ]
    with engines.source.connect() as conn:
        assert conn.execute(select(operaciones_fuera_sistema)).first() is None


def test_the_off_system_skip_rule_still_comes_first(tmp_path: Path) -> None:
    # reportes §2.4 rule 1: a row without client or payer RUC is skipped, not a bad RUC.
    parsed = parse_file("fuera-sistema", EXAMPLES / "fuera_sistema_pen.csv")
    assert parsed.skipped == 1 and len(parsed.rows) == 2


# ----------------------------------------------------------------------------- accepted, stored


def test_spaces_and_colons_are_allowed_and_the_value_is_stored_as_before(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    path = write(tmp_path, "pagadores.csv", "RUC,SECTOR,GRUPO ECO.\n"
                 "2010000 0017,Pesca,\n20:100000025 ,Retail,\n 20600000013.0 ,Salud,\n")
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 0, done.errors
    assert done.result.warnings == []  # all three check digits hold once cleaned
    # Stored as written (trimmed, the float suffix dropped) — the KPI cleans it when it matches.
    assert sectors(engines) == {"2010000 0017": "Pesca", "20:100000025": "Retail",
                                "20600000013": "Salud"}
    assert {ruc_digits(r) for r in sectors(engines)} == {GOOD[0], GOOD[1], GOOD[2]}


def test_an_off_system_ruc_with_a_colon_is_stored_as_written(tmp_path: Path) -> None:
    parsed = parse_file("fuera-sistema", pen_sheet(tmp_path, "20600000013", "20:100000017:"))
    assert parsed.warnings == [
        f"{tmp_path / 'pen.csv'}: 1 RUC in RUC Cliente fail the check digit "
        "(e.g. line 3: 20600000022)",
        f"{tmp_path / 'pen.csv'}: 1 RUC in RUC DEUDOR fail the check digit "
        "(e.g. line 3: 20100000004)",
        f"{tmp_path / 'pen.csv'}: skipped 1 row with a blank RUC Cliente or RUC DEUDOR: "
        "line 4",
    ]
    assert (parsed.rows[0]["RUCCliente"], parsed.rows[0]["RUCPagador"]) == (
        "20600000013", "20:100000017:")


# ----------------------------------------------------------------------------- check digit


def test_failing_check_digits_are_accepted_and_counted_once_per_column(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write(tmp_path, "pagadores.csv", "RUC,SECTOR,GRUPO ECO.\n"
                 f"{GOOD[0]},Pesca,\n20123456780,Retail,\n20123456781,Salud,\n"
                 "20123 456782,Energía,\n")
    result = cli.invoke(app, ["import", "sectores", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["import"]
    assert report["written"] == 4
    assert report["warnings"] == [
        f"{path}: 3 RUCs in RUC fail the check digit (e.g. line 3: 20123456780)"]
    assert set(sectors(engines)) == {GOOD[0], "20123456780", "20123456781", "20123 456782"}


def test_the_examples_import_and_their_rucs_are_11_digits(
    engines: Engines, toolbox_env: Settings
) -> None:
    for kind, file in (("sectores", "sectores.csv"), ("fuera-sistema", "fuera_sistema_pen.csv"),
                       ("fuera-sistema", "fuera_sistema_usd.csv")):
        done = do_import(toolbox_env, kind, EXAMPLES / file)
        assert done.exit_code == 0, done.errors
        # The examples' RUCs are invented (20100000001, ...): 11 digits whose check digit
        # fails, so the only warnings are those counts (and the PEN sheet's skipped total).
        others = [w for w in done.result.warnings
                  if "fail the check digit" not in w and "skipped 1 row " not in w]
        assert others == []


def test_required_ruc_returns_what_was_stored_before() -> None:
    for cell, stored in ((" 20100000017 ", "20100000017"), ("20100000017.0", "20100000017"),
                         ("20 100 000 017", "20 100 000 017"), ("20100000017:", "20100000017:")):
        assert required_ruc(cell) == stored
