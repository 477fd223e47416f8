"""Spreadsheet exports (CSV) loaded into the source-contract tables, all or nothing.

``toolbox import KIND FILE`` reads the whole file and validates every row; only when no row
is bad does it write, inside ONE transaction, so readers see the old content or the new one
and a rejected file changes nothing. Every problem is reported as ``FILE:LINE: column: reason``.

How the file meets the stored rows: each kind has a key (sectores by RUC, referidos by
liquidation code, referidos-alias by alias, saldos by day, tipo-cambio by date, codigos-cxc
by code and list). By default an import *merges*: rows with a new key are added, rows with a
stored key replace the stored ones, every other stored row is kept; the report says how
many were added, replaced and kept. ``--replace`` replaces the whole table instead, and is
refused (like a datamart swap) when it would leave far fewer rows, unless ``--allow-shrink``.
``fuera-sistema`` always replaces the rows of its own sheet (PEN or USD). ``tipo-cambio``
only adds dates: a stored rate is kept and a different one in the file is reported, unless
``--overwrite`` (the way to correct a wrong stored rate).

Files: UTF-8 with or without BOM; the delimiter (``,`` or ``;``) is sniffed from the header
line; headers are matched after trimming, lower-casing, removing accents and punctuation
(``GRUPO ECO.`` = ``grupo eco``, ``LIQUIDACIÓN`` = ``liquidacion``). Columns the kind does not
know are ignored and listed in the report. Numbers: ``1234.5``, ``1,234.50`` (comma only as a
thousands separator), ``-5``, ``90%`` (= 0.9, the cell's value). Dates: ``dd/mm/YYYY`` or
ISO ``YYYY-MM-DD`` (a time part is ignored, the date as written is kept).

Kinds and their headers (the header tables of reportes.md §2.3–§2.6, cxc.md §3.3):

==================  =======================================================================
sectores            RUC, SECTOR, GRUPO ECO.  → sector_pagadores (one row per RUC, last wins)
fuera-sistema       the 41 headers of reportes §2.4 → operaciones_fuera_sistema, one sheet
referidos           REFERENCIA, LIQUIDACIÓN, EJECUTIVO, MES → referidos (last row per code)
referidos-alias     ALIAS, CANONICO → referidos_alias (alias matched case-insensitively)
saldos              FechaOperacion, EvolucionCaja, … SaldoTotalCaja → saldos_caja
tipo-cambio         FECHA, COMPRA, VENTA (or TipoCambioFecha/…Compra/…Venta) → tipo_cambio
codigos-cxc         CODIGO, LISTA (MORA_A_MAYO or COBRANZA_ESPECIAL) → cxc_codigos_especiales
==================  =======================================================================
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, Numeric, String, Table, delete, func, insert, select, tuple_
from sqlalchemy.engine import Connection, Engine

from toolbox_cli.compute.normalize import moneda_code
from toolbox_cli.compute.text import text_date as parse_date
from toolbox_cli.errors import InputError
from toolbox_cli.params import RunFlags
from toolbox_cli.storage import tables as source_tables
from toolbox_cli.tasks.base import TaskSpec

MAX_REPORTED_ERRORS = 20
LISTAS_CXC = ("MORA_A_MAYO", "COBRANZA_ESPECIAL")
HOJAS = ("PEN", "USD")


class ImportRejected(InputError):
    """The file was rejected; ``errors`` holds every ``FILE:LINE: column: reason`` found."""

    def __init__(self, errors: Sequence[str], total: int | None = None) -> None:
        self.errors = list(errors)
        self.total = total if total is not None else len(self.errors)
        message = self.errors[0]
        if self.total > 1:
            message += f" (and {self.total - 1} more; nothing was imported)"
        else:
            message += " (nothing was imported)"
        super().__init__(message)


# ----------------------------------------------------------------------------- text helpers


def fold(text: str) -> str:
    """Comparison key: no accents, case-folded, trimmed.

    Used for header matching and for duplicate keys, because MySQL's default collation
    compares ``María`` and ``MARIA`` as equal: two rows the database would see as one key
    must be one key here too, or the insert fails on MariaDB only.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold().strip()


def header_key(text: str) -> str:
    """A header reduced to its words: ``N° Factura/ Letra`` → ``n factura letra``."""
    text = text.replace("°", " ").replace("º", " ")
    return " ".join(re.findall(r"[0-9a-z]+", fold(text)))


# ----------------------------------------------------------------------------- value parsers
# Each parser takes the trimmed cell text and returns a value or raises ValueError(reason).

_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_SCIENTIFIC = re.compile(r"[\d.,]+[eE][+-]?\d+")
_FLOAT_INTEGER = re.compile(r"(\d+)\.0*")


