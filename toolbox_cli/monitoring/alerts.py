"""Failures reach a person: notifications (Apprise) and health pings (healthchecks.io style).

Neither ever changes a run's outcome or exit code: a notification or a ping that cannot be
delivered is logged (a warning on stderr, which lands in the run's log) and that is all.

Notifications (``TOOLBOX_NOTIFY_URLS``: Apprise URLs — e-mail, Slack, Teams, Telegram, a
JSON webhook...) go out, in Spanish for the analysts, when a monitored run fails (a tripped
guard included), when a run is found crashed, when a scheduled slot is missed, and once when
a task recovers (its first success after a failure). Each event is claimed in the ledger
(``toolbox_notifications``, unique per event) before it is sent, so a crash or a missed slot
noticed by several readers is sent once. Secrets are scrubbed from every text.

Health pings (``TOOLBOX_PING_URL``, a template with ``{task}``): ``…/start`` when a run
starts, the bare URL on success, ``…/fail`` on failure, each with ``rid``; 10 s timeout.
``rid`` is a UUID derived from the database and the run id, because healthchecks.io takes
only UUIDs there; the ``X-Toolbox-Run`` header carries the run id itself.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Engine

from toolbox_cli import __version__, ledger
from toolbox_cli.clock import local_text
from toolbox_cli.ledger import Run
from toolbox_cli.monitoring.espanol import detalle, estado
from toolbox_cli.settings import Settings, scrub, secrets_of

log = logging.getLogger("toolbox")

# What to do, per error type of a failed run (Spanish, for the analysts).
HINTS = {
    "GuardTripped": "Revise las tablas fuente (¿están completas?). Si el resultado más chico es "
                    "correcto (una depuración real, un rango de fechas más corto), ejecute de "
                    "nuevo con --allow-shrink.",
    "DatabaseUnreachable": "Revise que la base de datos esté en línea y ejecute de nuevo.",
    "NoDatabase": "Ejecute toolbox db init en el servidor y luego la tarea de nuevo.",
    "ConfigError": "Corrija la configuración (toolbox config) y ejecute de nuevo.",
    "Interrupted": "La ejecución fue interrumpida; ejecútela de nuevo.",
    "LockLost": "Se perdió la conexión que tenía el bloqueo; ejecute la tarea de nuevo.",
    "Crashed": "El proceso terminó sin cerrar la ejecución (kill -9 o reinicio del servidor); "
               "las tablas conservan su contenido anterior. Revise el log y ejecute de nuevo.",
}
DEFAULT_HINT = "Revise el detalle con toolbox status {run} (y su log) y ejecute de nuevo: toolbox {task}."


@dataclass(frozen=True)
class Event:
    kind: str  # failed crashed missed recovered test
    task: str
    key: str  # unique: the same event is notified once
    title: str
    body: str
    run_id: int | None = None
    failure: bool = True


def body_text(task: str, what: str, when: str, run_id: int | None, hint: str,
          detail: str | None = None) -> str:
    lines = [f"Tarea: {task}", f"Qué pasó: {what}"]
    if detail:
        lines.append(f"Detalle: {detail}")
    lines.append(f"Cuándo: {when} (hora de Lima)")
    if run_id is not None:
        lines.append(f"Ejecución: {run_id} (toolbox status {run_id})")
    lines.append(f"Qué hacer: {hint}")
    return "\n".join(lines)


def failure_event(run: Run, settings: Settings) -> Event:
    hint = HINTS.get(run.error_type or "", DEFAULT_HINT).format(run=run.id, task=run.task)
    when = local_text(run.finished_at or run.started_at, settings.zone)
    if run.status == ledger.CRASHED:
        return Event("crashed", run.task, f"crashed:{run.id}",
                     f"toolbox: {run.task} terminó de forma anormal",
                     body_text(run.task, "la ejecución murió sin terminar; las tablas no cambiaron",
                               when, run.id, HINTS["Crashed"], detalle(run.error_message, run.id)),
                     run.id)
    what = ("el guardián detuvo la actualización: ninguna tabla fue reemplazada"
            if run.error_type == "GuardTripped" else
            "la tarea falló; las tablas que publica conservan su contenido anterior")
    return Event("failed", run.task, f"failed:{run.id}", f"toolbox: {run.task} falló",
                 body_text(run.task, what, when, run.id, hint, detalle(run.error_message, run.id)),
                 run.id)


def recovery_event(run: Run, previous: Run, settings: Settings) -> Event:
    when = local_text(run.finished_at or run.started_at, settings.zone)
    return Event("recovered", run.task, f"recovered:{run.id}",
                 f"toolbox: {run.task} se recuperó",
                 body_text(run.task, f"volvió a terminar bien después de la ejecución {previous.id}, "
                           f"que {estado(previous.status)}", when, run.id,
                           "Nada: las tablas están al día."),
                 run.id, failure=False)


def missed_event(task: str, slot: str, due_at: datetime, settings: Settings) -> Event:
    when = local_text(due_at, settings.zone)
    return Event("missed", task, f"missed:{task}@{slot}:{due_at:%Y-%m-%dT%H:%M}",
                 f"toolbox: {task} no se ejecutó a las {slot}",
                 body_text(task, f"cron no inició la ejecución programada de las {slot} (hora de Lima)",
                       when, None, "Revise que cron corra en el servidor (toolbox schedule show) "
                       "y el log de scripts/toolbox-cron."))


# ---------------------------------------------------------------- delivery


def deliver(settings: Settings, title: str, body: str, *, failure: bool = True) -> bool:
    """Send to every URL of TOOLBOX_NOTIFY_URLS; False (and a warning) when nothing got through."""
    urls = settings.notify_url_list()
    if not urls:
        return False
    import apprise  # only when there is something to send: it is not a small import

    secrets = secrets_of(settings)
    title, body = scrub(title, secrets) or "", scrub(body, secrets) or ""
    notifier = apprise.Apprise()
    for number, url in enumerate(urls, 1):
        if not notifier.add(url):
            log.warning("TOOLBOX_NOTIFY_URLS entry %d is not an Apprise URL; skipped", number)
    if not len(notifier):
        return False
    kind = apprise.NotifyType.FAILURE if failure else apprise.NotifyType.SUCCESS
    try:
        ok = bool(notifier.notify(title=title, body=body, notify_type=kind))
    except Exception as exc:  # a broken plugin must not break a run
        log.warning("notification failed: %s", scrub(f"{type(exc).__name__}: {exc}", secrets))
        return False
    if not ok:
        log.warning("could not deliver the notification %r to TOOLBOX_NOTIFY_URLS (see --debug)",
                    title)
    return ok


def notify_once(engine: Engine, settings: Settings, event: Event) -> bool:
    """Send ``event`` unless it was already sent; never raises."""
    if not settings.notify_url_list():
        return False
    try:
        if not ledger.claim_notification(engine, event.key, kind=event.kind, task=event.task,
                                         run_id=event.run_id):
            return False
        delivered = deliver(settings, event.title, event.body, failure=event.failure)
        if delivered:
            ledger.mark_delivered(engine, event.key)
        return delivered
    except Exception as exc:  # the ledger itself may be what is failing
        log.warning("notification of %s not sent: %s", event.key, type(exc).__name__)
        return False


def notify_run_end(engine: Engine, settings: Settings, run: Run) -> None:
    """After a monitored real run: its failure, or its recovery from a failure."""
    if run.status in (ledger.FAILED, ledger.CRASHED):
        notify_once(engine, settings, failure_event(run, settings))
    elif run.status == ledger.SUCCESS:
        previous = ledger.previous_final_run(engine, run.task, run.id)
        if previous is not None and previous.status in (ledger.FAILED, ledger.CRASHED):
            notify_once(engine, settings, recovery_event(run, previous, settings))


def notify_crashed(engine: Engine, settings: Settings, run_ids: Iterable[int],
                   monitored: set[str]) -> None:
    for run_id in run_ids:
        run = ledger.get_run(engine, run_id)
        if run is not None and run.task in monitored and not run.dry_run:
            notify_once(engine, settings, failure_event(run, settings))


# ---------------------------------------------------------------- health pings


def rid_for(database_key: str, run_id: int) -> str:
    """healthchecks.io's ``rid`` must be a UUID: a stable one per database and run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"toolbox:{database_key}:{run_id}"))


