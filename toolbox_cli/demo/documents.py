"""One document of a liquidation: its ``colocaciones`` row, with payments and refund.

Amounts follow the KPI formulas (reserve, amount to collect, interest at the monthly rate,
structuring fee, sundry charges, all with IGV; the disbursement is what remains); the values
arrive as analysts type them (rates in percent or fraction, RUCs with spaces, document numbers
with a space, TipoOperacion in mixed case). ``Doc`` keeps what the later tables need.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from toolbox_cli.demo.catalogue import (
    DETALLE,
    OBS_LIQ,
    OBS_SOL,
    messy_client_ruc,
    messy_payer_ruc,
    money,
    spelling,
)
from toolbox_cli.demo.numbering import Numbering
from toolbox_cli.demo.parties import Client, Party
from toolbox_cli.demo.payments import Collections


@dataclass
class Doc:
    """What the later tables need to know about one generated document."""

    row: dict[str, Any]
    payments: list[dict[str, Any]]
    refund: dict[str, Any] | None
    problem: bool  # unpaid and overdue, or partially paid and open


class Documents:
    def __init__(self, rng: random.Random, today: date, numbering: Numbering,
                 collections: Collections) -> None:
        self.rng = rng
        self.today = today
        self.numbering = numbering
        self.collections = collections

    def document(self, cab: int, code: str, day: date, client: Client, payer: Party,
                 tipo: str, usd: bool, executive: str, *, first_doc: bool,
                 first_operation: bool, in_system: bool = True) -> Doc:
        rng = self.rng
        det = self.numbering.next_id("det")
        moneda = "USD" if usd else "PEN"
        neto = money(min(2_000_000.0, max(800.0, rng.lognormvariate(
            math.log(12_000 if usd else 25_000), 0.9))))
        dias = rng.choice((15, 30, 30, 45, 60, 60, 75, 90, 120)) + rng.randint(-3, 3)
        fin_porc = rng.choices((90.0, 85.0, 95.0, 100.0, 80.0), (70, 10, 10, 5, 5))[0]
        fondo = money(neto * (1 - fin_porc / 100))
        cobrar = money(neto - fondo)
        tnm = rng.uniform(0.010, 0.018) if usd else rng.uniform(0.012, 0.022)
        if tipo == "Confirming":
            tnm *= 0.8
        interes = money(cobrar * ((1 + tnm) ** (dias / 30) - 1))
        interes_igv = money(interes * 0.18)
        com_porc = rng.choice((0.3, 0.5, 0.5, 0.8, 1.0))
        comision = money(max(neto * com_porc / 100, 15.0 if usd else 50.0))
        comision_igv = money(comision * 0.18)
        gastos_contrato = (50.0 if usd else 150.0) if first_doc and first_operation else 0.0
        vigencia = (15.0 if usd else 45.0) if first_doc and rng.random() < 0.1 else 0.0
        cobranza = 0.0 if tipo == "Confirming" else (3.0 if usd else 8.0)
        custodia = (2.0 if usd else 5.0) if rng.random() < 0.3 else 0.0
        diversos = money(gastos_contrato + vigencia + cobranza + custodia)
        diversos_igv = money(diversos * 0.18)
        flag = "S" if tipo == "Confirming" and rng.random() < 0.3 else "N"
        total_facturado = money(comision + comision_igv + interes + interes_igv
                                + diversos + diversos_igv)
        deuda_anterior = money(rng.uniform(100, 0.1 * cobrar)) \
            if first_doc and rng.random() < 0.03 else 0.0
        # When the payer pays the confirming interest it is not withheld from the client.
        withheld = total_facturado - (interes + interes_igv if flag == "S" else 0.0)
        desembolso = money(cobrar - withheld - deuda_anterior)
        due = day + timedelta(days=dias)
        payments, settled = self.collections.payments(det, neto, tnm, due, day,
                                                      forced_ok=in_system)
        refund = self.collections.refund(det, fondo, payments, settled) if settled else None
        estado = ("Cancelado" if settled else "Pago Parcial" if payments
                  else "Vigente" if due > self.today else "Vencido")
        client.next_doc += 1
        nro = f"{client.series}-{client.next_doc:0{rng.choice((3, 6, 8))}d}"
        if rng.random() < 0.03:
            nro = nro.replace("-", "- ")
        row = {
            "IdLiquidacionDet": det,
            "IdLiquidacionCab": cab,
            "CodigoLiquidacion": code,
            "CodigoSolicitud": self.numbering.request_code(day) if rng.random() < 0.97 else None,
            "RUCCliente": messy_client_ruc(rng, client.ruc),
            "RazonSocialCliente": client.name_on(day),
            "RUCPagador": messy_payer_ruc(rng, payer.ruc),
            "RazonSocialPagador": payer.name_on(day),
            "Moneda": moneda,
            "DeudaAnterior": deuda_anterior,
            "ObservacionLiquidacion": rng.choice(OBS_LIQ) if rng.random() < 0.1 else None,
            "ObservacionSolicitud": rng.choice(OBS_SOL) if rng.random() < 0.05 else None,
            "FlagPagoInteresConfirming": flag,
            "FechaInteresConfirming": due if tipo == "Confirming" and flag == "S" else None,
            "TipoOperacion": spelling(rng, tipo),
            "TipoOperacionDetalle": rng.choice(DETALLE[tipo]),
            "Estado": estado,
            "NroDocumento": nro,
            # Analysts type the monthly rate either as percent (1.5) or as fraction (0.015).
            "TasaNominalMensualPorc": self._typed_rate(tnm),
            "FinanciamientoPorc": fin_porc,
            "FechaConfirmado": due,
            "FechaOperacion": day,
            "DiasEfectivo": dias,
            "NetoConfirmado": neto,
            "FondoResguardo": fondo,
            "ComisionEstructuracionPorc": com_porc,
            "MontoComisionEstructuracion": comision,
            "ComisionEstructuracionIGV": comision_igv,
            "ComisionEstructuracionConIGV": money(comision + comision_igv),
            "FacturasGeneradas": self.numbering.invoice_number(),
            "MontoCobrar": cobrar,
            "Interes": interes,
            "InteresIGV": interes_igv,
            "InteresConIGV": money(interes + interes_igv),
            "GastosContrato": gastos_contrato,
            "GastoVigenciaPoder": vigencia,
            "ServicioCobranza": cobranza,
            "ServicioCustodia": custodia,
            "GastosDiversos": diversos,
            "GastosDiversosIGV": diversos_igv,
            "GastosDiversosConIGV": money(diversos + diversos_igv),
            "MontoTotalFacturado": total_facturado,
            "MontoDesembolso": desembolso,
            "Ejecutivo": executive,
            "Anticipo": "Sí" if rng.random() < 0.1 else "No",
            "TramoAnticipo": rng.choice(("Tramo 1", "Tramo 2")) if rng.random() < 0.05 else None,
        }
        problem = (not settled) and (bool(payments) or due <= self.today)
        return Doc(row, payments, refund, problem)

    def _typed_rate(self, tnm: float) -> float:
        """Percent (1.5) or fraction (0.015). A rate under 1 % typed as percent (0.8) is the
        ambiguous case of reportes §6.11; it happens, but rarely."""
        rng = self.rng
        if rng.random() < 0.7 and (tnm >= 0.01 or rng.random() < 0.02):
            return round(tnm * 100, 4)
        return round(tnm, 6)
