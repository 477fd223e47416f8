"""Demo data: deterministic, complete, and carrying every special case the tasks handle."""


from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import distinct, func, insert, select
from typer.testing import CliRunner

from tests.support.paths import EXAMPLES
from toolbox_cli import ledger
from toolbox_cli.demo import REFERRAL_ALIASES, SOURCE_TABLES, ruc_with_check_digit, seed_demo
from toolbox_cli.errors import EXIT_USAGE
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.tables import contract as src
from toolbox_cli.storage.tables import contract as t

TODAY = date(2026, 11, 27)


OPERATIONS = 1000


def _checksum(engines: Engines) -> str:
    """A digest of a few columns of several tables, in a stable order."""
    digest = hashlib.sha256()
    queries = [
        select(t.colocaciones.c.IdLiquidacionDet, t.colocaciones.c.CodigoLiquidacion,
               t.colocaciones.c.RUCCliente, t.colocaciones.c.NetoConfirmado,
               t.colocaciones.c.FechaOperacion).order_by(t.colocaciones.c.IdLiquidacionDet),
        select(t.colocaciones_pagos.c.IdLiquidacionPago, t.colocaciones_pagos.c.MontoPago,
               t.colocaciones_pagos.c.TipoPago).order_by(t.colocaciones_pagos.c.IdLiquidacionPago),
        select(t.tipo_cambio.c.TipoCambioFecha, t.tipo_cambio.c.TipoCambioVenta)
        .order_by(t.tipo_cambio.c.TipoCambioFecha),
        select(t.operaciones_fuera_sistema.c.Hoja, t.operaciones_fuera_sistema.c.Fila,
               t.operaciones_fuera_sistema.c.CodigoLiquidacion)
        .order_by(t.operaciones_fuera_sistema.c.Hoja, t.operaciones_fuera_sistema.c.Fila),
        select(t.saldos_caja.c.FechaOperacion, t.saldos_caja.c.SaldoTotalCaja)
        .order_by(t.saldos_caja.c.FechaOperacion),
    ]
    with engines.source.connect() as conn:
        for query in queries:
            for row in conn.execute(query):
                digest.update(repr(tuple(str(v) for v in row)).encode())
    return digest.hexdigest()


def _count(engines: Engines, table) -> int:  # type: ignore[no-untyped-def]
    with engines.source.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def seeded(engines: Engines) -> tuple[Engines, dict[str, int]]:
    counts = seed_demo(engines.source, operations=OPERATIONS, seed=42, today=TODAY)
    return engines, counts


def test_same_seed_gives_same_rows_and_reseeding_replaces_them(engines: Engines) -> None:
    first = seed_demo(engines.source, operations=OPERATIONS, seed=42, today=TODAY)
    digest = _checksum(engines)
    again = seed_demo(engines.source, operations=OPERATIONS, seed=42, today=TODAY)
    assert again == first
    assert _checksum(engines) == digest
    # The tables were replaced, not appended to.
    assert {table.name: _count(engines, table) for table in SOURCE_TABLES} == first

    other = seed_demo(engines.source, operations=OPERATIONS, seed=7, today=TODAY)
    assert other["colocaciones"] == OPERATIONS
    assert _checksum(engines) != digest


def test_every_source_table_is_filled_and_counts_are_true(seeded) -> None:  # type: ignore[no-untyped-def]
    engines, counts = seeded
    assert set(counts) == {table.name for table in SOURCE_TABLES}
    for table in SOURCE_TABLES:
        assert counts[table.name] > 0, table.name
        assert _count(engines, table) == counts[table.name], table.name
    assert counts["colocaciones"] == OPERATIONS
    assert counts["referidos_alias"] == len(REFERRAL_ALIASES) == 17


