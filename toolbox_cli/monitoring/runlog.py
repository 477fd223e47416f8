"""Every run writes its log: a manual run its own file, a cron run the wrapper's.

The cron wrapper (``scripts/toolbox-cron``) captures a cron run's output in a file and
passes its path in ``TOOLBOX_LOG_PATH``. A run started any other way gets a file of its own
in the same directory (``TOOLBOX_LOG_DIR``, pruned by the wrapper after
``TOOLBOX_LOG_RETENTION_DAYS``), named after the task and the run id: the toolbox's log
lines (warnings, notes) with Lima timestamps, and at the end the outcome, with the error
and its traceback (secrets scrubbed) when it failed. ``toolbox logs RUN_ID`` prints it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from toolbox_cli.clock import local_text, now, utcnow
from toolbox_cli.settings import Settings

log = logging.getLogger("toolbox")
NO_LOG = "no log for this run"  # the start of the run's warning when its log can't be written


class _LimaFormatter(logging.Formatter):
    def __init__(self, settings: Settings) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.zone = settings.zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802  (logging's name)
        moment = datetime.fromtimestamp(record.created, UTC).replace(tzinfo=None)
        return local_text(moment, self.zone)


def log_file_for(settings: Settings, task: str, run_id: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", task)
    stamp = now().strftime("%Y%m%dT%H%M%SZ")
    return settings.resolved_log_dir / f"{safe}-{stamp}-run{run_id}.log"


class RunLog:
    """The open log of one run (``None`` file: nothing to write, e.g. no log directory)."""

    def __init__(self, path: Path | None, stream: TextIO | None, settings: Settings,
                 problem: str | None = None) -> None:
        self.path, self.stream, self.settings = path, stream, settings
        self.problem = problem  # why there is no log: the run keeps it as a warning

    def line(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text.rstrip("\n") + "\n")
            self.stream.flush()

    def now(self) -> str:
        return local_text(utcnow(), self.settings.zone)


@contextlib.contextmanager
def run_log(settings: Settings, task: str, run_id: int, *, cron_log: str | None,
            header: str) -> Iterator[RunLog]:
    """The run's log for the length of the run: the toolbox's log lines go into it."""
    if cron_log:  # the wrapper writes the output, and its own header and footer
        yield RunLog(Path(cron_log), None, settings)
        return
    path = log_file_for(settings, task, run_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        stream = os.fdopen(fd, "w", encoding="utf-8")
    except OSError as exc:
        yield RunLog(None, None, settings, problem=(
            f"{NO_LOG}: {path} cannot be written ({(exc.strerror or str(exc)).lower()}); "
            "set TOOLBOX_LOG_DIR to a writable directory"))
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_LimaFormatter(settings))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("toolbox")
    previous = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # the file gets notes; the console handler filters
    opened = RunLog(path, stream, settings)
    opened.line(header)
    opened.line(f"# started {opened.now()}")
    try:
        yield opened
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        stream.close()
