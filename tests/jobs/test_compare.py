"""``toolbox compare`` against a second database holding a copy of the toolbox's tables with
planted differences (issue 22, item 1): it finds exactly those, on SQLite and MariaDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, delete, insert, select, text, update
from sqlalchemy.engine import Engine

from tests.support.runs import run_on_demo
from toolbox_cli.settings import Settings, load_settings
from toolbox_cli.storage.engine import Engines, init_schema, open_engines
from toolbox_cli.storage.tables.cxc import cxc_pagos_fact
from toolbox_cli.storage.tables.reportes import kpi, nuevos_clientes_nuevos_pagadores, saldos

TABLES = (kpi, nuevos_clientes_nuevos_pagadores, cxc_pagos_fact)


def _copy(source: Engine, target: Engine, table: Table, name: str | None = None) -> None:
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table))]
    target_table = table if name is None else table.to_metadata(
        MetaData(), name=name)
    with target.begin() as conn:
        conn.execute(delete(target_table))
        if rows:
            conn.execute(insert(target_table), rows)


@pytest.fixture
def other(demo: Engines, toolbox_env: Settings, other_db_url: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Engines]:
    """The toolbox's database after ``tablas-reportes`` and ``tablas-cxc`` on the demo
    book, and a second database with an exact copy of kpi, nuevos_clientes_nuevos_pagadores
    and cxc_pagos_fact."""
    assert run_on_demo(toolbox_env, demo, "tablas-reportes").status == "success"
    assert run_on_demo(toolbox_env, demo, "tablas-cxc").status == "success"
    monkeypatch.setenv("TOOLBOX_DATABASE_URL", other_db_url)
    engines = open_engines(load_settings(), create=True)
    monkeypatch.setenv("TOOLBOX_DATABASE_URL", toolbox_env.database_url or "")
    init_schema(engines)
    for table in TABLES:
        _copy(demo.datamart, engines.datamart, table)
    try:
        yield engines
    finally:
        engines.dispose()


def _keys(engine: Engine, n: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(kpi.c.id, kpi.c.CodigoLiquidacion, kpi.c.NroDocumento,
                                   kpi.c.CodigoSolicitud)
                            .where(kpi.c.CodigoSolicitud.is_not(None), kpi.c.CodigoSolicitud != "")
                            .order_by(kpi.c.id).limit(n)).all()
    return [dict(r._mapping) for r in rows]


def _plant(other: Engines) -> dict[str, dict[str, Any]]:
    """The six planted differences of the issue, each on its own kpi row."""
    a, b, c, d, e, f = _keys(other.datamart, 6)
    with other.datamart.begin() as conn:
        conn.execute(update(kpi).where(kpi.c.id == a["id"])
                     .values(NetoConfirmado=kpi.c.NetoConfirmado + 0.02))  # a cent beyond 0.01
        conn.execute(update(kpi).where(kpi.c.id == b["id"])
                     .values(MontoDesembolso=kpi.c.MontoDesembolso + 0.01))  # at 0.01: within
        conn.execute(delete(kpi).where(kpi.c.id == c["id"]))  # missing there
        row = dict(conn.execute(select(kpi).where(kpi.c.id == d["id"])).one()._mapping)
        row.pop("id")
        row["NroDocumento"] = "EXTRA-0001"
        conn.execute(insert(kpi), [row])  # extra there
        conn.execute(update(kpi).where(kpi.c.id == e["id"]).values(CodigoSolicitud=None))
        conn.execute(update(kpi).where(kpi.c.id == f["id"])
                     .values(Ejecutivo=text("UPPER(Ejecutivo)")))
    return {"beyond": a, "within": b, "missing": c, "extra": {**d, "NroDocumento": "EXTRA-0001"},
            "null": e, "case": f}


def _key(row: dict[str, Any]) -> dict[str, Any]:
    return {"CodigoLiquidacion": row["CodigoLiquidacion"], "NroDocumento": row["NroDocumento"]}


def _compare(cli: Any, other: Engines, *args: str) -> tuple[int, dict[str, Any]]:
    url = other.datamart.url.render_as_string(hide_password=False)
    result = cli("compare", "--against", url, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_an_exact_copy_is_equal_and_exits_0(cli: Any, other: Engines) -> None:
    code, data = _compare(cli, other, "-t", "kpi", "-t", "nuevos_clientes_nuevos_pagadores")
    assert code == 0, data
    kpi_result, nuevos = data["tables"]
    assert kpi_result["equal"] and kpi_result["matched"] == kpi_result["rows_left"] > 0
    # Its key has a NULL in every row (RUCCliente or RUCPagador): NULL matches NULL.
    assert nuevos["matched"] == nuevos["rows_left"] == nuevos["rows_right"] > 0
    assert nuevos["only_left"] == nuevos["only_right"] == 0


def test_finds_exactly_the_planted_differences(cli: Any, other: Engines) -> None:
    planted = _plant(other)
    code, data = _compare(cli, other, "-t", "kpi", "--tolerance", "0.01")
    assert code == 1
    (result,) = data["tables"]
    assert result["only_left"] == 1 and result["only_left_examples"] == [_key(planted["missing"])]
    assert result["only_right"] == 1 and result["only_right_examples"] == [_key(planted["extra"])]
    differing = {name: col for name, col in result["columns"].items() if col["differing"]}
    assert set(differing) == {"NetoConfirmado", "CodigoSolicitud", "Ejecutivo"}
    assert all(col["differing"] == 1 for col in differing.values())
    assert [x["key"] for x in differing["NetoConfirmado"]["examples"]] == [_key(planted["beyond"])]
    example = differing["NetoConfirmado"]["examples"][0]
    assert round(example["right"] - example["left"], 2) == 0.02
    null = differing["CodigoSolicitud"]["examples"][0]
    assert null["key"] == _key(planted["null"]) and null["right"] is None
    assert null["left"] == planted["null"]["CodigoSolicitud"]
    case = differing["Ejecutivo"]["examples"][0]
    assert case["key"] == _key(planted["case"]) and case["right"] == case["left"].upper() \
        and case["right"] != case["left"]
    assert result["matched"] == result["rows_left"] - 1 == result["rows_right"] - 1


def test_without_tolerance_a_cent_is_a_difference(cli: Any, other: Engines) -> None:
    planted = _plant(other)
    _, data = _compare(cli, other, "-t", "kpi")
    columns = data["tables"][0]["columns"]
    assert columns["MontoDesembolso"]["differing"] == 1
    assert columns["MontoDesembolso"]["examples"][0]["key"] == _key(planted["within"])


@pytest.mark.parametrize(("step", "differs"), [(0.004, False), (0.0049, False), (0.005, True),
                                              (0.006, True)])
def test_amounts_are_compared_on_their_stored_two_places(cli: Any, other: Engines, step: float,
                                                         differs: bool) -> None:
    """A DECIMAL(18, 2) holds up to 0.0049 more as the same cents, from 0.005 more as one
    cent more, half away from zero (SQLite stores the float as given: the comparison rounds
    it as MariaDB does)."""
    (row,) = _keys(other.datamart, 1)
    with other.datamart.begin() as conn:
        conn.execute(update(kpi).where(kpi.c.id == row["id"])
                     .values(NetoConfirmado=kpi.c.NetoConfirmado + step))
    code, data = _compare(cli, other, "-t", "kpi")
    assert code == (1 if differs else 0)
    assert data["tables"][0]["columns"]["NetoConfirmado"]["differing"] == int(differs)


def test_the_legacy_name_on_the_other_side(cli: Any, other: Engines) -> None:
    """The legacy's datamart has CXCPagosFact, not cxc_pagos_fact (decision 24)."""
    with other.datamart.begin() as conn:
        conn.exec_driver_sql("DROP VIEW IF EXISTS CXCPagosFact")
    other_pagos = cxc_pagos_fact.to_metadata(MetaData(),
                                             name="CXCPagosFact")
    other_pagos.create(other.datamart)
    _copy(other.datamart, other.datamart, cxc_pagos_fact, name="CXCPagosFact")
    cxc_pagos_fact.drop(other.datamart)  # only the legacy's name is there
    for name in ("CXCPagosFact", "cxc_pagos_fact"):
        code, data = _compare(cli, other, "-t", name)
        assert code == 0, data
        (result,) = data["tables"]
        assert (result["table"], result["against_table"]) == ("cxc_pagos_fact", "CXCPagosFact")
        assert result["matched"] == result["rows_left"] > 0


