"""Decision 24: the legacy's dashboards read the CXC tables as ``CXCPagosFact``,
``CXCDevFact`` and ``CXCAcumuladoDim``; ``db init`` keeps views of those names over the
toolbox's tables, a swap does not break them, and ``TOOLBOX_LEGACY_VIEWS=false`` drops them.
On SQLite and (``-m production``) on MariaDB."""

from __future__ import annotations

import json

from sqlalchemy import inspect, text

from tests.support.runs import run_on_demo
from toolbox_cli.storage.engine import make_engine
from toolbox_cli.storage.tables.cxc import cxc_acumulado_dim

LEGACY = {"CXCPagosFact": "cxc_pagos_fact", "CXCDevFact": "cxc_dev_fact",
          "CXCAcumuladoDim": "cxc_acumulado_dim"}


def views(engine) -> set[str]:
    return set(inspect(engine).get_view_names())


def test_db_init_creates_the_legacy_views_and_says_so_once(cli, toolbox_env):
    first = cli("db", "init")
    assert first.exit_code == 0, first.output
    assert ("created the legacy's views CXCPagosFact, CXCDevFact, CXCAcumuladoDim"
            in " ".join(first.stdout.split()))
    second = cli("db", "init", "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["views_created"] == []
    assert "schema up to date" in cli("db", "init").stdout


def test_a_view_reads_the_new_table_after_a_swap(toolbox_env, demo):
    engine = demo.datamart
    assert views(engine) >= set(LEGACY)
    first = run_on_demo(toolbox_env, demo, "tablas-cxc")
    assert first.status == "success", first.error_message
    with engine.connect() as conn:
        for view, table in LEGACY.items():
            assert conn.execute(text(f"SELECT COUNT(*) FROM {view}")).scalar_one() == \
                conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() > 0
        payment = conn.execute(text("SELECT IdLiquidacionPago, MontoPago FROM CXCPagosFact "
                                    "ORDER BY IdLiquidacionPago LIMIT 1")).one()
    with demo.source.begin() as conn:
        conn.execute(text("UPDATE colocaciones_pagos SET MontoPago = MontoPago + 1 "
                          "WHERE IdLiquidacionPago = :p"), {"p": payment.IdLiquidacionPago})
    second = run_on_demo(toolbox_env, demo, "tablas-cxc")
    assert second.status == "success", second.error_message
    assert views(engine) >= set(LEGACY)
    with engine.connect() as conn:
        seen = conn.execute(text("SELECT MontoPago FROM CXCPagosFact WHERE IdLiquidacionPago = :p"),
                            {"p": payment.IdLiquidacionPago}).scalar_one()
        columns = conn.execute(text("SELECT * FROM CXCAcumuladoDim LIMIT 1")).keys()
    assert float(seen) == float(payment.MontoPago) + 1
    assert list(columns) == [c.name for c in cxc_acumulado_dim.columns]


def test_the_setting_off_drops_them_and_on_brings_them_back(cli, toolbox_env, monkeypatch):
    assert cli("db", "init").exit_code == 0
    monkeypatch.setenv("TOOLBOX_LEGACY_VIEWS", "false")
    off = cli("db", "init")
    assert off.exit_code == 0, off.output
    assert ("dropped the legacy's views CXCPagosFact, CXCDevFact, CXCAcumuladoDim"
            in " ".join(off.stdout.split()))
    assert json.loads(cli("db", "init", "--json").stdout)["views_dropped"] == []
    engine = make_engine(toolbox_env.datamart_url())
    try:
        assert not views(engine) & set(LEGACY)
        assert {"cxc_pagos_fact", "cxc_dev_fact", "cxc_acumulado_dim"} <= set(
            inspect(engine).get_table_names())
    finally:
        engine.dispose()
    monkeypatch.setenv("TOOLBOX_LEGACY_VIEWS", "true")
    on = cli("db", "init", "--json")
    assert json.loads(on.stdout)["views_created"] == list(LEGACY)


def test_a_real_table_under_a_legacy_name_is_left_alone(cli, toolbox_env):
    engine = make_engine(toolbox_env.datamart_url(), create=True)
    try:
        with engine.begin() as conn:  # the legacy's own table, in a shared datamart
            conn.execute(text("CREATE TABLE CXCDevFact (x INTEGER)"))
            conn.execute(text("INSERT INTO CXCDevFact VALUES (7)"))
        init = cli("db", "init", "--json")
        assert init.exit_code == 0, init.output
        assert json.loads(init.stdout)["views_created"] == ["CXCPagosFact", "CXCAcumuladoDim"]
        off = cli("db", "init", "--json", TOOLBOX_LEGACY_VIEWS="false")
        assert json.loads(off.stdout)["views_dropped"] == \
            ["CXCPagosFact", "CXCAcumuladoDim"]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM CXCDevFact")).scalar_one() == 7
    finally:
        engine.dispose()