def parse_number(text: str) -> Decimal:
    """A number as a spreadsheet writes it: ``1,234.50``, ``-7``, ``0.015``, ``90%``."""
    s = text.strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    if _PLAIN_NUMBER.fullmatch(s) or _GROUPED_NUMBER.fullmatch(s):
        try:
            value = Decimal(s.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the patterns only admit valid text
            raise ValueError(f"{text!r} is not a number") from None
        return value / 100 if percent else value
    if _DECIMAL_COMMA.fullmatch(s):
        raise ValueError(
            f"{text!r} uses a comma as decimal separator; write {s.replace(',', '.')}"
        )
    if s.startswith("(") and s.endswith(")"):
        raise ValueError(f"{text!r} is an accounting negative; write -{s[1:-1]}")
    if re.search(r"[A-Za-z$/]", s) and re.search(r"\d", s):
        raise ValueError(f"{text!r} is not a number; remove currency symbols and text")
    raise ValueError(f"{text!r} is not a number")


def parse_ruc(text: str) -> str:
    """A RUC as text; ``20123456789.0`` (a number cell) → ``20123456789`` (reportes §2.4.2)."""
    s = text.strip()
    if not s:
        raise ValueError("empty")
    if _SCIENTIFIC.fullmatch(s):
        raise ValueError(
            f"{text!r} is in scientific notation and has lost digits; "
            "format the column as text in the spreadsheet and export again"
        )
    if m := _FLOAT_INTEGER.fullmatch(s):
        return m.group(1)
    return s


def required_text(text: str) -> str:
    s = text.strip()
    if not s:
        raise ValueError("empty; a value is required")
    return s


def optional_text(text: str) -> str | None:
    return text.strip() or None


def blank_text(text: str) -> str:
    """Text kept as written (trimmed); a blank cell stays ``""`` as in the legacy sheets."""
    return text.strip()


def required_date(text: str) -> date:
    if not text.strip():
        raise ValueError("empty; a date is required")
    return parse_date(text)


def optional_date(text: str) -> date | None:
    return parse_date(text) if text.strip() else None


def required_number(text: str) -> Decimal:
    if not text.strip():
        raise ValueError("empty; a number is required")
    return parse_number(text)


def exchange_rate(text: str) -> Decimal:
    """PEN per USD: positive and plausible (a thousands comma read as ``3,710`` is not)."""
    value = required_number(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be greater than 0")
    if value >= 100:
        raise ValueError(f"{text!r} is not a plausible PEN/USD rate; write decimals with a dot")
    return value


def number_or(default: Decimal | None, blanks: tuple[str, ...] = ("", "-")) -> Callable[[str], Any]:
    """Blank-like cells (spec rule of the kind) → ``default``; anything else must parse."""

    def parse(text: str) -> Decimal | None:
        return default if text.strip() in blanks else parse_number(text)

    return parse


def integer_or_zero(text: str) -> int:
    """Whole numbers (``DiasEfectivo``); the §2.4 blanks give 0; ``12.0`` is fine, 12.5 not."""
    if text.strip() in ("", "-", "<"):
        return 0
    value = parse_number(text)
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} must be a whole number of days")
    return int(value)


def parse_lista(text: str) -> str:
    key = re.sub(r"[\s_-]+", "_", fold(text)).upper()
    if key not in LISTAS_CXC:
        raise ValueError(f"{text.strip()!r} is not a list; use MORA_A_MAYO or COBRANZA_ESPECIAL")
    return key


def parse_moneda(text: str) -> str | None:
    """PEN or USD; blank → None (the KPI then takes the currency of the sheet, ``Hoja``)."""
    if not text.strip():
        return None
    code = moneda_code(text)
    if code is None:
        raise ValueError(f"{text.strip()!r} is not a currency; use PEN or USD")
    return code


# ----------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Field:
    header: str  # as the spec's header table writes it (shown in messages)
    column: str | None  # target column; None = read but not stored (e.g. a ruc used to skip)
    parse: Callable[[str], Any]
    aliases: tuple[str, ...] = ()
    required: bool = True  # False: the column may be absent from the file (value None)


@dataclass(frozen=True)
class Kind:
    name: str
    table: Table
    fields: tuple[Field, ...]
    description: str
    ignored: tuple[str, ...] = ()  # headers the spec says to discard silently
    # Rows with any of these cells blank are skipped (and reported) before being parsed.
    skip_if_blank: tuple[str, ...] = ()
    # What identifies a stored row: an import merges by it (file rows replace the stored
    # rows with the same key, other stored rows are kept).
    key: tuple[str, ...] = ()
    # merge (by key) | add (new keys only: exchange rates) | sheet (the file's own sheet)
    default_mode: str = "merge"


# Off-system sheets (reportes §2.4): numeric rule 3 (blank → null) and rule 4 (blank → 0).
_NULL_IF_BLANK = number_or(None)
_ZERO_IF_BLANK = number_or(Decimal(0), ("", "-", "<"))


def _fs(header: str, column: str, parse: Callable[[str], Any] = _ZERO_IF_BLANK) -> Field:
    return Field(header, column, parse)


FUERA_SISTEMA_FIELDS = (
    _fs("Liquidación", "CodigoLiquidacion", blank_text),
    _fs("N° Factura/ Letra", "NroDocumento", blank_text),
    _fs("Nombre Cliente", "RazonSocialCliente", blank_text),
    _fs("RUC Cliente", "RUCCliente", blank_text),
    _fs("Nombre Deudor", "RazonSocialPagador", blank_text),
    _fs("RUC DEUDOR", "RUCPagador", blank_text),
    _fs("TNM Op", "TasaNominalMensualPorc"),
    _fs("% Finan", "FinanciamientoPorc"),
    _fs("Fecha de Op", "FechaOperacion", optional_date),
    _fs("F.Pago Confirmada", "FechaConfirmado", optional_date),
    _fs("Días Efect", "DiasEfectivo", integer_or_zero),
    _fs("Moneda", "Moneda", parse_moneda),
    _fs("Neto Confirmado", "NetoConfirmado"),
    _fs("Comisión de Estructuracion", "MontoComisionEstructuracion", _NULL_IF_BLANK),
    _fs("IGV Comisión", "ComisionEstructuracionIGV", _NULL_IF_BLANK),
    _fs("Comision Con IGV", "ComisionEstructuracionConIGV"),
    _fs("Fondo Resguardo", "FondoResguardo"),
    _fs("Neto a Financiar", "MontoCobrar"),
    _fs("Interés sin IGV", "Interes"),
    _fs("Interés con IGV", "InteresConIGV"),
    _fs("Gastos Diversos Sin IGV", "GastosDiversosSinIGV"),
    _fs("IGV Gastos Diversos", "GastosDiversosIGV"),
    _fs("Gastos Diversos con IGV", "GastosDiversosConIGV"),
    _fs("Total a ser facturado al desembolso Inc. IGV", "MontoTotalFacturado"),
    _fs("N Factura generada", "FacturasGeneradas", blank_text),
    _fs("Desembolso Neto", "MontoDesembolso"),
    _fs("Fecha de pago", "FechaPago", optional_date),
    _fs("Estado", "Estado", blank_text),
    _fs("Dias Mora", "DiasMora", integer_or_zero),
    _fs("Interes Mora - No Afecto IGV", "InteresPago"),
    _fs("Gastos Mora Con IGV", "GastosPago"),
    _fs("Importe a Pagar", "MontoCobrarPago"),
    _fs("Import. Recaudado", "MontoPago"),
    _fs("Excedente Generado a ser devuelto", "ExcesoPago"),
    _fs("Fecha de devolución de excedente", "FechaDesembolso", optional_date),
    _fs("EJECUTIVO", "Ejecutivo", blank_text),
    _fs("TIPO DE OPERACIÓN", "TipoOperacion", blank_text),
    _fs("Contrato", "GastosContrato", _NULL_IF_BLANK),
    _fs("Servicio de custodia sin IGV", "ServicioCustodia"),
    _fs("Servicio de cobranza de documentos sin IGV", "ServicioCobranza"),
    _fs("Comisión por envío de carta notarial sin IGV", "GastoVigenciaPoder"),
)

_SALDOS_NUMBER = number_or(Decimal(0))  # reportes §3.8: "" and "-" → 0

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "sectores",
            source_tables.sector_pagadores,
            (
                Field("RUC", "RUCPagador", parse_ruc),
                Field("SECTOR", "Sector", required_text),
                Field("GRUPO ECO.", "GrupoEco", optional_text, required=False),
            ),
            "payer sectors and economic groups (reportes §2.3)",
            key=("RUCPagador",),
        ),
        Kind(
            "fuera-sistema",
            source_tables.operaciones_fuera_sistema,
            FUERA_SISTEMA_FIELDS,
            "off-system operations, one sheet (PEN or USD) per file (reportes §2.4)",
            ignored=(
                "TNA Op", "% Estructuracion", "IGV Interés", "TNM Moratorio", "TNA Moratorio",
                "Factura Int Mora", "Factura Gastos Mora Con IGV", "Total factura Mora",
            ),
            # reportes §2.4 rule 1: rows without client or payer RUC are not operations
            # (totals, notes at the bottom of the sheet).
            skip_if_blank=("RUC Cliente", "RUC DEUDOR"),
            key=("Hoja",),
            default_mode="sheet",
        ),
        Kind(
            "referidos",
            source_tables.referidos,
            (
                Field("REFERENCIA", "Referencia", required_text),
                Field("LIQUIDACIÓN", "CodigoLiquidacion", required_text),
                Field("EJECUTIVO", "Ejecutivo", required_text),
                Field("MES", "Mes", required_date),
            ),
            "referrals per liquidation (reportes §2.5)",
            key=("CodigoLiquidacion",),
        ),
        Kind(
            "referidos-alias",
            source_tables.referidos_alias,
            (
                Field("ALIAS", "Alias", required_text),
                Field("CANONICO", "Canonico", required_text, aliases=("NOMBRE CANONICO",)),
            ),
            "referral alias → canonical name (reportes Appendix A)",
            key=("Alias",),
        ),
        Kind(
            "saldos",
            source_tables.saldos_caja,
            (
                Field("FechaOperacion", "FechaOperacion", required_date),
                Field("EvolucionCaja", "EvolucionCaja", _SALDOS_NUMBER),
                Field("CostoExcesoCaja", "CostoExcesoCaja", _SALDOS_NUMBER),
                Field("IngresoNoRecibidoPorExcesoCaja", "IngresoNoRecibidoPorExcesoCaja",
                      _SALDOS_NUMBER),
                Field("MontoOvernight", "MontoOvernight", _SALDOS_NUMBER),
                Field("IngresosOvernightNeto", "IngresosOvernightNeto", _SALDOS_NUMBER),
                Field("SaldoTotalCaja", "SaldoTotalCaja", _SALDOS_NUMBER),
            ),
            "daily cash balances (reportes §2.6, §3.8)",
            key=("FechaOperacion",),
        ),
        Kind(
            "tipo-cambio",
            source_tables.tipo_cambio,
            (
                Field("FECHA", "TipoCambioFecha", required_date, aliases=("TipoCambioFecha",)),
                Field("COMPRA", "TipoCambioCompra", exchange_rate, aliases=("TipoCambioCompra",)),
                Field("VENTA", "TipoCambioVenta", exchange_rate, aliases=("TipoCambioVenta",)),
            ),
            "SUNAT exchange rates per date; adds missing dates only (reportes §2.2)",
            key=("TipoCambioFecha",),
            default_mode="add",
        ),
        Kind(
            "codigos-cxc",
            source_tables.cxc_codigos_especiales,
            (
                Field("CODIGO", "codigo", required_text),
                Field("LISTA", "lista", parse_lista),
            ),
            "special liquidation code lists for tablas-cxc (cxc §3.3)",
            key=("codigo", "lista"),
        ),
    )
}


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(
            f"unknown import kind {name!r}; use one of: {', '.join(KINDS)}"
        ) from None


