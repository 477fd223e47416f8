"""The demo book: parties, then a walk over every day from START to ``today``.

``DemoBook.write`` fills the whole-book reference tables, a few sheet rows dated before
START, then spreads ``operations`` documents over the days (growing business, a 2020
lockdown dip, quiet weekends) as liquidations of 1..8 documents, each with its payments,
refund, referral, special codes and maybe an off-system copy; now and then a liquidation
is booked only in the off-system sheets. Every draw comes from the one ``random.Random``,
in a fixed order, so one seed always writes the same rows.
"""

from __future__ import annotations

import bisect
import random
from datetime import date, timedelta

from toolbox_cli.demo.catalogue import EXECUTIVES, book_days
from toolbox_cli.demo.documents import Documents
from toolbox_cli.demo.numbering import Numbering
from toolbox_cli.demo.offsystem import OffSystemSheets
from toolbox_cli.demo.parties import Client, PartyMaker
from toolbox_cli.demo.payments import Collections
from toolbox_cli.demo.reference import ReferenceTables
from toolbox_cli.demo.sink import Sink
from toolbox_cli.storage.tables import contract as t


class DemoBook:
    def __init__(self, rng: random.Random, operations: int, today: date, sink: Sink) -> None:
        self.rng = rng
        self.operations = operations
        self.today = today
        self.sink = sink
        self.numbering = Numbering(rng)
        self.documents = Documents(rng, today, self.numbering,
                                   Collections(rng, today, self.numbering))
        self.sheets = OffSystemSheets(rng, sink)
        self.reference = ReferenceTables(rng, today, sink)
        maker = PartyMaker(rng, operations, today)
        self.payers = maker.payers()
        self.clients = maker.clients(self.payers)
        self.client_starts = [c.start for c in self.clients]

    # -- the walk over days ---------------------------------------------------------

    def write(self) -> None:
        self.reference.write_referral_aliases()
        self.reference.write_sectors(self.payers)
        self.reference.write_exchange_rates()
        self.reference.write_cash_balances()
        self._write_prehistoric_offsystem()
        days = book_days(self.today)
        quotas = self._daily_quotas(days)
        for day, quota in zip(days, quotas, strict=True):
            while quota > 0:
                size = min(quota, self._liquidation_size())
                self._liquidation(day, size)
                quota -= size
                if self.rng.random() < 0.012:
                    self._offsystem_only_liquidation(day)

    def _daily_quotas(self, days: list[date]) -> list[int]:
        """Documents per day: growing business, a 2020 lockdown dip, quiet weekends.

        Cumulative rounding makes the quotas add up to exactly ``operations``.
        """
        total_days = len(days)
        weights = []
        for i, day in enumerate(days):
            w = 0.6 + 1.8 * i / total_days
            if date(2020, 3, 16) <= day <= date(2020, 6, 30):
                w *= 0.35
            w *= (1, 1, 1, 1, 1, 0.2, 0.0)[day.weekday()]
            weights.append(w)
        total = sum(weights)
        quotas, cum, done = [], 0.0, 0
        for w in weights:
            cum += w
            target = round(cum / total * self.operations)
            quotas.append(target - done)
            done = target
        return quotas

    def _liquidation_size(self) -> int:
        return self.rng.choices((1, 2, 3, 4, 5, 6, 8), (40, 25, 15, 9, 6, 3, 2))[0]

    def _pick_client(self, day: date) -> Client:
        active = bisect.bisect_right(self.client_starts, day) or 1
        return self.clients[self.rng.randrange(active)]

    def _executive_for(self, client: Client, day: date) -> str:
        if self.rng.random() < 0.06:  # a colleague covers (holidays, workload)
            active = [name for name, since in EXECUTIVES if since <= day]
            return self.rng.choice(active)
        return client.executive

    # -- one liquidation ------------------------------------------------------------

    def _liquidation(self, day: date, size: int) -> None:
        rng = self.rng
        client = self._pick_client(day)
        usd = rng.random() < client.usd_share
        tipo = rng.choices(("Factoring", "Confirming", "Capital de Trabajo"), client.op_weights)[0]
        code = self.numbering.liquidation_code(day, usd)
        cab = self.numbering.next_id("cab")
        executive = self._executive_for(client, day)
        payers = [rng.choice(client.payers)]
        if size > 1 and rng.random() < 0.2:
            payers.append(rng.choice(client.payers))
        first_operation = client.operations == 0
        client.operations += 1
        docs = [
            self.documents.document(cab, code, day, client, self.payers[payers[i % len(payers)]],
                                    tipo, usd, executive, first_doc=i == 0,
                                    first_operation=first_operation)
            for i in range(size)
        ]
        for doc in docs:
            self.sink.add(t.colocaciones, doc.row)
            for payment in doc.payments:
                self.sink.add(t.colocaciones_pagos, payment)
            if doc.refund is not None:
                self.sink.add(t.colocaciones_devoluciones, doc.refund)
        self.reference.maybe_referral(code, day, executive)
        self.reference.maybe_special_codes(code, any(doc.problem for doc in docs))
        self.sheets.maybe_copy(code, docs)

    # -- liquidations only the off-system sheets hold --------------------------------

    def _offsystem_only_liquidation(self, day: date) -> None:
        """A liquidation booked only in the sheets: its code is taken from the same series."""
        rng = self.rng
        client = self._pick_client(day)
        usd = rng.random() < client.usd_share
        tipo = rng.choices(("Factoring", "Confirming", "Capital de Trabajo"), client.op_weights)[0]
        code = self.numbering.liquidation_code(day, usd, suffixes=False)
        executive = self._executive_for(client, day)
        cab = self.numbering.next_id("cab")
        # Built like in-system documents (so amounts follow the same formulas), but only the
        # sheet row is written; the ids it consumed are simply never used in-system.
        for i in range(rng.randint(1, 3)):
            doc = self.documents.document(cab, code, day, client,
                                          self.payers[rng.choice(client.payers)], tipo, usd,
                                          executive, first_doc=i == 0, first_operation=False,
                                          in_system=False)
            self.sheets.row(doc, code)

    def _write_prehistoric_offsystem(self) -> None:
        """A few sheet rows dated before 2019-07 (the new-clients logic must ignore them)."""
        for k in range(3):
            day = date(2019, 5, 6) + timedelta(days=14 * k)
            client = self.clients[k]
            doc = self.documents.document(0, f"LIQ{900 + k}-2019", day, client,
                                          self.payers[client.payers[0]], "Factoring", False,
                                          client.executive, first_doc=True,
                                          first_operation=False, in_system=False)
            self.sheets.row(doc, f"LIQ{900 + k}-2019")
        # Ids consumed by these sheet-only documents are not reused in-system on purpose.
