"""Where a run keeps its scratch files (bulk-load files, child processes' temp files).

Each run gets one directory, named after the database, the run and its process::

    $TMPDIR/toolbox-<uid>/<database key>-run<run id>-pid<pid>/

and the runner points Python's ``tempfile`` (and ``TMPDIR`` for child processes) at it for
the run's duration, so every temporary file the run or a library makes lands there. A run
that ends removes its directory; one that is killed leaves it, and the next reader (any
``status``, ``list`` or run on this host) removes the directories whose process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_DIR = re.compile(r"(?P<db>[0-9a-f]{12})-run(?P<run>\d+)-pid(?P<pid>\d+)")
# The system temp dir as this process found it (a run points tempfile elsewhere).
_SYSTEM_TMP = tempfile.gettempdir()


def root() -> Path:
    return Path(_SYSTEM_TMP) / f"toolbox-{os.getuid()}"


def database_key(url: object) -> str:
    """A short stable key of the ledger database (no password), so run ids of two
    deployments sharing a host never collide."""
    text = url.render_as_string(hide_password=True) if hasattr(url, "render_as_string") \
        else str(url)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def run_dir(url: object, run_id: int, pid: int | None = None) -> Path:
    return root() / f"{database_key(url)}-run{run_id}-pid{pid or os.getpid()}"


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is alive (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(url: object | None = None) -> list[Path]:
    """Remove the run directories on this host whose process is gone; returns them.

    With ``url`` only that database's runs are considered (any others are left for their
    own deployment's next reader)."""
    base = root()
    if not base.is_dir():
        return []
    key = database_key(url) if url is not None else None
    removed = []
    for entry in base.iterdir():
        match = _DIR.fullmatch(entry.name)
        if not match or (key is not None and match["db"] != key):
            continue
        if not pid_alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def scratch(url: object, run_id: int) -> Iterator[Path]:
    """The run's directory, made the process's temp dir while the run lasts."""
    path = run_dir(url, run_id)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    previous_tempdir, previous_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(path)
    os.environ["TMPDIR"] = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = previous_tempdir
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env
        shutil.rmtree(path, ignore_errors=True)
