"""What cron mails: a short summary of a failed scheduled run, chronic-style.

``scripts/toolbox-cron`` sends everything a run prints to its log and stays silent when the
run succeeds, so cron has nothing to mail. When the run ends with a non-zero exit (failed,
guard tripped, skipped behind a lock, no database, crashed on start) the wrapper prints this
summary on stdout, and cron mails it to MAILTO (``toolbox schedule install --mailto``).

The toolbox leaves the run's outcome in ``$TOOLBOX_OUTCOME_FILE`` (JSON) for the wrapper;
when it could not (it died before), the summary falls back to the log's last error line.

    python -m toolbox_cli.monitoring.cronmail TASK SLOT EXIT_CODE LOG OUTCOME_FILE
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

OUTCOME_ENV = "TOOLBOX_OUTCOME_FILE"
EXIT_MEANING = {1: "failed", 2: "usage or configuration error", 3: "skipped (lock held)",
                4: "database unreachable"}


def write_outcome(**fields: Any) -> None:
    """Leave the outcome for the cron wrapper, if it asked for one (never raises)."""
    path = os.environ.get(OUTCOME_ENV)
    if not path:
        return
    try:
        Path(path).write_text(json.dumps(fields, default=str), encoding="utf-8")
    except OSError:
        pass


def _read_outcome(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _last_error_line(log: str) -> str | None:
    try:
        lines = Path(log).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("error:"):
            return text[len("error:"):].strip()
    for line in reversed(lines):
        if line.strip() and not line.startswith("#"):
            return line.strip()
    return None


def summary(task: str, slot: str, exit_code: int, log: str, outcome: dict[str, Any]) -> str:
    run_id = outcome.get("run_id")
    status = outcome.get("status") or EXIT_MEANING.get(exit_code, "failed")
    error = outcome.get("error") or _last_error_line(log) or "(no error line; see the log)"
    lines = [
        f"toolbox: {task} {status} (slot {slot} Lima, exit code {exit_code})",
        f"  run:    {run_id if run_id is not None else 'not recorded in the ledger'}",
        f"  error:  {error}",
        f"  log:    {log}",
    ]
    if run_id is not None:
        lines.append(f"  more:   toolbox status {run_id}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: python -m toolbox_cli.monitoring.cronmail TASK SLOT EXIT_CODE LOG OUTCOME_FILE",
              file=sys.stderr)
        return 2
    task, slot, code, log, outcome = argv
    sys.stdout.write(summary(task, slot, int(code), log, _read_outcome(outcome)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
