"""The off-system sheets (``operaciones_fuera_sistema``): one numbered row per document.

Some in-system liquidations were also typed into the sheets, with the exact code, a trailing
space or a ``-001`` suffix (the sheet rows win the dedup); the book also asks for rows of
liquidations booked only in the sheets. Rows go to the sheet of their currency (``Hoja``),
numbered in order (``Fila``), with the values as the sheets carry them (executive spelled
three ways, the rate sometimes in percent, totals of the payments, the state in upper case).
"""

from __future__ import annotations

import random

from toolbox_cli.demo.catalogue import Forced, money
from toolbox_cli.demo.documents import Doc
from toolbox_cli.demo.sink import Sink
from toolbox_cli.storage.tables import contract as t


class OffSystemSheets:
    def __init__(self, rng: random.Random, sink: Sink) -> None:
        self.rng = rng
        self.sink = sink
        self.fila = {"PEN": 0, "USD": 0}
        self.forced = Forced(["exact", "space", "suffix"], after=5)

    def maybe_copy(self, code: str, docs: list[Doc]) -> None:
        """Some liquidations were also typed into the off-system sheets (they win the dedup)."""
        if code.count("-") > 1 or code.endswith("-001"):
            return
        variant = self.forced.take()
        if variant is None:
            if self.rng.random() >= 0.012:
                return
            variant = self.rng.choices(("exact", "space", "suffix"), (6, 2, 2))[0]
        sheet_code = {"exact": code, "space": code + " ", "suffix": code + "-001"}[variant]
        for doc in docs:
            self.row(doc, sheet_code)

    def row(self, doc: Doc, code: str) -> None:
        rng = self.rng
        row = doc.row
        hoja = row["Moneda"]
        self.fila[hoja] += 1
        payments = doc.payments
        executive = row["Ejecutivo"]
        spelled = rng.choices((executive, executive.upper(), executive.replace(",", "")),
                              (4, 5, 1))[0]
        tnm = float(row["TasaNominalMensualPorc"])
        self.sink.add(t.operaciones_fuera_sistema, {
            "Hoja": hoja,
            "Fila": self.fila[hoja],
            "CodigoLiquidacion": code,
            "NroDocumento": row["NroDocumento"].replace(" ", ""),
            "RazonSocialCliente": row["RazonSocialCliente"],
            "RUCCliente": row["RUCCliente"].strip(),
            "RazonSocialPagador": row["RazonSocialPagador"],
            "RUCPagador": row["RUCPagador"],
            "TasaNominalMensualPorc": tnm * 100 if tnm < 0.1 and rng.random() < 0.5 else tnm,
            "FinanciamientoPorc": row["FinanciamientoPorc"],
            "FechaOperacion": row["FechaOperacion"],
            "FechaConfirmado": row["FechaConfirmado"],
            "DiasEfectivo": row["DiasEfectivo"],
            "Moneda": row["Moneda"],
            "NetoConfirmado": row["NetoConfirmado"],
            "MontoComisionEstructuracion": row["MontoComisionEstructuracion"],
            "ComisionEstructuracionIGV": row["ComisionEstructuracionIGV"],
            "ComisionEstructuracionConIGV": row["ComisionEstructuracionConIGV"],
            "FondoResguardo": row["FondoResguardo"],
            "MontoCobrar": row["MontoCobrar"],
            "Interes": row["Interes"],
            "InteresConIGV": row["InteresConIGV"],
            "GastosDiversosSinIGV": row["GastosDiversos"],
            "GastosDiversosIGV": row["GastosDiversosIGV"],
            "GastosDiversosConIGV": row["GastosDiversosConIGV"],
            "MontoTotalFacturado": row["MontoTotalFacturado"],
            "FacturasGeneradas": row["FacturasGeneradas"],
            "MontoDesembolso": row["MontoDesembolso"],
            "FechaPago": payments[-1]["FechaPago"] if payments else None,
            "Estado": row["Estado"].upper(),
            "DiasMora": max((p["DiasMora"] for p in payments), default=None),
            "InteresPago": money(sum(p["InteresPago"] for p in payments)),
            "GastosPago": money(sum(p["GastosPago"] for p in payments)),
            "MontoCobrarPago": payments[-1]["MontoCobrarPago"] if payments else 0.0,
            "MontoPago": money(sum(p["MontoPago"] for p in payments)),
            "ExcesoPago": money(sum(p["ExcesoPago"] for p in payments)),
            "FechaDesembolso": doc.refund["FechaDesembolso"] if doc.refund else None,
            "Ejecutivo": spelled,
            "TipoOperacion": row["TipoOperacion"],
            "GastosContrato": row["GastosContrato"],
            "ServicioCustodia": row["ServicioCustodia"],
            "ServicioCobranza": row["ServicioCobranza"],
            "GastoVigenciaPoder": row["GastoVigenciaPoder"],
        })
