"""One spelling per value in every table (decisions 19 and 20), whichever job wrote it."""

from __future__ import annotations

from sqlalchemy import select, text, update

from tests.support.runs import run_on_demo
from toolbox_cli.storage.tables import contract as src


def test_tipo_pago_reads_the_same_in_kpi_acumulado_and_the_cxc_tables(demo, toolbox_env):
    with demo.source.begin() as conn:
        det = conn.execute(select(src.colocaciones_pagos.c.IdLiquidacionDet)
                           .order_by(src.colocaciones_pagos.c.IdLiquidacionPago).limit(1)).scalar_one()
        conn.execute(update(src.colocaciones_pagos).where(src.colocaciones_pagos.c.IdLiquidacionDet == det)
                     .values(TipoPago=" Pago Total "))
    assert run_on_demo(toolbox_env, demo, "kpi-acumulado").status == "success"
    assert run_on_demo(toolbox_env, demo, "tablas-cxc").status == "success"
    with demo.datamart.connect() as conn:
        acumulado = conn.execute(text(
            "SELECT TipoPago FROM kpi_acumulado k JOIN cxc_acumulado_dim d "
            "ON d.CodigoLiquidacion = k.CodigoLiquidacion AND d.NroDocumento = k.NroDocumento "
            f"WHERE d.IdLiquidacionDet = {det}")).scalars().all()
        facts = conn.execute(text(
            f"SELECT DISTINCT TipoPago FROM cxc_pagos_fact WHERE IdLiquidacionDet = {det}")).scalars().all()
        real = conn.execute(text(
            f"SELECT TipoPagoReal FROM cxc_acumulado_dim WHERE IdLiquidacionDet = {det}")).scalar_one()
    assert facts == ["PAGO TOTAL"] and real == "PAGO TOTAL"
    assert set(acumulado) <= {"PAGO TOTAL"}


def test_off_system_dias_mora_null_is_zero_in_kpi_acumulado(demo, toolbox_env):
    with demo.source.begin() as conn:
        conn.execute(update(src.operaciones_fuera_sistema).values(DiasMora=None))
    assert run_on_demo(toolbox_env, demo, "kpi-acumulado").status == "success"
    with demo.datamart.connect() as conn:
        values = conn.execute(text(
            "SELECT DISTINCT DiasMora FROM kpi_acumulado WHERE FueraSistema = 'si'")).scalars().all()
    assert values == [0]
