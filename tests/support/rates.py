"""Exchange rates in the tests: fetch a range through the runner, read back what is stored."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from toolbox_cli.registry import get_task
from toolbox_cli.runner import RunOutcome, run_task
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables.contract import tipo_cambio


def fetch_rates(settings: Settings, desde: date, hasta: date) -> RunOutcome:
    """``toolbox tipo-cambio --desde DESDE --hasta HASTA`` in this process."""
    return run_task(get_task("tipo-cambio"), settings, {"desde": desde, "hasta": hasta})


def stored_rates(engines: Engines) -> dict[str, tuple[Decimal, Decimal]]:
    """Date → (compra, venta) of every stored rate."""
    with engines.source.connect() as conn:
        rows = conn.execute(select(tipo_cambio)).mappings().all()
    return {r["TipoCambioFecha"]: (r["TipoCambioCompra"], r["TipoCambioVenta"]) for r in rows}