# ----------------------------------------------------------------------------- CSV reading


@dataclass
class CsvFile:
    label: str  # the path as the user wrote it, for messages
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number where the record starts, cells)
    delimiter: str


def decode(raw: bytes, label: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{label}: the file is UTF-16; save it as 'CSV UTF-8' and import again"
        )
    try:
        return raw.decode("utf-8-sig")  # strips a BOM if there is one
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start]
        raise InputError(
            f"{label}:{line}: the file is not UTF-8 (byte 0x{byte:02x}, probably Windows-1252 "
            "or Latin-1); save it as 'CSV UTF-8' and import again"
        ) from None


def sniff_delimiter(header_line: str) -> str:
    """``;`` when it splits the header into more columns than ``,`` does, else ``,``."""
    counts = {d: len(next(csv.reader([header_line], delimiter=d))) for d in (",", ";")}
    return ";" if counts[";"] > counts[","] else ","


def read_csv(path: Path, label: str | None = None) -> CsvFile:
    label = label or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read the file: {exc.strerror}") from None
    text = decode(raw, label)
    if "\x00" in text:
        raise InputError(f"{label}: the file contains NUL bytes; it is not a CSV text file")
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise InputError(f"{label}: the file is empty; expected a header line and data rows")
    delimiter = sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines and rows of empty cells (spreadsheet padding)
            if header is None:
                header = cells
            else:
                rows.append((start, cells))
    except csv.Error as exc:
        raise InputError(f"{label}:{reader.line_num}: cannot read the CSV: {exc}") from None
    assert header is not None
    return CsvFile(label, header, rows, delimiter)


