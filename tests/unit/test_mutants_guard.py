"""The guard's refusal, word for word (README "The guard"; decisions 21 and 22).

The message is what a person reads at 07:00 to decide whether to re-run with
--allow-shrink: which table, what moved, from what to what, what else tripped, whether
anything was replaced. These pin it, the list of "also" findings, and what --allow-shrink
records, on the pure ``ShrinkGuard``.
"""

from __future__ import annotations

import pytest

from toolbox_cli.errors import GuardTripped
from toolbox_cli.storage.guard import Coercions, ShrinkGuard, TotalMove, percent_text

REFUSED = "no table was replaced, the dashboards keep the previous content"
ADVICE = ("Check the source tables; if the new result is right (a real purge), run again "
          "with --allow-shrink")


def _refusal(guard: ShrinkGuard, **kwargs: object) -> str:
    live = kwargs.pop("live", {})
    new = kwargs.pop("new", {})
    with pytest.raises(GuardTripped) as caught:
        guard.check(live, new, **kwargs)  # type: ignore[arg-type]  # the keywords check takes
    return str(caught.value)


def test_one_shrink_is_refused_in_the_readmes_words():
    message = _refusal(ShrinkGuard(), live={"kpi": 2058}, new={"kpi": 74})
    assert message == (
        "kpi: 74 new rows against 2,058 in the live table (96% fewer; the limit is 20%); "
        f"{REFUSED}. {ADVICE}")


def test_a_dry_run_says_a_real_run_would_replace_nothing():
    message = _refusal(ShrinkGuard(), live={"kpi": 2058}, new={"kpi": 74}, dry_run=True)
    assert message == (
        "kpi: 74 new rows against 2,058 in the live table (96% fewer; the limit is 20%); "
        f"a real run would replace nothing. {ADVICE}")


def test_the_other_findings_follow_as_also_up_to_three_then_how_many_more():
    live = {f"t{i}": 100 for i in range(1, 7)}
    two = _refusal(ShrinkGuard(), live=live, new={"t1": 0, "t2": 10})
    assert two == ("t1: the new content is empty while the live table has 100 rows; "
                   f"also t2 (100 → 10 rows); {REFUSED}. {ADVICE}")
    four = _refusal(ShrinkGuard(), live=live, new={f"t{i}": 0 for i in range(1, 5)})
    assert four == ("t1: the new content is empty while the live table has 100 rows; also "
                    f"t2 (100 → 0 rows), t3 (100 → 0 rows), t4 (100 → 0 rows); {REFUSED}. "
                    f"{ADVICE}")
    five = _refusal(ShrinkGuard(), live=live, new={f"t{i}": 0 for i in range(1, 6)})
    assert ("also t2 (100 → 0 rows), t3 (100 → 0 rows), t4 (100 → 0 rows) and 1 more; "
            in five)
    six = _refusal(ShrinkGuard(), live=live, new={f"t{i}": 0 for i in range(1, 7)})
    assert "t4 (100 → 0 rows) and 2 more; " in six


def test_a_broken_column_comes_first_with_its_own_advice():
    coerced = [Coercions("colocaciones", "NetoConfirmado", 1000, 1000,
                         "colocaciones IdLiquidacionDet=1")]
    message = _refusal(
        ShrinkGuard(), coerced=coerced, live={"cxc_acumulado_dim": 10},
        new={"cxc_acumulado_dim": 10},
        live_totals={"cxc_acumulado_dim": {("SaldoTotal", "PEN"): 14_570_000.0}},
        new_totals={"cxc_acumulado_dim": {("SaldoTotal", "PEN"): -196_800_000.0}})
    assert message == (
        "colocaciones.NetoConfirmado needed coercion in 1,000 of the 1,000 rows read "
        "(100.0%; the limit is 5%), e.g. colocaciones IdLiquidacionDet=1: the source is "
        "broken, not untidy; also cxc_acumulado_dim.SaldoTotal (PEN) (14,570,000.00 → "
        f"-196,800,000.00); {REFUSED}. Fix that column in the source; if the values are "
        "right as they are, run again with --allow-shrink")


def test_allow_shrink_records_every_finding_of_every_check():
    guard = ShrinkGuard(allow_shrink=True)
    guard.check({"kpi": 100}, {"kpi": 10})
    guard.check({"saldos": 100}, {"saldos": 0})
    assert guard.notes == [
        "kpi: 10 new rows against 100 in the live table (90% fewer; the limit is 20%); "
        "swapped in because --allow-shrink was given",
        "saldos: the new content is empty while the live table has 100 rows; swapped in "
        "because --allow-shrink was given"]


def test_nothing_found_is_no_refusal_and_no_note():
    guard = ShrinkGuard()
    guard.check({"kpi": 100}, {"kpi": 100}, live_totals={"kpi": {("M", ""): 10.0}},
                new_totals={"kpi": {("M", ""): 10.0}})
    assert guard.notes == []


def test_a_moved_total_says_by_how_much_with_the_decimals_it_needs():
    assert TotalMove("kpi", "MontoPago", "USD", 1000.0, 1250.0, 20.0).describe() == (
        "the total kpi.MontoPago (USD) moves 25%: 1,000.00 in the live table, 1,250.00 new "
        "(the limit is 20%)")
    assert TotalMove("saldos", "SaldoTotalCaja", "", -1000.0, -799.0, 20.0).describe() == (
        "the total saldos.SaldoTotalCaja moves 20.1%: -1,000.00 in the live table, -799.00 "
        "new (the limit is 20%)")


