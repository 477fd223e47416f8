"""The toolbox command line: one module per command group, loaded when used (``app.py``)."""

from __future__ import annotations

import sys

from toolbox_cli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except BaseException as exc:  # last resort: never a traceback without --debug
        from toolbox_cli.cli import state

        if state.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}; rerun with --debug for details",
              file=sys.stderr)
        sys.exit(1)