# ----------------------------------------------------------------------------- parsing


@dataclass
class ParsedFile:
    kind: str
    label: str
    table: str
    rows: list[dict[str, Any]]
    rows_read: int
    duplicates: int = 0
    skipped: int = 0
    hoja: str | None = None
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.total = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append(message)

    def raise_if_any(self) -> None:
        if self.total:
            raise ImportRejected(self.items, self.total)


def _map_header(kind: Kind, csv_file: CsvFile) -> tuple[dict[int, Field], list[str]]:
    """Column index → field; raises on a missing or repeated column."""
    wanted: dict[str, Field] = {}
    for f in kind.fields:
        for name in (f.header, *f.aliases):
            wanted[header_key(name)] = f
    ignored_keys = {header_key(h) for h in kind.ignored}
    mapping: dict[int, Field] = {}
    seen: dict[str, int] = {}
    ignored: list[str] = []
    label = csv_file.label
    for index, raw in enumerate(csv_file.header):
        key = header_key(raw)
        f = wanted.get(key)
        if f is None:
            if raw.strip() and key not in ignored_keys:
                ignored.append(raw.strip())
            continue
        if f.header in seen:
            raise ImportRejected([
                f"{label}:1: {raw.strip()}: column appears twice (columns {seen[f.header] + 1} "
                f"and {index + 1}); keep one"
            ])
        seen[f.header] = index
        mapping[index] = f
    missing = [f.header for f in kind.fields if f.header not in seen and f.required]
    if missing:
        found = ", ".join(h.strip() for h in csv_file.header if h.strip())
        raise ImportRejected([
            f"{label}:1: {missing[0]}: missing column"
            + (f" (also missing: {', '.join(missing[1:])})" if missing[1:] else "")
            + f"; the {kind.name} header is {', '.join(f.header for f in kind.fields)}"
            + f" — found: {found}"
        ])
    return mapping, ignored


