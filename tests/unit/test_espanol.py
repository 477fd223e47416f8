"""The notifications' Spanish of each family of error, from the messages the toolbox really
writes (the guard's findings, the ledger's crash reasons): a reworded English message that
the Spanish no longer recognises fails here, not in an analyst's inbox."""

from __future__ import annotations

import pytest

from toolbox_cli.errors import GuardTripped
from toolbox_cli.monitoring.espanol import detalle, estado
from toolbox_cli.storage.guard import Coerced, Coercions, Shrink, ShrinkGuard, TotalMove


def test_a_shrink_in_spanish_keeps_the_digits() -> None:
    text = Shrink("kpi", 2060, 1399, 20.0).describe()
    assert detalle(text, 5) == ("kpi: 1,399 filas nuevas frente a 2,060 en la tabla publicada "
                                "(32 % menos; el límite es 20 %)")


def test_an_empty_new_table_in_spanish() -> None:
    assert detalle(Shrink("saldos", 12345, 0, 20.0).describe(), 5) == \
        "saldos: el contenido nuevo está vacío y la tabla publicada tiene 12,345 filas"


@pytest.mark.parametrize(("new", "expected"), [
    (1300.0, "el total kpi.MontoDesembolso (PEN) se mueve 30 %: 1,000.00 en la tabla "
             "publicada, 1,300.00 en la nueva (el límite es 20 %)"),
    (-5.0, "el total kpi.MontoDesembolso (PEN) cambia de signo: 1,000.00 en la tabla "
           "publicada, -5.00 en la nueva (el límite es 20 %)"),
])
def test_a_moved_total_in_spanish(new: float, expected: str) -> None:
    text = TotalMove("kpi", "MontoDesembolso", "PEN", 1000.0, new, 20.0).describe()
    assert detalle(text, 5) == expected


def test_a_broken_column_in_spanish() -> None:
    text = Coerced("colocaciones", "MontoPago", 60, 1000, "IdLiquidacionDet 7", 5.0).describe()
    assert detalle(text, 5) == ("la columna colocaciones.MontoPago necesitó correcciones en 60 "
                                "de las 1,000 filas leídas (6.0 %; el límite es 5 %): la fuente "
                                "está dañada")


def test_a_guard_message_with_several_findings_points_to_the_run() -> None:
    guard = ShrinkGuard()
    with pytest.raises(GuardTripped) as tripped:
        guard.check({"kpi": 100, "saldos": 100}, {"kpi": 10, "saldos": 10},
                    coerced=[Coercions("colocaciones", "MontoPago", 1, 1000, "x")])
    text = detalle(str(tripped.value), 9)
    assert text is not None
    assert text.startswith("kpi: 10 filas nuevas frente a 100")
    assert text.endswith("; y otros hallazgos (toolbox status 9)")


def test_a_message_of_no_known_family_is_not_quoted() -> None:
    text = detalle("ValueError: something odd happened", 12)
    assert text == "el mensaje completo, en inglés, está en el registro de la ejecución: " \
        "toolbox status 12"
    assert "odd" not in text


def test_locations_and_statuses_in_spanish() -> None:
    assert detalle("cannot reach database dm on 10.0.0.5:3306; is the server running and the "
                   "address right?", 1) == "no se pudo conectar con la base de datos dm en " \
        "10.0.0.5:3306"
    assert detalle("source table colocaciones in SQLite file /srv/t.db is empty, so …", 1) == \
        "la tabla fuente colocaciones en el archivo SQLite /srv/t.db está vacía: no hay nada " \
        "de qué calcular"
    assert (estado("failed"), estado("crashed"), estado("success")) == \
        ("falló", "terminó de forma anormal", "terminó bien")
    assert detalle(None, 1) is None


def test_a_share_one_step_past_the_limit_keeps_its_decimal_in_spanish() -> None:
    assert detalle(Shrink("saldos", 1000, 799, 20.0).describe(), 3) == (
        "saldos: 799 filas nuevas frente a 1,000 en la tabla publicada (20.1 % menos; el "
        "límite es 20 %)")
