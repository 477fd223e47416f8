"""The keyset reader of ``colocaciones`` against a plain read of the same tables.

On MariaDB the reader takes a row as one packed text field (``sources._Packed``) and falls
back to the plain read where a value does not survive packing; on SQLite it reads plainly.
Either way every document, payment and refund must come back exactly as a plain SQLAlchemy
read gives it (DECIMAL as float), with the chunk's documents, payments and refunds only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Numeric, insert, select, text

from toolbox_cli.storage import sources
from toolbox_cli.storage.tables import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
)

RANGE = dict(desde=date(2024, 1, 1), hasta=date(2024, 12, 31), fecha_corte=date(2024, 6, 30))

TRICKY_TEXT = ["", "s", "tab\there", "back\\slash", "línea\nnueva", "emoji 🚀 ñandú",
               " spaces ", "\\N", "NULL", "0"]


def _doc(det: int, day: date, **values: object) -> dict[str, object]:
    return {"IdLiquidacionDet": det, "IdLiquidacionCab": det, "FechaOperacion": day, **values}


def _seed(engine, extra_docs=()) -> None:  # type: ignore[no-untyped-def]
    docs = [
        # Every column type NULL but the keys and the date.
        _doc(1, date(2024, 1, 5)),
        # Text that LOAD DATA, CSV or a packed row could trip on; amounts at the edges.
        *[_doc(10 + i, date(2024, 2, 1), CodigoLiquidacion=t, Ejecutivo=t, Moneda="PEN",
               NetoConfirmado=Decimal("9999999999999999.99") if i == 0 else Decimal(f"-{i}.05"),
               DiasEfectivo=-i, TasaNominalMensualPorc=Decimal("0.000001"), Anticipo=t)
          for i, t in enumerate(TRICKY_TEXT)],
        # Outside the date range: neither it nor its payments and refunds are read.
        _doc(30, date(2023, 12, 31), CodigoLiquidacion="fuera"),
        _doc(31, date(2024, 3, 1), CodigoLiquidacion="dentro", MontoDesembolso=Decimal("0.00")),
        *extra_docs,
    ]
    pagos = [
        {"IdLiquidacionPago": 100, "IdLiquidacionDet": 10, "FechaPago": date(2024, 3, 1),
         "MontoPago": Decimal("10.10"), "ObservacionPago": "parcial\tuno",
         "FechaPagoCreacion": datetime(2024, 3, 1, 10, 20, 30)},
        {"IdLiquidacionPago": 101, "IdLiquidacionDet": 10, "FechaPago": None,
         "MontoPago": Decimal("0.01"), "ObservacionPago": ""},
        {"IdLiquidacionPago": 102, "IdLiquidacionDet": 10, "FechaPago": date(2024, 7, 1),
         "MontoPago": Decimal("5")},  # after the cut-off: left out
        {"IdLiquidacionPago": 103, "IdLiquidacionDet": 30, "FechaPago": date(2024, 1, 2),
         "MontoPago": Decimal("7")},  # its document is out of range
        {"IdLiquidacionPago": 104, "IdLiquidacionDet": 31, "FechaPago": date(2024, 3, 2),
         "MontoPago": Decimal("-3.50"), "TipoPago": "🚀"},
    ]
    devoluciones = [
        {"IdLiquidacionDevolucion": 200, "IdLiquidacionDet": 31,
         "FechaDesembolso": date(2024, 4, 1), "MontoDevolucion": Decimal("1.25"),
         "ObservacionDevolucion": None},
        {"IdLiquidacionDevolucion": 201, "IdLiquidacionDet": 30,
         "FechaDesembolso": date(2024, 4, 1), "MontoDevolucion": Decimal("2")},
    ]
    with engine.begin() as conn:
        for table, rows in ((colocaciones, docs), (colocaciones_pagos, pagos),
                            (colocaciones_devoluciones, devoluciones)):
            # One statement for many rows wants the same keys in each: the rest are NULL.
            conn.execute(insert(table), [{c.name: r.get(c.name) for c in table.columns}
                                         for r in rows])


def _plain(engine, table, where) -> list[dict]:  # type: ignore[no-untyped-def]
    """The expected rows: SQLAlchemy's own read, DECIMAL as float (what the reader gives)."""
    numeric = {c.name for c in table.columns if isinstance(c.type, Numeric)}
    order = [c for c in table.primary_key.columns]
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(where).order_by(*order)).mappings().all()
    return [{k: (float(v) if k in numeric and v is not None else v) for k, v in r.items()}
            for r in rows]


