"""New clients / payers (reportes.md §3.7 and §7.4, decisions.md 6 and 7), pure function."""

from __future__ import annotations

import random
from datetime import date, datetime

from toolbox_cli.compute.nuevos_clientes import (
    NewClientsTracker,
    month_list,
    nuevos_clientes,
)

MONTHS_TO_2024_03 = month_list(date(2019, 7, 1), date(2024, 3, 31))


def kpi_row(day: date, ejecutivo: str, tipo: str, cliente: str, pagador: str, *,
            codigo: str = "LIQ1", nro: str = "E001-1", nombre_cliente: str = "CLIENTE",
            nombre_pagador: str = "PAGADOR") -> dict:
    """The fields of a validated `kpi` row that §3.7 reads."""
    return {
        "FechaOperacion": datetime(day.year, day.month, day.day),
        "Mes": f"{day.year:04d}-{day.month:02d}",
        "Ejecutivo": ejecutivo,
        "TipoOperacion": tipo,
        "RUCCliente": cliente,
        "RUCPagador": pagador,
        "RazonSocialCliente": nombre_cliente,
        "RazonSocialPagador": nombre_pagador,
        "CodigoLiquidacion": codigo,
        "NroDocumento": nro,
    }


def worked_example_kpi_rows() -> list[dict]:
    """Rows A, B, C of reportes.md §7 as the KPI step leaves them (§7.2)."""
    return [
        kpi_row(date(2024, 3, 4), "Perez, Ana", "Factoring", "20111111111", "20222222222",
                codigo="LIQ2403000101", nro="E001-123", nombre_cliente="CLIENTE UNO SAC",
                nombre_pagador="PAGADOR DOS SA"),
        kpi_row(date(2024, 3, 12), "Rojas, Carlos", "Confirming", "20555555555", "20444444444",
                codigo="LIQ2403000102-001", nro="F002-456", nombre_cliente="CLIENTE CINCO SAC",
                nombre_pagador="PAGADOR CUATRO SA"),
        kpi_row(date(2024, 3, 20), "Perez, Ana", "Factoring", "20333333333", "20222222222",
                codigo="LIQ099-2024", nro="E001-9", nombre_cliente="CLIENTE TRES SAC",
                nombre_pagador="PAGADOR DOS SA"),
    ]


def as_set(rows: list[dict]) -> set[tuple]:
    return {(r["FechaOperacion"], r["Ejecutivo"], r["RUCCliente"], r["RUCPagador"],
             r["TipoOperacion"], r["RazonSocial"]) for r in rows}


def test_worked_example_7_4() -> None:
    rows = nuevos_clientes(worked_example_kpi_rows(), MONTHS_TO_2024_03)
    march = datetime(2024, 3, 1)
    assert as_set(rows) == {
        (march, "Perez, Ana", "20111111111", None, "Factoring", "CLIENTE UNO SAC"),
        (march, "Perez, Ana", "20333333333", None, "Factoring", "CLIENTE TRES SAC"),
        (march, "Perez, Ana", None, "20222222222", "Factoring", "PAGADOR DOS SA"),
        (march, "Rojas, Carlos", None, "20444444444", "Confirming", "PAGADOR CUATRO SA"),
    }
    assert len(rows) == 4
    # Executives in walk order: Perez (row A, 4 March) before Rojas (12 March).
    assert [r["Ejecutivo"] for r in rows] == ["Perez, Ana"] * 3 + ["Rojas, Carlos"]
    assert all((r["RUCCliente"] is None) != (r["RUCPagador"] is None) for r in rows)


def test_worked_example_with_any_later_cutoff_and_any_row_order() -> None:
    base = as_set(nuevos_clientes(worked_example_kpi_rows(), MONTHS_TO_2024_03))
    rows = worked_example_kpi_rows()
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        later = month_list(date(2019, 7, 1), date(2025, 1, 15))
        assert as_set(nuevos_clientes(rows, later)) == base


def test_earliest_operation_of_the_month_wins_whatever_the_row_order() -> None:
    """decisions 6: two executives bring the same new client in the same month."""
    late = kpi_row(date(2024, 5, 20), "Rojas, Carlos", "Factoring", "20100000001", "20200000002",
                   codigo="LIQ2405000001")
    early = kpi_row(date(2024, 5, 6), "Perez, Ana", "Factoring", "20100000001", "20200000002",
                    codigo="LIQ2405000009")
    for rows in ([late, early], [early, late]):
        out = nuevos_clientes(rows, ["2024-05"])
        assert {(r["Ejecutivo"], r["RUCCliente"], r["RUCPagador"]) for r in out} == {
            ("Perez, Ana", "20100000001", None), ("Perez, Ana", None, "20200000002")}


def test_same_day_ties_break_on_codigo_then_nro_documento() -> None:
    day = date(2024, 5, 6)
    by_code_b = kpi_row(day, "Rojas, Carlos", "Factoring", "20100000001", "20200000002",
                        codigo="LIQ2405000002", nro="E001-1")
    by_code_a = kpi_row(day, "Perez, Ana", "Factoring", "20100000001", "20200000002",
                        codigo="LIQ2405000001", nro="E001-9")
    winners = {r["Ejecutivo"] for r in nuevos_clientes([by_code_b, by_code_a], ["2024-05"])}
    assert winners == {"Perez, Ana"}

    same_code_2 = kpi_row(day, "Perez, Ana", "Factoring", "20100000001", "20200000002",
                          codigo="LIQ2405000001", nro="E001-2")
    same_code_1 = kpi_row(day, "Rojas, Carlos", "Factoring", "20100000001", "20200000002",
                          codigo="LIQ2405000001", nro="E001-1")
    winners = {r["Ejecutivo"] for r in nuevos_clientes([same_code_2, same_code_1], ["2024-05"])}
    assert winners == {"Rojas, Carlos"}


