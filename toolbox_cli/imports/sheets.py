"""A published Google Sheet over HTTP, read into the same records as a CSV file.

Two shapes, told apart by the answer (not the URL):

- an Apps Script web app (``…/macros/s/KEY/exec``) answering JSON: a list with one object
  per sheet row keyed by the header texts (or an object holding that list, e.g.
  ``{"data": [...]}``). Cells: strings as written, numbers (``1234.5``; a display string
  ``"1,234.50"`` is read by the kind's number rule), ``null`` or ``""`` for a blank, and
  dates as ``{"f_jsdate__java_util_Date": "2024-03-05T05:00:00.000Z"}``, an ISO string or
  ``dd/mm/YYYY`` (the date as written is kept, reportes.md §2.4 rule 5). Row N of the
  list is sheet row N + 1 (row 1 is the header);
- a sheet published as CSV ("publish to the web" as CSV, or ``…/export?format=csv``): the
  same bytes a CSV file holds, read by ``csvfile`` (BOM, delimiter, encoding).

What is not a sheet gets one line saying what to fix: a redirect to a Google sign-in page
(the sheet or the web app is not published for anyone), an HTML page, an empty answer, JSON
that is cut or is not a list of rows. Errors name the place as ``URL#row N: column: reason``
where URL is ``settings.display_url``'s form, which keeps only the scheme and host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from toolbox_cli.errors import ConfigError, InputError, did_you_mean
from toolbox_cli.imports.apply import REPLACE, SHEET
from toolbox_cli.imports.csvfile import CsvFile, csv_from_bytes
from toolbox_cli.imports.kinds import get_kind
from toolbox_cli.remote.http import Answer, BadAnswer, HttpClient, Retrying, Transient
from toolbox_cli.settings import Settings, display_url

ROW = "#row "  # the separator between a sheet's label and its row number
JS_DATE = "f_jsdate__java_util_Date"
_LOGIN_HOSTS = ("accounts.google.com",)
_LOGIN_MARKERS = (b"accounts.google.com", b"ServiceLogin", b"signin/identifier")


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


# TOOLBOX_SHEETS keys: the sheet → (import kind, its sheet of off-system operations).
SHEET_KINDS: dict[str, tuple[str, str | None]] = {
    "sectores": ("sectores", None),
    "fuera-sistema-pen": ("fuera-sistema", "PEN"),
    "fuera-sistema-usd": ("fuera-sistema", "USD"),
    "referidos": ("referidos", None),
    "referidos-alias": ("referidos-alias", None),
    "saldos": ("saldos", None),
    "codigos-cxc": ("codigos-cxc", None),
}


@dataclass(frozen=True)
class Sheet:
    name: str  # its TOOLBOX_SHEETS key
    kind: str
    hoja: str | None
    url: str

    @property
    def label(self) -> str:
        return display_url(self.url)

    @property
    def table(self) -> str:
        return get_kind(self.kind).table.name

    @property
    def mode(self) -> str:
        """The sheet is the table's content: it replaces the table (or its own sheet)."""
        return SHEET if self.hoja else REPLACE


def configured_sheets(settings: Settings, *, required: bool = False,
                      tables: tuple[str, ...] | None = None) -> list[Sheet]:
    """The sheets of ``TOOLBOX_SHEETS`` in a fixed order (``SHEET_KINDS``'), only those
    filling one of ``tables`` when given; a bad key or URL is a ConfigError, and so is
    an empty setting when ``required``."""
    for name, url in settings.sheets.items():
        if name not in SHEET_KINDS:
            raise ConfigError(
                f"TOOLBOX_SHEETS: {name!r} is not a sheet{did_you_mean(name, tuple(SHEET_KINDS))}"
                f"; the sheets are {', '.join(SHEET_KINDS)}")
        if not is_url(url.strip()):
            raise ConfigError(f"TOOLBOX_SHEETS: {name}: not an http(s) URL; expected e.g. "
                              "https://script.google.com/macros/s/KEY/exec")
    if required and not settings.sheets:
        raise ConfigError(
            "TOOLBOX_SHEETS is not set: no sheet to refresh. Set it to the sheets' URLs, e.g. "
            'TOOLBOX_SHEETS=\'{"sectores": "https://script.google.com/macros/s/KEY/exec"}\' '
            '(README "Live sources")')
    sheets = [Sheet(name, *SHEET_KINDS[name], settings.sheets[name].strip())
              for name in SHEET_KINDS if name in settings.sheets]
    if tables is not None:
        sheets = [s for s in sheets if s.table in tables]
    return sheets