def test_percent_text_takes_up_to_three_decimals_then_four():
    assert percent_text(25.0, 20) == "25"
    assert percent_text(20.04, 20) == "20.04"
    assert percent_text(20.0004, 20) == "20.0004"  # 3 decimals would read "20.000"
    assert percent_text(20.00004, 20) == "20.0000"
    assert percent_text(5.2, 5, 1) == "5.2"


# ---------------------------------------------------------------- which tables are judged


def test_a_first_fill_is_skipped_and_the_next_table_is_still_judged():
    guard = ShrinkGuard()
    assert [f.table for f in guard.shrinks({"a": 0, "b": 100}, {"a": 5, "b": 10})] == ["b"]
    assert [f.table for f in guard.shrinks({"b": 100}, {"a": 5, "b": 10})] == ["b"]


def _moves(live: dict[str, int], live_totals: dict[str, dict[tuple[str, str], float]],
           new_totals: dict[str, dict[tuple[str, str], float]]) -> list[tuple[str, str, float, float]]:
    return [(m.table, m.column, m.live, m.new)
            for m in ShrinkGuard().moved_totals(live, live_totals, new_totals)]


def test_totals_are_judged_only_against_a_live_table_with_rows_and_the_next_still_is():
    live_totals = {"a": {("M", ""): 100.0}, "b": {("M", ""): 100.0}}
    new_totals = {"a": {("M", ""): 10.0}, "b": {("M", ""): 10.0}}
    assert _moves({"a": 0, "b": 5}, live_totals, new_totals) == [("b", "M", 100.0, 10.0)]
    assert _moves({"b": 5}, live_totals, new_totals) == [("b", "M", 100.0, 10.0)]
    assert _moves({"a": 1}, live_totals, new_totals) == [("a", "M", 100.0, 10.0)]  # one row counts
    assert _moves({}, live_totals, new_totals) == []


def test_a_total_with_no_live_value_or_a_zero_one_has_nothing_to_compare_with():
    assert _moves({"a": 5}, {}, {"a": {("M", "PEN"): 10.0}}) == []
    live_totals = {"a": {("M", "PEN"): 0.0, ("M", "USD"): 100.0}}
    new_totals = {"a": {("M", "PEN"): 50.0, ("M", "USD"): 10.0}}
    assert _moves({"a": 5}, live_totals, new_totals) == [("a", "M", 100.0, 10.0)]
    assert _moves({"a": 5}, {"a": {("M", "PEN"): 1.0}}, {"a": {("M", "PEN"): 2.0}}) == [
        ("a", "M", 1.0, 2.0)]


def test_a_total_missing_from_the_new_content_counts_as_zero():
    """A currency the new content no longer has (every USD row gone) moved by 100 %."""
    assert _moves({"a": 5}, {"a": {("M", "USD"): 100.0}}, {"a": {("M", "PEN"): 1.0}}) == [
        ("a", "M", 100.0, 0.0)]


# ---------------------------------------------------------------- from the settings


def test_a_per_table_limit_naming_no_table_is_a_configuration_error(clean_env, monkeypatch):
    from toolbox_cli.errors import ConfigError
    from toolbox_cli.settings import load_settings
    from toolbox_cli.storage.guard import check_limits, guard_for

    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"kpii": 60}')
    with pytest.raises(ConfigError) as caught:
        guard_for(load_settings(), allow_shrink=False)
    assert str(caught.value) == (
        "TOOLBOX_MAX_SHRINK_PERCENT_TABLES names no table 'kpii' (did you mean kpi?); use "
        "datamart or source table names, e.g. kpi, saldos, sector_pagadores")
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"kpi": 60}')
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES", '{"saldoss": 60, "kpi": 1}')
    with pytest.raises(ConfigError) as caught:
        check_limits(load_settings())
    assert str(caught.value) == (
        "TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES names no table 'saldoss' (did you mean "
        "saldos?); use datamart or source table names, e.g. kpi, saldos, sector_pagadores")
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES", '{"saldos": 60}')
    check_limits(load_settings())


def test_a_runs_guard_takes_every_limit_from_the_settings(clean_env, monkeypatch):
    from toolbox_cli.settings import load_settings
    from toolbox_cli.storage.guard import guard_for

    default = guard_for(load_settings(), allow_shrink=False)
    assert (default.default_percent, dict(default.per_table), default.allow_shrink,
            default.total_percent, dict(default.total_per_table), default.coerced_percent,
            default.smaller_because) == (20.0, {}, False, 20.0, {}, 5.0, "a real purge")
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT", "10")
    monkeypatch.setenv("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", '{"saldos": 50}')
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT", "30")
    monkeypatch.setenv("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES", '{"kpi": 40}')
    monkeypatch.setenv("TOOLBOX_MAX_COERCED_PERCENT", "7")
    guard = guard_for(load_settings(), allow_shrink=True, ranged=True)
    assert (guard.default_percent, dict(guard.per_table), guard.allow_shrink,
            guard.total_percent, dict(guard.total_per_table), guard.coerced_percent,
            guard.smaller_because) == (10.0, {"saldos": 50.0}, True, 30.0, {"kpi": 40.0}, 7.0,
                                       "a narrower --desde, a real purge")
    assert guard_for(load_settings(), allow_shrink=True).smaller_because == "a real purge"
    assert guard_for(load_settings(), allow_shrink=False).allow_shrink is False