def test_walk_order_follows_each_executives_first_row_of_the_month() -> None:
    """As in the legacy walk, the executive who comes first in the month examines all their
    rows first; only that order is now defined by dates instead of row order."""
    rows = [
        kpi_row(date(2024, 5, 2), "Rojas, Carlos", "Factoring", "20100000009", "20200000009"),
        kpi_row(date(2024, 5, 3), "Perez, Ana", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2024, 5, 25), "Rojas, Carlos", "Factoring", "20100000001", "20200000002"),
    ]
    out = nuevos_clientes(rows, ["2024-05"])
    credited = {(r["RUCCliente"] or r["RUCPagador"]): r["Ejecutivo"] for r in out}
    assert credited == {"20100000009": "Rojas, Carlos", "20200000009": "Rojas, Carlos",
                        "20100000001": "Rojas, Carlos", "20200000002": "Rojas, Carlos"}


def test_legal_name_comes_from_the_most_recent_operation() -> None:
    """decisions 7, whatever the row order and even when the credit month is earlier."""
    old = kpi_row(date(2023, 1, 10), "Perez, Ana", "Factoring", "20100000001", "20200000002",
                  nombre_cliente="ANDINA SAC", nombre_pagador="MINERA SUR S.A.")
    new = kpi_row(date(2024, 2, 10), "Perez, Ana", "Factoring", "20100000001", "20200000002",
                  nombre_cliente="ANDINA S.A.C.", nombre_pagador="MINERA DEL SUR S.A.")
    months = month_list(date(2019, 7, 1), date(2024, 3, 1))
    for rows in ([old, new], [new, old]):
        out = nuevos_clientes(rows, months)
        assert {(r["FechaOperacion"], r["RazonSocial"]) for r in out} == {
            (datetime(2023, 1, 1), "ANDINA S.A.C."), (datetime(2023, 1, 1), "MINERA DEL SUR S.A.")}


def test_a_client_is_new_only_through_factoring_and_payers_are_shared_by_types() -> None:
    rows = [
        kpi_row(date(2024, 1, 5), "Perez, Ana", "Confirming", "20100000001", "20200000002"),
        kpi_row(date(2024, 2, 5), "Rojas, Carlos", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2024, 3, 5), "Rojas, Carlos", "Capital de Trabajo", "20100000003",
                "20200000004"),
    ]
    out = nuevos_clientes(rows, month_list(date(2024, 1, 1), date(2024, 3, 31)))
    assert as_set(out) == {
        (datetime(2024, 1, 1), "Perez, Ana", None, "20200000002", "Confirming", "PAGADOR"),
        (datetime(2024, 2, 1), "Rojas, Carlos", "20100000001", None, "Factoring", "CLIENTE"),
        (datetime(2024, 3, 1), "Rojas, Carlos", None, "20200000004", "Capital de Trabajo",
         "PAGADOR"),
    }


def test_factoring_is_examined_before_confirming_within_an_executive() -> None:
    rows = [
        kpi_row(date(2024, 1, 5), "Perez, Ana", "Confirming", "20100000001", "20200000002"),
        kpi_row(date(2024, 1, 9), "Perez, Ana", "Factoring", "20100000003", "20200000002"),
    ]
    out = nuevos_clientes(rows, ["2024-01"])
    payer_rows = [r for r in out if r["RUCPagador"]]
    assert [(r["RUCPagador"], r["TipoOperacion"]) for r in payer_rows] == [
        ("20200000002", "Factoring")]


def test_rows_outside_the_months_or_of_unknown_type_are_ignored() -> None:
    rows = [
        # An off-system row dated before 2019-07 (reportes §6.23): not in the month list.
        kpi_row(date(2019, 5, 6), "Perez, Ana", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2019, 8, 6), "Rojas, Carlos", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2019, 8, 7), "Rojas, Carlos", "Leasing", "20100000005", "20200000006"),
    ]
    tracker = NewClientsTracker(month_list(date(2019, 7, 1), date(2019, 9, 30)))
    for row in rows:
        tracker.observe(row)
    out = list(tracker.rows())
    assert {(r["FechaOperacion"], r["Ejecutivo"]) for r in out} == {
        (datetime(2019, 8, 1), "Rojas, Carlos")}
    assert len(out) == 2
    assert tracker.ignored_rows == 2


def test_no_kpi_rows_give_no_output() -> None:
    assert nuevos_clientes([], MONTHS_TO_2024_03) == []


def test_month_list() -> None:
    assert month_list(date(2019, 7, 1), date(2019, 7, 31)) == ["2019-07"]
    assert month_list(date(2019, 11, 15), date(2020, 2, 1)) == [
        "2019-11", "2019-12", "2020-01", "2020-02"]
    assert month_list(date(2020, 2, 1), date(2019, 11, 1)) == []
    assert len(MONTHS_TO_2024_03) == 57