def ping_url(template: str, task: str, signal: str, rid: str) -> str:
    """``template`` with ``{task}``, ``/start`` or ``/fail`` appended to its path, and ``rid``."""
    base = template.replace("{task}", urllib.parse.quote(task, safe=""))
    parts = urllib.parse.urlsplit(base)
    path = parts.path.rstrip("/") + (f"/{signal}" if signal else "")
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("rid", rid)])
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


class Pinger:
    """The pings of one run. ``start`` does not delay the run; ``finish`` waits for both."""

    def __init__(self, settings: Settings, task: str, run_id: int, database_key: str) -> None:
        secret = settings.ping_url.get_secret_value() if settings.ping_url else ""
        self.template = secret or None
        self.task, self.run_id = task, run_id
        self.rid = rid_for(database_key, run_id)
        self.timeout = settings.ping_timeout_seconds
        self._started: threading.Thread | None = None

    def start(self) -> None:
        if self.template:
            self._started = threading.Thread(target=self._get, args=("start",), daemon=True,
                                             name="toolbox-ping")
            self._started.start()

    def finish(self, ok: bool) -> None:
        if not self.template:
            return
        if self._started is not None:
            self._started.join(self.timeout)
        self._get("" if ok else "fail")

    def _get(self, signal: str) -> None:
        assert self.template is not None
        url = ping_url(self.template, self.task, signal, self.rid)
        request = urllib.request.Request(url, headers={
            "User-Agent": f"toolbox/{__version__}", "X-Toolbox-Run": str(self.run_id)})
        what = signal or "success"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as exc:
            log.warning("health ping (%s) of %s run %s: HTTP %s", what, self.task, self.run_id,
                        exc.code)
        except Exception as exc:  # timeouts, refused connections, DNS: never fail the run
            reason = getattr(exc, "reason", exc)
            log.warning("health ping (%s) of %s run %s failed: %s", what, self.task,
                        self.run_id, type(reason).__name__ if not isinstance(reason, str)
                        else reason)


class Missed(Protocol):
    """A slot that did not fire (``monitor.MissedSlot``; alerts does not import monitor)."""

    @property
    def task(self) -> str: ...
    @property
    def slot(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...


def notify_missed(engine: Engine, settings: Settings, missed: Iterable[Missed]) -> None:
    """Missed slots, each notified once."""
    for slot in missed:
        notify_once(engine, settings, missed_event(slot.task, slot.slot, slot.due_at, settings))
