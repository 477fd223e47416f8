"""The two small tables beside ``toolbox_runs``, read and written: the notifications
already claimed (so exactly one process sends each) and the crontab slots ``schedule
install`` wrote on each host.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from toolbox_cli.clock import utcnow
from toolbox_cli.ledger.lifecycle import hostname
from toolbox_cli.storage.tables.ledger import notifications, schedule_installs


def claim_notification(engine: Engine, event: str, *, kind: str, task: str,
                       run_id: int | None) -> bool:
    """Record that ``event`` is being notified; False if some process already did (the
    unique key lets exactly one of several readers that notice a crash send it)."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(notifications).values(
                event=event[:190], kind=kind, task=task, run_id=run_id, sent_at=utcnow(),
                delivered=False))
    except IntegrityError:
        return False
    return True


def mark_delivered(engine: Engine, event: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(notifications).where(notifications.c.event == event[:190])
                     .values(delivered=True))


@dataclass(frozen=True)
class InstalledSlot:
    host: str
    target: str
    task: str
    slot: str
    expr: str
    installed_at: datetime


def record_install(engine: Engine, target: str, slots: list[tuple[str, str, str]]) -> None:
    """What ``schedule install`` wrote into ``target`` on this host: (task, slot label,
    Lima expression) each; replaces the previous record of that crontab."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(schedule_installs).where(
            schedule_installs.c.host == hostname(), schedule_installs.c.target == target))
        if slots:
            conn.execute(insert(schedule_installs), [
                dict(host=hostname(), target=target, task=task, slot=slot, expr=expr,
                     installed_at=now) for task, slot, expr in slots])


def installed_slots(engine: Engine) -> list[InstalledSlot]:
    with engine.connect() as conn:
        rows = conn.execute(select(schedule_installs).order_by(schedule_installs.c.id)).all()
    return [InstalledSlot(r.host, r.target, r.task, r.slot, r.expr, r.installed_at) for r in rows]
