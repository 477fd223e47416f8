"""The display protocol: what a run reports as it goes, for a person watching a terminal.

The writer and the runner report *phases* (reading and computing, writing, swapping,
waiting for a lock) and *rows done* for each table they build; work that waits on another
server reports *steps* (requests answered of all the run will make, sheets read, calls to
the webservice) with what is in hand, so that a slow provider is seen to be slow rather
than the run to be stuck. The command line draws them (``cli/progress.py``) when stderr is
a terminal, and nothing else ever does: under cron, with ``--json`` or ``--quiet`` the run
gets ``NO_PROGRESS``.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, label: str, phase: str) -> None:
        """``label`` (a table, the run) is now doing ``phase``."""

    def rows(self, label: str, count: int) -> None:
        """``count`` more rows of ``label`` are done."""

    def step(self, label: str, done: int, total: int, detail: str = "", *,
             unit: str = "steps") -> None:
        """``label`` has finished ``done`` of its ``total`` ``unit`` (requests, sheets,
        calls); ``detail`` says what is in hand (the dates being asked, a retry). Each call
        replaces the line's previous step: it says where the work is now."""

    def done(self, label: str) -> None:
        """``label`` is finished; its line goes."""


class NoProgress:
    def phase(self, label: str, phase: str) -> None:
        pass

    def rows(self, label: str, count: int) -> None:
        pass

    def step(self, label: str, done: int, total: int, detail: str = "", *,
             unit: str = "steps") -> None:
        pass

    def done(self, label: str) -> None:
        pass


NO_PROGRESS = NoProgress()