def _check_length(kind: Kind, f: Field, value: Any) -> None:
    if f.column is None or not isinstance(value, str):
        return
    col_type = kind.table.c[f.column].type
    length = getattr(col_type, "length", None)
    if isinstance(col_type, String) and length and len(value) > length:
        raise ValueError(f"longer than {length} characters ({len(value)})")


@dataclass
class _Rows:
    parsed: list[tuple[int, dict[str, Any]]]
    skipped: list[int]
    ignored: list[str]


def _parse_rows(kind: Kind, csv_file: CsvFile, errors: _Errors) -> _Rows:
    mapping, ignored = _map_header(kind, csv_file)
    index_of = {f.header: i for i, f in mapping.items()}
    skip_on = [index_of[h] for h in kind.skip_if_blank]
    absent = [f for f in kind.fields if f.header not in index_of]
    width = len(csv_file.header)
    parsed: list[tuple[int, dict[str, Any]]] = []
    skipped: list[int] = []
    for line, cells in csv_file.rows:
        extra = [c for c in cells[width:] if c.strip()]
        if extra:
            errors.add(f"{csv_file.label}:{line}: (row): {len(cells)} cells but the header has "
                       f"{width} columns; check for an unquoted {csv_file.delimiter!r} in a value")
            continue
        # Excel drops trailing empty cells on some rows; missing cells read as blank.
        cells = cells + [""] * (width - len(cells))
        if any(not cells[i].strip() for i in skip_on):
            skipped.append(line)
            continue
        row: dict[str, Any] = {f.column: None for f in absent if f.column}
        ok = True
        for index, f in mapping.items():
            try:
                value = f.parse(cells[index])
                _check_length(kind, f, value)
            except ValueError as exc:
                errors.add(f"{csv_file.label}:{line}: {csv_file.header[index].strip()}: {exc}")
                ok = False
                continue
            if f.column is not None:
                row[f.column] = value
        if ok:
            parsed.append((line, row))
    return _Rows(parsed, skipped, ignored)


def _last_wins(
    rows: list[tuple[int, dict[str, Any]]], key: Callable[[dict[str, Any]], Any]
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
            f"{parsed.label}:{line}: {what} repeated on line {winner}; line {winner} wins"
        )
    if len(dropped) > 5:
        parsed.warnings.append(f"{parsed.label}: {len(dropped) - 5} more repeated {what}s")


def parse_file(kind_name: str, path: Path, *, hoja: str | None = None,
               label: str | None = None) -> ParsedFile:
    """Read and validate a whole file; raises ImportRejected listing the bad lines."""
    kind = get_kind(kind_name)
    csv_file = read_csv(path, label)
    errors = _Errors()
    read = _parse_rows(kind, csv_file, errors)
    errors.raise_if_any()
    if not csv_file.rows:
        raise ImportRejected([
            f"{csv_file.label}: no data rows after the header; nothing to import"
        ])
    parsed = ParsedFile(kind.name, csv_file.label, kind.table.name, [], len(csv_file.rows),
                        skipped=len(read.skipped), ignored_columns=read.ignored)
    if read.ignored:
        parsed.warnings.append(
            f"{csv_file.label}: ignored unknown column(s): {', '.join(read.ignored)}")
    if read.skipped:
        shown = ", ".join(str(n) for n in read.skipped[:10])
        parsed.warnings.append(
            f"{csv_file.label}: skipped {len(read.skipped)} row(s) with a blank "
            f"{' or '.join(kind.skip_if_blank)}: line(s) {shown}")
    _FINISH[kind.name](parsed, read.parsed, hoja, errors)
    errors.raise_if_any()
    if not parsed.rows:
        raise ImportRejected([f"{csv_file.label}: no usable rows (all were skipped); "
                              "nothing was imported"])
    return parsed


# Per-kind finishing: de-duplication and cross-field rules. Each fills parsed.rows.


def _finish_sectores(parsed: ParsedFile, rows, hoja, errors) -> None:  # type: ignore[no-untyped-def]
    # decisions.md 9: one row per RUC, the last imported row wins, duplicates counted.
    parsed.rows, dropped = _last_wins(rows, lambda r: fold(r["RUCPagador"]))
    _dedup_report(parsed, dropped, "RUC")


def _finish_referidos(parsed: ParsedFile, rows, hoja, errors) -> None:  # type: ignore[no-untyped-def]
    # reportes §2.5: de-duplicated by CodigoLiquidacion keeping the last row.
    parsed.rows, dropped = _last_wins(rows, lambda r: fold(r["CodigoLiquidacion"]))
    _dedup_report(parsed, dropped, "LIQUIDACIÓN")


