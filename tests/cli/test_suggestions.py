"""One "did you mean" for every mistyped name (``errors.closest``): commands of every group,
the choices of --status and of the import kinds, and TOOLBOX_* settings; only real
candidates are offered, and none when nothing is close."""

from __future__ import annotations

import pytest

from toolbox_cli.errors import closest


@pytest.mark.parametrize(("args", "suggested"), [
    (["kpis"], "kpi"),                          # the top-level group is lazy: it suggested none
    (["tabla-reportes"], "tablas-reportes"),
    (["schedule", "shwo"], "show"),
    (["db", "int"], "init"),
])
def test_a_mistyped_command_gets_the_closest_one(cli, args, suggested) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.exit_code == 2
    assert f"No such command {args[-1]!r}. Did you mean {suggested!r}?" in result.output


def test_a_command_like_no_other_gets_no_suggestion(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("zzz")
    assert result.exit_code == 2
    assert "No such command 'zzz'." in result.output and "Did you mean" not in result.output


def test_a_mistyped_status_gets_the_closest_state(cli, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "init").exit_code == 0
    result = cli("status", "--status", "faild")
    assert result.exit_code == 2
    assert "unknown status 'faild' (did you mean failed?)" in result.output


def test_a_mistyped_import_kind_gets_the_closest_kind(cli, toolbox_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "init").exit_code == 0
    csv = tmp_path / "x.csv"
    csv.write_text("RUCPagador,Sector\n")
    result = cli("import", "sector", str(csv))
    assert result.exit_code == 2
    assert "unknown import kind 'sector' (did you mean sectores?)" in result.output


def test_a_shared_prefix_does_not_make_settings_close() -> None:
    known = ["TOOLBOX_SHEETS", "TOOLBOX_DATA_DIR", "TOOLBOX_DATABASE_URL"]
    assert closest("TOOLBOX_DEBUG", known) is None
    assert closest("TOOLBOX_SHEET", known) == "TOOLBOX_SHEETS"
    assert closest("TOOLBOX_DATABASE_UR", known) == "TOOLBOX_DATABASE_URL"


def test_toolbox_debug_points_to_the_debug_option(cli, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    result = cli("config", "--json", TOOLBOX_DEBUG="1")
    assert "TOOLBOX_DEBUG (environment) is not a toolbox setting and is ignored; it is the " \
        "option --debug" in result.stderr
    assert "TOOLBOX_SHEETS" not in result.stderr
