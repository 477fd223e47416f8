"""A CSV export read into its header and records, or a clear reason why it cannot be.

The bytes are decoded by ``decode``: UTF-8 with or without BOM, else Windows-1252 when the
file is that (Excel on Windows saves "CSV" so), noted in the report; ``--encoding NAME``
(any Python text codec) reads them with that codec instead. The delimiter, ``,`` or ``;``,
is sniffed from the header line; blank lines and rows of empty cells are skipped. Headers
are compared by ``header_key``: trimmed, lower-cased, without accents and punctuation
(``GRUPO ECO.`` = ``grupo eco``, ``LIQUIDACIÓN`` = ``liquidacion``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from toolbox_cli.compute.text import fold
from toolbox_cli.errors import InputError

UTF8 = "utf-8"
CP1252 = "cp1252"


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
    encoding: str = UTF8  # the codec that read the bytes
    notes: list[str] = field(default_factory=list)  # for the report (how it was read)
    sep: str = ":"  # between label and line: FILE:LINE, or URL#row N for a sheet

    def at(self, line: int) -> str:
        """Where a record is, for messages: ``FILE:LINE`` or ``URL#row N``."""
        return f"{self.label}{self.sep}{line}"

    def ref(self, line: int) -> str:
        """Another record, inside a message about one: ``line N`` or ``row N``."""
        return f"{'line' if self.sep == ':' else 'row'} {line}"


def check_encoding(name: str) -> str:
    """The codec name Python gives ``name`` (``Windows-1252`` → ``cp1252``, ``latin-1`` →
    ``iso8859-1``); an unknown name, or a codec that does not decode bytes to text
    (``base64``, ``rot13``), is a usage error."""
    try:
        b"a".decode(name)  # not b"": bytes.decode returns "" without looking the codec up
    except LookupError:
        raise InputError(
            f"--encoding: unknown encoding {name!r}; use a name Python knows, "
            "e.g. utf-8, cp1252 or latin-1"
        ) from None
    except ValueError:  # a real text codec that cannot read b"a" (utf-16: truncated data)
        pass
    return codecs.lookup(name).name


