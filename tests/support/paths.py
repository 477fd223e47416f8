"""Where the checkout's files are, for tests that read them or run the toolbox as a process."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
README = REPO / "README.md"
# The toolbox as a separate process, with the interpreter that runs the tests.
TOOLBOX = [sys.executable, "-m", "toolbox_cli"]