def _expected(engine) -> tuple[list[dict], dict[int, list[dict]], dict[int, list[dict]]]:
    docs = _plain(engine, colocaciones,
                  colocaciones.c.FechaOperacion.between(RANGE["desde"], RANGE["hasta"]))
    ids = [d["IdLiquidacionDet"] for d in docs]
    pagos: dict[int, list[dict]] = {}
    p = colocaciones_pagos.c
    for row in _plain(engine, colocaciones_pagos, p.IdLiquidacionDet.in_(ids)
                      & ((p.FechaPago <= RANGE["fecha_corte"]) | p.FechaPago.is_(None))):
        pagos.setdefault(row["IdLiquidacionDet"], []).append(row)
    devs: dict[int, list[dict]] = {}
    d = colocaciones_devoluciones.c
    for row in _plain(engine, colocaciones_devoluciones, d.IdLiquidacionDet.in_(ids)):
        devs.setdefault(row["IdLiquidacionDet"], []).append(row)
    return docs, pagos, devs


def _read(engine, chunk_size: int, columns=None):  # type: ignore[no-untyped-def]
    docs: list[dict] = []
    pagos: dict[int, list[dict]] = {}
    devs: dict[int, list[dict]] = {}
    for chunk in sources.iter_colocacion_chunks(engine, **RANGE, chunk_size=chunk_size,
                                                columns=columns):
        docs.extend(chunk.rows)
        pagos.update(chunk.pagos)
        devs.update(chunk.devoluciones)
    return docs, pagos, devs


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_chunks_hold_exactly_the_plain_rows_of_their_documents(engines, chunk_size):
    _seed(engines.source)
    docs, pagos, devs = _read(engines.source, chunk_size)
    exp_docs, exp_pagos, exp_devs = _expected(engines.source)
    assert [d["IdLiquidacionDet"] for d in docs] == [1, *range(10, 20), 31]
    assert docs == exp_docs
    assert pagos == exp_pagos and sorted(pagos) == [10, 31]
    assert [p["IdLiquidacionPago"] for p in pagos[10]] == [100, 101]
    assert devs == exp_devs and sorted(devs) == [31]
    assert [d["CodigoLiquidacion"] for d in docs[1:11]] == TRICKY_TEXT
    assert docs[0]["CodigoLiquidacion"] is None and docs[0]["NetoConfirmado"] is None


def test_only_the_asked_columns_and_the_keys_are_read(engines):
    _seed(engines.source)
    docs, pagos, _ = _read(engines.source, 5, columns={"CodigoLiquidacion", "MontoPago"})
    assert set(docs[0]) == {"IdLiquidacionDet", "CodigoLiquidacion"}
    assert set(pagos[10][0]) == {"IdLiquidacionDet", "IdLiquidacionPago", "FechaPago",
                                 "MontoPago"}


@pytest.mark.production
def test_a_value_that_does_not_survive_packing_is_read_the_plain_way(mysql_engines):
    """A text holding the packing separator, and a zero date that only PyMySQL's parser
    takes (it returns it as text): the chunk is read plainly and nothing is lost."""
    engine = mysql_engines.source
    _seed(engine, extra_docs=[_doc(40, date(2024, 5, 5), CodigoLiquidacion="uno\x1fdos",
                                   Ejecutivo="\x1f")])
    with engine.begin() as conn:
        conn.execute(text("SET SESSION sql_mode = ''"))  # lets the zero date in
        conn.execute(text("INSERT INTO colocaciones_pagos (IdLiquidacionPago, IdLiquidacionDet,"
                          " FechaPago, MontoPago) VALUES (105, 31, '0000-00-00', 1.50)"))
    docs, pagos, devs = _read(engine, 4)
    exp_docs, exp_pagos, exp_devs = _expected(engine)
    assert docs == exp_docs and pagos == exp_pagos and devs == exp_devs
    assert docs[-1]["CodigoLiquidacion"] == "uno\x1fdos" and docs[-1]["Ejecutivo"] == "\x1f"
    assert [p["FechaPago"] for p in pagos[31]] == [date(2024, 3, 2), "0000-00-00"]


@pytest.mark.production
def test_mariadb_reads_tricky_rows_packed_without_falling_back(mysql_engines):
    engine = mysql_engines.source
    _seed(engine)
    for table in (colocaciones, colocaciones_pagos, colocaciones_devoluciones):
        key = list(table.primary_key.columns)[0]
        query = sources._ChunkQuery.build(table, None, True, lambda q, key=key: q.order_by(key))
        assert query.packer is not None, table.name
        with engine.connect() as conn:
            packed = query.packer.decode(conn.execute(query.packed, {}))
        assert packed is not None, f"{table.name} fell back to the plain read"
        assert packed == _plain(engine, table, key.is_not(None)), table.name
