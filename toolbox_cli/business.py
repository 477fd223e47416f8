"""Business calendar facts shared by every layer."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolbox_cli.settings import Settings

# The datamart's history starts here: default --desde of every job (reportes §1.2).
HISTORY_START = date(2019, 7, 1)


def business_today(settings: Settings) -> date:
    """Today in the business time zone (Lima), whatever the host's zone."""
    return datetime.now(settings.zone).date()


def local_text(moment: datetime, zone: tzinfo) -> str:
    """A ledger time (naive UTC) in business time with its offset: ``2026-12-01 07:00:02 -05:00``."""
    local = moment.replace(tzinfo=UTC).astimezone(zone)
    offset = local.isoformat()[-6:]
    return f"{local:%Y-%m-%d %H:%M:%S} {offset}"
