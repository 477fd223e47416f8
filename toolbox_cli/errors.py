"""Exceptions that carry the documented exit codes.

0 success · 1 the task ran and failed · 2 usage or configuration error ·
3 skipped because another run holds the lock · 4 the database could not be reached.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_UNREACHABLE = 4


class ToolboxError(Exception):
    """An error with a one-line message for the user and an exit code."""

    exit_code = EXIT_FAILED


class ConfigError(ToolboxError):
    exit_code = EXIT_USAGE


class InputError(ToolboxError):
    """Bad input file or bad source rows that the user must fix."""

    exit_code = EXIT_USAGE


class DatabaseUnreachable(ToolboxError):
    exit_code = EXIT_UNREACHABLE


class LockLost(ToolboxError):
    """The connection holding the task lock went away: the run must stop."""


class TaskFailed(ToolboxError):
    """The task ran and failed; the ledger has the details."""


class Interrupted(ToolboxError):
    """SIGTERM or Ctrl-C reached a running task."""


class GuardTripped(TaskFailed):
    """A new table is empty or much smaller than the live one: nothing was swapped in."""


class Refused(ToolboxError):
    """The run refused to do what was asked without an explicit flag (e.g. ``--force``).

    Recorded on the ledger like any failure, but the command exits 2 (a usage matter)."""

    exit_code = EXIT_USAGE


class NoDatabase(ConfigError):
    """The configured database does not exist or holds no toolbox tables."""


def disk_message(exc: OSError) -> str:
    """An operating-system error on a file as one line: the path, the reason, what to do."""
    import errno
    import re

    where = exc.filename or "a file"
    code, reason = exc.errno, exc.strerror or str(exc)
    if code is None and (found := re.search(r"\[Errno (\d+)\] ([^:]+)", reason)):
        code, reason = int(found.group(1)), found.group(2)  # a library's OSError of a text
    reason = reason.strip().lower()
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {where}: {reason}; free space on that disk and run again"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {where}: {reason}; check its directory and permissions"
    return f"{where}: {reason}"


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice a mistyped ``word`` most likely meant, if one is close enough: the one
    rule every "did you mean" of the toolbox uses."""
    import difflib
    import os

    # A prefix every choice and the word share (``TOOLBOX_``) says nothing about which
    # one was meant: ``TOOLBOX_DEBUG`` is not close to ``TOOLBOX_SHEETS``.
    shared = len(os.path.commonprefix([word, *choices])) if choices else 0
    rest = {choice[shared:]: choice for choice in choices}
    found = difflib.get_close_matches(word[shared:], list(rest), n=1, cutoff=0.6)
    return rest[found[0]] if found else None


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean kpi?)`` for a close choice, else nothing."""
    match = closest(word, choices)
    return f" (did you mean {match}?)" if match else ""
