"""The KPI's configuration and formulas (reportes.md §3.5.5, decisions 1 and 12).

Which report a pipeline builds (``REPORTE_KPI``: ``kpi``, reporte 2; ``REPORTE_ACUMULADO``:
``kpi_acumulado``, reporte 0), its output columns and the funding rates (``KpiConfig``), and
the §3.5.5 expressions, one per output column (``metrics``), with the IGV factor and the
day basis they use. A USD row without an exchange rate has no soles amounts (NULL), PEN
rows use factor 1; values stay unrounded binary floats: the writer rounds money half-up
once.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

IGV_FACTOR = 1.18
DAY_BASIS = 365

REPORTE_KPI = 2
REPORTE_ACUMULADO = 0


@dataclass(frozen=True)
class KpiConfig:
    reporte: int
    # The output columns, in order: the datamart table's (storage/tables/reportes.py).
    columns: tuple[str, ...]
    tasa_fondeo_pen: float = 0.14
    tasa_fondeo_usd: float = 0.12

    @property
    def acumulado(self) -> bool:
        return self.reporte == REPORTE_ACUMULADO


def metrics(config: KpiConfig) -> list[pl.Expr]:
    """§3.5.5, unrounded. A USD row without a rate has no soles amounts (NULL: decisions 1);
    PEN rows use factor 1."""
    moneda = pl.col("Moneda")
    factor = pl.when(moneda == "USD").then(pl.col("TipoCambioVenta")).otherwise(1.0)
    comision = pl.col("ComisionEstructuracionConIGV") / IGV_FACTOR
    ingresos = comision + pl.col("Interes") + pl.col("GastosDiversosConIGV") / IGV_FACTOR
    tasa = pl.when(moneda == "PEN").then(config.tasa_fondeo_pen).otherwise(config.tasa_fondeo_usd)
    costos = ((1 + tasa).pow(pl.col("DiasEfectivo") / DAY_BASIS) - 1) * pl.col("MontoDesembolso")
    total = comision + pl.col("Interes")
    negociado = pl.col("NetoConfirmado") - pl.col("FondoResguardo")
    return [
        (pl.col("NetoConfirmado") * factor).alias("ColocacionSoles"),
        (pl.col("MontoDesembolso") * factor).alias("MontoDesembolsoSoles"),
        (pl.col("MontoPago") * factor).alias("MontoPagoSoles"),
        ingresos.alias("Ingresos"),
        (ingresos * factor).alias("IngresosSoles"),
        costos.alias("CostosFondo"),
        (costos * factor).alias("CostosFondoSoles"),
        total.alias("TotalIngresos"),
        (total * factor).alias("TotalIngresosSoles"),
        (total * factor - costos * factor).alias("Utilidad"),
        negociado.alias("MontoNegociado"),
        (negociado * factor).alias("MontoNegociadoSoles"),
    ]