def _finish_alias(parsed: ParsedFile, rows, hoja, errors) -> None:  # type: ignore[no-untyped-def]
    # Aliases are matched case-insensitively after trimming (Appendix A): one per folded key.
    parsed.rows, dropped = _last_wins(rows, lambda r: fold(r["Alias"]))
    _dedup_report(parsed, dropped, "ALIAS")


def _finish_codigos(parsed: ParsedFile, rows, hoja, errors) -> None:  # type: ignore[no-untyped-def]
    # A code may be in both lists (cxc §3.3), so the key is (code, list).
    parsed.rows, dropped = _last_wins(rows, lambda r: (fold(r["codigo"]), r["lista"]))
    _dedup_report(parsed, dropped, "CODIGO+LISTA")


def _finish_saldos(parsed: ParsedFile, rows, hoja, errors) -> None:  # type: ignore[no-untyped-def]
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
                    f"{parsed.label}:{line}: FechaOperacion {day.isoformat()} repeats line "
                    f"{first[day]}; both rows kept (reportes §3.8 keeps every row)"
                )
        else:
            first[day] = line


def _finish_tipo_cambio(parsed: ParsedFile, rows, hoja, errors) -> None:  # type: ignore[no-untyped-def]
    # One rate per date. The same date twice with the same rates is a harmless duplicate;
    # with different rates nobody can tell which is right, so the file is rejected.
    seen: dict[date, tuple[int, dict[str, Any]]] = {}
    dropped = 0
    for line, row in rows:
        day = row["TipoCambioFecha"]
        if day in seen:
            first_line, first_row = seen[day]
            if _rates(first_row) != _rates(row):
                errors.add(f"{parsed.label}:{line}: FECHA: {day.isoformat()} already on line "
                           f"{first_line} with different rates; keep one")
            else:
                dropped += 1
            continue
        seen[day] = (line, row)
    parsed.duplicates = dropped
    parsed.rows = [
        {**row, "TipoCambioFecha": day.isoformat()} for day, (_, row) in sorted(seen.items())
    ]


def _rates(row: dict[str, Any]) -> tuple[Decimal, Decimal]:
    q = Decimal("0.000001")
    return (Decimal(row["TipoCambioCompra"]).quantize(q, ROUND_HALF_UP),
            Decimal(row["TipoCambioVenta"]).quantize(q, ROUND_HALF_UP))


def _finish_fuera_sistema(parsed: ParsedFile, rows, hoja, errors) -> None:  # type: ignore[no-untyped-def]
    label = parsed.label
    for line, row in rows:
        # reportes §2.4 rule 2: RUCs and document numbers are text; a number cell's
        # 20123456789.0 becomes 20123456789; a blank document number is invalid.
        for column, header in (("RUCCliente", "RUC Cliente"), ("RUCPagador", "RUC DEUDOR"),
                               ("NroDocumento", "N° Factura/ Letra")):
            try:
                row[column] = parse_ruc(row[column])
            except ValueError as exc:
                errors.add(f"{label}:{line}: {header}: {exc}")
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
            f"{label}: {len(other)} row(s) of sheet {hoja} have another Moneda (first: line "
            f"{other[0]}); each row keeps its own Moneda"
        )
    parsed.hoja = hoja
    # Fila keeps the sheet order, because the KPI appends off-system rows in sheet order.
    parsed.rows = [{**row, "Hoja": hoja, "Fila": n} for n, (_, row) in enumerate(rows, 1)]


_FINISH: dict[str, Callable[..., None]] = {
    "sectores": _finish_sectores,
    "fuera-sistema": _finish_fuera_sistema,
    "referidos": _finish_referidos,
    "referidos-alias": _finish_alias,
    "saldos": _finish_saldos,
    "tipo-cambio": _finish_tipo_cambio,
    "codigos-cxc": _finish_codigos,
}


# ----------------------------------------------------------------------------- writing

# How an import meets the rows already stored (``toolbox import --help``):
MERGE = "merge"  # by key: new keys added, same keys replaced, the other stored rows kept
ADD = "add"  # new keys only: a stored key keeps its values (exchange rates, by default)
OVERWRITE = "overwrite"  # tipo-cambio --overwrite: a merge that corrects stored rates
SHEET = "sheet"  # fuera-sistema: the file's sheet (PEN or USD) replaced, the other kept
REPLACE = "replace"  # --replace: the whole table, guarded like a datamart swap


def import_mode(kind: Kind, *, replace: bool = False, overwrite: bool = False) -> str:
    if replace and overwrite:
        raise InputError("--replace and --overwrite exclude each other; pick one")
    if overwrite:
        if kind.name != "tipo-cambio":
            raise InputError("--overwrite only applies to: toolbox import tipo-cambio FILE "
                             f"(a {kind.name} import already replaces rows with the same key)")
        return OVERWRITE
    if replace:
        if kind.default_mode == SHEET:
            raise InputError("--replace does not apply to fuera-sistema: an import always "
                             "replaces its own sheet (PEN or USD) and keeps the other")
        return REPLACE
    return kind.default_mode


