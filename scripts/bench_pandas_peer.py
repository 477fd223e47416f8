#!/usr/bin/env python3
"""The benchmark's peer: the `kpi` refresh written the way an analyst would, with pandas.

read_sql of the source tables, vectorised formulas, ``DataFrame.to_sql(chunksize=5000)``.
Not part of the package and not meant to be perfect (no fuzzy executive mapping, no
validation); it is the obvious version the toolbox must beat. Usage:

    python scripts/bench_pandas_peer.py DATABASE_URL
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from sqlalchemy import create_engine

MESES = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
         "septiembre", "octubre", "noviembre", "diciembre"]


def main(url: str) -> int:
    engine = create_engine(url)
    docs = pd.read_sql("SELECT * FROM colocaciones WHERE FechaOperacion >= '2019-07-01'", engine)
    pagos = pd.read_sql("SELECT * FROM colocaciones_pagos", engine)
    devol = pd.read_sql("SELECT * FROM colocaciones_devoluciones", engine)
    fuera = pd.read_sql("SELECT * FROM operaciones_fuera_sistema ORDER BY Hoja, Fila", engine)
    fx = pd.read_sql("SELECT * FROM tipo_cambio", engine)
    sectores = pd.read_sql("SELECT * FROM sector_pagadores", engine)
    referidos = pd.read_sql("SELECT * FROM referidos", engine)

    pagos = pagos.sort_values(["IdLiquidacionDet", "FechaPago", "IdLiquidacionPago"])
    last = pagos.groupby("IdLiquidacionDet").last()
    total = pagos.groupby("IdLiquidacionDet")["MontoPago"].sum()
    docs = docs.merge(last[["FechaPago", "ExcesoPago"]], left_on="IdLiquidacionDet",
                      right_index=True, how="left")
    docs["MontoPago"] = docs["IdLiquidacionDet"].map(total).fillna(0)
    devol = devol.sort_values(["IdLiquidacionDet", "FechaDesembolso"])
    dlast = devol.groupby("IdLiquidacionDet").last()
    docs = docs.merge(dlast[["FechaDesembolso", "EstadoDevolucion"]], left_on="IdLiquidacionDet",
                      right_index=True, how="left")
    docs["MontoDevolucion"] = docs["IdLiquidacionDet"].map(
        devol.groupby("IdLiquidacionDet")["MontoDevolucion"].sum()).fillna(0)

    def code(s: pd.Series) -> pd.Series:
        return s.astype(str).str.strip().str.split("-").str[:2].str.join("-")

    docs["FueraSistema"] = "no"
    fuera["FueraSistema"] = "si"
    docs = docs[~code(docs["CodigoLiquidacion"]).isin(set(code(fuera["CodigoLiquidacion"])))]
    df = pd.concat([docs, fuera], ignore_index=True)

    df["CodigoLiquidacion"] = code(df["CodigoLiquidacion"])
    df["RUCPagador"] = df["RUCPagador"].astype(str).str.replace(r"[:\s]", "", regex=True)
    df["RUCCliente"] = df["RUCCliente"].astype(str).str.strip()
    df["NroDocumento"] = df["NroDocumento"].astype(str).str.replace(r"\s", "", regex=True)
    tasa = pd.to_numeric(df["TasaNominalMensualPorc"], errors="coerce").fillna(0).astype(float)
    df["TasaNominalMensualPorc"] = np.where(tasa >= 1, tasa / 100, tasa)
    tipo = df["TipoOperacion"].astype(str).str.strip()
    df["TipoOperacion"] = tipo.replace({"FACTORING": "Factoring", "CONFIRMING": "Confirming"})
    df["Moneda"] = df["Moneda"].astype(str).str.strip().str.upper()

    fecha = pd.to_datetime(df["FechaOperacion"]).astype("datetime64[ns]")
    df["FechaOperacion"] = fecha
    df["Mes"] = fecha.dt.strftime("%Y-%m")
    df["Año"] = fecha.dt.strftime("%Y")
    df["MesAño"] = fecha.dt.month.map(lambda m: MESES[m - 1]) + "-" + df["Año"]
    first = fecha.dt.to_period("M").dt.start_time
    df["MesSemana"] = "Semana " + np.ceil((fecha.dt.day + first.dt.day_of_week) / 7).astype(int).astype(str)

    refs = referidos[["CodigoLiquidacion", "Referencia"]].drop_duplicates("CodigoLiquidacion", keep="last")
    df = df.merge(refs, on="CodigoLiquidacion", how="left")
    df["Referencia"] = df["Referencia"].fillna(df["Ejecutivo"])
    df = df.merge(sectores, on="RUCPagador", how="left")
    df["GrupoEco"] = df["GrupoEco"].fillna(df["RazonSocialPagador"])

    fx["TipoCambioFecha"] = pd.to_datetime(fx["TipoCambioFecha"]).astype("datetime64[ns]")
    fx = fx.sort_values("TipoCambioFecha")
    df = df.sort_values("FechaOperacion")
    df = pd.merge_asof(df, fx[["TipoCambioFecha", "TipoCambioCompra", "TipoCambioVenta"]],
                       left_on="FechaOperacion", right_on="TipoCambioFecha", direction="backward")

    num = ["NetoConfirmado", "MontoDesembolso", "MontoPago", "ComisionEstructuracionConIGV",
           "Interes", "GastosDiversosConIGV", "DiasEfectivo", "FondoResguardo"]
    for col in num:
        df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0).astype(float)
    venta = df["TipoCambioVenta"].astype(float)
    factor = np.where(df["Moneda"] == "USD", venta, 1.0)
    rate = np.where(df["Moneda"] == "PEN", 0.14, 0.12)
    df["ColocacionSoles"] = df["NetoConfirmado"] * factor
    df["MontoDesembolsoSoles"] = df["MontoDesembolso"] * factor
    df["MontoPagoSoles"] = df["MontoPago"] * factor
    df["Ingresos"] = (df["ComisionEstructuracionConIGV"] / 1.18 + df["Interes"]
                      + df["GastosDiversosConIGV"] / 1.18)
    df["IngresosSoles"] = df["Ingresos"] * factor
    df["CostosFondo"] = ((1 + rate) ** (df["DiasEfectivo"] / 365) - 1) * df["MontoDesembolso"]
    df["CostosFondoSoles"] = df["CostosFondo"] * factor
    df["TotalIngresos"] = df["ComisionEstructuracionConIGV"] / 1.18 + df["Interes"]
    df["TotalIngresosSoles"] = df["TotalIngresos"] * factor
    df["Utilidad"] = df["TotalIngresosSoles"] - df["CostosFondoSoles"]
    df["MontoNegociado"] = df["NetoConfirmado"] - df["FondoResguardo"]
    df["MontoNegociadoSoles"] = df["MontoNegociado"] * factor

    keep = [c for c in df.columns if c not in (
        "IdLiquidacionCab", "IdLiquidacionDet", "id", "Hoja", "Fila", "ComisionEstructuracionPorc",
        "InteresIGV", "GastosDiversos", "TipoOperacionDetalle", "FechaInteresConfirming",
        "GastosDiversosSinIGV", "DiasMora", "InteresPago", "GastosPago", "MontoCobrarPago",
        "RUCPagador_y")]
    df[keep].to_sql("kpi_pandas", engine, if_exists="replace", index=False, chunksize=5000)
    print(len(df))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
