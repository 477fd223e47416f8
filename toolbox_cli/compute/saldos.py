"""Cash balances (`saldos`) from the balances source (reportes.md §2.6, §3.8; decisions.md 8).

A pass-through: one output row per input row, input order, no de-duplication, no date filter.
Amounts are PEN and negative values are kept (decisions 8). Numbers are parsed leniently as
the legacy did — ``""``, ``"-"`` and null are 0.0, display strings like ``"1,234.50"`` are
read, anything unparseable (``"(5.00)"``, ``"S/ 10"``) becomes 0.0 — but every such
coercion of a non-empty value is counted so the run can report it (never silent).
The day is required: a blank or malformed FechaOperacion fails the run with the row named.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from toolbox_cli.errors import InputError

SALDO_FIELDS: tuple[str, ...] = (
    "EvolucionCaja",
    "CostoExcesoCaja",
    "IngresoNoRecibidoPorExcesoCaja",
    "MontoOvernight",
    "IngresosOvernightNeto",
    "SaldoTotalCaja",
)
REQUIRED_KEYS: tuple[str, ...] = ("FechaOperacion", *SALDO_FIELDS)

_EMPTY = {"", "-"}
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_saldo_number(value: Any) -> tuple[float, bool]:
    """(number, coerced): ``coerced`` is True when a non-empty value could not be read.

    ``"1,234.50"`` → 1234.5 · ``"-"``/``""``/None → 0.0 · ``"(5.00)"`` → 0.0 (coerced) ·
    ``7`` → 7.0 · ``-12.5`` → -12.5 · NaN → 0.0 (coerced).
    """
    if value is None:
        return 0.0, False
    if isinstance(value, bool):  # a checkbox cell is not an amount
        return 0.0, True
    if isinstance(value, int | Decimal):
        return float(value), False
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return 0.0, True
        return value, False
    text = str(value).strip()
    if text in _EMPTY:
        return 0.0, False
    text = text.replace(",", "")
    if not _PLAIN_NUMBER.fullmatch(text):
        return 0.0, True
    return float(text), False


def parse_saldo_date(value: Any) -> date | None:
    """A date, a datetime, or ``dd/mm/YYYY`` text (the sheet's format); None if unreadable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip(), "%d/%m/%Y").date()
        except ValueError:
            return None
    return None


class SaldosBuilder:
    """Turns source rows into `saldos` rows and counts the lenient coercions."""

    def __init__(self) -> None:
        self.coerced: Counter[str] = Counter()
        self.examples: list[str] = []

    def row(self, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        """One output row; ``where`` names the source row in error messages."""
        missing = [key for key in REQUIRED_KEYS if key not in raw]
        if missing:
            raise InputError(f"saldos: {where} has no {', '.join(missing)}; "
                             "the balances source must provide all seven fields")
        day = parse_saldo_date(raw["FechaOperacion"])
        if day is None:
            raise InputError(
                f"saldos: {where} has FechaOperacion {raw['FechaOperacion']!r}; "
                "expected a date (dd/mm/YYYY); fix or remove that row"
            )
        out: dict[str, Any] = {"FechaOperacion": datetime(day.year, day.month, day.day)}
        for name in SALDO_FIELDS:
            number, coerced = parse_saldo_number(raw[name])
            if coerced:
                self.coerced[name] += 1
                if len(self.examples) < 3:
                    self.examples.append(f"{where} {name}={raw[name]!r}")
            out[name] = number
        return out

    def warnings(self) -> list[str]:
        if not self.coerced:
            return []
        total = sum(self.coerced.values())
        fields = ", ".join(f"{name} {n}" for name, n in sorted(self.coerced.items()))
        return [f"saldos: {total} unreadable amount(s) stored as 0 ({fields}); "
                f"e.g. {'; '.join(self.examples)}"]


def saldos_rows(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Convenience for small inputs: every row parsed, in order (rows named by position)."""
    builder = SaldosBuilder()
    return [builder.row(raw, f"row {i}") for i, raw in enumerate(rows, start=1)]
