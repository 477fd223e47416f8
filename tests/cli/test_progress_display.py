"""The progress display (``cli/progress.py``): drawn only for a person at a terminal, and a
step's line fits the terminal: its label and elapsed time whole, its detail cut at the end."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from toolbox_cli.cli.progress import LiveProgress, progress_for, step_text
from toolbox_cli.progress import NO_PROGRESS

DETAIL = "asking 2024-04, 2024-05, 2024-06, 2024-07 (attempt 2 of 3 after HTTP 503)"


def terminal(width: int = 80) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)


def screen(progress: LiveProgress, width: int) -> list[str]:
    """The display's lines as a terminal of ``width`` columns shows them."""
    shown = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None,
                    record=True)
    shown.print(progress.display.make_tasks_table(progress.display.tasks))
    return [line.rstrip() for line in shown.export_text().splitlines()]


@pytest.mark.parametrize("json_output, quiet, trigger, terminal_console", [
    (True, False, None, True), (False, True, None, True), (False, False, "cron", True),
    (False, False, None, False)], ids=["json", "quiet", "cron", "not-a-terminal"])
def test_nothing_is_drawn_for_a_script_cron_or_a_pipe(
        monkeypatch: pytest.MonkeyPatch, json_output: bool, quiet: bool, trigger: str | None,
        terminal_console: bool) -> None:
    if trigger:
        monkeypatch.setenv("TOOLBOX_TRIGGER", trigger)
    else:
        monkeypatch.delenv("TOOLBOX_TRIGGER", raising=False)
    console = terminal() if terminal_console else Console(file=io.StringIO())
    assert progress_for(console, json_output=json_output, quiet=quiet) is NO_PROGRESS


def test_a_person_at_a_terminal_gets_the_live_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLBOX_TRIGGER", raising=False)
    progress = progress_for(terminal(), json_output=False, quiet=False)
    assert isinstance(progress, LiveProgress)
    NO_PROGRESS.step("tipo_cambio", 1, 2, "asking 2024-03", unit="requests")  # a no-op


@pytest.mark.parametrize("width", [80, 120])
def test_a_step_is_one_line_keeping_its_label_its_count_and_the_time(width: int) -> None:
    """tipo-cambio's one line: at 120 columns the detail is whole, at 80 cut at its end."""
    progress = LiveProgress(terminal(width))
    try:
        progress.step("tipo_cambio", 12, 40, DETAIL, unit="requests")
        lines = screen(progress, width)
    finally:
        progress.stop()
    assert len(lines) == 1 and len(lines[0]) <= width
    assert re.match(r"^\S tipo_cambio +requests 12/40: asking 2024-04", lines[0]), lines
    assert re.search(r" 0:00:\d\d$", lines[0])
    whole = step_text(12, 40, DETAIL, unit="requests")
    assert (whole in lines[0]) == (width >= 120) and ("…" in lines[0]) == (width < 120)


def test_beside_a_table_being_written_the_step_gives_way_not_the_rows() -> None:
    progress = LiveProgress(terminal(80))
    try:
        progress.step("webservice", 2, 5, "documents: 123,000 rows received", unit="calls")
        progress.phase("colocaciones", "writing")
        progress.rows("colocaciones", 12_345)
        lines = screen(progress, 80)
    finally:
        progress.stop()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
    assert re.match(r"^\S webservice +calls 2/5: documents", lines[0]), lines
    assert re.match(r"^\S colocaciones +writing +12,345 rows +[\d,]+ rows/s 0:00:\d\d$",
                    lines[1]), lines


def test_a_step_replaces_the_previous_one_and_done_removes_the_line() -> None:
    progress = LiveProgress(terminal(120))
    try:
        progress.step("sheets", 0, 2, "reading sectores", unit="sheets")
        progress.step("sheets", 1, 2, "reading saldos: attempt 2 of 3 after HTTP 500",
                      unit="sheets")
        lines = screen(progress, 120)
        assert len(lines) == 1 and "sheets 1/2: reading saldos: attempt 2 of 3" in lines[0]
        progress.done("sheets")
        assert screen(progress, 120) == []
    finally:
        progress.stop()
