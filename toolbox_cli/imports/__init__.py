"""Spreadsheet exports (CSV) and published sheets loaded into the source-contract tables,
all or nothing.

``toolbox import KIND SOURCE`` reads the whole file, or the sheet at an http(s) URL
(``sheets``: an Apps Script web app's JSON or a sheet published as CSV), and validates
every row; only when no row is bad does it write, inside ONE transaction, so readers see
the old content or the new one and a rejected source changes nothing. Every problem is
reported as ``FILE:LINE: column: reason`` (``URL#row N: column: reason`` for a sheet).

How the file meets the stored rows: each kind has a key (sectores by RUC, referidos by
liquidation code, referidos-alias by alias, saldos by day, tipo-cambio by date, codigos-cxc
by code and list). By default an import *merges*: rows with a new key are added, rows with a
stored key replace the stored ones, every other stored row is kept; the report says how
many were added, replaced and kept. ``--replace`` replaces the whole table instead, and is
refused (like a datamart swap) when it would leave far fewer rows, unless ``--allow-shrink``.
``fuera-sistema`` always replaces the rows of its own sheet (PEN or USD). ``tipo-cambio``
only adds dates: a stored rate is kept and a different one in the file is reported, unless
``--overwrite`` (the way to correct a wrong stored rate).

Files: UTF-8 with or without BOM; a file that is not UTF-8 but is Windows-1252 (Excel's
"CSV" on Windows) is read as cp1252 and the report says so; ``--encoding NAME`` reads any
other (``csvfile.decode`` has the rule). The delimiter (``,`` or ``;``) is sniffed from the header
line; headers are matched after trimming, lower-casing, removing accents and punctuation
(``GRUPO ECO.`` = ``grupo eco``, ``LIQUIDACIÓN`` = ``liquidacion``). Columns the kind does not
know are ignored and listed in the report. Numbers: ``1234.5``, ``1,234.50`` (comma only as a
thousands separator), ``-5``, ``90%`` (= 0.9, the cell's value). Dates: ``dd/mm/YYYY`` or
ISO ``YYYY-MM-DD`` (a time part is ignored, the date as written is kept). RUCs (sectores
``RUC``, fuera-sistema ``RUC Cliente`` and ``RUC DEUDOR``): 11 digits once spaces and ``:``
are removed, stored as written; a failing SUNAT check digit is accepted and counted in a
warning.

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

The package, one concern per module (each imports only the ones before it):

- ``kinds``: the contract of each kind (``KINDS``: table, fields, key, default mode) and
  the cell rules of one kind; the shared cell rules are in ``compute.text``;
- ``csvfile``: decoding, delimiter sniffing, records (``read_csv``), ``header_key``;
- ``rows``: header mapping, cells to typed rows, the error collection, ``ImportRejected``;
- ``parse``: ``parse_file`` and the per-kind finishers (de-duplication, the sheet);
- ``apply``: the modes and ``apply_import``, the one transaction that writes;
- ``sheets``: a sheet's URL read into the same records as a file, ``TOOLBOX_SHEETS``.

The import as a ledger run (``import_job``) is in ``jobs/imports.py``; records reach their
table inside a run through ``pipelines/records.py``.
"""

from __future__ import annotations

from toolbox_cli.compute.ruc import ruc_text as parse_ruc
from toolbox_cli.compute.text import fold
from toolbox_cli.compute.text import strict_sheet_number as parse_number
from toolbox_cli.compute.text import text_date as parse_date
from toolbox_cli.imports.apply import (
    ADD,
    MERGE,
    OVERWRITE,
    REPLACE,
    SHEET,
    ImportResult,
    apply_import,
    import_mode,
)
from toolbox_cli.imports.csvfile import (
    CsvFile,
    check_encoding,
    decode,
    header_key,
    read_csv,
    sniff_delimiter,
)
from toolbox_cli.imports.kinds import (
    FUERA_SISTEMA_FIELDS,
    HOJAS,
    KINDS,
    LISTAS_CXC,
    Field,
    Kind,
    get_kind,
)
from toolbox_cli.imports.parse import parse_file, parse_records
from toolbox_cli.imports.rows import MAX_REPORTED_ERRORS, ImportRejected, ParsedFile

__all__ = [
    "ADD", "FUERA_SISTEMA_FIELDS", "HOJAS", "KINDS", "LISTAS_CXC", "MAX_REPORTED_ERRORS",
    "MERGE", "OVERWRITE", "REPLACE", "SHEET", "CsvFile", "Field", "ImportRejected",
    "ImportResult", "Kind", "ParsedFile", "apply_import", "check_encoding", "decode", "fold",
    "get_kind", "header_key", "import_mode", "parse_date", "parse_file", "parse_number",
    "parse_records", "parse_ruc", "read_csv", "sniff_delimiter",
]
