"""The reference tables around the book: referral aliases and referrals, payer sectors,
SUNAT-like exchange rates, daily cash balances, and the two special CXC code lists.

The whole-book tables (aliases, sectors, rates, balances) are written once, before the day
walk; referrals and special codes are decided liquidation by liquidation, as the book walks.
"""

from __future__ import annotations

import random
from datetime import date

from toolbox_cli.demo.catalogue import (
    ECONOMIC_GROUPS,
    REFERRAL_ALIASES,
    REFERRAL_FREE_TEXT,
    SECTORS,
    book_days,
    money,
)
from toolbox_cli.demo.parties import Party
from toolbox_cli.demo.sink import Sink
from toolbox_cli.storage.tables import contract as t

# Days SUNAT publishes no rate besides weekends (fixed-date Peruvian holidays).
HOLIDAYS = {(1, 1), (5, 1), (6, 29), (7, 28), (7, 29), (8, 30), (10, 8), (11, 1), (12, 8),
            (12, 25)}
# Anchors of the PEN/USD buy rate; the daily series interpolates and adds AR(1) noise.
FX_ANCHORS: tuple[tuple[date, float], ...] = (
    (date(2019, 7, 1), 3.30), (date(2019, 12, 31), 3.31), (date(2020, 3, 31), 3.44),
    (date(2020, 12, 31), 3.60), (date(2021, 4, 30), 3.75), (date(2021, 8, 31), 4.06),
    (date(2021, 12, 31), 3.98), (date(2022, 6, 30), 3.80), (date(2022, 12, 31), 3.81),
    (date(2023, 6, 30), 3.62), (date(2023, 12, 31), 3.70), (date(2024, 6, 30), 3.80),
    (date(2024, 12, 31), 3.75), (date(2025, 6, 30), 3.58), (date(2025, 12, 31), 3.40),
)


def fx_anchor(day: date) -> float:
    anchors = FX_ANCHORS
    if day <= anchors[0][0]:
        return anchors[0][1]
    for (d0, v0), (d1, v1) in zip(anchors, anchors[1:], strict=False):
        if day <= d1:
            return v0 + (v1 - v0) * (day - d0).days / (d1 - d0).days
    return anchors[-1][1]


class ReferenceTables:
    def __init__(self, rng: random.Random, today: date, sink: Sink) -> None:
        self.rng = rng
        self.today = today
        self.sink = sink
        self.referral_codes: set[str] = set()
        self.special_codes: set[tuple[str, str]] = set()
        self.both_lists_forced = 2
        self.spaced_code_written = False

    # -- whole-book tables ----------------------------------------------------------

    def write_referral_aliases(self) -> None:
        for alias, canonical in REFERRAL_ALIASES:
            self.sink.add(t.referidos_alias, {"Alias": alias, "Canonico": canonical})

    def write_sectors(self, payers: list[Party]) -> None:
        rng = self.rng
        for i, payer in enumerate(payers):
            # Some payers are not classified yet (CXC shows them as SIN CLASIFICAR).
            if i % 9 == 4 or rng.random() < 0.05:
                continue
            self.sink.add(t.sector_pagadores, {
                "RUCPagador": payer.ruc,
                "Sector": rng.choice(SECTORS),
                "GrupoEco": rng.choice(ECONOMIC_GROUPS) if rng.random() < 0.35 else None,
            })

    def write_exchange_rates(self) -> None:
        rng = self.rng
        noise = 0.0
        for day in book_days(self.today):
            noise = 0.9 * noise + rng.gauss(0, 0.008)
            if day.weekday() >= 5 or (day.month, day.day) in HOLIDAYS:
                continue
            compra = round(min(4.09, max(3.30, fx_anchor(day) + noise)), 3)
            venta = round(min(4.10, compra + rng.uniform(0.002, 0.012)), 3)
            if venta <= compra:
                venta = round(compra + 0.001, 3)
            self.sink.add(t.tipo_cambio, {
                "TipoCambioFecha": day.isoformat(),
                "TipoCambioCompra": compra,
                "TipoCambioVenta": venta,
            })

    def write_cash_balances(self) -> None:
        """One row per calendar day; balances are PEN and may go negative (decisions.md 8)."""
        rng = self.rng
        days = book_days(self.today)
        previous = None
        drift = 0.0
        for i, day in enumerate(days):
            base = 1_500_000 + 4_500_000 * i / len(days)
            drift = 0.97 * drift + rng.gauss(0, 250_000)
            saldo = base + drift
            if date(2020, 4, 1) <= day <= date(2020, 4, 8):  # lockdown overdraft
                saldo -= 4_000_000
            saldo = money(saldo)
            weekday = day.weekday() < 5
            overnight = money(max(0.0, saldo - 1_000_000) * rng.uniform(0.5, 0.9)) \
                if weekday else (None if day.weekday() == 6 and rng.random() < 0.5 else 0.0)
            excess = max(0.0, saldo - 2_000_000)
            self.sink.add(t.saldos_caja, {
                "FechaOperacion": day,
                "EvolucionCaja": money(saldo - previous) if previous is not None else 0.0,
                "CostoExcesoCaja": money(excess * 0.14 / 360),
                "IngresoNoRecibidoPorExcesoCaja": money(excess * 0.17 / 360),
                "MontoOvernight": overnight,
                "IngresosOvernightNeto": money((overnight or 0.0) * rng.uniform(0.02, 0.05) / 360),
                "SaldoTotalCaja": saldo,
            })
            previous = saldo

    # -- per liquidation ------------------------------------------------------------

    def maybe_referral(self, code: str, day: date, executive: str) -> None:
        rng = self.rng
        if rng.random() >= 0.07 or code in self.referral_codes:
            return
        self.referral_codes.add(code)
        alias, canonical = rng.choice(REFERRAL_ALIASES)
        referencia = rng.choice((
            alias.lower(), f" {alias} ", alias.title(), canonical,
            canonical.replace(",", "").lower(), rng.choice(REFERRAL_FREE_TEXT), executive,
        ))
        self.sink.add(t.referidos, {
            "CodigoLiquidacion": code, "Referencia": referencia, "Ejecutivo": executive,
            "Mes": day.replace(day=1),
        })

    def maybe_special_codes(self, code: str, problem: bool) -> None:
        """A liquidation with a problem document may be on one CXC list or both."""
        if not problem:
            return
        lists = []
        if self.both_lists_forced > 0:
            self.both_lists_forced -= 1
            lists = ["MORA_A_MAYO", "COBRANZA_ESPECIAL"]
        else:
            if self.rng.random() < 0.25:
                lists.append("MORA_A_MAYO")
            if self.rng.random() < 0.2:
                lists.append("COBRANZA_ESPECIAL")
        for lista in lists:
            if (code, lista) not in self.special_codes:
                self.special_codes.add((code, lista))
                self.sink.add(t.cxc_codigos_especiales, {"codigo": code, "lista": lista})
        # The legacy literal carried one code with a leading space; keep one such case.
        if lists and not self.spaced_code_written and len(self.special_codes) >= 5:
            self.spaced_code_written = True
            self.special_codes.add((f" {code}", lists[0]))
            self.sink.add(t.cxc_codigos_especiales, {"codigo": f" {code}", "lista": lists[0]})