# A well-formed UTF-8 sequence of two to four bytes (RFC 3629: no overlongs, no surrogates).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def _where(raw: bytes, offset: int) -> tuple[int, int]:
    """(line, column) of a byte, both from 1; the column counts bytes."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def decode(raw: bytes, label: str, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the codec that read it (a leading BOM removed).

    With ``encoding`` (``check_encoding``'s name) the bytes are read with that codec and
    a byte it cannot read is an error. Without it:

    - UTF-8, with or without BOM, is read as UTF-8; a UTF-16 BOM is refused (``--encoding
      utf-16`` reads it);
    - bytes that are not UTF-8 are read as Windows-1252 (``cp1252``, the "CSV" of Excel on
      Windows) when they *decode as cp1252*, which here means both: (1) none of the five
      bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) occurs, i.e. Python's
      strict ``cp1252`` codec reads every byte; and (2) no run of bytes is well-formed
      multi-byte UTF-8 — a file partly UTF-8 and partly something else (two exports pasted
      together) would have its UTF-8 ``á`` stored as ``Ã¡``, while real Windows-1252 text
      almost never holds such a run (an upper-case accented letter directly followed by a
      symbol like ``°`` or ``”``). The caller notes in the report that it was read so;
    - anything else is refused with the line and column of the first byte that is not
      UTF-8 and the ``--encoding`` to try (``cp1252`` for a file refused by (2), ``latin-1``,
      which reads any byte, for one refused by (1)).
    """
    if encoding is not None:
        try:
            return raw.decode(encoding).removeprefix("\ufeff"), encoding
        except UnicodeDecodeError as exc:
            line, column = _where(raw, exc.start)
            raise InputError(
                f"{label}:{line}: cannot read the file as {encoding} (byte "
                f"0x{raw[exc.start]:02x}, column {column}: {exc.reason}); check --encoding"
            ) from None
        except UnicodeError as exc:  # a codec that cannot say where (idna, punycode)
            raise InputError(f"{label}: cannot read the file as {encoding} ({exc}); "
                             "check --encoding") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{label}: the file is UTF-16; save it as 'CSV UTF-8' and import again "
            "(or pass --encoding utf-16)"
        )
    try:
        # Not "utf-8-sig": its error positions would not count the BOM's three bytes.
        return raw.decode(UTF8).removeprefix("\ufeff"), UTF8
    except UnicodeDecodeError as exc:
        bad = exc.start
    line, column = _where(raw, bad)
    first = f"{label}:{line}: the file is"
    at = f"byte 0x{raw[bad]:02x}, column {column}"
    try:
        text = raw.decode(CP1252)
    except UnicodeDecodeError as exc:
        other, _ = _where(raw, exc.start)
        raise InputError(
            f"{first} neither UTF-8 ({at}) nor Windows-1252 (byte 0x{raw[exc.start]:02x} on line {other} is "
            "not a cp1252 character); save it as 'CSV UTF-8', or pass its encoding, e.g. "
            "--encoding latin-1 (which reads any byte; check the accents)"
        ) from None
    if mixed := _UTF8_MULTIBYTE.search(raw):
        other, _ = _where(raw, mixed.start())
        shown = ("a UTF-8 BOM" if mixed.group() == codecs.BOM_UTF8
                 else repr(mixed.group().decode(UTF8)))
        raise InputError(
            f"{first} not UTF-8 ({at}), yet line {other} holds UTF-8 text ({shown}); "
            "a file partly UTF-8 and partly another "
            "encoding cannot be read safely: save it as 'CSV UTF-8', or pass "
            "--encoding cp1252 if it is all Windows-1252"
        )
    return text, CP1252


def encoding_note(label: str) -> str:
    """What the report says of a file read as Windows-1252 without ``--encoding``."""
    return (f"{label}: not UTF-8; read as Windows-1252 (cp1252), as Excel on Windows saves "
            "CSV; pass --encoding if it is another encoding")


def sniff_delimiter(header_line: str) -> str:
    """``;`` when it splits the header into more columns than ``,`` does, else ``,``."""
    counts = {d: len(next(csv.reader([header_line], delimiter=d))) for d in (",", ";")}
    return ";" if counts[";"] > counts[","] else ","


def read_csv(path: Path, label: str | None = None, encoding: str | None = None) -> CsvFile:
    """The file's header and records; ``encoding`` None = UTF-8 or detected cp1252
    (``decode``), else a codec name (checked by ``check_encoding``)."""
    label = label or str(path)
    if encoding is not None:
        encoding = check_encoding(encoding)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read the file: {exc.strerror}") from None
    return csv_from_bytes(raw, label, encoding)


def csv_from_bytes(raw: bytes, label: str, encoding: str | None = None,
                   sep: str = ":") -> CsvFile:
    """The header and records of a CSV text's bytes (a file's, or a published sheet's);
    ``sep`` goes between ``label`` and a line number in messages."""
    text, used = decode(raw, label, encoding)
    notes = [encoding_note(label)] if encoding is None and used == CP1252 else []
    if "\x00" in text:
        raise InputError(f"{label}: the file contains NUL bytes; it is not a CSV text file")
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise InputError(f"{label}: the file is empty; expected a header line and data rows")
    delimiter = sniff_delimiter(first)
    # strict: a quote left open to the end of the file is an error, not one long last value.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
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
        if "unexpected end of data" in str(exc):
            raise InputError(f"{label}{sep}{previous_end + 1}: a quoted value opened on this "
                             "line is never closed; close its quote (\") or remove it") from None
        raise InputError(f"{label}{sep}{reader.line_num}: cannot read the CSV: {exc}") from None
    assert header is not None
    return CsvFile(label, header, rows, delimiter, used, notes, sep)
