"""New clients and new payers per month and executive (reportes.md §3.7, decisions.md 6–7).

The legacy walked the months in order and, inside a month, the executives in order of first
appearance, then the types Factoring → Confirming → Capital de Trabajo, crediting every
client (Factoring only) and payer (any type) not seen in an earlier step. Two "already seen"
sets span the whole run, so only the *first* month a RUC appears in can credit it, and in that
month the first executive in the walk order that has it wins.

Here the walk is the same, except that the order of executives within a month is defined
(decisions 6): by their earliest row of the month, keyed (FechaOperacion, CodigoLiquidacion,
NroDocumento), instead of the KPI row order. When the KPI rows are in date order this is
exactly the legacy result.

The KPI rows are streamed by the caller into ``NewClientsTracker.observe``; the tracker keeps
only what the walk needs, not the rows:

* per month, each executive's earliest key (their rank in the walk);
* per RUC and kind (client/payer), the earliest month it appears in and which
  (executive, type) pairs had it in that month;
* per RUC and kind, the legal name of its most recent operation (decisions 7).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

FACTORING = "Factoring"
CONFIRMING = "Confirming"
CAPITAL_DE_TRABAJO = "Capital de Trabajo"
# The walk order of types within an executive (§3.7); rows of other types are ignored.
TIPOS: tuple[str, ...] = (FACTORING, CONFIRMING, CAPITAL_DE_TRABAJO)
_TIPO_RANK = {tipo: rank for rank, tipo in enumerate(TIPOS)}

CLIENT = "cliente"
PAYER = "pagador"

# (FechaOperacion, CodigoLiquidacion, NroDocumento): the order decisions 6 and 7 rely on.
RowKey = tuple[date, str, str]


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_list(first: date, last: date) -> list[str]:
    """Every month ``YYYY-MM`` from ``first``'s month to ``last``'s, ascending (empty if reversed)."""
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass
class _FirstMonth:
    """The earliest month a RUC appears in, and who had it (executive, type) that month."""

    month: str
    holders: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class _Name:
    key: RowKey
    name: str


class NewClientsTracker:
    """Collects, from streamed KPI rows, what §3.7 needs; ``rows()`` then yields the output."""

    def __init__(self, months: Iterable[str]) -> None:
        self.months = list(months)
        self._month_set = set(self.months)
        # month -> executive -> earliest row key of that executive in that month
        self._executive_keys: dict[str, dict[str, RowKey]] = {}
        self._first: dict[tuple[str, str], _FirstMonth] = {}  # (kind, ruc) -> first month
        self._names: dict[tuple[str, str], _Name] = {}  # (kind, ruc) -> latest name
        self.ignored_rows = 0  # outside the month list, unknown type or no date/executive

    def observe(self, row: Mapping[str, Any]) -> None:
        """Record one validated KPI row (TipoOperacion already normalised)."""
        day = _as_date(row.get("FechaOperacion"))
        if day is None:
            self.ignored_rows += 1
            return
        key: RowKey = (day, str(row.get("CodigoLiquidacion") or ""),
                       str(row.get("NroDocumento") or ""))
        client = _text(row.get("RUCCliente"))
        payer = _text(row.get("RUCPagador"))
        # Names come from every row, whatever its month or type: the latest operation wins.
        self._remember_name(CLIENT, client, row.get("RazonSocialCliente"), key)
        self._remember_name(PAYER, payer, row.get("RazonSocialPagador"), key)

        month = row.get("Mes") or month_of(day)
        executive = _text(row.get("Ejecutivo"))
        if month not in self._month_set or executive is None:
            self.ignored_rows += 1
            return
        # The executive's rank counts every row of the month, as the legacy's
        # "order of first appearance" did, whatever the row's type.
        by_exec = self._executive_keys.setdefault(month, {})
        if executive not in by_exec or key < by_exec[executive]:
            by_exec[executive] = key
        tipo = row.get("TipoOperacion")
        if tipo not in _TIPO_RANK:
            self.ignored_rows += 1
            return
        if tipo == FACTORING and client is not None:
            self._remember_holder(CLIENT, client, month, executive, tipo)
        if payer is not None:
            self._remember_holder(PAYER, payer, month, executive, tipo)

    def _remember_name(self, kind: str, ruc: str | None, name: Any, key: RowKey) -> None:
        name = _text(name)
        if ruc is None or name is None:
            return
        current = self._names.get((kind, ruc))
        if current is None or key >= current.key:
            self._names[(kind, ruc)] = _Name(key, name)

    def _remember_holder(self, kind: str, ruc: str, month: str, executive: str,
                         tipo: str) -> None:
        first = self._first.get((kind, ruc))
        if first is None or month < first.month:
            self._first[(kind, ruc)] = _FirstMonth(month, {(executive, tipo)})
        elif month == first.month:
            first.holders.add((executive, tipo))

    def name_of(self, kind: str, ruc: str) -> str | None:
        found = self._names.get((kind, ruc))
        return found.name if found else None

    def rows(self) -> Iterator[dict[str, Any]]:
        """Output rows of `nuevos_clientes_nuevos_pagadores`, in walk order."""
        by_month: dict[str, list[tuple[str, str, _FirstMonth]]] = {}
        for (kind, ruc), first in self._first.items():
            by_month.setdefault(first.month, []).append((kind, ruc, first))
        for month in self.months:
            ranks = self._executive_ranks(month)
            credited = []
            for kind, ruc, first in by_month.get(month, ()):
                # The first (executive, type) of the walk that holds the RUC gets the credit.
                executive, tipo = min(first.holders,
                                      key=lambda h: (ranks[h[0]], _TIPO_RANK[h[1]]))
                credited.append(((ranks[executive], _TIPO_RANK[tipo], kind != CLIENT, ruc),
                                 executive, tipo, kind, ruc))
            credited.sort()
            first_day = datetime(int(month[:4]), int(month[5:7]), 1)
            for _order, executive, tipo, kind, ruc in credited:
                yield {
                    "FechaOperacion": first_day,
                    "Ejecutivo": executive,
                    "RUCCliente": ruc if kind == CLIENT else None,
                    "RUCPagador": ruc if kind == PAYER else None,
                    "TipoOperacion": tipo,
                    "RazonSocial": self.name_of(kind, ruc),
                }

    def _executive_ranks(self, month: str) -> dict[str, int]:
        keys = self._executive_keys.get(month, {})
        ordered = sorted(keys, key=lambda name: (keys[name], name))
        return {name: rank for rank, name in enumerate(ordered)}


def nuevos_clientes(kpi_rows: Iterable[Mapping[str, Any]], months: Iterable[str]
                    ) -> list[dict[str, Any]]:
    """All new-client and new-payer rows for ``kpi_rows`` over ``months`` (small inputs)."""
    tracker = NewClientsTracker(months)
    for row in kpi_rows:
        tracker.observe(row)
    return list(tracker.rows())