def sheets_client(settings: Settings) -> HttpClient:
    return HttpClient(
        timeout=settings.sheets_timeout_seconds,
        attempts=settings.sheets_attempts,
        backoff=settings.sheets_backoff_seconds,
        headers={"Accept": "application/json, text/csv;q=0.9, */*;q=0.5"},
        what="the sheet",
    )


def fetch_sheet(url: str, http: HttpClient, label: str | None = None,
                encoding: str | None = None, *, on_retry: Retrying | None = None) -> CsvFile:
    """The sheet at ``url`` as a header and records; raises InputError with one line.
    ``on_retry`` is told each retry (``HttpClient.get``)."""
    label = label or display_url(url)
    try:
        answer = http.get(url, on_retry=on_retry)
    except (BadAnswer, Transient) as exc:
        raise InputError(f"{label}: cannot read the sheet: {exc}") from None
    return sheet_records(answer, label, encoding)


def sheet_records(answer: Answer, label: str, encoding: str | None = None) -> CsvFile:
    body = answer.body.lstrip(b"\xef\xbb\xbf \t\r\n")
    host = (urlsplit(answer.url).hostname or "").lower()
    if host in _LOGIN_HOSTS or (body[:1] == b"<" and any(m in body for m in _LOGIN_MARKERS)):
        raise InputError(
            f"{label}: Google answered with its sign-in page: the sheet is not published for "
            "anyone (Sheets: File > Share > Publish to web, as CSV; Apps Script: Deploy > Web "
            "app, access Anyone)")
    if not body:
        raise InputError(f"{label}: the answer is empty; expected the sheet's rows as JSON "
                         "(Apps Script) or CSV (published sheet)")
    if body[:1] == b"<" or "html" in answer.content_type.lower():
        raise InputError(
            f"{label}: the answer is an HTML page, not the sheet's rows; use the web app URL "
            "ending in /exec, or the sheet published as CSV (output=csv or export?format=csv)")
    if body[:1] in (b"[", b"{"):
        return _json_records(body, label)
    return csv_from_bytes(answer.body, label, encoding, sep=ROW)


def _json_records(body: bytes, label: str) -> CsvFile:
    try:
        value = json.loads(body.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: the JSON answer is cut or malformed (line {exc.lineno}, "
                         f"column {exc.colno}: {exc.msg}); nothing was imported") from None
    rows = _row_list(value, label)
    if not rows:
        raise InputError(f"{label}: the sheet has no data rows; nothing to import")
    header: dict[str, None] = {}
    for number, row in enumerate(rows, 2):
        if not isinstance(row, dict):
            raise InputError(f"{label}{ROW}{number}: expected an object keyed by the sheet's "
                             f"headers, found {type(row).__name__}")
        header.update(dict.fromkeys(str(k) for k in row))
    names = list(header)
    records = [(number, [_cell(row.get(name), label, number, name) for name in names])
               for number, row in enumerate(rows, 2)]
    records = [(n, cells) for n, cells in records if any(c.strip() for c in cells)]
    return CsvFile(label, names, records, ",", "utf-8", sep=ROW)


def _row_list(value: Any, label: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if "error" in value:
            raise InputError(f"{label}: the web app answered an error: "
                             f"{str(value['error'])[:120]}")
    raise InputError(f"{label}: the JSON answer is not a list of rows (one object per "
                     "sheet row, keyed by the headers)")


def _cell(value: Any, label: str, number: int, column: str) -> str:
    """A JSON cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # 1e-05 → 0.00001, never an exponent
    if isinstance(value, dict) and isinstance(value.get(JS_DATE), str):
        return value[JS_DATE]
    raise InputError(f"{label}{ROW}{number}: {column}: unexpected value "
                     f"{json.dumps(value)[:60]}")
