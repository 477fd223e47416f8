"""Task ``operaciones``: the source contract from the operations webservice, and the same
as a source refresh before a report (``--operaciones``).

The work is in ``pipelines/operaciones.py``, the calls in ``remote/operaciones.py``, the
spellings in ``compute/answers.py``. As ``--operaciones`` inside ``kpi``, ``kpi-acumulado``,
``tablas-reportes`` and ``tablas-cxc`` (``OPERACIONES_FIRST``, their ``refresh_first``) it
runs in the same run, under locks that cover the three source tables, before anything is
computed; a failed fetch fails the run and keeps every table. When
``TOOLBOX_OPERACIONES_URL`` is set, scheduled runs (the cron wrapper) do it unless
``--sin-operaciones``; manual runs do it only with ``--operaciones``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from toolbox_cli.errors import ConfigError, InputError
from toolbox_cli.params import CutOff, RunFlags
from toolbox_cli.tasks.base import Refresh, TaskSpec

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext
    from toolbox_cli.settings import Settings

TABLES = ("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones")
SETTING = "TOOLBOX_OPERACIONES_URL"


def check_configured(settings: Settings, what: str) -> None:
    """The webservice's three settings, or a configuration error saying which is missing."""
    if not settings.operaciones_url:
        raise ConfigError(f"{what}: {SETTING} is not set: no webservice to read. Set it to "
                          "the operations webservice's base URL, with TOOLBOX_OPERACIONES_USER "
                          'and TOOLBOX_OPERACIONES_PASSWORD (README "The operations webservice")')
    missing = [name for name, value in (("TOOLBOX_OPERACIONES_USER", settings.operaciones_user),
                                        ("TOOLBOX_OPERACIONES_PASSWORD",
                                         settings.operaciones_password))
               if not value or (hasattr(value, "get_secret_value")
                                and not value.get_secret_value())]
    if missing:
        raise ConfigError(f"{what}: {' and '.join(missing)} not set: the colocaciones report "
                          f"needs a login; set {'them' if len(missing) > 1 else 'it'} beside "
                          f"{SETTING}")


def run(ctx: TaskContext, params: RunFlags) -> None:
    from toolbox_cli.pipelines.operaciones import refresh_operaciones

    refresh_operaciones(ctx)


def wanted(params: RunFlags, settings: Settings) -> bool:
    """Whether a refresh with ``params`` gets fresh operations first."""
    if not isinstance(params, CutOff):
        return False
    if params.operaciones is not None:
        return params.operaciones
    return bool(settings.operaciones_url) and os.environ.get("TOOLBOX_TRIGGER") == "cron"


class OperacionesFirst:
    """``--operaciones``: the three source tables from the webservice, first, in the run."""

    def plan(self, spec: TaskSpec, params: RunFlags, settings: Settings) -> Refresh | None:
        if not wanted(params, settings):
            return None
        try:
            check_configured(settings, "--operaciones")
        except ConfigError as exc:
            raise InputError(f"{exc}; or drop --operaciones") from None

        def refresh(ctx: TaskContext) -> None:
            from toolbox_cli.pipelines.operaciones import refresh_operaciones

            refresh_operaciones(ctx)

        return Refresh("operaciones", TABLES, refresh)


OPERACIONES_FIRST = OperacionesFirst()


def _check(ctx: TaskContext, params: RunFlags) -> None:
    check_configured(ctx.settings, "operaciones")
    run(ctx, params)


SPEC = TaskSpec(
    "operaciones",
    """Fill the operations source tables from the webservice (TOOLBOX_OPERACIONES_URL).

    Replaces colocaciones, colocaciones_pagos and colocaciones_devoluciones. Reads the
    documents, payments and refunds (whole history) and the colocaciones report
    (reporte 2 and 0, logged in with TOOLBOX_OPERACIONES_USER and _PASSWORD), reads the
    answers' spellings (numbers as text, dd/mm/YYYY dates, No Aplica) into typed columns
    and replaces the three tables together, behind the guard, or none of them. A failed
    call, an answer that is not a JSON list or a bad row fails the run (exit 1) and keeps
    every table.""",
    _check,
    params=RunFlags,
    tables=TABLES,
    schedule=("40 6 * * *",),
    reads=TABLES,
    example="toolbox operaciones --dry-run",
)
