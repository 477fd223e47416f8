"""Spellings every task and import agree on: currencies, payment types and payer RUCs.

One home for them so that the KPI, the accounts-receivable tables and the spreadsheet
imports read the same source value the same way (a payer's sector is looked up by the
same RUC key everywhere; ``S/`` is PEN everywhere).
"""

from __future__ import annotations

import re

# Currency spellings seen in the sources and sheets, upper-cased, to their ISO code.
MONEDA_ALIASES = {
    "PEN": "PEN", "S/": "PEN", "S/.": "PEN", "SOLES": "PEN",
    "USD": "USD", "US$": "USD", "DOLARES": "USD", "DÓLARES": "USD",
}

_RUC_NOISE = re.compile(r"[\s:]")


def moneda_code(text: str) -> str | None:
    """``PEN`` or ``USD`` for a known spelling (trimmed, any case); None otherwise."""
    return MONEDA_ALIASES.get(text.strip().upper())


def ruc_pagador_key(text: str) -> str:
    """A payer RUC without its ``:`` and whitespace (reportes §3.2): ``2022222 2222`` →
    ``20222222222``. The KPI column and the sector lookup both use it."""
    if text.isalnum():  # the common case: nothing to remove
        return text
    return _RUC_NOISE.sub("", text)


def tipo_pago(text: str) -> str:
    """The catalogue spelling of a payment type (decisions 20): trimmed and upper-case, so
    ``' Pago Total '`` reads ``PAGO TOTAL`` in ``kpi_acumulado`` and in the CXC tables alike."""
    return text.strip().upper()
