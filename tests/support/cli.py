"""The command line in the test's process, as a fresh process would see it."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner, Result

from toolbox_cli.cli import app
from toolbox_cli.cli import common as cli_common


class ToolboxRunner(CliRunner):
    """A ``CliRunner`` that reads the settings afresh at each command (as a new process
    does), so a test may change the environment between two commands.

    ``cli("status", "--json", TOOLBOX_X="1", width=120)`` runs ``toolbox status --json``
    with ``TOOLBOX_X`` set for the rest of the test and the consoles ``width`` columns wide;
    ``cli.invoke(app, [...])`` is CliRunner's own spelling."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.monkeypatch = monkeypatch

    def invoke(self, *args: Any, **kwargs: Any) -> Result:
        cli_common.reset_settings()
        try:
            return super().invoke(*args, **kwargs)
        finally:
            cli_common.reset_settings()

    def __call__(self, *args: str, width: int | None = None, catch_exceptions: bool = True,
                 **env: str) -> Result:
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        if width is not None:
            self.monkeypatch.setattr(cli_common.out, "width", width)
            self.monkeypatch.setattr(cli_common.err, "width", width)
        return self.invoke(app, list(args), catch_exceptions=catch_exceptions)
