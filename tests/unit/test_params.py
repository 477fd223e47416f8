"""The date rules of a report's parameters (reportes §1.3), each at its boundary: today is
accepted, tomorrow is refused without --allow-future, for the cut-off and for --hasta."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from toolbox_cli.errors import InputError
from toolbox_cli.params import HISTORY_START, ReportRange

TODAY = date(2026, 12, 3)
TOMORROW = TODAY + timedelta(days=1)


def test_defaults_run_from_the_history_start_to_today() -> None:
    resolved = ReportRange().resolved(TODAY)
    assert (resolved.desde, resolved.hasta, resolved.fecha_corte) == (HISTORY_START, TODAY, TODAY)


def test_hasta_today_is_accepted() -> None:
    assert ReportRange(hasta=TODAY).resolved(TODAY).hasta == TODAY


def test_hasta_tomorrow_is_refused_naming_today() -> None:
    with pytest.raises(InputError, match=r"--hasta 2026-12-04 is after today in Lima "
                                         r"\(2026-12-03\).*--allow-future"):
        ReportRange(hasta=TOMORROW).resolved(TODAY)


def test_hasta_tomorrow_with_allow_future_is_accepted() -> None:
    assert ReportRange(hasta=TOMORROW, allow_future=True).resolved(TODAY).hasta == TOMORROW


def test_fecha_corte_tomorrow_is_refused_and_today_accepted() -> None:
    assert ReportRange(fecha_corte=TODAY).resolved(TODAY).fecha_corte == TODAY
    with pytest.raises(InputError, match="--fecha-corte 2026-12-04 is after today"):
        ReportRange(fecha_corte=TOMORROW).resolved(TODAY)


def test_hasta_the_day_before_desde_is_refused_and_the_same_day_accepted() -> None:
    day = date(2024, 6, 30)
    assert ReportRange(desde=day, hasta=day).resolved(TODAY).hasta == day
    with pytest.raises(InputError, match="is before --desde"):
        ReportRange(desde=day, hasta=day - timedelta(days=1)).resolved(TODAY)
