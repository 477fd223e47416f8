"""The toolbox command line: one module per command group, loaded when used (``app.py``)."""

from __future__ import annotations

import os
import sys

from toolbox_cli.cli.app import app

__all__ = ["app", "main"]


# Options of the root command that a user may also give after the command
# (`toolbox kpi --debug`): moved before it, where the parser reads them.
_GLOBAL_FLAGS = ("--debug", "--quiet", "-q", "--profile-phases")
_GLOBAL_WITH_VALUE = ("--env-file",)


def hoist_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options that follow the command moved in front of it."""
    head: list[str] = []
    rest = list(args)
    # The root's own options come first; the command is the first other word.
    while rest and rest[0].startswith("-") and rest[0] != "--":
        word = rest.pop(0)
        head.append(word)
        if word in _GLOBAL_WITH_VALUE and rest:
            head.append(rest.pop(0))
    moved: list[str] = []
    kept: list[str] = []
    words = iter(rest)
    for word in words:
        if word == "--":  # everything after it is an argument
            kept.append(word)
            kept.extend(words)
            break
        if word in _GLOBAL_FLAGS:
            moved.append(word)
        elif word in _GLOBAL_WITH_VALUE:
            moved += [word, next(words, "")]
        elif word.split("=", 1)[0] in _GLOBAL_WITH_VALUE:
            moved.append(word)
        else:
            kept.append(word)
    return head + moved + kept


def _bound_memory() -> None:
    """Keep the resident memory of a refresh flat (measured in ``make bench``, issue 14).

    The reads (connectorx), the writer's loader and Polars run threads; glibc gives each
    thread an arena of its own and Polars' jemalloc keeps freed pages for 10 s, so a long
    refresh held ~350 MB where its data needs far less. Two arenas and a 1 s decay brought a
    1 000 000-operation kpi on MariaDB to about 320 MB at the same speed on one VM (385 MB
    on another; the 300 MB target is not met: pyarrow and connectorx alone take ~75 MB;
    README "Benchmark"). Set before any thread or Polars starts; a value already in the
    environment wins.
    """
    os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000,muzzy_decay_ms:1000")
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc: nothing to bound


def main() -> None:
    _bound_memory()
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="toolbox")
    except SystemExit:
        raise
    except BaseException as exc:  # last resort: never a traceback without --debug
        from toolbox_cli.cli import state

        if state.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}; rerun with --debug for details",
              file=sys.stderr)
        sys.exit(1)
