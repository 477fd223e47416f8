"""New clients / payers (reportes.md §3.7 and §7.4, decisions.md 6 and 7), on Polars frames."""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any

import polars as pl

from toolbox_cli.compute.nuevos_clientes import (
    TIPOS,
    NewClients,
    month_list,
)

MONTHS_TO_2024_03 = month_list(date(2019, 7, 1), date(2024, 3, 31))


def nuevos_clientes(kpi: pl.DataFrame, months: list[str]) -> pl.DataFrame:
    """All new-client and new-payer rows of one ``kpi`` frame over ``months``."""
    tracker = NewClients(months)
    tracker.observe(kpi)
    return tracker.frame()

# The columns of a validated `kpi` frame that §3.7 reads, typed as the KPI step leaves them.
KPI_SCHEMA = {
    "FechaOperacion": pl.Datetime("us"), "Mes": pl.String, "Ejecutivo": pl.String,
    "TipoOperacion": pl.String, "RUCCliente": pl.String, "RUCPagador": pl.String,
    "RazonSocialCliente": pl.String, "RazonSocialPagador": pl.String,
    "CodigoLiquidacion": pl.String, "NroDocumento": pl.String,
}


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


def kpi(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=KPI_SCHEMA)


def run(rows: list[dict], months: list[str]) -> list[dict[str, Any]]:
    return nuevos_clientes(kpi(rows), months).to_dicts()


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
    out = nuevos_clientes(kpi(worked_example_kpi_rows()), MONTHS_TO_2024_03)
    rows = out.to_dicts()
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
    assert dict(out.schema) == {
        "FechaOperacion": pl.Datetime("us"), "Ejecutivo": pl.String, "RUCCliente": pl.String,
        "RUCPagador": pl.String, "TipoOperacion": pl.String, "RazonSocial": pl.String}


def test_worked_example_with_any_later_cutoff_and_any_row_order() -> None:
    base = as_set(run(worked_example_kpi_rows(), MONTHS_TO_2024_03))
    rows = worked_example_kpi_rows()
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        later = month_list(date(2019, 7, 1), date(2025, 1, 15))
        assert as_set(run(rows, later)) == base


def test_earliest_operation_of_the_month_wins_whatever_the_row_order() -> None:
    """decisions 6: two executives bring the same new client in the same month."""
    late = kpi_row(date(2024, 5, 20), "Rojas, Carlos", "Factoring", "20100000001", "20200000002",
                   codigo="LIQ2405000001")
    early = kpi_row(date(2024, 5, 6), "Perez, Ana", "Factoring", "20100000001", "20200000002",
                    codigo="LIQ2405000009")
    for rows in ([late, early], [early, late]):
        out = run(rows, ["2024-05"])
        assert {(r["Ejecutivo"], r["RUCCliente"], r["RUCPagador"]) for r in out} == {
            ("Perez, Ana", "20100000001", None), ("Perez, Ana", None, "20200000002")}


def test_same_day_ties_break_on_codigo_then_nro_documento() -> None:
    day = date(2024, 5, 6)
    by_code_b = kpi_row(day, "Rojas, Carlos", "Factoring", "20100000001", "20200000002",
                        codigo="LIQ2405000002", nro="E001-1")
    by_code_a = kpi_row(day, "Perez, Ana", "Factoring", "20100000001", "20200000002",
                        codigo="LIQ2405000001", nro="E001-9")
    for rows in ([by_code_b, by_code_a], [by_code_a, by_code_b]):
        assert {r["Ejecutivo"] for r in run(rows, ["2024-05"])} == {"Perez, Ana"}

    same_code_2 = kpi_row(day, "Perez, Ana", "Factoring", "20100000001", "20200000002",
                          codigo="LIQ2405000001", nro="E001-2")
    same_code_1 = kpi_row(day, "Rojas, Carlos", "Factoring", "20100000001", "20200000002",
                          codigo="LIQ2405000001", nro="E001-1")
    for rows in ([same_code_2, same_code_1], [same_code_1, same_code_2]):
        assert {r["Ejecutivo"] for r in run(rows, ["2024-05"])} == {"Rojas, Carlos"}


