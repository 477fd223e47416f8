"""Pure CXC functions (Polars frames) against the worked example of cxc.md §7 and its variants.

The example's data is in ``tests/support/cxc_example.py`` (raw, as the legacy webservice
sent it, plus a converter to the native values the source database holds), shared with
``jobs/test_tablas_cxc.py``.
The frame functions read a typed column with a vectorised fast path and a column that
arrived as text cell by cell with the rules of ``cells``: both forms give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
import pytest

from tests.support.cxc_example import (
    CODIGOS,
    DEV_FACT_COLUMNS,
    DEVOLUCION_RAW,
    DIM_COLUMNS,
    EXPECTED_DEV_FACT,
    EXPECTED_DIM,
    EXPECTED_PAGOS_FACT,
    FECHA_CORTE,
    PAGO_D1_SEGUNDO,
    PAGO_D2_MINUSCULAS,
    PAGOS_FACT_COLUMNS,
    RATES,
    SECTORES,
    SUM_SALDO_TOTAL_PEN,
    documento,
    documentos_raw,
    native_devolucion,
    native_documento,
    native_pago,
    native_rate,
    pago,
    pagos_raw,
)
from toolbox_cli.compute import cells, cxc, cxc_fields, payments
from toolbox_cli.compute.cells import CoercionLog, RowError
from toolbox_cli.compute.payments import COUNT, current_entry
from toolbox_cli.errors import InputError, TaskFailed

# ================================================================ helpers

W_PAGO = "colocaciones_pagos IdLiquidacionPago=7"  # a row's name, for the scalar cell rules


def money(value: Any) -> Decimal:
    """What the writer stores: half-up to cents (of a float's shortest decimal text)."""
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def raw_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows as the legacy webservice sent them: a column holding any string arrives as text
    (its other values written out with ``str``), any other column as Polars infers it."""
    rows = list(rows)
    columns = []
    for name in rows[0]:
        values = [row.get(name) for row in rows]
        if any(isinstance(v, str) for v in values):
            columns.append(pl.Series(name, [None if v is None else str(v) for v in values],
                                     dtype=pl.String))
        else:
            columns.append(pl.Series(name, [_plain(v) for v in values], strict=False))
    return pl.DataFrame(columns)


def native_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows as the source database holds them, typed as its readers type them (DECIMAL as
    float)."""
    return pl.DataFrame([{k: _plain(v) for k, v in row.items()} for row in rows],
                        infer_schema_length=None)


def frame(rows: Iterable[Mapping[str, Any]], form: str = "raw",
          columns: Iterable[str] = ()) -> pl.DataFrame:
    rows = list(rows)
    if not rows:
        return pl.DataFrame({name: [] for name in columns})
    return raw_frame(rows) if form == "raw" else native_frame(rows)


def docs_frame(docs: Iterable[Mapping[str, Any]], form: str = "raw",
               log: CoercionLog | None = None) -> pl.DataFrame:
    return cxc_fields.documents(frame(docs, form, cxc_fields.DOCUMENT_COLUMNS), log)


def pagos_frame(pagos: Iterable[Mapping[str, Any]], form: str = "raw",
                log: CoercionLog | None = None) -> pl.DataFrame:
    return cxc_fields.pagos_fact(frame(pagos, form, cxc_fields.PAGO_COLUMNS), log)


def dev_frame(devs: Iterable[Mapping[str, Any]], form: str = "raw",
              log: CoercionLog | None = None) -> pl.DataFrame:
    return cxc_fields.dev_fact(frame(devs, form, payments.DEVOLUCION_COLUMNS), log)


def dim(docs: Iterable[Mapping[str, Any]], pagos: Iterable[Mapping[str, Any]],
        run: cxc.AcumuladoInputs, form: str = "raw", *, log: CoercionLog | None = None,
        stats: cxc.AcumuladoStats | None = None) -> list[dict[str, Any]]:
    """Source rows → ``cxc_acumulado_dim`` rows, through the frame functions the task uses."""
    return cxc.acumulado(docs_frame(docs, form, log), pagos_frame(pagos, form), run,
                         stats=stats).to_dicts()


def sectors_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={"RUCPagador": pl.String, "Sector": pl.String,
                                            "GrupoEco": pl.String})


def inputs(fecha_corte: date = FECHA_CORTE, rates: list[dict[str, Any]] | None = None,
           sectores: list[dict[str, Any]] | None = None,
           codigos: list[dict[str, Any]] | None = None) -> cxc.AcumuladoInputs:
    return cxc.AcumuladoInputs(
        fecha_corte=fecha_corte,
        rate=cxc.pick_run_rate(RATES if rates is None else rates, fecha_corte),
        codes=cxc.build_code_lists(CODIGOS if codigos is None else codigos),
        sectors=cxc.sector_catalogue(sectors_frame(SECTORES if sectores is None else sectores)),
    )


def dim_by_det(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["IdLiquidacionDet"]: r for r in rows}


