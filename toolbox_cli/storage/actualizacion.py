"""``actualizacion_reportes``: the dashboards' append-only "last refreshed" log (§4.6)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.engine import Engine

from toolbox_cli.storage.tables.reportes import actualizacion_reportes


def append_actualizacion(engine: Engine, *, at: datetime, estado: str, detalle: str | None) -> None:
    """One row: a random UUID v4 key (32 hex characters, as the legacy), Lima wall time."""
    actualizacion_reportes.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(actualizacion_reportes.insert().values(
            actualizacion_reporte_id=uuid.uuid4().hex,
            ultima_actualizacion=at,
            estado=estado,
            detalle=detalle,
        ))
