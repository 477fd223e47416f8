"""``parse_file``: a whole file read and validated as one kind, then finished per kind.

Finishing applies the rules that look at more than one row: de-duplication by the kind's
key (the last row wins and the dropped lines are reported), repeated days (saldos, kept),
one rate per date (tipo-cambio), the sheet of an off-system file (fuera-sistema).
Nothing is written here; ``apply.apply_import`` writes a ``ParsedFile``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from toolbox_cli.compute.ruc import ruc_text
from toolbox_cli.compute.text import fold
from toolbox_cli.errors import InputError
from toolbox_cli.imports.csvfile import CsvFile, read_csv
from toolbox_cli.imports.kinds import HOJAS, get_kind, rates_as_stored
from toolbox_cli.imports.rows import CellErrors, ImportRejected, ParsedFile, parse_rows
from toolbox_cli.words import count, plural

Rows = list[tuple[int, dict[str, Any]]]  # (line, row) in file order
Finisher = Callable[[ParsedFile, Rows, str | None, CellErrors], None]


def parse_file(kind_name: str, path: Path, *, hoja: str | None = None,
               label: str | None = None, encoding: str | None = None) -> ParsedFile:
    """Read and validate a whole file; raises ImportRejected listing the bad lines.

    ``encoding`` None reads UTF-8, or Windows-1252 when the bytes are that (noted in the
    warnings); a codec name reads the file with it (``csvfile.decode``)."""
    return parse_records(kind_name, read_csv(path, label, encoding), hoja=hoja)


def parse_records(kind_name: str, csv_file: CsvFile, *, hoja: str | None = None) -> ParsedFile:
    """Validate every record of a file or a sheet as ``kind_name``; raises ImportRejected
    listing the bad lines (rows)."""
    kind = get_kind(kind_name)
    errors = CellErrors()
    read = parse_rows(kind, csv_file, errors)
    errors.raise_if_any()
    if not csv_file.rows:
        raise ImportRejected([
            f"{csv_file.label}: no data rows after the header; nothing to import"
        ])
    parsed = ParsedFile(kind.name, csv_file.label, kind.table.name, [], len(csv_file.rows),
                        skipped=len(read.skipped), ignored_columns=read.ignored,
                        absent_columns=read.absent, warnings=list(csv_file.notes),
                        encoding=csv_file.encoding, sep=csv_file.sep)
    for column, failures in read.bad_check_digits.items():
        line, digits = failures[0]
        parsed.warnings.append(
            f"{csv_file.label}: {count(len(failures), 'RUC')} in {column} fail the check digit "
            f"(e.g. {csv_file.ref(line)}: {digits})")
    if read.ignored:
        parsed.warnings.append(
            f"{csv_file.label}: ignored unknown {plural('column', len(read.ignored))}: "
            f"{', '.join(read.ignored)}")
    if read.skipped:
        shown = ", ".join(str(n) for n in read.skipped[:10])
        parsed.warnings.append(
            f"{csv_file.label}: skipped {count(len(read.skipped), 'row')} with a blank "
            f"{' or '.join(kind.skip_if_blank)}: {plural('line', len(read.skipped))} {shown}")
    _FINISH[kind.name](parsed, read.parsed, hoja, errors)
    errors.raise_if_any()
    if not parsed.rows:
        raise ImportRejected([f"{csv_file.label}: no usable rows (all were skipped); "
                              "nothing was imported"])
    return parsed


# ----------------------------------------------------------------------------- finishing
# Per-kind finishing: de-duplication and cross-field rules. Each fills parsed.rows.


def _last_wins(
    rows: Rows, key: Callable[[dict[str, Any]], Any]
) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """One row per key, the last one (at the position of the last); (dropped, kept) lines."""
    last: dict[Any, int] = {}
    for i, (_, row) in enumerate(rows):
        last[key(row)] = i
    kept, dropped = [], []
    for i, (line, row) in enumerate(rows):
        j = last[key(row)]
        if i == j:
            kept.append(row)
        else:
            dropped.append((line, rows[j][0]))
    return kept, dropped


def _dedup_report(parsed: ParsedFile, dropped: list[tuple[int, int]], what: str) -> None:
    parsed.duplicates = len(dropped)
    for line, winner in dropped[:5]:
        parsed.warnings.append(
            f"{parsed.at(line)}: {what} repeated on {parsed.ref(winner)}; {parsed.ref(winner)} wins"
        )
    if len(dropped) > 5:
        parsed.warnings.append(f"{parsed.label}: {len(dropped) - 5} more repeated {what}s")


def _one_row_per(key: Callable[[dict[str, Any]], Any], what: str) -> Finisher:
    """A finisher that keeps one row per ``key``, the last, and reports each dropped line
    as a repeated ``what``."""
    def finish(parsed: ParsedFile, rows: Rows, hoja: str | None, errors: CellErrors) -> None:
        parsed.rows, dropped = _last_wins(rows, key)
        _dedup_report(parsed, dropped, what)

    return finish


def _finish_saldos(parsed: ParsedFile, rows: Rows, hoja: str | None,
                   errors: CellErrors) -> None:
    # reportes §3.8: pass-through in file order, no de-duplication of days; repeated days
    # are kept (the dashboards saw them in the legacy too) but reported.
    parsed.rows = [row for _, row in rows]
    first: dict[date, int] = {}
    repeated = 0
    for line, row in rows:
        day = row["FechaOperacion"]
        if day in first:
            repeated += 1
            if repeated <= 5:
                parsed.warnings.append(
                    f"{parsed.at(line)}: FechaOperacion {day.isoformat()} repeats "
                    f"{parsed.ref(first[day])}; both rows kept (reportes §3.8 keeps every row)"
                )
        else:
            first[day] = line


def _finish_tipo_cambio(parsed: ParsedFile, rows: Rows, hoja: str | None,
                        errors: CellErrors) -> None:
    # One rate per date. The same date twice with the same rates is a harmless duplicate;
    # with different rates nobody can tell which is right, so the file is rejected.
    seen: dict[date, tuple[int, dict[str, Any]]] = {}
    dropped = 0
    for line, row in rows:
        day = row["TipoCambioFecha"]
        if day in seen:
            first_line, first_row = seen[day]
            if rates_as_stored(first_row) != rates_as_stored(row):
                errors.add(f"{parsed.at(line)}: FECHA: {day.isoformat()} already on "
                           f"{parsed.ref(first_line)} with different rates; keep one")
            else:
                dropped += 1
            continue
        seen[day] = (line, row)
    parsed.duplicates = dropped
    parsed.rows = [
        {**row, "TipoCambioFecha": day.isoformat()} for day, (_, row) in sorted(seen.items())
    ]


def _finish_fuera_sistema(parsed: ParsedFile, rows: Rows, hoja: str | None,
                          errors: CellErrors) -> None:
    label = parsed.label
    for line, row in rows:
        # reportes §2.4 rule 2: RUCs and document numbers are text; a number cell's
        # 20123456789.0 becomes 20123456789; a blank document number is invalid. (The
        # RUC columns are read by their field's rule, ``required_ruc``, which does the same.)
        try:
            row["NroDocumento"] = ruc_text(row["NroDocumento"])
        except ValueError as exc:
            errors.add(f"{parsed.at(line)}: N° Factura/ Letra: {exc}")
    monedas = {row["Moneda"] for _, row in rows if row["Moneda"]}
    if hoja is None:
        if len(monedas) != 1:
            found = " and ".join(sorted(monedas)) if monedas else "no currency"
            errors.add(f"{label}: Moneda: the rows have {found}; "
                       "say which sheet this is with --hoja PEN or --hoja USD")
            return
        hoja = next(iter(monedas))
    hoja = hoja.strip().upper()
    if hoja not in HOJAS:
        raise InputError(f"--hoja must be PEN or USD, not {hoja!r}")
    other = [line for line, row in rows if row["Moneda"] not in (None, hoja)]
    if other:
        parsed.warnings.append(
            f"{label}: {count(len(other), 'row')} of sheet {hoja} "
            f"{plural('has', len(other))} another Moneda (first: "
            f"{parsed.ref(other[0])}); each row keeps its own Moneda"
        )
    parsed.hoja = hoja
    # Fila keeps the sheet order, because the KPI appends off-system rows in sheet order.
    parsed.rows = [{**row, "Hoja": hoja, "Fila": n} for n, (_, row) in enumerate(rows, 1)]


_FINISH: dict[str, Finisher] = {
    # decisions.md 9: one row per RUC, the last imported row wins, duplicates counted.
    "sectores": _one_row_per(lambda r: fold(r["RUCPagador"]), "RUC"),
    "fuera-sistema": _finish_fuera_sistema,
    # reportes §2.5: de-duplicated by CodigoLiquidacion keeping the last row.
    "referidos": _one_row_per(lambda r: fold(r["CodigoLiquidacion"]), "LIQUIDACIÓN"),
    # Aliases are matched case-insensitively after trimming (Appendix A): one per folded key.
    "referidos-alias": _one_row_per(lambda r: fold(r["Alias"]), "ALIAS"),
    "saldos": _finish_saldos,
    "tipo-cambio": _finish_tipo_cambio,
    # A code may be in both lists (cxc §3.3), so the key is (code, list).
    "codigos-cxc": _one_row_per(lambda r: (fold(r["codigo"]), r["lista"]), "CODIGO+LISTA"),
}