def derived(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(money(row[c]) if c.startswith("Saldo") else row[c] for c in DIM_COLUMNS)


def expected(det: int) -> tuple[Any, ...]:
    values = EXPECTED_DIM[det]
    return (Decimal(values[0]), Decimal(values[1])) + values[2:]


@pytest.fixture(params=["raw", "native"])
def source_form(request: pytest.FixtureRequest) -> str:
    """The same example as the legacy's strings and as the database's native values."""
    return request.param


def example(form: str, extra_pagos: list[dict[str, Any]] = ()) -> tuple[list, list]:  # type: ignore[assignment]
    docs, pagos = documentos_raw(), pagos_raw() + list(extra_pagos)
    if form == "native":
        docs = [native_documento(d) for d in docs]
        pagos = [native_pago(p) for p in pagos]
    return docs, pagos


# ================================================================ worked example

def test_run_rate_is_latest_on_or_before_cutoff_whatever_the_row_order() -> None:
    rate = cxc.pick_run_rate(RATES, FECHA_CORTE)
    assert (rate.venta, rate.fecha, rate.age_days(FECHA_CORTE)) == (
        pytest.approx(3.66, abs=1e-9), date(2025, 3, 14), 1)
    assert isinstance(rate.venta, float)
    assert cxc.pick_run_rate(RATES, date(2025, 3, 13)).venta == pytest.approx(3.65, abs=1e-9)
    assert cxc.pick_run_rate(list(reversed(RATES)), FECHA_CORTE) == rate
    assert cxc.pick_run_rate([native_rate(r) for r in RATES], FECHA_CORTE) == rate  # DECIMAL


def test_sector_catalogue_is_trimmed() -> None:
    assert cxc.sector_catalogue(sectors_frame(SECTORES)).to_dicts() == [
        {"_ruc": "20100000001", "Sector": "CONSTRUCCION", "GrupoEco": "GRUPO ALFA"}]


def test_sector_catalogue_cleans_rucs_blank_groups_and_first_wins() -> None:
    catalogue = cxc.sector_catalogue(sectors_frame([
        {"RUCPagador": "20:1000 00002", "Sector": "MINERIA ", "GrupoEco": None},
        {"RUCPagador": "20100000002", "Sector": "OTRO", "GrupoEco": "G"},
        {"RUCPagador": "20100000003", "Sector": "PESCA", "GrupoEco": "null"},
        {"RUCPagador": " ", "Sector": "SIN RUC", "GrupoEco": ""},
    ]))
    assert catalogue.to_dicts() == [
        {"_ruc": "20100000002", "Sector": "MINERIA", "GrupoEco": ""},
        {"_ruc": "20100000003", "Sector": "PESCA", "GrupoEco": ""},
    ]


def test_pagos_fact_rows_match_worked_example(source_form: str) -> None:
    _, pagos = example(source_form)
    facts = pagos_frame(pagos, source_form)
    rows = {r["IdLiquidacionPago"]: r for r in facts.to_dicts()}
    assert {k: tuple(money(r[c]) if isinstance(r[c], float) else r[c] for c in PAGOS_FACT_COLUMNS)
            for k, r in rows.items()} == EXPECTED_PAGOS_FACT
    assert rows[9001]["FechaPagoCreacion"] == datetime(2025, 3, 12, 10, 0, 0)
    assert rows[9002]["FechaPagoCreacion"] is None
    assert rows[9003]["InteresPago"] == pytest.approx(100, abs=1e-9)
    assert set(facts.columns) == set(cxc_fields.PAGO_COLUMNS)  # the writer orders them
    assert (facts.schema["IdLiquidacionPago"], facts.schema["FechaPago"], facts.schema["DiasMora"],
            facts.schema["MontoPago"], facts.schema["TipoPago"]) == (
        pl.Int64, pl.Date, pl.Int64, pl.Float64, pl.String)


def test_dev_fact_row_matches_worked_example(source_form: str) -> None:
    raw = DEVOLUCION_RAW if source_form == "raw" else native_devolucion(DEVOLUCION_RAW)
    (row,) = dev_frame([raw], source_form).to_dicts()
    assert tuple(money(row[c]) if isinstance(row[c], float) else row[c]
                 for c in DEV_FACT_COLUMNS) == EXPECTED_DEV_FACT


def test_acumulado_matches_worked_example(source_form: str) -> None:
    docs, pagos = example(source_form)
    rows = dim_by_det(dim(docs, pagos, inputs(), source_form))
    assert list(rows) == [1001, 1002, 1003, 1004, 1005]  # document order, one row each
    assert {det: derived(r) for det, r in rows.items()} == {d: expected(d) for d in EXPECTED_DIM}
    assert sum(money(r["SaldoTotalPen"]) for r in rows.values()) == SUM_SALDO_TOTAL_PEN
    assert sum(r["SaldoTotalPen"] for r in rows.values()) == pytest.approx(33770.0, abs=1e-9)


def test_raw_and_native_forms_give_the_same_frames() -> None:
    """The text path (cell by cell) and the typed fast path read to identical frames."""
    (raw_docs, raw_pagos), (docs, pagos) = example("raw"), example("native")
    assert docs_frame(raw_docs).equals(docs_frame(docs, "native"))
    assert pagos_frame(raw_pagos).equals(pagos_frame(pagos, "native"))
    assert dev_frame([DEVOLUCION_RAW]).equals(
        dev_frame([native_devolucion(DEVOLUCION_RAW)], "native"))
    run = inputs()
    assert cxc.acumulado(docs_frame(raw_docs), pagos_frame(raw_pagos), run).equals(
        cxc.acumulado(docs_frame(docs, "native"), pagos_frame(pagos, "native"), run))
    # DECIMAL columns, as a driver other than the toolbox's readers may hand them over.
    decimals = pl.DataFrame(docs, infer_schema_length=None)
    assert isinstance(decimals.schema["NetoConfirmado"], pl.Decimal)
    assert cxc_fields.documents(decimals).equals(docs_frame(docs, "native"))


def test_nan_in_a_typed_amount_column_follows_the_cell_rules() -> None:
    """cxc 3.1 / 3.3 step A: NaN is a null spelling (``cells.is_missing``): a document amount
    reads 0.0, a payment amount is an error, whichever path (typed or text) the column takes."""
    doc = native_documento(documento(1, 1, "L", "PEN", 1, "2025-01-01", "1"))
    doc["NetoConfirmado"] = float("nan")
    neto = docs_frame([doc], "native")["NetoConfirmado"].to_list()
    paid = native_pago(pago(7, 1, "2025-01-01", 0, 0, 1, "", 0))
    paid["MontoPago"] = float("nan")
    try:
        monto: Any = pagos_frame([paid], "native")["MontoPago"].to_list()
    except InputError as error:
        monto = error
    assert cells.lenient_amount(float("nan"), "NetoConfirmado", "w") == 0.0
    assert neto == [0.0]
    assert isinstance(monto, InputError)
    assert "IdLiquidacionPago=7: MontoPago is missing" in str(monto)
    doc["NetoConfirmado"] = float("inf")
    assert docs_frame([doc], "native")["NetoConfirmado"].to_list() == [0.0]


def test_acumulado_source_columns_are_coerced(source_form: str) -> None:
    docs, pagos = example(source_form)
    rows = dim_by_det(dim(docs, pagos, inputs(), source_form))
    assert rows[1001]["NetoConfirmado"] == pytest.approx(10000.0, abs=1e-9)
    assert {r["DeudaAnterior"] for r in rows.values()} == {0.0}
    assert rows[1001]["FechaConfirmado"] == date(2025, 3, 10)
    assert rows[1004]["FechaConfirmado"] == date(2025, 3, 15)
    assert rows[1001]["FechaOperacion"] == date(2025, 2, 1)
    assert rows[1001]["CodigoSolicitud"] == "SOL100"  # trimmed
    assert rows[1001]["ObservacionSolicitud"] is None  # blank → NULL
    assert rows[1001]["TasaNominalMensualPorc"] == pytest.approx(1.5, abs=1e-9)


def test_refund_changes_nothing_in_the_dimension() -> None:
    # The dimension does not even take refunds as an input (decisions 15); D3 is as in §7.
    docs, pagos = example("raw")
    assert dev_frame([DEVOLUCION_RAW])["IdLiquidacionDet"].to_list() == [1003]
    assert derived(dim_by_det(dim(docs, pagos, inputs()))[1003]) == expected(1003)


# ================================================================ variants of §7

def test_no_rate_on_or_before_cutoff_fails_with_what_to_do() -> None:
    with pytest.raises(TaskFailed, match="toolbox tipo-cambio") as info:
        cxc.pick_run_rate([], FECHA_CORTE)
    assert "2025-03-15" in str(info.value)
    with pytest.raises(TaskFailed, match="import rates"):
        cxc.pick_run_rate(RATES, date(2025, 3, 12))  # only later rates exist


def test_cutoff_day_before_due_date_makes_d4_vigente(source_form: str) -> None:
    docs, pagos = example(source_form)
    rows = dim_by_det(dim(docs, pagos, inputs(date(2025, 3, 14)), source_form))
    assert (rows[1004]["EstadoCuenta"], rows[1004]["EstadoReal"]) == ("VIGENTE", "VIGENTE")
    for det in (1001, 1003, 1005):
        assert derived(rows[det]) == expected(det)


def test_lower_case_partial_type_is_partial_with_canonical_spelling(source_form: str) -> None:
    extra = [PAGO_D2_MINUSCULAS if source_form == "raw" else native_pago(PAGO_D2_MINUSCULAS)]
    docs, pagos = example(source_form, extra)
    d2 = dim_by_det(dim(docs, pagos, inputs(), source_form))[1002]
    # decisions 10: SaldoTotal = SD = 0.00 (the legacy's case-sensitive 4900.00 is gone)
    assert (money(d2["SaldoTotal"]), money(d2["SaldoTotalPen"]), d2["TipoPagoReal"]) == (
        Decimal("0.00"), Decimal("0.00"), "PAGO PARCIAL")
    log = CoercionLog()
    assert pagos_frame([PAGO_D2_MINUSCULAS], log=log)["TipoPago"].to_list() == ["PAGO PARCIAL"]
    assert log.counts == {"TipoPago re-cased to its canonical upper-case spelling": 1}


def test_two_payments_give_one_row_with_last_type_and_summed_amount(source_form: str) -> None:
    extra = [PAGO_D1_SEGUNDO if source_form == "raw" else native_pago(PAGO_D1_SEGUNDO)]
    docs, pagos = example(source_form, extra)
    stats = cxc.AcumuladoStats()
    rows = dim(docs, pagos, inputs(), source_form, stats=stats)
    d1 = [r for r in rows if r["IdLiquidacionDet"] == 1001]
    assert len(d1) == 1 and len(rows) == 5
    assert (d1[0]["TipoPagoReal"], money(d1[0]["SaldoTotal"])) == ("PAGO TOTAL", Decimal("0.00"))
    assert (stats.several_payments, stats.several_payments_examples) == (1, [1001])
    assert len(pagos_frame(pagos, source_form)) == 4  # the fact table keeps every payment


def test_current_payment_is_last_by_date_then_id_not_by_input_order() -> None:
    later_first = [
        pago(2, 1, "2025-01-05", 0, 0, 300, "PAGO TOTAL", 0),
        pago(9, 1, "2025-01-01", 0, 0, 100, "PAGO PARCIAL", 900),
        pago(1, 1, "2025-01-05", 0, 0, 200, "PAGO PARCIAL", 500),
    ]
    for order in (later_first, list(reversed(later_first))):
        (summary,) = current_entry(pagos_frame(order), date="FechaPago", id="IdLiquidacionPago",
                                   summed=("MontoPago",)).to_dicts()
        assert (summary["IdLiquidacionPago"], summary["TipoPago"], summary["SaldoDeuda"],
                summary["MontoPago"], summary[COUNT]) == (
            2, "PAGO TOTAL", 0, pytest.approx(600, abs=1e-9), 3)
        # Through the dimension: settled by the current payment, so net − Σ paid.
        (row,) = dim([documento(1, 1, "L", "PEN", 1000, "2025-01-31", "1")], order, inputs())
        assert (row["TipoPagoReal"], row["SaldoTotal"]) == (
            "PAGO TOTAL", pytest.approx(400, abs=1e-9))


def test_sector_catalogue_unavailable_makes_every_payer_sin_clasificar() -> None:
    docs, pagos = example("raw")
    stats = cxc.AcumuladoStats()
    rows = dim(docs, pagos, inputs(sectores=[]), stats=stats)
    assert {(r["Sector"], r["GrupoEco"]) for r in rows} == {("SIN CLASIFICAR", "")}
    assert stats.without_sector == 5


def test_payer_without_sector_is_counted_once_per_document() -> None:
    docs, pagos = example("raw")
    stats = cxc.AcumuladoStats()
    dim(docs, pagos, inputs(), stats=stats)
    assert (stats.without_sector, stats.without_sector_examples) == (2, ["20100000002"])


# ================================================================ aging (decisions 14)

AGING_EDGES = [
    (0, "Vigente"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"),
    (90, "61-90"), (91, "91-180"), (180, "91-180"), (181, ">180"),
]


@pytest.mark.parametrize(("days", "tramo"), AGING_EDGES)
def test_aging_buckets_at_their_edges(days: int, tramo: str) -> None:
    corte = date(2025, 3, 15)
    doc = documento(1, 1, "LIQX", "PEN", 100, corte - timedelta(days=days), "1")
    (row,) = dim([doc], [], inputs(corte))
    assert (row["DiasVencido"], row["TramoVencido"]) == (days, tramo)


def test_tramo_vencido_expression_at_the_edges() -> None:
    days = pl.DataFrame({"d": [d for d, _ in AGING_EDGES]})
    assert days.select(cxc.tramo_vencido(pl.col("d")).alias("t"))["t"].to_list() == [
        t for _, t in AGING_EDGES]


def test_not_yet_due_or_settled_documents_have_no_days_overdue() -> None:
    corte = date(2025, 3, 15)
    docs = [
        documento(1, 1, "L", "PEN", 100, "2025-04-01", "1"),  # not yet due
        documento(1, 2, "L", "PEN", 100, "2024-01-01", "1"),  # settled
        documento(1, 3, "L", "PEN", 100, "2024-01-01", "1"),  # overpaid: -5
        documento(1, 4, "L", "PEN", "0.01", "2025-03-14", "1"),  # a cent owed for a day
        documento(1, 5, "L", "PEN", "1.0", "2024-01-01", "1"),  # settled in three payments
    ]
    pagos = [
        pago(1, 2, "2025-01-01", 0, 100, 100, "PAGO TOTAL", 0),
        pago(2, 3, "2025-01-01", 0, 100, 105, "PAGO TOTAL", 0),
        pago(3, 5, "2024-01-01", 0, 1.0, 0.7, "PAGO PARCIAL", 0.3),
        pago(4, 5, "2024-01-02", 0, 0.3, 0.2, "PAGO PARCIAL", 0.1),
        pago(5, 5, "2024-01-03", 0, 0.1, 0.1, "PAGO TOTAL", 0),
    ]
    rows = dim_by_det(dim(docs, pagos, inputs(corte)))
    assert {d: r["DiasVencido"] for d, r in rows.items()} == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}
    assert money(rows[3]["SaldoTotal"]) == Decimal("-5.00")
    assert money(rows[5]["SaldoTotal"]) == 0  # whatever float residue 1.0 − Σ leaves


def test_worked_example_aging() -> None:
    docs, pagos = example("raw")
    rows = dim_by_det(dim(docs, pagos, inputs()))
    # D1 5 days, D2 not due, D3 389 days, D4 due on the cut-off, D5 409 days
    assert {d: (r["DiasVencido"], r["TramoVencido"]) for d, r in rows.items()} == {
        1001: (5, "1-30"), 1002: (0, "Vigente"), 1003: (389, ">180"),
        1004: (0, "Vigente"), 1005: (409, ">180"),
    }


# ================================================================ derivation rules

def test_settled_overpayment_gives_a_negative_balance() -> None:
    doc = documento(1, 1, "L", "PEN", 1000, "2025-03-01", "1")
    (row,) = dim([doc], [pago(1, 1, "2025-03-01", 0, 1000, 1200, "PAGO TOTAL", 0)], inputs())
    assert (row["SaldoTotal"], row["SaldoTotalPen"], row["DiasVencido"]) == (
        pytest.approx(-200, abs=1e-9), pytest.approx(-200, abs=1e-9), 0)


def test_special_codes_match_trimmed_and_case_insensitive() -> None:
    codigos = [{"codigo": " liq003-2022 me ", "lista": "mora_a_mayo"},
               {"codigo": "LIQ2302000033", "lista": "COBRANZA_ESPECIAL"}]
    codes = cxc.build_code_lists(codigos)
    assert (codes.mora_a_mayo, codes.cobranza_especial) == ({"LIQ003-2022 ME"}, {"LIQ2302000033"})
    assert pl.select(cxc.code_key(pl.lit(" liq003-2022 me "))).item() == "LIQ003-2022 ME"
    docs = [
        documento(1, 1, "LIQ003-2022 ME", "PEN", 1, "2025-04-30", "1"),  # unpaid
        documento(1, 2, "LIQ003-2022 ME", "PEN", 1, "2025-04-30", "1"),  # settled
        documento(1, 3, "LIQ003-2022", "PEN", 1, "2025-04-30", "1"),  # the " ME" is part of the code
        documento(1, 4, " LIQ2302000033", "PEN", 1, "2025-03-01", "1"),  # overdue
        documento(1, 5, "LIQ2302000033", "PEN", 1, "2025-04-30", "1"),  # not due
        documento(1, 6, "liq003-2022 me", "PEN", 1, "2025-04-30", "1"),  # lower case
    ]
    pagos = [pago(1, 2, "2025-03-01", 0, 1, 1, "PAGO TOTAL", 0)]
    rows = dim_by_det(dim(docs, pagos, inputs(codigos=codigos)))
    assert {d: (r["TipoPagoReal"], r["EstadoReal"]) for d, r in rows.items()} == {
        1: ("MORA A MAYO", "VIGENTE"), 2: ("PAGO TOTAL", "VIGENTE"), 3: ("", "VIGENTE"),
        4: ("", "COBRANZA ESPECIAL"), 5: ("", "VIGENTE"), 6: ("MORA A MAYO", "VIGENTE"),
    }
    assert rows[4]["CodigoLiquidacion"] == " LIQ2302000033"  # stored untrimmed (legacy)


def test_unknown_code_list_is_rejected_with_what_to_do() -> None:
    with pytest.raises(InputError, match="MORA_A_MAYO or COBRANZA_ESPECIAL"):
        cxc.build_code_lists([{"codigo": "LIQ1", "lista": "OTRA"}])


def test_currency_is_matched_case_insensitively_and_unknown_ones_rejected() -> None:
    docs, pagos = example("raw")
    docs[1]["Moneda"] = " usd "
    d2 = dim_by_det(dim(docs, pagos, inputs()))[1002]
    assert (d2["Moneda"], money(d2["SaldoTotalPen"])) == ("USD", Decimal("18300.00"))
    docs[1]["Moneda"] = "US$"  # the KPI's alias table: one reading of a currency everywhere
    d2 = dim_by_det(dim(docs, pagos, inputs()))[1002]
    assert (d2["Moneda"], money(d2["SaldoTotalPen"])) == ("USD", Decimal("18300.00"))
    docs[1]["Moneda"] = "EUR"
    with pytest.raises(InputError, match="IdLiquidacionDet=1002.*Moneda"):
        dim(docs, pagos, inputs())
    docs[1]["Moneda"] = " "
    with pytest.raises(InputError, match="IdLiquidacionDet=1002.*Moneda is missing"):
        dim(docs, pagos, inputs())


def test_an_explicit_rate_is_used_as_given_and_a_zero_or_unreadable_one_refused() -> None:
    assert cxc.explicit_rate(3.8).venta == pytest.approx(3.8, abs=1e-9)
    assert cxc.explicit_rate("3.75").fecha is None
    assert cxc.explicit_rate("3.75").venta == pytest.approx(3.75, abs=1e-9)
    with pytest.raises(InputError):
        cxc.explicit_rate(0)
    with pytest.raises(InputError, match="such as 3.75"):
        cxc.explicit_rate("abc")


# ================================================================ coercion rules (3.1-3.3)

def test_payment_amounts_are_strict() -> None:
    for bad in ("1,000.50", None, "", "abc"):
        raw = pago(7, 1, "2025-01-01", 0, 0, bad, "", 0)
        with pytest.raises(InputError, match="IdLiquidacionPago=7.*MontoPago"):
            pagos_frame([raw])
    assert pagos_frame([pago(7, 1, "2025-01-01", 0, 0, " 12.50 ", "", 0)])["MontoPago"] \
        .to_list() == [12.5]
    # A typed column takes the fast path, and a null in it is still an error, named.
    typed = [native_pago(pago(7, 1, "2025-01-01", 0, 0, 1, "", 0)),
             native_pago(pago(8, 1, "2025-01-01", 0, 0, None, "", 0))]
    with pytest.raises(InputError, match="IdLiquidacionPago=8.*MontoPago is missing"):
        pagos_frame(typed, "native")


def test_a_strict_amount_reads_numbers_and_refuses_blanks_separators_and_nan() -> None:
    assert cells.strict_amount(" 12.50 ", "MontoPago", W_PAGO) == 12.5
    assert cells.strict_amount("1e3", "MontoPago", W_PAGO) == 1000.0
    assert cells.strict_amount(Decimal("0.10"), "MontoPago", W_PAGO) == 0.1
    value = cells.strict_amount(7, "MontoPago", W_PAGO)
    assert (value, type(value)) == (7.0, float)
    for bad in ("1,000.50", None, "", "  ", "null", "abc", float("nan"), float("inf"), True):
        with pytest.raises(RowError, match="colocaciones_pagos IdLiquidacionPago=7: MontoPago"):
            cells.strict_amount(bad, "MontoPago", W_PAGO)


def test_payment_date_is_iso_only() -> None:
    with pytest.raises(InputError, match="FechaPago"):
        pagos_frame([pago(7, 1, "12/03/2025", 0, 0, 1, "", 0)])
    with pytest.raises(InputError, match="time part"):
        pagos_frame([pago(7, 1, "2025-03-12T10:00:00", 0, 0, 1, "", 0)])
    midnight = pagos_frame([pago(7, 1, "2025-03-12T00:00:00", 0, 0, 1, "", 0)])
    assert midnight["FechaPago"].to_list() == [date(2025, 3, 12)]
    # A typed DATE column with a null, and a DATETIME column: same rules, row named.
    with pytest.raises(InputError, match="IdLiquidacionPago=8.*FechaPago is missing"):
        pagos_frame([native_pago(pago(7, 1, "2025-03-12", 0, 0, 1, "", 0)),
                     native_pago(pago(8, 1, None, 0, 0, 1, "", 0))], "native")
    moments = [pago(7, 1, datetime(2025, 3, 12), 0, 0, 1, "", 0),
               pago(8, 1, datetime(2025, 3, 12, 9, 30), 0, 0, 1, "", 0)]
    with pytest.raises(InputError, match="IdLiquidacionPago=8.*FechaPago has a time part"):
        pagos_frame(moments, "native")
    assert pagos_frame(moments[:1], "native")["FechaPago"].to_list() == [date(2025, 3, 12)]


def test_a_payment_date_is_an_iso_date_at_midnight_or_an_error_naming_the_row() -> None:
    for value in ("2025-03-12", " 2025-03-12 ", "2025-03-12T00:00:00", "2025-03-12 00:00:00",
                  date(2025, 3, 12), datetime(2025, 3, 12)):
        assert cells.iso_payment_date(value, W_PAGO) == date(2025, 3, 12)
    for bad, reason in (("12/03/2025", "ISO date"), ("2025-03-12T10:00:00", "time part"),
                        (datetime(2025, 3, 12, 0, 0, 1), "time part"), (None, "is missing"),
                        ("", "is missing"), (20250312, "is not a date")):
        with pytest.raises(RowError, match=f"IdLiquidacionPago=7: FechaPago .*{reason}"):
            cells.iso_payment_date(bad, W_PAGO)


def test_audit_timestamps_are_iso_or_null() -> None:
    assert cells.iso_timestamp(None, "FechaPagoCreacion", W_PAGO) is None
    assert cells.iso_timestamp("2025-03-12", "FechaPagoCreacion", W_PAGO) == datetime(2025, 3, 12)
    assert cells.iso_timestamp(date(2025, 3, 12), "X", W_PAGO) == datetime(2025, 3, 12)
    assert cells.iso_timestamp(" 2025-03-12T10:00:00 ", "X", W_PAGO) == \
        datetime(2025, 3, 12, 10)
    with pytest.raises(RowError, match="FechaPagoCreacion is not an ISO date"):
        cells.iso_timestamp("12/03/2025", "FechaPagoCreacion", W_PAGO)
    with pytest.raises(InputError, match="IdLiquidacionPago=7.*FechaPagoModificacion"):
        pagos_frame([dict(pago(7, 1, "2025-03-12", 0, 0, 1, "", 0),
                          FechaPagoModificacion="12/03/2025")])


def test_lenient_payment_fields_are_coerced_and_each_coercion_counted() -> None:
    log = CoercionLog()
    (row,) = pagos_frame([pago("12.7", 1, "2025-01-01", "abc", 0, 1, "null", 0, obs=" x ")],
                         log=log).to_dicts()
    assert (row["IdLiquidacionPago"], row["DiasMora"], row["TipoPago"], row["ObservacionPago"]) \
        == (12, 0, "", "x")
    assert sorted(log.counts) == ["IdLiquidacionPago truncated to an integer",
                                  "unparsable DiasMora read as 0"]


def test_lenient_cell_rules_for_ids_days_and_texts() -> None:
    log = CoercionLog()
    assert cells.to_id("12.7", "IdLiquidacionPago", W_PAGO, log) == 12
    assert cells.to_id(" 1,234 ", "IdLiquidacionPago", W_PAGO, log) == 1234
    assert cells.to_id(12.0, "IdLiquidacionPago", W_PAGO, log) == 12
    assert cells.to_id(-3.5, "IdLiquidacionPago", W_PAGO, log) == -3  # truncated toward zero
    assert log.counts == {"IdLiquidacionPago truncated to an integer": 2}
    for bad, reason in ((None, "is missing"), ("", "is missing"), (True, "is missing"),
                        ("abc", "is not a number")):
        with pytest.raises(RowError, match=f"IdLiquidacionPago {reason}"):
            cells.to_id(bad, "IdLiquidacionPago", W_PAGO)

    log = CoercionLog()
    assert [cells.lenient_int(v, "DiasMora", W_PAGO, log)
            for v in (None, "", "null", 5, "2", " 2.9 ", 3.7, Decimal("-1.5"), "abc")] == [
        0, 0, 0, 5, 2, 2, 3, -1, 0]
    assert log.counts == {"unparsable DiasMora read as 0": 1, "null DiasMora read as 0": 3}
    assert log.examples == {"unparsable DiasMora read as 0": [W_PAGO],
                            "null DiasMora read as 0": [W_PAGO] * 3}

    assert [cells.to_text(v) for v in (None, "", " null ", "NaN", float("nan"), " x ", 5)] == [
        "", "", "", "", "", "x", "5"]


def test_document_amounts_are_lenient_but_noted() -> None:
    log = CoercionLog()
    raw = documento(1, 1, "LIQ1", "PEN", "S/ 1 000", "2025-01-01", "1",
                    FondoResguardo="0E-17", Interes=" 1,234.5 ")
    (row,) = docs_frame([raw], log=log).to_dicts()
    assert (row["NetoConfirmado"], row["FondoResguardo"], row["Interes"]) == (
        0, 0, pytest.approx(1234.5, abs=1e-9))
    # The example leaves DeudaAnterior out: a null amount read as 0 is a coercion too.
    assert log.counts == {"unparsable NetoConfirmado read as 0": 1,
                          "null DeudaAnterior read as 0": 1}
    assert log.columns == {"NetoConfirmado": 1, "DeudaAnterior": 1}
    assert "colocaciones IdLiquidacionDet=1" in log.messages()[0]


def test_a_lenient_amount_reads_blanks_and_text_as_zero_and_counts_them() -> None:
    log = CoercionLog()
    where = "colocaciones IdLiquidacionDet=1"
    values = ("10,000.00", " 1,234.5 ", "0E-17", None, "", "null", float("nan"), 7,
              Decimal("1.5"), 2.25, "S/ 1 000", True)
    assert [cells.lenient_amount(v, "NetoConfirmado", where, log) for v in values] == [
        10000.0, 1234.5, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 1.5, 2.25, 0.0, 0.0]
    # The text, and the five null spellings (a bool is no number either).
    assert log.counts == {"unparsable NetoConfirmado read as 0": 1,
                          "null NetoConfirmado read as 0": 5}
    assert log.columns == {"NetoConfirmado": 6}


def test_document_dates_are_day_first_and_without_time() -> None:
    (row,) = docs_frame([documento(1, 1, "L", "PEN", 1, "03/04/2025", "1",
                                   FechaInteresConfirming="2025/04/05")]).to_dicts()
    assert (row["FechaConfirmado"], row["FechaInteresConfirming"]) == (
        date(2025, 4, 3), date(2025, 4, 5))
    assert docs_frame([documento(1, 1, "L", "PEN", 1, "03-04-2025", "1")])[
        "FechaConfirmado"].to_list() == [date(2025, 4, 3)]
    for bad in ("2025-04-03T00:00:00", None, "abril"):
        with pytest.raises(InputError, match="FechaConfirmado"):
            docs_frame([documento(1, 1, "L", "PEN", 1, bad, "1")])
    # A DATE column read as datetimes by some driver: midnight is the date, a time is an error.
    moments = [native_documento(documento(1, 1, "L", "PEN", 1, "2025-04-03", "1")),
               native_documento(documento(1, 2, "L", "PEN", 1, "2025-04-03", "1"))]
    moments[0]["FechaConfirmado"] = datetime(2025, 4, 3)
    moments[1]["FechaConfirmado"] = datetime(2025, 4, 3, 8)
    with pytest.raises(InputError, match="IdLiquidacionDet=2.*FechaConfirmado has a time part"):
        docs_frame(moments, "native")
    assert docs_frame(moments[:1], "native")["FechaConfirmado"].to_list() == [date(2025, 4, 3)]


def test_four_formats_date_cell_rule() -> None:
    where = "colocaciones IdLiquidacionDet=1"
    for text in ("03/04/2025", "2025-04-03", "03-04-2025", "2025/04/03", " 03/04/2025 "):
        assert cells.four_formats_date(text, "F", where, required=True) == date(2025, 4, 3)
    assert cells.four_formats_date(datetime(2025, 4, 3), "F", where, required=True) == \
        date(2025, 4, 3)
    for missing in (None, "", "null"):
        assert cells.four_formats_date(missing, "F", where, required=False) is None
        with pytest.raises(RowError, match="IdLiquidacionDet=1: F is missing"):
            cells.four_formats_date(missing, "F", where, required=True)
    for bad in ("2025-04-03T00:00:00", "abril", "31/02/2025", datetime(2025, 4, 3, 8)):
        with pytest.raises(RowError, match="IdLiquidacionDet=1: F "):
            cells.four_formats_date(bad, "F", where, required=False)


def test_a_document_without_a_field_a_calculation_uses_fails_naming_the_row() -> None:
    with pytest.raises(InputError, match="DiasEfectivo"):
        docs_frame([documento(1, 1, "L", "PEN", 1, "2025-01-01", "1", DiasEfectivo="30.5")])
    assert docs_frame([documento(1, 1, "L", "PEN", 1, "2025-01-01", "1", DiasEfectivo=30.0)])[
        "DiasEfectivo"].to_list() == [30]
    with pytest.raises(InputError, match=r"IdLiquidacionDet=2.*DiasEfectivo is missing"):
        docs_frame([documento(1, 1, "L", "PEN", 1, "2025-01-01", "1"),
                    documento(1, 2, "L", "PEN", 1, "2025-01-01", "1", DiasEfectivo=None)])
    with pytest.raises(InputError, match="RUCPagador must be text"):
        docs_frame([documento(1, 1, "L", "PEN", 1, "2025-01-01", 20100000001)])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="CodigoLiquidacion is missing"):
        docs_frame([documento(1, 1, None, "PEN", 1, "2025-01-01", "1")])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"IdLiquidacionDet=2.*CodigoLiquidacion is missing"):
        docs_frame([documento(1, 1, "L", "PEN", 1, "2025-01-01", "1"),
                    documento(1, 2, None, "PEN", 1, "2025-01-01", "1")])  # type: ignore[arg-type]
    # decisions 18: the payer RUC keys the sector lookup, so it cannot be blanked
    with pytest.raises(InputError, match=r"IdLiquidacionDet=1.*RUCPagador is missing"):
        docs_frame([documento(1, 1, "L", "PEN", 1, "2025-01-01", None)])  # type: ignore[arg-type]


