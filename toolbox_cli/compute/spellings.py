"""Spellings every task and import agree on: codes, currencies, operation and payment types.

One home for them so that the KPI, the accounts-receivable tables and the spreadsheet
imports read the same source value the same way (``S/`` is PEN everywhere; ``' Pago Total '``
is ``PAGO TOTAL`` in every table, decisions 20). Each rule is a Polars expression for the
frames; the currency, which imports also read cell by cell, has a scalar twin built on the
same table. RUCs have their own module (``compute.ruc``).

The expressions are built from the column they are given, and Polars is imported only by the
two that name a dtype, so the imports (and the settings check every command does) can use
the scalar rules without loading Polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

# Currency spellings seen in the sources and sheets, upper-cased, to their ISO code.
MONEDA_ALIASES = {
    "PEN": "PEN", "S/": "PEN", "S/.": "PEN", "SOLES": "PEN",
    "USD": "USD", "US$": "USD", "DOLARES": "USD", "DÓLARES": "USD",
}
# TipoOperacion: the three known types, matched without case (reportes §3.3, decisions 10).
TIPO_OPERACION_CANONICAL = {
    "factoring": "Factoring", "confirming": "Confirming", "capital de trabajo": "Capital de Trabajo",
}


def moneda_code(text: str) -> str | None:
    """``PEN`` or ``USD`` for a known spelling (trimmed, any case); None otherwise."""
    return MONEDA_ALIASES.get(text.strip().upper())


# ---------------------------------------------------------------- the same rules on columns


def moneda(expr: pl.Expr) -> pl.Expr:
    """PEN/USD of a known spelling; null for blank or unknown (the caller decides)."""
    import polars as pl

    return expr.str.strip_chars().str.to_uppercase().replace_strict(
        MONEDA_ALIASES, default=None, return_dtype=pl.String)


def tipo_pago(expr: pl.Expr) -> pl.Expr:
    """The catalogue spelling of a payment type (decisions 20): trimmed and upper-case, so
    ``' Pago Total '`` reads ``PAGO TOTAL`` in ``kpi_acumulado`` and in the CXC tables alike."""
    return expr.str.strip_chars().str.to_uppercase()


def codigo(expr: pl.Expr) -> pl.Expr:
    """Trimmed code keeping its first two ``-`` parts: ``LIQ2403000102-001-R`` →
    ``LIQ2403000102-001`` (reportes §3.2)."""
    return expr.str.strip_chars().str.split("-").list.head(2).list.join("-")


def codigo_key(expr: pl.Expr) -> pl.Expr:
    """Matching key of a code: normalised and case-insensitive (decisions 5 and 10)."""
    return codigo(expr).str.to_lowercase()


def nro_documento(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"\s", "")


def tipo_operacion(expr: pl.Expr) -> pl.Expr:
    """The canonical spelling of the three known types; other values trimmed and kept."""
    import polars as pl

    trimmed = expr.str.strip_chars()
    return trimmed.str.to_lowercase().replace_strict(
        TIPO_OPERACION_CANONICAL, default=trimmed, return_dtype=pl.String)