def test_a_table_missing_on_the_other_side_is_said_and_exits_1(cli: Any, other: Engines) -> None:
    saldos.drop(other.datamart)
    code, data = _compare(cli, other, "-t", "saldos", "-t", "kpi")
    assert code == 1
    saldos_result, kpi_result = data["tables"]
    assert saldos_result == {"table": "saldos", "equal": False,
                             "not_compared": "the other database has no table saldos"}
    assert kpi_result["equal"]


@pytest.mark.parametrize(("args", "says"), [
    (["-t", "kpis"], "no table 'kpis' to compare (did you mean kpi?); choose from"),
    (["--tolerance", "-1"], "--tolerance"),
])
def test_bad_input_exits_2_with_the_choices(cli: Any, other: Engines, args: list[str],
                                            says: str) -> None:
    url = other.datamart.url.render_as_string(hide_password=False)
    result = cli("compare", "--against", url, *args)
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())


def test_without_a_database_to_compare_with(cli: Any, other: Engines, tmp_path: Any) -> None:
    result = cli("compare")
    assert result.exit_code == 2
    assert "say which database to compare with: --against URL" in result.output
    result = cli("compare", "--against", f"sqlite:///{tmp_path / 'nowhere.db'}")
    assert result.exit_code == 2
    assert f"--against: no SQLite file at {tmp_path / 'nowhere.db'}" in \
        " ".join(result.output.split())