def test_payment_special_cases_exist(seeded) -> None:  # type: ignore[no-untyped-def]
    engines, _ = seeded
    p, c = t.colocaciones_pagos, t.colocaciones
    with engines.source.connect() as conn:
        several = conn.execute(
            select(p.c.IdLiquidacionDet).group_by(p.c.IdLiquidacionDet)
            .having(func.count() > 1)).all()
        partial = conn.execute(select(func.count()).where(
            func.upper(p.c.TipoPago) == "PAGO PARCIAL")).scalar_one()
        late = conn.execute(select(func.count()).where(p.c.DiasMora > 0)).scalar_one()
        overpaid = conn.execute(select(func.count()).where(p.c.ExcesoPago > 0)).scalar_one()
        paid_ids = select(p.c.IdLiquidacionDet)
        unpaid_overdue = conn.execute(select(func.count()).where(
            c.c.IdLiquidacionDet.not_in(paid_ids), c.c.FechaConfirmado <= TODAY)).scalar_one()
        future = conn.execute(select(func.count()).where(c.c.FechaConfirmado > TODAY)).scalar_one()
        docs_paid = conn.execute(select(func.count(distinct(p.c.IdLiquidacionDet)))).scalar_one()
        orphans = conn.execute(select(func.count()).where(
            p.c.IdLiquidacionDet.not_in(select(c.c.IdLiquidacionDet)))).scalar_one()
        refunds = conn.execute(select(func.count()).select_from(t.colocaciones_devoluciones)
                               ).scalar_one()
        usd = conn.execute(select(func.count()).where(c.c.Moneda == "USD")).scalar_one()
    assert several and partial and late and overpaid and unpaid_overdue and future and refunds
    assert usd > OPERATIONS * 0.05
    assert docs_paid > OPERATIONS / 2  # most documents are paid
    assert orphans == 0


def test_codes_payers_and_offsystem_special_cases_exist(seeded) -> None:  # type: ignore[no-untyped-def]
    engines, _ = seeded
    c, e, o, s = t.colocaciones, t.cxc_codigos_especiales, t.operaciones_fuera_sistema, \
        t.sector_pagadores
    with engines.source.connect() as conn:
        in_both = conn.execute(select(e.c.codigo).group_by(e.c.codigo)
                               .having(func.count(distinct(e.c.lista)) == 2)).scalars().all()
        codes = set(conn.execute(select(c.c.CodigoLiquidacion)).scalars())
        listed = set(conn.execute(select(e.c.codigo)).scalars())
        payers = {re.sub(r"[\s:]", "", r) for r in conn.execute(select(c.c.RUCPagador)).scalars()}
        classified = set(conn.execute(select(s.c.RUCPagador)).scalars())
        sheet = conn.execute(select(o.c.Hoja, o.c.CodigoLiquidacion, o.c.FechaOperacion)).all()
    assert in_both and set(in_both) <= codes
    assert {code.strip() for code in listed} <= codes
    assert payers - classified, "some payers must have no sector"
    assert {h for h, _, _ in sheet} == {"PEN", "USD"}
    raw = {code for _, code, _ in sheet}
    assert raw & codes, "exact duplicates of in-system liquidations"
    assert any(code.endswith(" ") and code.strip() in codes for code in raw)
    assert any(code.endswith("-001") and code[:-4] in codes for code in raw)
    assert raw - {x.strip() for x in raw if x.strip() in codes} - {
        x for x in raw if x.endswith("-001") and x[:-4] in codes}, "off-system rows of their own"
    assert any(d < date(2019, 7, 1) for _, _, d in sheet)


def test_messy_values_the_specs_normalise_are_present(seeded) -> None:  # type: ignore[no-untyped-def]
    engines, _ = seeded
    c = t.colocaciones
    with engines.source.connect() as conn:
        rows = conn.execute(select(c.c.CodigoLiquidacion, c.c.RUCCliente, c.c.RUCPagador,
                                   c.c.TipoOperacion, c.c.TasaNominalMensualPorc,
                                   c.c.NroDocumento, c.c.Ejecutivo)).all()
    codes = [r.CodigoLiquidacion for r in rows]
    assert any(re.fullmatch(r"LIQ\d{3,}-\d{4}", x) for x in codes)
    assert any(re.fullmatch(r"LIQ\d{10}", x) for x in codes)
    assert any(x.endswith("-001-R") for x in codes)
    assert any(" " in r.RUCPagador or ":" in r.RUCPagador for r in rows)
    assert any(r.RUCCliente != r.RUCCliente.strip() for r in rows)
    for r in rows:
        for ruc in (r.RUCCliente, r.RUCPagador):
            digits = re.sub(r"[\s:]", "", ruc)
            assert re.fullmatch(r"(10|20)\d{9}", digits) and ruc_with_check_digit(digits[:10]) == digits
    assert {r.TipoOperacion for r in rows} >= {"FACTORING", "Factoring", "CONFIRMING",
                                               "Confirming", "Capital de Trabajo"}
    rates = [r.TasaNominalMensualPorc for r in rows]
    assert any(x >= 1 for x in rates) and any(x < Decimal("0.1") for x in rates)
    assert any(" " in r.NroDocumento for r in rows)
    assert len({r.Ejecutivo for r in rows}) >= 5
    assert all(re.fullmatch(r"[A-Z][a-z]+, [A-Z][a-z]+", r.Ejecutivo) for r in rows)