def test_walk_order_follows_each_executives_first_row_of_the_month() -> None:
    """As in the legacy walk, the executive who comes first in the month examines all their
    rows first; only that order is now defined by dates instead of row order."""
    rows = [
        kpi_row(date(2024, 5, 2), "Rojas, Carlos", "Factoring", "20100000009", "20200000009"),
        kpi_row(date(2024, 5, 3), "Perez, Ana", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2024, 5, 25), "Rojas, Carlos", "Factoring", "20100000001", "20200000002"),
    ]
    out = run(rows, ["2024-05"])
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
        out = run(rows, months)
        assert {(r["FechaOperacion"], r["RazonSocial"]) for r in out} == {
            (datetime(2023, 1, 1), "ANDINA S.A.C."), (datetime(2023, 1, 1), "MINERA DEL SUR S.A.")}
    # Also when the most recent operation arrives in a later chunk, or an earlier one.
    for chunks in ([[old], [new]], [[new], [old]]):
        tracker = NewClients(months)
        for chunk in chunks:
            tracker.observe(kpi(chunk))
        assert set(tracker.frame()["RazonSocial"].to_list()) == {"ANDINA S.A.C.",
                                                                 "MINERA DEL SUR S.A."}


def test_a_client_is_new_only_through_factoring_and_payers_are_shared_by_types() -> None:
    rows = [
        kpi_row(date(2024, 1, 5), "Perez, Ana", "Confirming", "20100000001", "20200000002"),
        kpi_row(date(2024, 2, 5), "Rojas, Carlos", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2024, 3, 5), "Rojas, Carlos", "Capital de Trabajo", "20100000003",
                "20200000004"),
    ]
    out = run(rows, month_list(date(2024, 1, 1), date(2024, 3, 31)))
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
    out = run(rows, ["2024-01"])
    payer_rows = [r for r in out if r["RUCPagador"]]
    assert [(r["RUCPagador"], r["TipoOperacion"]) for r in payer_rows] == [
        ("20200000002", "Factoring")]


def test_first_month_lists_everyone() -> None:
    """'New' means first appearance since 2019-07: the first month credits every RUC."""
    rows = [
        kpi_row(date(2019, 7, 2), "Perez, Ana", "Factoring", "20100000001", "20200000001"),
        kpi_row(date(2019, 7, 3), "Rojas, Carlos", "Factoring", "20100000002", "20200000002"),
        kpi_row(date(2019, 7, 4), "Rojas, Carlos", "Confirming", "20100000003", "20200000003"),
        kpi_row(date(2019, 8, 5), "Perez, Ana", "Factoring", "20100000001", "20200000002"),
    ]
    out = run(rows, month_list(date(2019, 7, 1), date(2019, 8, 31)))
    assert {r["FechaOperacion"] for r in out} == {datetime(2019, 7, 1)}
    assert {r["RUCCliente"] for r in out} - {None} == {"20100000001", "20100000002"}
    assert {r["RUCPagador"] for r in out} - {None} == {"20200000001", "20200000002",
                                                       "20200000003"}


def test_rows_outside_the_months_or_of_unknown_type_are_ignored() -> None:
    rows = [
        # An off-system row dated before 2019-07 (reportes §6.23): not in the month list.
        kpi_row(date(2019, 5, 6), "Perez, Ana", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2019, 8, 6), "Rojas, Carlos", "Factoring", "20100000001", "20200000002"),
        kpi_row(date(2019, 8, 7), "Rojas, Carlos", "Leasing", "20100000005", "20200000006"),
    ]
    tracker = NewClients(month_list(date(2019, 7, 1), date(2019, 9, 30)))
    for row in rows:  # one chunk per row
        tracker.observe(kpi([row]))
    out = tracker.frame().to_dicts()
    assert {(r["FechaOperacion"], r["Ejecutivo"]) for r in out} == {
        (datetime(2019, 8, 1), "Rojas, Carlos")}
    assert len(out) == 2
    assert tracker.ignored_rows == 2


def test_no_kpi_rows_give_no_output() -> None:
    out = nuevos_clientes(kpi([]), MONTHS_TO_2024_03)
    assert out.to_dicts() == [] and out.columns == [
        "FechaOperacion", "Ejecutivo", "RUCCliente", "RUCPagador", "TipoOperacion", "RazonSocial"]
    tracker = NewClients(MONTHS_TO_2024_03)
    tracker.observe(kpi([]))
    assert tracker.frame().height == 0


def test_month_list_holds_every_month_of_the_range_both_ends_included() -> None:
    assert month_list(date(2019, 7, 1), date(2019, 7, 31)) == ["2019-07"]
    assert month_list(date(2019, 11, 15), date(2020, 2, 1)) == [
        "2019-11", "2019-12", "2020-01", "2020-02"]
    assert month_list(date(2020, 2, 1), date(2019, 11, 1)) == []
    assert len(MONTHS_TO_2024_03) == 57


