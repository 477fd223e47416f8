"""Business calendar facts shared by every layer."""

from __future__ import annotations

from datetime import date, datetime

from toolbox_cli.settings import Settings

# The datamart's history starts here: default --desde of every job (reportes §1.2).
HISTORY_START = date(2019, 7, 1)


def business_today(settings: Settings) -> date:
    """Today in the business time zone (Lima), whatever the host's zone."""
    return datetime.now(settings.zone).date()