def test_amounts_follow_the_kpi_formulas(seeded) -> None:  # type: ignore[no-untyped-def]
    engines, _ = seeded
    cent = Decimal("0.011")
    with engines.source.connect() as conn:
        rows = conn.execute(select(t.colocaciones)).all()
    for r in rows:
        assert abs(r.ComisionEstructuracionConIGV - r.MontoComisionEstructuracion * Decimal("1.18")) <= cent
        assert r.ComisionEstructuracionConIGV == r.MontoComisionEstructuracion + r.ComisionEstructuracionIGV
        assert abs(r.GastosDiversosConIGV - r.GastosDiversos * Decimal("1.18")) <= cent
        assert r.InteresConIGV == r.Interes + r.InteresIGV
        assert r.MontoCobrar == r.NetoConfirmado - r.FondoResguardo
        assert r.FondoResguardo <= r.NetoConfirmado * Decimal("0.21")
        assert 0 < r.MontoDesembolso < r.NetoConfirmado
        assert r.FechaConfirmado > r.FechaOperacion
        assert (r.FechaConfirmado - r.FechaOperacion).days == r.DiasEfectivo
        assert date(2019, 7, 1) <= r.FechaOperacion <= TODAY
    share = sum(r.FondoResguardo for r in rows) / sum(r.NetoConfirmado for r in rows)
    assert Decimal("0.07") < share < Decimal("0.13")


def test_exchange_rates_and_cash_balances_look_real(seeded) -> None:  # type: ignore[no-untyped-def]
    engines, _ = seeded
    with engines.source.connect() as conn:
        fx = conn.execute(select(t.tipo_cambio.c.TipoCambioFecha, t.tipo_cambio.c.TipoCambioCompra,
                                 t.tipo_cambio.c.TipoCambioVenta)).all()
        saldos = conn.execute(select(t.saldos_caja.c.FechaOperacion,
                                     t.saldos_caja.c.SaldoTotalCaja)).all()
    days = [date.fromisoformat(d) for d, _, _ in fx]
    assert min(days) == date(2019, 7, 1) and all(d.weekday() < 5 for d in days)
    assert all(Decimal("3.3") <= compra < venta <= Decimal("4.1") for _, compra, venta in fx)
    assert len(saldos) == (TODAY - date(2019, 7, 1)).days + 1
    assert len({d for d, _ in saldos}) == len(saldos)
    assert any(v < 0 for _, v in saldos)


def test_task_spec_names_the_generator_tables_in_the_same_order() -> None:
    # The task module lists the names without importing SQLAlchemy; the generator owns the
    # Table objects. They must stay the same, in the same order.
    import toolbox_cli.demo
    import toolbox_cli.jobs.demo

    assert [table.name for table in toolbox_cli.demo.SOURCE_TABLES] == list(
        toolbox_cli.jobs.demo.SOURCE_TABLES)


def test_ruc_check_digit_matches_real_rucs() -> None:
    # Published RUCs of two well-known Peruvian entities (a bank and the tax authority).
    assert ruc_with_check_digit("2010004721") == "20100047218"
    assert ruc_with_check_digit("2013131295") == "20131312955"


def test_demo_command_creates_schema_and_prints_counts(toolbox_env) -> None:  # type: ignore[no-untyped-def]
    from toolbox_cli.cli import app
    from toolbox_cli.cli.common import reset_settings

    reset_settings()
    result = CliRunner().invoke(app, ["demo", "--operations", "300", "--seed", "3", "--json"])
    reset_settings()
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["seed"] == 3
    assert data["rows"]["colocaciones"] == 300
    assert all(n > 0 for n in data["rows"].values())


