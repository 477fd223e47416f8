"""The book's clients and payers: unique RUCs with a check digit, names, renames, portfolios.

``PartyMaker`` draws the payers first, then the clients (each with its start day, executive,
currency mix, operation mix, payers and document series); the clients come back sorted by
start day, which is what the day walk of the book picks from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from toolbox_cli.demo.catalogue import (
    CLIENT_TRADES,
    EXECUTIVES,
    FIRST_NAMES,
    PAYER_TRADES,
    PLACES,
    START,
    SUFFIXES,
    SURNAMES,
    ruc_with_check_digit,
)


@dataclass
class Party:
    ruc: str
    names: list[tuple[date, str]]  # (valid from, legal name), ascending

    def name_on(self, day: date) -> str:
        name = self.names[0][1]
        for since, candidate in self.names:
            if since <= day:
                name = candidate
        return name


@dataclass
class Client(Party):
    start: date = START
    executive: str = ""
    usd_share: float = 0.0
    op_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
    payers: list[int] = field(default_factory=list)
    series: str = "E001"
    next_doc: int = 1
    operations: int = 0


class PartyMaker:
    """Draws the parties of one book; no two of them share a RUC."""

    def __init__(self, rng: random.Random, operations: int, today: date) -> None:
        self.rng = rng
        self.operations = operations
        self.today = today
        self.used_rucs: set[str] = set()

    def _new_ruc(self, prefix: str) -> str:
        while True:
            ruc = ruc_with_check_digit(prefix + f"{self.rng.randrange(10**8):08d}")
            if ruc not in self.used_rucs:
                self.used_rucs.add(ruc)
                return ruc

    def _company_name(self, trades: tuple[str, ...], suffixes: tuple[str, ...]) -> str:
        rng = self.rng
        name = f"{rng.choice(trades)} {rng.choice(PLACES)}"
        if rng.random() < 0.15:
            name += " & ASOCIADOS"
        return f"{name} {rng.choice(suffixes)}"

    def _renamed(self, name: str) -> list[tuple[date, str]]:
        """Some companies change their legal name or its spelling (decisions.md 7)."""
        rng = self.rng
        if rng.random() >= 0.04:
            return [(START, name)]
        since = START + timedelta(days=rng.randrange(200, max(201, (self.today - START).days)))
        new = name.replace("S.A.C.", "SAC") if "S.A.C." in name else f"{name.rsplit(' ', 1)[0]} S.A."
        if new == name:
            new = f"NUEVA {name}"
        return [(START, name), (since, new)]

    def payers(self) -> list[Party]:
        count = max(60, min(4000, self.operations // 5))
        payers = []
        for _ in range(count):
            name = self._company_name(PAYER_TRADES, ("S.A.", "S.A.", "S.A.A.", "S.A.C."))
            payers.append(Party(self._new_ruc("20"), self._renamed(name)))
        return payers

    def clients(self, payers: list[Party]) -> list[Client]:
        rng = self.rng
        count = max(40, min(3000, self.operations // 6))
        span = (self.today - START).days
        # Zipf-like weights: a few big payers appear in many clients' portfolios.
        payer_weights = [1.0 / (i + 1) ** 0.8 for i in range(len(payers))]
        clients = []
        for i in range(count):
            start = START if i < count * 0.15 else START + timedelta(days=rng.randrange(span))
            if rng.random() < 0.15:  # a person with business income
                ruc = self._new_ruc("10")
                name = f"{rng.choice(SURNAMES)} {rng.choice(SURNAMES)} {rng.choice(FIRST_NAMES)}"
                names = [(START, name)]
            else:
                ruc = self._new_ruc("20")
                names = self._renamed(self._company_name(CLIENT_TRADES, SUFFIXES))
            active = [name for name, since in EXECUTIVES if since <= start] or [EXECUTIVES[0][0]]
            style = rng.random()
            op_weights = ((0.92, 0.05, 0.03) if style < 0.7
                          else (0.3, 0.65, 0.05) if style < 0.9 else (0.45, 0.05, 0.5))
            clients.append(Client(
                ruc=ruc, names=names, start=start,
                executive=rng.choice(active),
                usd_share=0.0 if rng.random() < 0.5 else rng.uniform(0.2, 0.8),
                op_weights=op_weights,
                payers=sorted(set(rng.choices(range(len(payers)), payer_weights,
                                              k=rng.randint(2, 8)))),
                series=rng.choice(("E001", "F001", "F002", "E002", "FF01")),
                next_doc=rng.randint(1, 4000),
            ))
        clients.sort(key=lambda c: c.start)
        return clients
