"""Wrapped text on a terminal never cuts a word or a path where a space or a separator would
do, and continuation lines indent under their field; off a terminal nothing is folded."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from toolbox_cli.cli import common as cli_common
from toolbox_cli.cli.layout import Column, fit_table, print_hanging, wrap_plain


def _console(width: int, *, terminal: bool = True) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    console.soft_wrap = not terminal
    return console, buffer


def test_words_are_kept_whole_when_a_space_will_do() -> None:
    text = "the payments of 101 documents are summed: MontoPago is their sum, the rest the last"
    for width in range(20, 60):
        lines = wrap_plain(text, width)
        assert all(len(line) <= width for line in lines)
        assert " ".join(lines) == text  # nothing cut: only spaces became line ends


@pytest.mark.parametrize(("width", "expected"), [
    (24, ["sqlite:////tmp/nu/data/", "toolbox.db"]),
    (22, ["sqlite:////tmp/nu/", "data/toolbox.db"]),
])
def test_a_long_path_breaks_after_a_separator(width: int, expected: list[str]) -> None:
    assert wrap_plain("sqlite:////tmp/nu/data/toolbox.db", width) == expected


def test_a_word_without_any_break_is_cut_only_at_the_width() -> None:
    assert wrap_plain("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_continuation_lines_indent_under_the_value() -> None:
    console, buffer = _console(40)
    print_hanging(console, "  parameters  ", "allow_shrink=False, desde=2019-07-01, "
                  "dry_run=False, fecha_corte=2026-12-03, hasta=2026-12-03")
    lines = buffer.getvalue().splitlines()
    assert len(lines) > 1 and lines[0].startswith("  parameters  allow_shrink=False,")
    assert all(line.startswith(" " * 14) and line[14] != " " for line in lines[1:])
    assert all(len(line) <= 40 for line in lines)


def test_off_a_terminal_a_line_is_never_folded() -> None:
    console, buffer = _console(40, terminal=False)
    message = "error text " * 10
    print_hanging(console, "error: ", message)
    assert buffer.getvalue() == f"error: {message}\n"


def test_a_folded_table_cell_keeps_the_path_whole() -> None:
    console, buffer = _console(60)
    fit_table(console, None, (Column("setting"), Column("value", whole=False, overflow="fold",
                                                       min_width=20)),
              [["TOOLBOX_DATABASE_URL__________________", "sqlite:////tmp/nu/data/toolbox.db"]])
    shown = buffer.getvalue()
    assert "toolbox.db" in shown and "/data/too" not in shown.replace("/data/toolbox", "")


def test_status_of_one_run_indents_wrapped_fields(cli, demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result = cli("kpi")
    run_id = result.stdout.split("(run ", 1)[1].split(",", 1)[0]
    monkeypatch.setattr(cli_common.out, "soft_wrap", False)
    shown = cli("status", run_id, width=60).stdout.splitlines()
    start = next(i for i, line in enumerate(shown) if line.startswith("  parameters"))
    following = shown[start + 1]
    assert following.startswith(" " * 14) and not following.startswith(" " * 15), shown
    assert all(len(line) <= 60 for line in shown)
