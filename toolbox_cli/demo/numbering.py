"""The book's identifiers and codes: row ids, liquidation codes, request and invoice numbers.

One ``Numbering`` per book hands out every id (``cab``, ``det``, ``pago``, ``dev``, ``fact``,
``sol``) in generation order, and the liquidation codes in both styles: ``LIQ002-2021`` (with
`` ME`` for some USD ones, rarely ``-2``) before NEW_CODE_STYLE_FROM, ``LIQ2403000101`` (rarely
``-001`` or ``-001-R``) from then on.
"""

from __future__ import annotations

import random
from datetime import date

from toolbox_cli.demo.catalogue import NEW_CODE_STYLE_FROM


class Numbering:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ids = {"cab": 0, "det": 0, "pago": 0, "dev": 0, "fact": 0, "sol": 0}
        self.code_seq: dict[tuple[int, int], int] = {}

    def next_id(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    def liquidation_code(self, day: date, usd: bool, *, suffixes: bool = True) -> str:
        rng = self.rng
        if day < NEW_CODE_STYLE_FROM:
            key = (day.year, 0)
            seq = self.code_seq[key] = self.code_seq.get(key, 0) + 1
            code = f"LIQ{seq:03d}-{day.year}"
            if usd and rng.random() < 0.6:
                code += " ME"
            elif suffixes and rng.random() < 0.01:
                code += "-2"
            return code
        key = (day.year, day.month)
        seq = self.code_seq[key] = self.code_seq.get(key, 0) + 1
        code = f"LIQ{day.year % 100:02d}{day.month:02d}{seq:06d}"
        roll = rng.random() if suffixes else 1.0
        if roll < 0.02:
            code += "-001-R"
        elif roll < 0.03:
            code += "-001"
        return code

    def invoice_number(self) -> str:
        return f"F001-{self.next_id('fact'):08d}"

    def request_code(self, day: date) -> str:
        return f"SOL{day.year % 100:02d}{day.month:02d}{self.next_id('sol'):06d}"