def test_a_whole_number_cell_refuses_fractions_blanks_and_text() -> None:
    where = "colocaciones IdLiquidacionDet=1"
    assert [cells.whole_number(v, "DiasEfectivo", where)
            for v in (30, "30", " 30 ", 30.0, Decimal("30.00"), "3e1")] == [30] * 6
    for bad, reason in (("30.5", "is not a whole number"), (30.5, "is not a whole number"),
                        (None, "is missing"), ("", "is missing"), ("abc", "is not a number")):
        with pytest.raises(RowError, match=f"DiasEfectivo {reason}"):
            cells.whole_number(bad, "DiasEfectivo", where)


def test_null_text_in_a_not_null_column_is_stored_empty_and_noted() -> None:
    log = CoercionLog()
    (row,) = docs_frame([documento(1, 7, "L", "PEN", 1, "2025-01-01", "1",
                                   Ejecutivo=None, CodigoSolicitud=None)], log=log).to_dicts()
    assert (row["Ejecutivo"], row["CodigoSolicitud"], row["FacturasGeneradas"]) == ("", "", None)
    assert log.counts == {"null Ejecutivo stored as ''": 1, "null CodigoSolicitud stored as ''": 1,
                          "null DeudaAnterior read as 0": 1}
    assert log.columns == {"Ejecutivo": 1, "CodigoSolicitud": 1, "DeudaAnterior": 1}