@dataclass
class ImportResult:
    kind: str
    file: str
    table: str
    mode: str
    rows_read: int  # data rows in the file
    written: int = 0  # rows written to the table
    added: int = 0  # file rows whose key was not stored
    replaced: int = 0  # stored rows replaced (same key; or every previous row with --replace)
    kept: int = 0  # stored rows left as they were
    duplicates: int = 0  # file rows superseded by a later row with the same key
    skipped: int = 0  # rows dropped by a spec rule (fuera-sistema without RUC)
    unchanged: int = 0  # add mode: keys already stored with the same values
    conflicts: int = 0  # add mode: keys stored with other values (kept, not overwritten)
    hoja: str | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _rounded(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Numeric values rounded half-up to their column's scale, once, before writing."""
    scales = {c.name: Decimal(1).scaleb(-c.type.scale) for c in table.columns
              if isinstance(c.type, Numeric) and not isinstance(c.type, Integer)
              and c.type.scale is not None}
    out = []
    for row in rows:
        row = dict(row)
        for name, quantum in scales.items():
            if isinstance(row.get(name), Decimal):
                row[name] = row[name].quantize(quantum, rounding=ROUND_HALF_UP)
        out.append(row)
    return out


def _key(kind: Kind, row: Any) -> tuple[Any, ...]:
    """A row's key as the database compares it: texts folded (MySQL's collation ignores
    case and accents), so two spellings of one key are one key on both backends."""
    return tuple(fold(v) if isinstance(v, str) else v for v in (row[c] for c in kind.key))


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]], chunk_size: int) -> None:
    for chunk in _chunks(_rounded(table, rows), chunk_size):
        conn.execute(insert(table), chunk)


def _delete_rows(conn: Connection, table: Table, pks: list[tuple[Any, ...]]) -> None:
    """Delete stored rows by primary key (as read, so the match is exact on both backends)."""
    pk_cols = list(table.primary_key.columns)
    for chunk in _chunks(pks, 500):
        if len(pk_cols) == 1:
            conn.execute(delete(table).where(pk_cols[0].in_([pk[0] for pk in chunk])))
        else:
            conn.execute(delete(table).where(tuple_(*pk_cols).in_(chunk)))


def _merge(conn: Connection, kind: Kind, parsed: ParsedFile, result: ImportResult, *,
           chunk_size: int, dry_run: bool) -> None:
    """Merge (or, in add mode, only add) the file's rows by the kind's key."""
    table = kind.table
    pk_cols = list(table.primary_key.columns)
    stored: dict[tuple[Any, ...], list[Any]] = {}
    for row in conn.execute(select(table)).mappings():
        stored.setdefault(_key(kind, row), []).append(row)
    incoming = [row for row in parsed.rows if _key(kind, row) not in stored]
    result.added = len(incoming)
    matched = {_key(kind, row) for row in parsed.rows} & stored.keys()
    if result.mode == ADD:
        _compare_rates(parsed, stored, matched, result)
        write, remove = incoming, []
    else:
        write = parsed.rows
        remove = [tuple(r[c.name] for c in pk_cols) for k in matched for r in stored[k]]
    result.replaced = len(remove)
    result.kept = sum(len(rows) for rows in stored.values()) - len(remove)
    result.written = len(write)
    if not dry_run:
        _delete_rows(conn, table, remove)
        _insert(conn, table, write, chunk_size)


def _compare_rates(parsed: ParsedFile, stored: dict[tuple[Any, ...], list[Any]],
                   matched: set[tuple[Any, ...]], result: ImportResult) -> None:
    """Add mode (exchange rates): a stored date keeps its rates; a different rate in the file
    is reported, and ``--overwrite`` is the way to correct it."""
    for row in sorted(parsed.rows, key=lambda r: r["TipoCambioFecha"]):
        key = (row["TipoCambioFecha"],)
        if key not in matched:
            continue
        old, new = _rates(stored[key][0]), _rates(row)
        if old == new:
            result.unchanged += 1
            continue
        result.conflicts += 1
        if result.conflicts <= 10:
            result.warnings.append(
                f"{parsed.label}: {key[0]}: stored rates {old[0]}/{old[1]} kept; the file says "
                f"{new[0]}/{new[1]} (use --overwrite to correct stored rates)"
            )


