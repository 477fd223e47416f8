"""``tipo_cambio`` as the rate fetcher sees it: which dates are stored, add the new ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from toolbox_cli.storage.tables.contract import tipo_cambio


def stored_dates(engine: Engine, desde: date, hasta: date) -> set[str]:
    q = select(tipo_cambio.c.TipoCambioFecha).where(
        tipo_cambio.c.TipoCambioFecha.between(desde.isoformat(), hasta.isoformat())
    )
    with engine.connect() as conn:
        return set(conn.execute(q).scalars())


def save_rates(engine: Engine, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rates not stored yet, in one transaction; returns how many were new.

    The check inside the transaction keeps it insert-only even if an ``import tipo-cambio``
    added some of these dates while we were fetching.
    """
    if not rows:
        return 0
    keys = [row["TipoCambioFecha"] for row in rows]
    with engine.begin() as conn:
        present = set(conn.execute(
            select(tipo_cambio.c.TipoCambioFecha).where(tipo_cambio.c.TipoCambioFecha.in_(keys))
        ).scalars())
        new = [row for row in rows if row["TipoCambioFecha"] not in present]
        if new:
            conn.execute(insert(tipo_cambio), new)
    return len(new)
