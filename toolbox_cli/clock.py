"""The clock: "now", "today in Lima", and the conversions between the ledger's times and
business time, in one place for every layer.

The ledger stores naive UTC (``utcnow``); the schedule, the dates of a report and what a
person reads are in business time (America/Lima, ``settings.zone``), whatever the host's
zone. Lima has no daylight saving time, but nothing here relies on that.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolbox_cli.settings import Settings


def now() -> datetime:
    """Now, aware, in UTC: what the schedule and monitoring compute from."""
    return datetime.now(UTC)


def utcnow() -> datetime:
    """Now as the ledger stores it: naive UTC, whole seconds (DATETIME columns)."""
    return now().replace(tzinfo=None, microsecond=0)


def business_today(settings: Settings) -> date:
    """Today in the business time zone (Lima), whatever the host's zone."""
    return datetime.now(settings.zone).date()


def business_wall_time(zone: tzinfo) -> datetime:
    """Now in business time without a zone, to the second, as the legacy's tables store it."""
    return datetime.now(zone).replace(tzinfo=None, microsecond=0)


def as_utc_naive(moment: datetime) -> datetime:
    """An aware moment (or a ledger time, returned as is) as naive UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def to_local(moment: datetime | None, zone: tzinfo) -> datetime | None:
    """A ledger time (naive UTC) in business time, aware."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(zone)


def local_text(moment: datetime, zone: tzinfo) -> str:
    """A ledger time (naive UTC) in business time with its offset: ``2026-12-01 07:00:02 -05:00``."""
    local = moment.replace(tzinfo=UTC).astimezone(zone)
    offset = local.isoformat()[-6:]
    return f"{local:%Y-%m-%d %H:%M:%S} {offset}"
