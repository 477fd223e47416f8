"""The kpi refresh agrees with a direct SQL computation over the source, month by month."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from toolbox_cli.demo import seed_demo
from toolbox_cli.registry import get_task
from toolbox_cli.runner import run_task

# In-system rows of one month, less those whose normalised liquidation code the off-system
# sheets replace; USD converted at the latest rate on or before the operation date.
DIRECT_SQL = """
SELECT COUNT(*), SUM(c.NetoConfirmado),
       SUM(ROUND(c.NetoConfirmado * CASE WHEN UPPER(TRIM(c.Moneda)) IN ('USD', 'US$', 'DOLARES')
            THEN (SELECT t.TipoCambioVenta FROM tipo_cambio t
                  WHERE t.TipoCambioFecha <= DATE_FORMAT(c.FechaOperacion, '%Y-%m-%d')
                  ORDER BY t.TipoCambioFecha DESC LIMIT 1) ELSE 1 END, 2))
FROM colocaciones c
WHERE c.FechaOperacion BETWEEN :first AND LAST_DAY(:first)
  AND UPPER(SUBSTRING_INDEX(TRIM(c.CodigoLiquidacion), '-', 2)) NOT IN (
      SELECT UPPER(SUBSTRING_INDEX(TRIM(f.CodigoLiquidacion), '-', 2))
      FROM operaciones_fuera_sistema f
      WHERE f.CodigoLiquidacion IS NOT NULL AND TRIM(f.RUCCliente) <> ''
        AND TRIM(f.RUCPagador) <> '')
"""
KPI_SQL = """
SELECT COUNT(*), SUM(NetoConfirmado), SUM(ColocacionSoles)
FROM kpi WHERE Mes = :mes AND FueraSistema = 'no'
"""


@pytest.mark.production
def test_kpi_month_totals_match_direct_sql_over_the_source(mysql_engines):
    from toolbox_cli.settings import load_settings

    seed_demo(mysql_engines.source, operations=4000, seed=11, today=date(2026, 11, 27))
    outcome = run_task(get_task("kpi"), load_settings(),
                       {"hasta": date(2026, 11, 27), "fecha_corte": date(2026, 11, 27)},
                       engines=mysql_engines)
    assert outcome.status == "success", outcome.error_message
    checked = 0
    with mysql_engines.datamart.connect() as conn:
        for first in (date(2021, 6, 1), date(2023, 1, 1), date(2024, 3, 1), date(2025, 10, 1)):
            n, neto, soles = conn.execute(text(KPI_SQL), {"mes": first.strftime("%Y-%m")}).one()
            expected = conn.execute(text(DIRECT_SQL), {"first": first}).one()
            assert (n, neto) == (expected[0], expected[1]), first
            # Each stored ColocacionSoles was rounded once; the SQL rounds each row the same way.
            assert Decimal(soles) == Decimal(expected[2]), first
            checked += n
    assert checked > 100
