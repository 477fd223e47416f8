"""Counts in words, the one way every message of the toolbox writes them: thousands
separators always (``20,296``), the singular for one (``1 row``, ``2 rows``), and per-table
row counts as ``kpi=2,060, saldos=2,713``.

The CLI, the logs and the ledger's messages are English; the notifications are Spanish
(``monitoring/alerts.py``), with the same digits (Peru writes ``1,234.56``).
"""

from __future__ import annotations

from collections.abc import Mapping

# Nouns whose plural is not the singular + "s".
_PLURALS = {"entry": "entries", "RUC": "RUCs", "URL": "URLs", "day": "days",
            "is": "are", "has": "have", "was": "were"}


def plural(word: str, n: int) -> str:
    """``word`` in the number ``n`` asks for (English)."""
    if n == 1:
        return word
    return _PLURALS.get(word, word + "s")


def count(n: int, word: str, many: str | None = None) -> str:
    """``1 row``, ``20,296 rows``; ``many`` for an irregular plural."""
    return f"{n:,} {word if n == 1 else (many or plural(word, n))}"


def rows_text(rows: Mapping[str, int]) -> str:
    """Rows per table: ``kpi=2,060, saldos=2,713`` (empty when there are none)."""
    return ", ".join(f"{table}={n:,}" for table, n in rows.items())


def article(word: str) -> str:
    """``a kpi run``, ``an import:sectores run``."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word