def test_payer_ruc_with_colons_and_spaces_is_cleaned_and_finds_its_sector() -> None:
    log = CoercionLog()
    docs = [documento(1, 1, "L", "PEN", 1, "2025-01-01", " 20:100000001"),
            documento(1, 2, "L", "PEN", 1, "2025-01-01", "2010000 0001 ")]
    rows = dim(docs, [], inputs(), log=log)
    assert [(r["RUCPagador"], r["Sector"]) for r in rows] == [("20100000001", "CONSTRUCCION")] * 2
    assert log.counts == {"RUCPagador cleaned of ':' and spaces": 2,
                          "null DeudaAnterior read as 0": 2}
    assert log.messages()[0] == ("2 values coerced: RUCPagador cleaned of ':' and spaces "
                                 "(e.g. colocaciones IdLiquidacionDet=1, 2)")
    assert "RUCPagador" not in log.columns  # a spelling made canonical is no coercion


def test_too_long_text_is_rejected_before_the_database_sees_it() -> None:
    with pytest.raises(InputError, match="CodigoLiquidacion is longer than 20"):
        docs_frame([documento(1, 1, "L" * 21, "PEN", 1, "2025-01-01", "1")])
    with pytest.raises(InputError, match="IdLiquidacionPago=7.*TipoPago is longer than 50"):
        pagos_frame([pago(7, 1, "2025-01-01", 0, 0, 1, "X" * 51, 0)])


def test_refund_dates_accept_four_formats() -> None:
    for text in ("05/03/2024", "2024-03-05", "05-03-2024", "2024/03/05"):
        assert dev_frame([dict(DEVOLUCION_RAW, FechaDesembolso=text)])[
            "FechaDesembolso"].to_list() == [date(2024, 3, 5)]
    assert dev_frame([dict(DEVOLUCION_RAW, FechaDesembolso="null")])[
        "FechaDesembolso"].to_list() == [None]
    with pytest.raises(InputError, match="IdLiquidacionDevolucion=501.*MontoDevolucion"):
        dev_frame([dict(DEVOLUCION_RAW, MontoDevolucion=None)])
    with pytest.raises(InputError, match="IdLiquidacionDevolucion=501.*FechaDesembolso"):
        dev_frame([dict(DEVOLUCION_RAW, FechaDesembolso="2024-03-05T00:00:00")])
