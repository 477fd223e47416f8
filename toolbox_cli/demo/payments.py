"""How a document is collected: its payments (rows of ``colocaciones_pagos``) and refund.

A document due after ``today`` is mostly not paid yet (a few are paid early); one due before
is paid on time, late (DiasMora, late interest and charges, a late-charge invoice), in
several partial payments that settle it or leave it open, overpaid, or not at all. The first
eligible documents are forced through the rare scenarios so that every book has them. A
settled document may get its guarantee reserve (less withheld charges) and any excess back.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from toolbox_cli.demo.catalogue import OBS_PAGO, Forced, money
from toolbox_cli.demo.numbering import Numbering


class Collections:
    def __init__(self, rng: random.Random, today: date, numbering: Numbering) -> None:
        self.rng = rng
        self.today = today
        self.numbering = numbering
        self.forced = Forced(
            ["partial_settled", "partial_open", "overpay", "unpaid", "late"], after=10)

    def _scenario(self, due: date, day: date, forced_ok: bool) -> str:
        rng = self.rng
        if due > self.today:
            if day < self.today and rng.random() < 0.08:
                return "early"
            return "none"
        if forced_ok and due <= self.today - timedelta(days=60):
            forced = self.forced.take()
            if forced:
                return forced
        old = due < self.today - timedelta(days=540)
        roll = rng.random()
        if roll < (0.01 if old else 0.05):
            return "unpaid"
        if roll < 0.08:
            return rng.choice(("partial_settled", "partial_open"))
        if roll < 0.09:
            return "overpay"
        return "late" if rng.random() < 0.35 else "on_time"

    def payments(self, det: int, neto: float, tnm: float, due: date, day: date, *,
                 forced_ok: bool) -> tuple[list[dict[str, Any]], bool]:
        """Payments of one document and whether they settle it."""
        rng = self.rng
        scenario = self._scenario(due, day, forced_ok)
        if scenario in ("none", "unpaid"):
            return [], False
        if scenario == "early":
            when = day + timedelta(days=rng.randint(1, max(1, (self.today - day).days)))
            return [self._payment(det, when, due, neto, neto, 0.0, tnm, "PAGO ANTICIPADO")], True
        if scenario in ("on_time", "late", "overpay"):
            delay = rng.randint(1, 45) if scenario == "late" else rng.randint(-3, 0)
            when = due + timedelta(days=delay)
            if when > self.today:  # not collected yet: overdue at the cut-off
                return [], False
            excess = money(neto * rng.uniform(0.005, 0.05)) if scenario == "overpay" else 0.0
            return [self._payment(det, when, due, neto, neto + excess, excess, tnm,
                                  "PAGO TOTAL")], True
        # Several partial payments; the last one settles the document or leaves it open.
        parts = rng.randint(2, 3)
        settles = scenario == "partial_settled"
        remaining = neto
        rows: list[dict[str, Any]] = []
        when = due + timedelta(days=rng.randint(-5, 10))
        for i in range(parts):
            if when > self.today:
                break
            last = i == parts - 1
            if last and settles:
                amount = remaining
            else:
                amount = money(remaining * rng.uniform(0.25, 0.6))
            kind = "PAGO TOTAL" if last and settles else "PAGO PARCIAL"
            if kind == "PAGO PARCIAL" and rng.random() < 0.1:
                kind = "Pago Parcial"  # typed by hand; decisions.md 10 matches it anyway
            rows.append(self._payment(det, when, due, remaining, amount, 0.0, tnm, kind))
            remaining = money(remaining - amount)
            when += timedelta(days=rng.randint(7, 30))
        # The invoice for late charges is the document's, kept on its current payment (the
        # last): the operations webservice gives it per document (reporte 0; decision 3),
        # so the book holds what a webservice-fed source can hold.
        for row in rows[:-1]:
            row["FacturasMoraGeneradas"] = None
        return rows, remaining <= 0.005

    def _payment(self, det: int, when: date, due: date, saldo: float, amount: float,
                 excess: float, tnm: float, kind: str) -> dict[str, Any]:
        rng = self.rng
        pago = self.numbering.next_id("pago")
        mora = max(0, (when - due).days)
        interes_mora = money(saldo * tnm * 1.2 * mora / 30) if mora else 0.0
        gastos_mora = 35.40 if mora else 0.0
        created = datetime.combine(when, time(rng.randint(8, 18), rng.randint(0, 59)))
        modified = created + timedelta(days=rng.randint(0, 5), hours=rng.randint(0, 8)) \
            if rng.random() < 0.3 else None
        return {
            "IdLiquidacionPago": pago,
            "IdLiquidacionDet": det,
            "FechaPago": when,
            "DiasMora": mora,
            "MontoCobrarPago": money(saldo + interes_mora + gastos_mora),
            "MontoPago": money(amount),
            "ObservacionPago": rng.choice(OBS_PAGO) if rng.random() < 0.2 else None,
            "InteresPago": interes_mora,
            "GastosPago": gastos_mora,
            "TipoPago": kind,
            "SaldoDeuda": money(max(0.0, saldo - amount)),
            "ExcesoPago": excess,
            "FacturasMoraGeneradas": self.numbering.invoice_number() if mora else None,
            "FechaPagoCreacion": created,
            "FechaPagoModificacion": modified,
        }

    def refund(self, det: int, fondo: float, payments: list[dict[str, Any]], settled: bool
               ) -> dict[str, Any] | None:
        """The guarantee reserve (less withheld late charges) and any excess go back."""
        rng = self.rng
        excess = sum(p["ExcesoPago"] for p in payments)
        if not settled or (fondo <= 0 and excess <= 0) or (excess <= 0 and rng.random() < 0.3):
            return None
        dev = self.numbering.next_id("dev")
        withheld = money(min(fondo, sum(p["InteresPago"] + p["GastosPago"] for p in payments)))
        when = payments[-1]["FechaPago"] + timedelta(days=rng.randint(1, 12))
        paid = when <= self.today
        return {
            "IdLiquidacionDevolucion": dev,
            "IdLiquidacionDet": det,
            "FechaDesembolso": when if paid else None,
            "MontoDevolucion": money(fondo - withheld + excess),
            "DescuentoDevolucion": withheld,
            "EstadoDevolucion": 1 if paid else 0,
            "ObservacionDevolucion": ("Devolución de exceso de pago" if excess > 0
                                      else "Devolución de fondo de resguardo")
            if rng.random() < 0.5 else None,
        }