def _replace(conn: Connection, kind: Kind, parsed: ParsedFile, result: ImportResult, *,
             chunk_size: int, dry_run: bool, check_shrink: Callable[[int, int], None]) -> None:
    """The whole table (--replace) or the file's sheet, after the shrink guard."""
    table = kind.table
    where = table.c.Hoja == parsed.hoja if result.mode == SHEET else None
    count_q = select(func.count()).select_from(table)
    previous = conn.execute(count_q if where is None else count_q.where(where)).scalar_one()
    check_shrink(previous, len(parsed.rows))
    result.added, result.replaced, result.written = len(parsed.rows), previous, len(parsed.rows)
    if result.mode == SHEET:
        result.kept = conn.execute(count_q.where(table.c.Hoja != parsed.hoja)).scalar_one()
    if not dry_run:
        conn.execute(delete(table) if where is None else delete(table).where(where))
        _insert(conn, table, parsed.rows, chunk_size)


def apply_import(engine: Engine, parsed: ParsedFile, *, mode: str | None = None,
                 dry_run: bool = False, chunk_size: int = 5000,
                 check_shrink: Callable[[int, int], None] = lambda live, new: None
                 ) -> ImportResult:
    """Write a validated file to its table in one transaction (or only count, with dry_run).

    ``check_shrink(live, new)`` is the run's guard for the modes that replace rows wholesale
    (``--replace``, a sheet): it raises to refuse."""
    kind = get_kind(parsed.kind)
    mode = mode or kind.default_mode
    result = ImportResult(parsed.kind, parsed.label, kind.table.name, mode, parsed.rows_read,
                          duplicates=parsed.duplicates, skipped=parsed.skipped,
                          hoja=parsed.hoja, dry_run=dry_run, warnings=list(parsed.warnings),
                          ignored_columns=list(parsed.ignored_columns))
    with engine.begin() as conn:
        if mode in (REPLACE, SHEET):
            _replace(conn, kind, parsed, result, chunk_size=chunk_size, dry_run=dry_run,
                     check_shrink=check_shrink)
        else:
            _merge(conn, kind, parsed, result, chunk_size=chunk_size, dry_run=dry_run)
    return result


# ----------------------------------------------------------------------------- as a ledger run


@dataclass
class ImportOutcome:
    outcome: Any  # runner.RunOutcome
    result: ImportResult | None
    exit_code: int
    errors: list[str] = field(default_factory=list)  # every bad line found (first 20)


@dataclass(frozen=True)
class ImportParams(RunFlags):
    file: str = ""
    hoja: str | None = None
    mode: str = MERGE


@dataclass
class ImportJob:
    """An import as a ledger task ``import:KIND``: run ``spec`` with ``params`` through the
    runner, then ``finish`` it. A rejected file is recorded on the ledger as a failed run
    whose error is the first ``FILE:LINE: column: reason``; the command still exits 2 (bad
    input), not 1."""

    kind: Kind
    path: Path
    label: str
    params: ImportParams
    result: ImportResult | None = None
    error: InputError | None = None

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec(f"import:{self.kind.name}", f"import {self.kind.description}",
                        self._run, params=ImportParams, tables=(self.kind.table.name,),
                        reads=(self.kind.table.name,), monitored=False)

    def _run(self, ctx: Any, params: ImportParams) -> None:
        table = self.kind.table.name
        try:
            parsed = parse_file(self.kind.name, self.path, hoja=params.hoja, label=self.label)
        except InputError as exc:
            self.error = exc
            raise

        def check_shrink(live: int, new: int) -> None:
            ctx.check_shrink({table: live}, {table: new})

        result = apply_import(ctx.source, parsed, mode=params.mode, dry_run=ctx.dry_run,
                              chunk_size=ctx.settings.chunk_size, check_shrink=check_shrink)
        for warning in result.warnings:
            ctx.warn(warning)
        ctx.add_rows(table, result.written)
        self.result = result

    def finish(self, outcome: Any) -> ImportOutcome:
        """The import's outcome from the run's (``runner.RunOutcome``)."""
        exit_code, errors = outcome.exit_code, []
        if self.error is not None and outcome.status == "failed":
            exit_code = self.error.exit_code
            errors = (list(self.error.errors) if isinstance(self.error, ImportRejected)
                      else [str(self.error)])
        return ImportOutcome(outcome, self.result, exit_code, errors)


def import_job(kind_name: str, path: Path, *, hoja: str | None = None, dry_run: bool = False,
               replace: bool = False, overwrite: bool = False,
               allow_shrink: bool = False) -> ImportJob:
    """The import of ``path`` as ``kind_name``; bad arguments raise ``InputError``."""
    kind = get_kind(kind_name)
    mode = import_mode(kind, replace=replace, overwrite=overwrite)
    if hoja is not None:
        hoja = hoja.strip().upper()
        if kind.name != "fuera-sistema":
            raise InputError("--hoja only applies to: toolbox import fuera-sistema FILE")
        if hoja not in HOJAS:
            raise InputError(f"--hoja must be PEN or USD, not {hoja!r}")
    label = str(path)
    if not path.is_file():
        raise InputError(f"{label}: no such file" if not path.exists()
                         else f"{label}: is not a regular file")
    params = ImportParams(dry_run, allow_shrink, str(path.resolve()), hoja, mode)
    return ImportJob(kind, path, label, params)