def test_demo_command_rejects_zero_operations(toolbox_env) -> None:  # type: ignore[no-untyped-def]
    from toolbox_cli.cli import app

    result = CliRunner().invoke(app, ["demo", "--operations", "0"])
    assert result.exit_code == 2






def test_demo_refuses_to_replace_imported_rows_unless_forced(engines, cli):
    first = cli("demo", "--operations", "50")
    assert first.exit_code == 0, first.output
    again = cli("demo", "--operations", "60")  # only demo rows: fine
    assert again.exit_code == 0, again.output
    assert cli("import", "sectores", str(EXAMPLES / "sectores.csv")).exit_code == 0
    with engines.source.connect() as conn:
        sectors = conn.execute(select(src.sector_pagadores)).all()
    refused = cli("demo", "--operations", "50")
    assert refused.exit_code == EXIT_USAGE
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "sector_pagadores" in refused.stderr and "import:sectores" in refused.stderr
    assert "--force" in refused.stderr
    with engines.source.connect() as conn:
        assert conn.execute(select(src.sector_pagadores)).all() == sectors
    forced = cli("demo", "--operations", "50", "--force")
    assert forced.exit_code == 0, forced.output
    demos = [r for r in ledger.recent_runs(engines.datamart, task="demo")]
    assert [r.status for r in demos] == ["success", "failed", "success", "success"]
    assert demos[1].error_type == "Refused"


def test_demo_refuses_rows_it_never_wrote(engines, cli):
    with engines.source.begin() as conn:  # an ETL copy filled the operations table
        conn.execute(insert(src.colocaciones).values(IdLiquidacionDet=1, IdLiquidacionCab=1))
    refused = cli("demo", "--operations", "20")
    assert refused.exit_code == EXIT_USAGE and "colocaciones holds 1 rows" in refused.stderr


def _first(engines: Engines, table, key: str):  # type: ignore[no-untyped-def]
    with engines.source.connect() as conn:
        return conn.execute(select(func.min(table.c[key]))).scalar_one()


@pytest.mark.parametrize("change", ["amount", "swap", "text"])
def test_demo_knows_its_rows_by_content_not_by_count(engines, cli, change):
    """Issue 20, item 5: with every count as the last demo wrote it, an edited amount, one
    row swapped for another or an edited name still makes demo refuse without --force."""
    assert cli("demo", "--operations", "60").exit_code == 0
    pid = _first(engines, src.colocaciones_pagos, "IdLiquidacionPago")
    ruc = _first(engines, src.sector_pagadores, "RUCPagador")
    det = _first(engines, src.colocaciones, "IdLiquidacionDet")
    with engines.source.begin() as conn:
        if change == "amount":  # the example: an analyst corrected an amount
            conn.execute(src.colocaciones_pagos.update()
                         .where(src.colocaciones_pagos.c.IdLiquidacionPago == pid)
                         .values(MontoPago=src.colocaciones_pagos.c.MontoPago + 1))
        elif change == "swap":  # the example: one sector row replaced by another
            conn.execute(src.sector_pagadores.delete()
                         .where(src.sector_pagadores.c.RUCPagador == ruc))
            conn.execute(insert(src.sector_pagadores).values(
                RUCPagador="20999999990", Sector="Pesca", GrupoEco=None))
        else:  # another table, another column: a client's name retyped
            conn.execute(src.colocaciones.update()
                         .where(src.colocaciones.c.IdLiquidacionDet == det)
                         .values(RazonSocialCliente="OTRA SAC"))
    refused = cli("demo", "--operations", "60")
    assert refused.exit_code == EXIT_USAGE
    table = {"amount": "colocaciones_pagos", "swap": "sector_pagadores",
             "text": "colocaciones"}[change]
    assert f"{table} holds rows changed since the last demo" in refused.stderr
    assert cli("demo", "--operations", "60", "--force").exit_code == 0
    assert cli("demo", "--operations", "60").exit_code == 0  # its own rows: replaced freely
