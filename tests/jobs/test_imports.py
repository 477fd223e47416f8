"""``toolbox import KIND FILE``: parsing rules, all-or-nothing loads, FILE:LINE errors.

The sample files in ``examples/`` are the good fixtures; bad files are written per test.
Database tests run on SQLite and, marked ``production``, on MariaDB (``db_url``).
"""


from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from tests.support.paths import EXAMPLES
from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.demo import seed_demo
from toolbox_cli.errors import EXIT_USAGE, InputError
from toolbox_cli.imports import (
    KINDS,
    ImportRejected,
    header_key,
    parse_date,
    parse_file,
    parse_number,
    parse_ruc,
)
from toolbox_cli.jobs.imports import import_job
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables import source_metadata

FUERA_HEADER = (EXAMPLES / "fuera_sistema_pen.csv").read_text(encoding="utf-8").splitlines()[0]


def write(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8", bom: bool = False) -> Path:
    path = tmp_path / name
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def table_rows(engines: Engines, table: str, order_by: str | None = None) -> list[dict]:
    t = source_metadata.tables[table]
    q = select(t)
    if order_by:
        q = q.order_by(t.c[order_by])
    with engines.source.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def without_id(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "id"} for r in rows]


def do_import(settings: Settings, kind: str, path: Path, *, wait: bool = False, **kw):
    job = import_job(kind, path, **kw)
    return job.finish(run_task(job.spec, settings, job.params, wait=wait))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50", Decimal("1234.50")),  # reportes §3.8 example
        ("7", Decimal("7")),  # §3.8: integers are numbers too
        ("-2,000.00", Decimal("-2000.00")),
        ("1,234,567.891", Decimal("1234567.891")),
        (" 0.015 ", Decimal("0.015")),
        ("90%", Decimal("0.9")),  # a percent-formatted cell exports its display text
        ("1.5%", Decimal("0.015")),
        ("1E-05", Decimal("0.00001")),
    ],
)
def test_numbers_as_spreadsheets_write_them(text: str, expected: Decimal) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3,71", "comma as decimal separator; write 3.71"),
        ("(5.00)", "accounting negative; write -5.00"),
        ("S/ 10", "remove currency symbols"),
        ("abc", "is not a number"),
        ("1,23,456", "is not a number"),
        ("12,34.5", "is not a number"),
    ],
)
def test_bad_numbers_are_named(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_number(text)


def test_dates_are_day_first_or_iso_never_guessed() -> None:
    assert parse_date("04/03/2024") == date(2024, 3, 4)  # 4 March, not 3 April (§6.5)
    assert parse_date("4/3/2024") == date(2024, 3, 4)
    assert parse_date("2024-03-04") == date(2024, 3, 4)
    assert parse_date("2024-03-05T05:00:00.000Z") == date(2024, 3, 5)  # date as written
    with pytest.raises(ValueError, match="not a real date"):
        parse_date("31/02/2024")
    with pytest.raises(ValueError, match="dd/mm/YYYY or YYYY-MM-DD"):
        parse_date("2024/03/04")
    with pytest.raises(ValueError, match="dd/mm/YYYY"):
        parse_date("04/03/24")


def test_ruc_cells_lose_a_float_suffix_and_reject_scientific_notation() -> None:
    assert parse_ruc(" 20123456789.0 ") == "20123456789"
    assert parse_ruc("20123456789") == "20123456789"
    with pytest.raises(ValueError, match="scientific notation"):
        parse_ruc("2.01235E+10")


def test_headers_match_without_case_accents_or_punctuation() -> None:
    assert header_key("GRUPO ECO.") == header_key("grupo eco")
    assert header_key("LIQUIDACIÓN") == header_key("liquidacion")
    assert header_key(" N° Factura/ Letra ") == header_key("N Factura/Letra")
    assert header_key("Días Efect") == header_key("DIAS EFECT")


EXPECTED_EXAMPLES = {
    # kind: (file, table, rows written, one expected row subset)
    "sectores": ("sectores.csv", "sector_pagadores", 4,
                 {"RUCPagador": "20100000002", "Sector": "Construcción", "GrupoEco": None}),
    "referidos": ("referidos.csv", "referidos", 3,
                  {"CodigoLiquidacion": "LIQ2403000101", "Referencia": "Leo",
                   "Ejecutivo": "Perez, Ana", "Mes": date(2024, 3, 1)}),
    "referidos-alias": ("referidos_alias.csv", "referidos_alias", 3,
                        {"Alias": "LEO", "Canonico": "Quispe, Leonardo"}),
    "saldos": ("saldos.csv", "saldos_caja", 3,
               {"FechaOperacion": date(2024, 3, 1), "EvolucionCaja": Decimal("1234.50"),
                "IngresoNoRecibidoPorExcesoCaja": Decimal("0.00"),
                "MontoOvernight": Decimal("500000.00")}),
    "tipo-cambio": ("tipo_cambio.csv", "tipo_cambio", 3,
                    {"TipoCambioFecha": "2024-03-06", "TipoCambioCompra": Decimal("3.698000"),
                     "TipoCambioVenta": Decimal("3.706000")}),
    "codigos-cxc": ("codigos_cxc.csv", "cxc_codigos_especiales", 5,
                    {"codigo": "LIQ003-2022 ME", "lista": "MORA_A_MAYO"}),
    "fuera-sistema": ("fuera_sistema_pen.csv", "operaciones_fuera_sistema", 2,
                      {"Hoja": "PEN", "Fila": 1, "CodigoLiquidacion": "LIQ099-2020",
                       "RUCPagador": "20100000001", "TasaNominalMensualPorc": Decimal("0.015000"),
                       "FinanciamientoPorc": Decimal("0.900000"), "DiasEfectivo": 61,
                       "NetoConfirmado": Decimal("10000.00"), "GastosContrato": None,
                       "FechaOperacion": date(2020, 6, 15), "FechaDesembolso": None,
                       "Moneda": "PEN", "Ejecutivo": "Perez, Ana"}),
}


def test_every_kind_has_an_example() -> None:
    assert set(EXPECTED_EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(EXPECTED_EXAMPLES))
def test_example_file_of_each_kind_imports(kind: str, engines: Engines, toolbox_env: Settings) -> None:
    file, table, count, subset = EXPECTED_EXAMPLES[kind]
    done = do_import(toolbox_env, kind, EXAMPLES / file)
    assert done.exit_code == 0, done.outcome.error_message
    assert done.result is not None and done.result.written == count
    rows = table_rows(engines, table)
    assert len(rows) == count
    assert any(subset.items() <= row.items() for row in rows), rows
    run = ledger.get_run(engines.datamart, done.outcome.run_id)
    assert run is not None and run.task == f"import:{kind}" and run.status == "success"
    assert run.rows_written == {table: count}


def test_saldos_keep_file_order_and_section_3_8_blanks(engines: Engines, toolbox_env: Settings) -> None:
    do_import(toolbox_env, "saldos", EXAMPLES / "saldos.csv")
    rows = table_rows(engines, "saldos_caja", order_by="id")
    assert [r["FechaOperacion"] for r in rows] == [date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5)]
    assert rows[1]["EvolucionCaja"] == Decimal("-2000.00")  # decisions 8: negatives kept
    assert rows[2]["EvolucionCaja"] == Decimal("0.00")  # empty → 0 (§3.8)
    assert rows[2]["MontoOvernight"] == Decimal("0.00")


