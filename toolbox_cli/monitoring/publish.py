"""``toolbox publish DIR``: the status a frontend read from the legacy's API, as static files.

The legacy's frontend read ``GET /tasks/available``, ``GET /tasks/scheduled``,
``GET /tasks/status/{task_id}`` and a Redis key for its "last update" indicator. This writes
the same shapes as files, so that a frontend switches by pointing its base URL at a static
web server over DIR:

- ``tasks/available.json``: ``{"tasks": [{"name", "command", "description", "tables"}]}``,
  ``name`` the legacy's Celery task id (``toolbox.tablas_reportes``);
- ``tasks/scheduled.json``: the beat schedule, ``{"timezone", "scheduled_tasks": [{"name",
  "task", "schedule", "description", "next_run"}]}``, one entry per slot;
- ``tasks/status/<run id>.json``: ``BaseProcessor.format_task_response``'s fields
  (``task_id``, ``status``, ``result``, ``ready``, ``successful``, ``failed``, ``error``)
  for the newest ``RECENT_RUNS`` runs of each task; ``status`` in Celery's words (a running
  run is ``STARTED``, a success ``SUCCESS``, a failure or a crash ``FAILURE``, a run skipped
  for a lock ``REVOKED``) and ``result`` the legacy task's return payload. The legacy's ids
  were Celery UUIDs; here they are the ledger's run ids. Older status files are removed;
- ``ActualizarTablasReportesCronjob_status.json``: the Redis key's ``{"status": "Active" |
  "Error", "timestamp", "error"}`` after the last finished ``tablas-reportes`` run;
- ``index.html``: one self-contained page (``monitoring.page``).

Each file is written to a temporary name in its directory and renamed over the old one,
so a reader sees the old file or the new one, never half of one. Times are Lima's, ISO 8601
with the offset.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from toolbox_cli import ledger
from toolbox_cli.errors import ConfigError
from toolbox_cli.monitoring.overview import iso_local, overview
from toolbox_cli.monitoring.page import render_page
from toolbox_cli.registry import all_tasks
from toolbox_cli.schedule import slots as schedule
from toolbox_cli.settings import Settings
from toolbox_cli.storage.engine import Engines, row_counts

RECENT_RUNS = 30  # per task: the status files and the page's chart
STATUS_KEY = "ActualizarTablasReportesCronjob_status"
# The legacy's Celery task ids (reportes.md §1.1; cxc.md); other tasks by the same rule.
LEGACY_TASK_IDS = {"tipo-cambio": "toolbox.tipo_cambio",
                   "tablas-reportes": "toolbox.tablas_reportes",
                   "kpi-acumulado": "toolbox.kpi_acumulado", "tablas-cxc": "toolbox.tablas_cxc"}
# The legacy's success messages (reportes.md §5).
_MESSAGES = {"tablas-reportes": "Tablas de reportes actualizadas exitosamente",
             "kpi-acumulado": "KPI Acumulado actualizado exitosamente"}
_CELERY_STATE: dict[str, str] = {ledger.RUNNING: "STARTED", ledger.SUCCESS: "SUCCESS",
                 ledger.FAILED: "FAILURE", ledger.CRASHED: "FAILURE",
                 ledger.SKIPPED: "REVOKED"}


def legacy_task_id(task: str) -> str:
    return LEGACY_TASK_IDS.get(task, "toolbox." + task.replace("-", "_"))


def available(settings: Settings) -> dict[str, Any]:
    return {"tasks": [{"name": legacy_task_id(name), "command": name,
                       "description": spec.description, "tables": list(spec.tables)}
                      for name, spec in all_tasks().items()]}


def scheduled(settings: Settings, now: datetime) -> dict[str, Any]:
    entries = []
    for slot in schedule.scheduled_slots(settings):
        upcoming = schedule.next_runs(slot.expr, settings.zone, now, 1)
        entries.append({"name": f"{slot.task} {slot.label}", "task": legacy_task_id(slot.task),
                        "schedule": slot.expr, "description": schedule.describe(slot.expr),
                        "next_run": upcoming[0].isoformat() if upcoming else None})
    return {"timezone": settings.timezone, "scheduled_tasks": entries}


def task_status(run: ledger.Run, settings: Settings) -> dict[str, Any]:
    """The run as ``format_task_response`` answered for a Celery task."""
    state = _CELERY_STATE.get(run.status, "PENDING")
    finished = iso_local(run.finished_at, settings)
    result: dict[str, Any] | None = None
    error: str | None = None
    if run.status == ledger.SUCCESS:
        result = {"status": "success",
                  "message": _MESSAGES.get(run.task, f"{run.task} actualizado exitosamente"),
                  "records": run.rows_written, "timestamp": finished}
    elif run.status in (ledger.FAILED, ledger.CRASHED, ledger.SKIPPED):
        error = run.error_message or run.status
    return {"task_id": str(run.id), "status": state, "result": result,
            "ready": run.status != ledger.RUNNING, "successful": run.status == ledger.SUCCESS,
            "failed": state == "FAILURE", "error": error}


def status_key(runs: list[ledger.Run], settings: Settings) -> dict[str, Any]:
    """The Redis key after the newest finished (not skipped) ``tablas-reportes`` run."""
    for run in runs:
        if run.status in (ledger.SUCCESS, ledger.FAILED, ledger.CRASHED):
            ok = run.status == ledger.SUCCESS
            return {"status": "Active" if ok else "Error",
                    "timestamp": iso_local(run.finished_at or run.started_at, settings),
                    "error": None if ok else (run.error_message or run.status)}
    return {"status": "Error", "timestamp": None, "error": "tablas-reportes has not run yet"}


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path``: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def publish(engines: Engines, settings: Settings, directory: Path, now: datetime) -> list[Path]:
    """Write every file into ``directory`` (created if missing); the paths written."""
    directory = directory.expanduser()
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file; give publish a directory")
    seen = overview(engines, settings, now)
    history: dict[str, list[ledger.Run]] = {}
    for name in all_tasks():
        runs = ledger.recent_runs(engines.datamart, task=name, limit=RECENT_RUNS * 3)
        history[name] = [r for r in runs if not r.dry_run][:RECENT_RUNS]
    counts = _table_counts(engines)
    written: list[Path] = []

    def put(relative: str, text: str) -> None:
        path = directory / relative
        write_atomically(path, text)
        written.append(path)

    put("tasks/available.json", _json(available(settings)))
    put("tasks/scheduled.json", _json(scheduled(settings, now)))
    keep = set()
    for runs in history.values():
        for run in runs:
            keep.add(f"{run.id}.json")
            put(f"tasks/status/{run.id}.json", _json(task_status(run, settings)))
    for old in (directory / "tasks" / "status").glob("*.json"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
    put(f"{STATUS_KEY}.json", _json(status_key(history.get("tablas-reportes", []), settings)))
    put("index.html", render_page(seen, history, counts, settings, now))
    return written


def _table_counts(engines: Engines) -> Mapping[str, int | None]:
    """Rows in each table a task writes (None: the table is not there)."""
    from toolbox_cli.storage.tables import datamart_metadata

    out: dict[str, int | None] = {}
    for spec in all_tasks().values():
        for table in spec.tables:
            engine = engines.datamart if table in datamart_metadata.tables else engines.source
            try:
                out[table] = row_counts(engine, [table])[table]
            except Exception:  # a table db init has not made yet: shown as such
                out[table] = None
    return out