# ---------------------------------------------------------------- any chunking, any order


def reference(rows: list[dict], months: list[str]) -> list[dict[str, Any]]:
    """§3.7's walk written out plainly, with decisions 6 (executives by their earliest
    (FechaOperacion, CodigoLiquidacion, NroDocumento) of the month) and 7 (names of the most
    recent operation); RUCs within an (executive, type) in ascending order."""
    def key(r: dict) -> tuple:
        return (r["FechaOperacion"], r["CodigoLiquidacion"], r["NroDocumento"])

    names: dict[tuple[str, str], tuple[tuple, str]] = {}
    for r in rows:
        for kind, ruc, name in (("c", r["RUCCliente"], r["RazonSocialCliente"]),
                                ("p", r["RUCPagador"], r["RazonSocialPagador"])):
            if ruc and name and ((kind, ruc) not in names or key(r) >= names[(kind, ruc)][0]):
                names[(kind, ruc)] = (key(r), name)
    seen: dict[str, set[str]] = {"c": set(), "p": set()}
    out = []
    for month in months:
        rows_m = [r for r in rows if r["Mes"] == month]
        first = {}
        for r in rows_m:
            first[r["Ejecutivo"]] = min(first.get(r["Ejecutivo"], key(r)), key(r))
        for ejecutivo in sorted(first, key=lambda e: (first[e], e)):
            for tipo in TIPOS:
                mine = [r for r in rows_m if r["Ejecutivo"] == ejecutivo
                        and r["TipoOperacion"] == tipo]
                kinds = (("c", "RUCCliente"), ("p", "RUCPagador")) if tipo == "Factoring" \
                    else (("p", "RUCPagador"),)
                for kind, column in kinds:
                    for ruc in sorted({r[column] for r in mine} - seen[kind]):
                        seen[kind].add(ruc)
                        out.append({
                            "FechaOperacion": datetime(int(month[:4]), int(month[5:]), 1),
                            "Ejecutivo": ejecutivo,
                            "RUCCliente": ruc if kind == "c" else None,
                            "RUCPagador": ruc if kind == "p" else None,
                            "TipoOperacion": tipo,
                            "RazonSocial": names[(kind, ruc)][1],
                        })
    return out


def random_rows(rng: random.Random, count: int) -> list[dict]:
    """KPI rows over a few months (and one before the month list), three executives, the
    three types and an unknown one, few RUCs with two names each; keys are unique."""
    days = [date(2019, 5, 20), date(2024, 1, 3), date(2024, 1, 17), date(2024, 2, 1),
            date(2024, 2, 28), date(2024, 3, 9), date(2024, 3, 9)]
    rows = []
    for i in range(count):
        cliente, pagador = f"2010000000{rng.randrange(6)}", f"2020000000{rng.randrange(6)}"
        rows.append(kpi_row(
            rng.choice(days), rng.choice(["Perez, Ana", "Rojas, Carlos", "Diaz, Luz"]),
            rng.choice([*TIPOS, "Factoring", "Leasing"]), cliente, pagador,
            codigo=f"LIQ{rng.randrange(4)}", nro=f"E001-{i}",
            nombre_cliente=f"CLIENTE {cliente[-1]}{rng.choice('AB')}",
            nombre_pagador=f"PAGADOR {pagador[-1]}{rng.choice('AB')}"))
    return rows


def test_any_chunking_and_any_row_order_give_the_same_rows() -> None:
    months = month_list(date(2019, 7, 1), date(2024, 3, 31))
    for seed in range(25):
        rng = random.Random(seed)
        rows = random_rows(rng, rng.randrange(1, 60))
        expected = reference(rows, months)
        assert run(rows, months) == expected, seed
        shuffled = rows[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(shuffled) + 1), rng.randrange(len(shuffled)) + 1))
        tracker = NewClients(months)
        start = 0
        for cut in cuts:
            tracker.observe(kpi(shuffled[start:cut]))
            start = cut
        tracker.observe(kpi(shuffled[start:]))  # the rest; empty when the last cut is the end
        assert tracker.frame().to_dicts() == expected, seed
        assert tracker.ignored_rows == sum(
            r["Mes"] not in months or r["TipoOperacion"] not in TIPOS for r in rows), seed