def test_semicolons_and_bom_are_read(tmp_path: Path, engines: Engines, toolbox_env: Settings) -> None:
    path = write(tmp_path, "s.csv", "ruc;sector;grupo eco\n20100000009;Pesca;\n", bom=True)
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 0, done.errors
    assert table_rows(engines, "sector_pagadores") == [
        {"RUCPagador": "20100000009", "Sector": "Pesca", "GrupoEco": None}
    ]


def test_quoted_values_with_commas_and_a_missing_optional_column(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", 'SECTOR,RUC\n"Minería, metálica",20100000001\n')
    parsed = parse_file("sectores", path)
    assert parsed.rows == [{"RUCPagador": "20100000001", "Sector": "Minería, metálica",
                            "GrupoEco": None}]


def test_unknown_columns_are_ignored_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "RUC,SECTOR,GRUPO ECO.,Comentario\n20100000017,Pesca,,ok\n")
    parsed = parse_file("sectores", path)
    assert parsed.ignored_columns == ["Comentario"]
    assert any("Comentario" in w for w in parsed.warnings)


def test_sector_duplicates_last_row_wins_and_are_counted(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    path = write(tmp_path, "s.csv", "RUC,SECTOR,GRUPO ECO.\n"
                 "20100000017,Minería,A\n20100000025,Pesca,\n20100000017.0,Energía,B\n")
    done = do_import(toolbox_env, "sectores", path)
    assert done.result.duplicates == 1 and done.result.written == 2
    rows = {r["RUCPagador"]: r for r in table_rows(engines, "sector_pagadores")}
    assert rows["20100000017"]["Sector"] == "Energía" and rows["20100000017"]["GrupoEco"] == "B"
    assert any(":2: RUC repeated on line 4" in w for w in done.result.warnings)
    run = ledger.get_run(engines.datamart, done.outcome.run_id)
    assert run.warnings_count == 1


def test_referral_codes_last_row_wins(tmp_path: Path, engines: Engines, toolbox_env: Settings) -> None:
    path = write(tmp_path, "r.csv", "Referencia,Liquidacion,Ejecutivo,Mes\n"
                 "Leo,LIQ1,Ana,01/03/2024\nCarla,LIQ1,Ana,01/04/2024\n")
    done = do_import(toolbox_env, "referidos", path)
    assert (done.result.written, done.result.duplicates) == (1, 1)
    assert table_rows(engines, "referidos")[0]["Referencia"] == "Carla"


def test_alias_keys_differing_only_in_case_or_accents_are_one_alias(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    # MariaDB's collation treats them as one key; so does the import (else MySQL-only failure).
    path = write(tmp_path, "a.csv", "alias,canónico\nMaría,\"Ruiz, María\"\nMARIA,\"Ruiz, Maria\"\n")
    done = do_import(toolbox_env, "referidos-alias", path)
    assert done.exit_code == 0, done.errors
    assert (done.result.written, done.result.duplicates) == (1, 1)
    assert table_rows(engines, "referidos_alias") == [{"Alias": "MARIA", "Canonico": "Ruiz, Maria"}]


def test_codes_can_be_in_both_lists_and_list_names_are_tolerant(
    engines: Engines, toolbox_env: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", "CODIGO,LISTA\nLIQ1,mora a mayo\nLIQ1,Cobranza-Especial\n"
                 " LIQ2 ME ,COBRANZA_ESPECIAL\nLIQ1,MORA_A_MAYO\n")
    done = do_import(toolbox_env, "codigos-cxc", path)
    assert (done.result.written, done.result.duplicates) == (3, 1)
    got = sorted((r["codigo"], r["lista"]) for r in table_rows(engines, "cxc_codigos_especiales"))
    assert got == [("LIQ1", "COBRANZA_ESPECIAL"), ("LIQ1", "MORA_A_MAYO"),
                   ("LIQ2 ME", "COBRANZA_ESPECIAL")]


def test_repeated_saldos_days_are_kept_and_reported(tmp_path: Path) -> None:
    header = ",".join(f.header for f in KINDS["saldos"].fields)
    path = write(tmp_path, "s.csv", f"{header}\n01/03/2024,1,2,3,4,5,6\n01/03/2024,1,2,3,4,5,7\n")
    parsed = parse_file("saldos", path)
    assert len(parsed.rows) == 2 and parsed.duplicates == 0
    assert any(":3: FechaOperacion 2024-03-01 repeats line 2" in w for w in parsed.warnings)


def test_a_bad_line_leaves_the_previous_table_and_names_file_and_line(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    assert do_import(toolbox_env, "sectores", EXAMPLES / "sectores.csv").exit_code == 0
    before = table_rows(engines, "sector_pagadores", order_by="RUCPagador")
    path = write(tmp_path, "pagadores.csv",
                 "RUC,SECTOR,GRUPO ECO.\n20100000001,Minería,\n20100000005,,\n20100000006,Pesca,\n")
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 2
    assert done.errors == [f"{path}:3: SECTOR: empty; a value is required"]
    assert table_rows(engines, "sector_pagadores", order_by="RUCPagador") == before
    run = ledger.get_run(engines.datamart, done.outcome.run_id)
    assert run.status == "failed" and run.error_message.startswith(f"{path}:3: SECTOR:")


def test_every_bad_line_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "REFERENCIA,LIQUIDACIÓN,EJECUTIVO,MES\n"
                 "Leo,LIQ1,Ana,2024/03/01\nLeo,,Ana,01/03/2024\nLeo,LIQ3,Ana,01/03/2024\n")
    with pytest.raises(ImportRejected) as info:
        parse_file("referidos", path)
    assert info.value.errors == [
        f"{path}:2: MES: '2024/03/01' is not a date; write dd/mm/YYYY or YYYY-MM-DD",
        f"{path}:3: LIQUIDACIÓN: empty; a value is required",
    ]
    assert str(info.value).endswith("(and 1 more; nothing was imported)")


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("sectores", "RUC,SECTORES,GRUPO ECO.\n1,a,b\n", ":1: SECTOR: missing column"),
        ("referidos", "REFERENCIA,EJECUTIVO\nLeo,Ana\n",
         ":1: LIQUIDACIÓN: missing column (also missing: MES)"),
        ("tipo-cambio", "fecha,compra,venta,venta\n2024-03-04,3.7,3.71,3.71\n",
         ":1: venta: column appears twice"),
        ("saldos", "FechaOperacion,EvolucionCaja\n01/03/2024,1\n", ":1: CostoExcesoCaja: missing"),
        ("referidos", "REFERENCIA,LIQUIDACIÓN,EJECUTIVO,MES\nLeo,LIQ1,Ana,03/20/2024\n",
         ":2: MES: '03/20/2024' is not a real date"),
        ("saldos", ",".join(f.header for f in KINDS["saldos"].fields)
         + "\n01/03/2024,1,2,3,4,5,6\n02/03/2024,1,2,(5.00),4,5,6\n",
         ":3: IngresoNoRecibidoPorExcesoCaja: '(5.00)' is an accounting negative"),
        ("tipo-cambio", "fecha,compra,venta\n2024-03-04,3.7,3,710\n", ":2: (row): 4 cells"),
        ("tipo-cambio", "fecha;compra;venta\n2024-03-04;3,70;3,71\n",
         ":2: compra: '3,70' uses a comma as decimal separator"),
        ("tipo-cambio", "fecha,compra,venta\n2024-03-04,3.7,0\n", ":2: venta: '0' must be greater"),
        ("tipo-cambio", "fecha,compra,venta\n2024-03-04,3.7,3.71\n04/03/2024,3.7,3.72\n",
         ":3: FECHA: 2024-03-04 already on line 2 with different rates"),
        ("codigos-cxc", "codigo,lista\nLIQ1,OTRA\n", ":2: lista: 'OTRA' is not a list"),
        ("codigos-cxc", "codigo,lista\n" + "L" * 41 + ",MORA_A_MAYO\n",
         ":2: codigo: longer than 40 characters"),
        ("fuera-sistema", FUERA_HEADER + "\n" + ",".join(
            ["LIQ1", "F1", "Cli", "20600000013", "Deu", "20100000017"] + ["x"] + [""] * 42),
         ":2: TNM Op: 'x' is not"),
    ],
)
def test_bad_files_are_rejected_with_file_line_and_column(
    kind: str, text: str, expected: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(ImportRejected) as info:
        parse_file(kind, path)
    assert str(info.value).startswith(f"{path}{expected}"), str(info.value)


NO_HEADER = "the file is empty; expected a header line and data rows"
NO_ROWS = "no data rows after the header; nothing to import"


@pytest.mark.parametrize(("text", "reason"), [
    ("", NO_HEADER),
    ("\n\n", NO_HEADER),  # blank lines are no header
    ("RUC,SECTOR,GRUPO ECO.\n", NO_ROWS),
    ("RUC,SECTOR,GRUPO ECO.\n,,\n", NO_ROWS),  # a row of empty cells is spreadsheet padding
])
def test_empty_files_are_an_error_and_change_nothing(
    text: str, reason: str, tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    do_import(toolbox_env, "sectores", EXAMPLES / "sectores.csv")
    path = write(tmp_path, "empty.csv", text)
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 2
    assert done.errors[0] == f"{path}: {reason}"
    assert len(table_rows(engines, "sector_pagadores")) == 4


def test_wrong_encoding_is_a_clear_error_with_the_line(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    # Neither UTF-8 nor Windows-1252 (0x81 is undefined in cp1252): refused, table unchanged.
    # (tests/test_import_encodings.py: cp1252 read and noted, --encoding, the mixed file.)
    do_import(toolbox_env, "sectores", EXAMPLES / "sectores.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"RUC,SECTOR,GRUPO ECO.\n20100000017,Pesca,\n20100000025,Miner\xeda\x81,\n")
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 2
    assert done.errors == [f"{path}:3: the file is neither UTF-8 (byte 0xed, column 18) nor "
                           "Windows-1252 (byte 0x81 on line 3 is not a cp1252 character); save "
                           "it as 'CSV UTF-8', or pass its encoding, e.g. --encoding latin-1 "
                           "(which reads any byte; check the accents)"]
    assert len(table_rows(engines, "sector_pagadores")) == 4


def test_utf16_files_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "u16.csv", "\ufeffRUC,SECTOR\n1,a\n", encoding="utf-16-le")
    with pytest.raises(InputError, match="UTF-16"):
        parse_file("sectores", path)


def test_missing_file_and_unknown_kind_are_usage_errors(tmp_path: Path, toolbox_env: Settings) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_job("sectores", tmp_path / "nope.csv")
    with pytest.raises(InputError, match=r"unknown import kind 'sector' \(did you mean "
                                         r"sectores\?\); use one of: sectores"):
        import_job("sector", EXAMPLES / "sectores.csv")
    with pytest.raises(InputError, match="--hoja only applies"):
        import_job("sectores", EXAMPLES / "sectores.csv", hoja="PEN")


def test_reimport_merges_by_key_and_reports_added_replaced_kept(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    do_import(toolbox_env, "codigos-cxc", EXAMPLES / "codigos_cxc.csv")
    before = table_rows(engines, "cxc_codigos_especiales")
    path = write(tmp_path, "c.csv", "codigo,lista\nLIQ9,MORA_A_MAYO\n"
                 f"{before[0]['codigo']},{before[0]['lista']}\n")
    done = do_import(toolbox_env, "codigos-cxc", path)
    r = done.result
    # The second row is stored as it is: kept, not replaced (issue 20, item 4).
    assert (r.mode, r.added, r.replaced, r.kept, r.unchanged, r.written) == \
        ("merge", 1, 0, 5, 1, 1)
    assert len(table_rows(engines, "cxc_codigos_especiales")) == 6


def test_replace_mode_replaces_the_whole_table_and_is_guarded(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    do_import(toolbox_env, "codigos-cxc", EXAMPLES / "codigos_cxc.csv")
    before = table_rows(engines, "cxc_codigos_especiales")
    path = write(tmp_path, "c.csv", "codigo,lista\nLIQ9,MORA_A_MAYO\n")
    refused = do_import(toolbox_env, "codigos-cxc", path, replace=True)
    assert refused.exit_code == 1 and refused.outcome.error_type == "GuardTripped"
    assert "5 in the live table" in refused.outcome.error_message
    assert "--allow-shrink" in refused.outcome.error_message
    assert table_rows(engines, "cxc_codigos_especiales") == before
    done = do_import(toolbox_env, "codigos-cxc", path, replace=True, allow_shrink=True)
    assert (done.result.mode, done.result.written, done.result.replaced) == ("replace", 1, 5)
    assert table_rows(engines, "cxc_codigos_especiales") == [{"codigo": "LIQ9", "lista": "MORA_A_MAYO"}]
    run = ledger.get_run(engines.datamart, done.outcome.run_id)
    assert run.params["allow_shrink"] is True and run.params["mode"] == "replace"
    assert any("--allow-shrink" in w for w in run.warnings)


def test_dry_run_validates_and_counts_but_writes_nothing(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    do_import(toolbox_env, "codigos-cxc", EXAMPLES / "codigos_cxc.csv")
    before = table_rows(engines, "cxc_codigos_especiales")
    path = write(tmp_path, "c.csv", "codigo,lista\nLIQ9,MORA_A_MAYO\nLIQ8,MORA_A_MAYO\n")
    done = do_import(toolbox_env, "codigos-cxc", path, dry_run=True)
    assert done.exit_code == 0
    assert (done.result.dry_run, done.result.added, done.result.kept) == (True, 2, 5)
    assert table_rows(engines, "cxc_codigos_especiales") == before
    assert ledger.get_run(engines.datamart, done.outcome.run_id).dry_run


def test_fuera_sistema_replaces_only_its_sheet(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    assert do_import(toolbox_env, "fuera-sistema", EXAMPLES / "fuera_sistema_pen.csv").exit_code == 0
    usd = do_import(toolbox_env, "fuera-sistema", EXAMPLES / "fuera_sistema_usd.csv")
    assert usd.exit_code == 0 and usd.result.hoja == "USD"
    usd_rows = [r for r in table_rows(engines, "operaciones_fuera_sistema") if r["Hoja"] == "USD"]
    assert [r["CodigoLiquidacion"] for r in usd_rows] == ["LIQ045-2021 ME"]
    assert usd_rows[0]["TasaNominalMensualPorc"] == Decimal("1.100000")  # stored as received

    # A new PEN sheet with one row: the PEN rows are replaced, the USD sheet is untouched.
    lines = (EXAMPLES / "fuera_sistema_pen.csv").read_text(encoding="utf-8").splitlines()
    path = write(tmp_path, "pen.csv", "\n".join([lines[0], lines[2]]) + "\n")
    refused = do_import(toolbox_env, "fuera-sistema", path)  # half the sheet: guarded
    assert refused.outcome.error_type == "GuardTripped"
    done = do_import(toolbox_env, "fuera-sistema", path, allow_shrink=True)
    assert (done.result.hoja, done.result.written, done.result.replaced) == ("PEN", 1, 2)
    assert done.result.kept == 1
    rows = table_rows(engines, "operaciones_fuera_sistema", order_by="id")
    assert [(r["Hoja"], r["Fila"], r["CodigoLiquidacion"]) for r in rows] == [
        ("USD", 1, "LIQ045-2021 ME"), ("PEN", 1, "LIQ100-2020")]
    assert without_id(usd_rows) == without_id([r for r in rows if r["Hoja"] == "USD"])


def test_fuera_sistema_blank_ruc_rows_are_skipped_and_blank_rules_apply(tmp_path: Path) -> None:
    parsed = parse_file("fuera-sistema", EXAMPLES / "fuera_sistema_pen.csv")
    assert parsed.skipped == 1 and len(parsed.rows) == 2
    second = parsed.rows[1]
    # rule 3: blank/"-" → null; rule 4: blank/"-" → 0
    assert second["MontoComisionEstructuracion"] == Decimal("125.00")
    assert second["GastosContrato"] is None
    assert second["ServicioCustodia"] == 0 and second["DiasMora"] == 0 and second["MontoPago"] == 0
    assert second["FechaPago"] is None and second["Estado"] == "Vigente"


def test_fuera_sistema_needs_hoja_when_currencies_mix(tmp_path: Path) -> None:
    lines = (EXAMPLES / "fuera_sistema_pen.csv").read_text(encoding="utf-8").splitlines()
    mixed = lines[2].replace(",PEN,", ",USD,")
    path = write(tmp_path, "mix.csv", "\n".join([lines[0], lines[1], mixed]) + "\n")
    with pytest.raises(ImportRejected, match="--hoja PEN or --hoja USD"):
        parse_file("fuera-sistema", path)
    parsed = parse_file("fuera-sistema", path, hoja="pen")
    assert parsed.hoja == "PEN" and [r["Moneda"] for r in parsed.rows] == ["PEN", "USD"]
    assert any("another Moneda (first: line 3)" in w for w in parsed.warnings)


def test_fuera_sistema_fractional_days_are_rejected(tmp_path: Path) -> None:
    lines = (EXAMPLES / "fuera_sistema_pen.csv").read_text(encoding="utf-8").splitlines()
    path = write(tmp_path, "d.csv", lines[0] + "\n" + lines[1].replace(",61,PEN,", ",61.5,PEN,") + "\n")
    with pytest.raises(ImportRejected, match=r":2: Días Efect: '61.5' must be a whole number"):
        parse_file("fuera-sistema", path)


def test_rate_import_adds_missing_dates_and_never_overwrites(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    from toolbox_cli.storage.tables.contract import tipo_cambio

    with engines.source.begin() as conn:
        conn.execute(insert(tipo_cambio), [
            {"TipoCambioFecha": "2024-03-04", "TipoCambioCompra": Decimal("3.7"),
             "TipoCambioVenta": Decimal("3.71")},
            {"TipoCambioFecha": "2024-03-05", "TipoCambioCompra": Decimal("3.6"),
             "TipoCambioVenta": Decimal("3.61")},
        ])
    path = write(tmp_path, "tc.csv", "TipoCambioFecha,TipoCambioCompra,TipoCambioVenta\n"
                 "04/03/2024,3.700,3.710\n2024-03-05,3.705,3.712\n2024-03-06,3.698,3.706\n"
                 "2024-03-06,3.698,3.706\n")
    done = do_import(toolbox_env, "tipo-cambio", path)
    assert done.exit_code == 0
    r = done.result
    assert (r.written, r.unchanged, r.conflicts, r.duplicates, r.replaced) == (1, 1, 1, 1, 0)
    assert any("2024-03-05: stored rates 3.600000/3.610000 kept" in w for w in r.warnings)
    assert any("--overwrite" in w for w in r.warnings)
    rows = {x["TipoCambioFecha"]: x["TipoCambioVenta"] for x in table_rows(engines, "tipo_cambio")}
    assert rows == {"2024-03-04": Decimal("3.710000"), "2024-03-05": Decimal("3.610000"),
                    "2024-03-06": Decimal("3.706000")}


def test_cli_import_prints_counts(cli: CliRunner, engines: Engines, tmp_path: Path) -> None:
    src = tmp_path / "pagadores.csv"
    shutil.copy(EXAMPLES / "sectores.csv", src)
    result = cli.invoke(app, ["import", "sectores", str(src)])
    assert result.exit_code == 0, result.output
    assert "4 rows read, added 4, replaced 0, kept 0 in sector_pagadores" in result.output
    result = cli.invoke(app, ["import", "sectores", str(src), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["import"]["replaced"], data["import"]["unchanged"], data["import"]["kept"]) \
        == (0, 4, 4)  # the same rows again: kept as they are
    assert data["run"]["status"] == "success"


def test_cli_rejected_file_exits_2_and_names_the_line(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write(tmp_path, "bad.csv", "RUC,SECTOR,GRUPO ECO.\n20100000017,Pesca,\n20100000025,,\n")
    result = cli.invoke(app, ["import", "sectores", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: SECTOR: empty" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    result = cli.invoke(app, ["import", "sectores", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_cli_import_help_has_an_example(cli: CliRunner) -> None:
    result = cli.invoke(app, ["import", "--help"])
    assert result.exit_code == 0 and "Example: toolbox import" in result.output




TODAY = date(2024, 3, 31)


def test_a_three_row_saldos_import_keeps_the_rest_of_the_history(engines, cli, tmp_path):
    seed_demo(engines.source, operations=50, seed=1, today=TODAY)
    with engines.source.connect() as conn:
        history = conn.execute(select(func.count()).select_from(src.saldos_caja)).scalar_one()
        days = conn.execute(select(src.saldos_caja.c.FechaOperacion)
                            .order_by(src.saldos_caja.c.FechaOperacion).limit(2)).scalars().all()
    header = ("FechaOperacion,EvolucionCaja,CostoExcesoCaja,IngresoNoRecibidoPorExcesoCaja,"
              "MontoOvernight,IngresosOvernightNeto,SaldoTotalCaja")
    path = tmp_path / "saldos.csv"
    path.write_text(f"{header}\n{days[0]:%d/%m/%Y},1,2,3,4,5,6\n{days[1]:%d/%m/%Y},1,2,3,4,5,7\n"
                    "01/04/2099,1,2,3,4,5,8\n", encoding="utf-8")
    result = cli("import", "saldos", str(path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["import"]
    assert (report["added"], report["replaced"], report["kept"]) == (1, 2, history - 2)
    with engines.source.connect() as conn:
        assert conn.execute(select(func.count()).select_from(src.saldos_caja)).scalar_one() == history + 1
        totals = dict(conn.execute(select(src.saldos_caja.c.FechaOperacion,
                                          src.saldos_caja.c.SaldoTotalCaja)
                                   .where(src.saldos_caja.c.FechaOperacion.in_(days))).all())
    assert totals == {days[0]: Decimal("6.00"), days[1]: Decimal("7.00")}


def test_a_wrong_stored_rate_is_corrected_with_overwrite(engines, cli, tmp_path):
    with engines.source.begin() as conn:
        conn.execute(insert(src.tipo_cambio).values(
            TipoCambioFecha="2024-03-04", TipoCambioCompra=Decimal("37.0"),
            TipoCambioVenta=Decimal("37.1")))
    path = tmp_path / "tc.csv"
    path.write_text("FECHA,COMPRA,VENTA\n04/03/2024,3.700,3.710\n05/03/2024,3.705,3.712\n")
    kept = json.loads(cli("import", "tipo-cambio", str(path), "--json").stdout)["import"]
    assert (kept["added"], kept["conflicts"]) == (1, 1)
    fixed = cli("import", "tipo-cambio", str(path), "--overwrite", "--json")
    assert fixed.exit_code == 0, fixed.output
    report = json.loads(fixed.stdout)["import"]
    # 04/03 corrected; 05/03, added by the first import, is stored as the file says.
    assert (report["mode"], report["replaced"], report["unchanged"], report["added"]) == \
        ("overwrite", 1, 1, 0)
    with engines.source.connect() as conn:
        venta = conn.execute(select(src.tipo_cambio.c.TipoCambioVenta)
                             .where(src.tipo_cambio.c.TipoCambioFecha == "2024-03-04")).scalar_one()
    assert venta == Decimal("3.710000")
    misplaced = cli("import", "sectores", str(EXAMPLES / "sectores.csv"), "--overwrite")
    assert misplaced.exit_code == EXIT_USAGE and "only applies to" in misplaced.stderr


def test_a_sector_merge_keeps_the_other_payers(engines, cli, tmp_path):
    assert cli("import", "sectores", str(EXAMPLES / "sectores.csv")).exit_code == 0
    with engines.source.connect() as conn:
        before = dict(conn.execute(select(src.sector_pagadores.c.RUCPagador,
                                          src.sector_pagadores.c.Sector)).all())
    ruc = sorted(before)[0]
    path = tmp_path / "s.csv"
    path.write_text(f"RUC,SECTOR,GRUPO ECO.\n{ruc},Pesca,\n20999999999,Minería,\n")
    report = json.loads(cli("import", "sectores", str(path), "--json").stdout)["import"]
    assert (report["added"], report["replaced"], report["kept"]) == (1, 1, len(before) - 1)
    with engines.source.connect() as conn:
        after = dict(conn.execute(select(src.sector_pagadores.c.RUCPagador,
                                         src.sector_pagadores.c.Sector)).all())
    assert after == {**before, ruc: "Pesca", "20999999999": "Minería"}
