"""Characterisation fixtures: the full content of every datamart table for two demo books.

``tables_of(engines)`` dumps each table as CSV text (sorted rows, no surrogate ``id``,
decimals as stored, dates ISO); ``scripts/characterise.py`` wrote the committed files from
the row-at-a-time implementation, and ``tests/test_characterisation.py`` checks that the
current code reproduces them exactly, on SQLite and MariaDB.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables import datamart_table

HERE = Path(__file__).resolve().parent
SEEDS = (5, 23)
OPERATIONS = 1000
TODAY = date(2025, 6, 30)  # the demo book's "today" and every run's cut-off
TABLES = ("kpi", "nuevos_clientes_nuevos_pagadores", "saldos", "kpi_acumulado",
          "cxc_pagos_fact", "cxc_dev_fact", "cxc_acumulado_dim")
# Runs that fill those tables, in order, with the parameters every run gets.
RUNS = ("tablas-reportes", "kpi-acumulado", "tablas-cxc")


def params(spec: Any) -> dict[str, Any]:
    """The fixed run parameters, those of them that ``spec`` takes."""
    taken = {f.name for f in dataclasses.fields(spec.params)}
    return {k: v for k, v in {"hasta": TODAY, "fecha_corte": TODAY, "dry_run": False}.items()
            if k in taken}


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def table_csv(engines: Engines, name: str) -> str:
    """One datamart table as CSV: header, then the rows sorted on their text."""
    table = datamart_table(name)
    columns = [c for c in table.columns if c.name != "id"]
    with engines.datamart.connect() as conn:
        rows = conn.execute(select(*columns)).all()
    lines = sorted([_text(v) for v in row] for row in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    writer.writerows(lines)
    return out.getvalue()


def fixture_path(seed: int, name: str) -> Path:
    return HERE / f"seed{seed}" / f"{name}.csv.gz"


def read_fixture(seed: int, name: str) -> str:
    return gzip.decompress(fixture_path(seed, name).read_bytes()).decode("utf-8")


def write_fixture(seed: int, name: str, text: str) -> None:
    path = fixture_path(seed, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
