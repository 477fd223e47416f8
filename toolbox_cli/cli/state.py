"""Global CLI options, set by the root callback."""

from __future__ import annotations

from pathlib import Path

env_file: Path | None = None
debug: bool = False
quiet: bool = False
secrets: list[str] = []  # given on the command line (a password in --against)
