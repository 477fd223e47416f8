"""``toolbox import``: how a file's bytes become text (``csvfile.decode``).

UTF-8 (with or without BOM) as it is; a file that is not UTF-8 but is Windows-1252 read as
cp1252 with a note in the report; ``--encoding NAME`` for any other codec; a file that is
neither (or partly UTF-8) refused with where its first bad byte is and what to pass. Every
file here is real bytes written per test and imported through the command line
(``CliRunner`` on ``toolbox_cli.cli.app``) or through ``import_job``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.support.paths import EXAMPLES
from toolbox_cli import ledger
from toolbox_cli.cli import app
from toolbox_cli.errors import InputError
from toolbox_cli.imports import check_encoding, decode, parse_file
from toolbox_cli.jobs.imports import import_job
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.contract import sector_pagadores

# Valid RUCs (their check digit holds), so the only warning is about the encoding.
SECTORES = ("RUC,SECTOR,GRUPO ECO.\n"
            "20100000017,Minería,Grupo Ñandú\n"
            "20100000025,Construcción,€ Holding\n")
STORED = {
    "20100000017": ("Minería", "Grupo Ñandú"),
    "20100000025": ("Construcción", "€ Holding"),
}


def note(path: Path) -> str:
    return (f"{path}: not UTF-8; read as Windows-1252 (cp1252), as Excel on Windows saves "
            "CSV; pass --encoding if it is another encoding")


def write_bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def stored(engines: Engines) -> dict[str, tuple[str, str | None]]:
    with engines.source.connect() as conn:
        rows = conn.execute(select(sector_pagadores)).mappings().all()
    return {r["RUCPagador"]: (r["Sector"], r["GrupoEco"]) for r in rows}


def do_import(settings: Settings, kind: str, path: Path, **kw):
    job = import_job(kind, path, **kw)
    return job.finish(run_task(job.spec, settings, job.params))


def cli_json(cli: CliRunner, *args: str) -> tuple[int, dict]:
    result = cli.invoke(app, ["import", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def one_line_error(result, *, rejected: bool = False) -> str:
    """The command's one error line; a rejected file's run adds one line saying so."""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in result.output + result.stderr
    if rejected:
        assert len(lines) == 2 and lines[1].startswith("import:sectores: rejected (run ")
    else:
        assert len(lines) == 1, result.stderr
    return lines[0]


# ----------------------------------------------------------------------------- cp1252 detected


def test_a_cp1252_file_is_read_and_the_report_says_so(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    raw = SECTORES.encode("cp1252")
    assert b"\xed" in raw and b"\xd1" in raw and b"\x80" in raw  # í, Ñ, € as Excel writes them
    path = write_bytes(tmp_path, "pagadores.csv", raw)
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 0, done.errors
    assert done.result.encoding == "cp1252"
    assert done.result.warnings == [note(path)]
    assert stored(engines) == STORED
    run = ledger.get_run(engines.datamart, done.outcome.run_id)
    assert run.warnings == [note(path)] and run.params["encoding"] is None


def test_cli_reads_cp1252_and_reports_the_note(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write_bytes(tmp_path, "pagadores.csv", SECTORES.encode("cp1252"))
    result = cli.invoke(app, ["import", "sectores", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 rows read, added 2" in result.stdout and "1 warning " in result.stdout
    assert "read as Windows-1252 (cp1252)" in result.stderr  # logged as it is recorded
    code, data = cli_json(cli, "sectores", str(path))
    assert code == 0
    assert data["import"]["encoding"] == "cp1252"
    assert data["import"]["warnings"] == [note(path)]
    assert stored(engines) == STORED


def test_cp1252_in_an_off_system_sheet_keeps_its_accents(tmp_path: Path) -> None:
    examples = EXAMPLES
    text = (examples / "fuera_sistema_pen.csv").read_text(encoding="utf-8")
    text = text.replace("Textiles del Sur SAC", "Señor de Luren S.A.C. — Pesquería")
    path = write_bytes(tmp_path, "pen.csv", text.encode("cp1252"))
    parsed = parse_file("fuera-sistema", path)
    assert parsed.encoding == "cp1252" and parsed.warnings[0] == note(path)
    assert parsed.rows[0]["RazonSocialCliente"] == "Señor de Luren S.A.C. — Pesquería"
    assert parsed.rows[0]["RUCCliente"] == "20600000011"  # headers with ° and accents matched


# ----------------------------------------------------------------------------- UTF-8


def test_utf8_with_bom_is_read_without_a_note(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write_bytes(tmp_path, "bom.csv", b"\xef\xbb\xbf" + SECTORES.encode("utf-8"))
    code, data = cli_json(cli, "sectores", str(path))
    assert code == 0, data
    assert data["import"]["encoding"] == "utf-8" and data["import"]["warnings"] == []
    assert stored(engines) == STORED


def test_plain_ascii_and_utf8_are_utf8() -> None:
    assert decode(b"RUC\n1\n", "f") == ("RUC\n1\n", "utf-8")
    assert decode("Año\n".encode(), "f") == ("Año\n", "utf-8")
    assert decode(b"\xef\xbb\xbfA\n", "f") == ("A\n", "utf-8")


# ----------------------------------------------------------------------------- refused


def test_a_file_neither_utf8_nor_cp1252_names_its_first_bad_byte(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    # DOS (cp850): ü is 0x81, one of the five bytes cp1252 leaves undefined.
    text = "RUC,SECTOR,GRUPO ECO.\n20100000017,Minería,Grupo Agüero\n"
    path = write_bytes(tmp_path, "dos.csv", text.encode("cp850"))
    result = cli.invoke(app, ["import", "sectores", str(path)])
    assert result.exit_code == 2
    line = one_line_error(result, rejected=True)
    assert line == (f"error: {path}:2: the file is neither UTF-8 (byte 0xa1, column 18) nor "
                    "Windows-1252 (byte 0x81 on line 2 is not a cp1252 character); save it as "
                    "'CSV UTF-8', or pass its encoding, e.g. --encoding latin-1 (which reads "
                    "any byte; check the accents)")
    assert stored(engines) == {}
    # Its encoding named, it is read as written.
    result = cli.invoke(app, ["import", "sectores", str(path), "--encoding", "cp850"])
    assert result.exit_code == 0, result.output
    assert stored(engines) == {"20100000017": ("Minería", "Grupo Agüero")}


def test_a_file_partly_utf8_is_refused_unless_the_encoding_is_named(
    tmp_path: Path, engines: Engines, toolbox_env: Settings
) -> None:
    # Two exports pasted together: line 2 in UTF-8, line 3 in Windows-1252.
    raw = (b"RUC,SECTOR,GRUPO ECO.\n" + "20100000017,Minería,\n".encode()
           + "20100000025,Pesquería,\n".encode("cp1252"))
    path = write_bytes(tmp_path, "mixed.csv", raw)
    done = do_import(toolbox_env, "sectores", path)
    assert done.exit_code == 2
    assert done.errors == [
        f"{path}:3: the file is not UTF-8 (byte 0xed, column 20), yet line 2 holds UTF-8 "
        "text ('í'); a file partly UTF-8 and partly another encoding cannot be read safely: "
        "save it as 'CSV UTF-8', or pass --encoding cp1252 if it is all Windows-1252"]
    assert stored(engines) == {}
    done = do_import(toolbox_env, "sectores", path, encoding="cp1252")  # the user's call
    assert done.exit_code == 0 and done.result.warnings == []
    assert stored(engines)["20100000025"] == ("Pesquería", None)


def test_a_utf8_bom_before_cp1252_text_is_a_mixed_file(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "b.csv", b"\xef\xbb\xbf" + SECTORES.encode("cp1252"))
    with pytest.raises(InputError, match=r":2: the file is not UTF-8 \(byte 0xed, column 18\), "
                       r"yet line 1 holds UTF-8 text \(a UTF-8 BOM\)"):
        parse_file("sectores", path)


def test_utf16_is_refused_unless_named(tmp_path: Path, engines: Engines,
                                       toolbox_env: Settings) -> None:
    path = write_bytes(tmp_path, "u16.csv", SECTORES.encode("utf-16"))  # with its BOM
    with pytest.raises(InputError, match=r"UTF-16; .*\(or pass --encoding utf-16\)"):
        parse_file("sectores", path)
    done = do_import(toolbox_env, "sectores", path, encoding="UTF-16")
    assert done.exit_code == 0, done.errors
    assert stored(engines) == STORED


# ----------------------------------------------------------------------------- --encoding


def test_encoding_option_reads_with_that_codec_and_is_on_the_run(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write_bytes(tmp_path, "pagadores.csv", SECTORES.encode("cp1252"))
    code, data = cli_json(cli, "sectores", str(path), "--encoding", "Windows-1252")
    assert code == 0, data
    assert data["import"]["encoding"] == "cp1252"
    assert data["import"]["warnings"] == []  # named, not guessed: no note
    assert stored(engines) == STORED
    run = ledger.get_run(engines.datamart, data["run"]["run_id"])
    assert run.params["encoding"] == "cp1252"  # Python's name for it


def test_latin1_reads_any_byte(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "l1.csv", "RUC,SECTOR\n20100000017,Minería\n".encode("latin-1"))
    parsed = parse_file("sectores", path, encoding="latin-1")
    assert parsed.rows[0]["Sector"] == "Minería" and parsed.encoding == "iso8859-1"


def test_a_named_encoding_that_does_not_fit_names_the_byte(
    cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write_bytes(tmp_path, "pagadores.csv", SECTORES.encode("cp1252"))
    result = cli.invoke(app, ["import", "sectores", str(path), "--encoding", "utf-8"])
    assert result.exit_code == 2
    assert one_line_error(result, rejected=True) == (
        f"error: {path}:2: cannot read the file as utf-8 (byte 0xed, column 18: invalid "
        "continuation byte); check --encoding")
    assert stored(engines) == {}


@pytest.mark.parametrize("name", ["nope", "base64", "rot13"])
def test_an_unknown_encoding_is_a_one_line_usage_error(
    name: str, cli: CliRunner, engines: Engines, tmp_path: Path
) -> None:
    path = write_bytes(tmp_path, "pagadores.csv", SECTORES.encode("utf-8"))
    result = cli.invoke(app, ["import", "sectores", str(path), "--encoding", name])
    assert result.exit_code == 2
    assert one_line_error(result) == (f"error: --encoding: unknown encoding {name!r}; use a "
                                      "name Python knows, e.g. utf-8, cp1252 or latin-1")
    assert ledger.recent_runs(engines.datamart) == []  # refused before any run
    with pytest.raises(InputError, match="unknown encoding"):
        import_job("sectores", path, encoding=name)


def test_check_encoding_gives_pythons_name() -> None:
    assert check_encoding("Windows-1252") == "cp1252"
    assert check_encoding("latin-1") == "iso8859-1"
    assert check_encoding("UTF8") == "utf-8"
    assert check_encoding("utf-16") == "utf-16"


def test_import_help_documents_encoding(cli: CliRunner) -> None:
    result = cli.invoke(app, ["import", "--help"])
    assert result.exit_code == 0 and "--encoding" in result.output
