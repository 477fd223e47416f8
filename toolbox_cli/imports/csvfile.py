"""A CSV export read into its header and records, or a clear reason why it cannot be.

UTF-8 with or without BOM (UTF-16 and Windows-1252 are refused with the fix to make); the
delimiter, ``,`` or ``;``, is sniffed from the header line; blank lines and rows of empty
cells are skipped. Headers are compared by ``header_key``: trimmed, lower-cased, without
accents and punctuation (``GRUPO ECO.`` = ``grupo eco``, ``LIQUIDACIÓN`` = ``liquidacion``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from toolbox_cli.compute.text import fold
from toolbox_cli.errors import InputError


def header_key(text: str) -> str:
    """A header reduced to its words: ``N° Factura/ Letra`` → ``n factura letra``."""
    text = text.replace("°", " ").replace("º", " ")
    return " ".join(re.findall(r"[0-9a-z]+", fold(text)))


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
