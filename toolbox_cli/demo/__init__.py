"""Synthetic but realistic source data for demos, benchmarks and tests.

``seed_demo`` replaces the content of every source-contract table with data generated from
``random.Random(seed)`` and the ``today`` it is given (never the clock), so one seed always
produces the same database. It models a factoring book from 2019-07 to ``today``:

* executives joining over the years, hundreds of clients and payers with 11-digit RUCs that
  carry a valid check digit, a few of them renamed (decisions.md 7);
* liquidations of 1..8 documents, PEN and USD, Factoring / Confirming / Capital de Trabajo
  written in mixed case, old-style codes (``LIQ002-2021``, ``LIQ088-2021 ME``) before
  2022-09 and new-style ones (``LIQ2403000101``) after, some with suffixes (``-001-R``);
* the messy values the specs normalise: rates in percent (1.5) or fraction (0.015), RUCs with
  spaces and colons, document numbers with spaces;
* payments (full, late with DiasMora, several partial ones, an overpayment, unpaid and
  overdue, not yet due), refunds, SUNAT-like exchange rates with weekend and holiday gaps,
  off-system sheets that repeat some liquidations (exact code, trailing space, ``-001``),
  referrals with aliases, payer sectors (some payers without one), daily cash balances and
  the two special CXC code lists (a few codes in both).

Rows are generated liquidation by liquidation and written in chunks through the driver's
executemany path, inside one transaction: memory stays flat and a failed seed changes
nothing. ``operations`` is the number of in-system documents (rows of ``colocaciones``).

The modules: ``catalogue`` (names, places, sectors, spelling helpers), ``parties`` (clients
and payers), ``numbering`` (ids and codes), ``documents`` and ``payments`` (the rows of a
liquidation), ``offsystem`` (the sheets), ``reference`` (rates, sectors, referrals, cash,
CXC lists), ``sink`` (batched inserts) and ``book`` (the walk over days).
"""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from toolbox_cli.demo.book import DemoBook
from toolbox_cli.demo.catalogue import (
    ECONOMIC_GROUPS,
    EXECUTIVES,
    NEW_CODE_STYLE_FROM,
    REFERRAL_ALIASES,
    REFERRAL_FREE_TEXT,
    SECTORS,
    START,
    ruc_with_check_digit,
)
from toolbox_cli.demo.sink import CHUNK, Sink
from toolbox_cli.errors import InputError
from toolbox_cli.storage.tables import contract as t

__all__ = [
    "CHUNK",
    "ECONOMIC_GROUPS",
    "EXECUTIVES",
    "NEW_CODE_STYLE_FROM",
    "REFERRAL_ALIASES",
    "REFERRAL_FREE_TEXT",
    "SECTORS",
    "SOURCE_TABLES",
    "START",
    "ruc_with_check_digit",
    "seed_demo",
]

# The tables seed_demo owns, in the order they are emptied and reported (the names are
# repeated, without SQLAlchemy, in toolbox_cli.jobs.demo.SOURCE_TABLES; a test keeps them equal).
SOURCE_TABLES: tuple[Table, ...] = (
    t.colocaciones,
    t.colocaciones_pagos,
    t.colocaciones_devoluciones,
    t.tipo_cambio,
    t.sector_pagadores,
    t.operaciones_fuera_sistema,
    t.referidos,
    t.referidos_alias,
    t.saldos_caja,
    t.cxc_codigos_especiales,
)


def seed_demo(source_engine: Engine, *, operations: int, seed: int, today: date) -> dict[str, int]:
    """Replace every source-contract table with demo data; return rows written per table."""
    if operations < 1:
        raise InputError("--operations must be at least 1")
    if today <= START:
        raise InputError(f"the demo book starts on {START}; today must be after it")
    with source_engine.begin() as conn:
        for table in reversed(SOURCE_TABLES):
            conn.execute(table.delete())
        sink = Sink(conn)
        DemoBook(random.Random(seed), operations, today, sink).write()
        sink.flush_all()
    return {table.name: sink.counts.get(table.name, 0) for table in SOURCE_TABLES}
