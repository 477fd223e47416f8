"""Typed task parameters: the run flags every task takes, and the report date ranges.

Each field is declared with ``param()`` and so carries its command-line flag; the command
line makes one option per field (``cli/task_commands.py``). Dates are defaulted and checked
in one place, ``resolved(today)``, which the runner calls with the run's business date
(Lima) before anything starts: a bad combination is a usage error (exit 2), not a run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Self

from toolbox_cli.errors import InputError

DATE = "YYYY-MM-DD"  # the metavar of every date option (DD/MM/YYYY is read too)
# The datamart's history starts here: default --desde of every job (reportes §1.2).
HISTORY_START = date(2019, 7, 1)


@dataclass(frozen=True)
class Flag:
    """How a parameter is spelled on the command line."""

    name: str  # "--desde"
    help: str
    metavar: str | None = None
    minimum: float | None = None


def param(flag: str, help: str, *, default: Any = None, metavar: str | None = None,
          minimum: float | None = None) -> Any:
    """A parameter field with its command-line flag."""
    return field(default=default, metadata={"flag": Flag(flag, help, metavar, minimum)})


def flag_of(f: dataclasses.Field[Any]) -> Flag:
    flag = f.metadata["flag"]
    assert isinstance(flag, Flag), f"{f.name} was not declared with param()"
    return flag


@dataclass(frozen=True)
class RunFlags:
    """What every run of a task takes."""

    dry_run: bool = param("--dry-run", "Compute and report counts; write nothing.",
                          default=False)
    allow_shrink: bool = param(
        "--allow-shrink", "Let this run through the guard: a table with far fewer rows, "
        "control totals that moved far or changed sign, a source column that needed much "
        "coercion, when that is the right result (a real purge); recorded on the run.",
        default=False)

    def resolved(self, today: date) -> Self:
        """The parameters with their defaults filled in for a run on ``today`` (Lima) and
        checked; a bad combination raises ``InputError`` (exit 2)."""
        return self


@dataclass(frozen=True)
class CutOff(RunFlags):
    """A report as of a cut-off date (reportes.md §1.3)."""

    fecha_corte: date | None = param("--fecha-corte", "Cut-off date (Lima). Default today "
                                     "in Lima.", metavar=DATE)
    allow_future: bool = param("--allow-future", "Accept a cut-off (or --hasta) after today "
                               "(Lima).", default=False)
    hojas: bool = param("--hojas", "First refresh, in this run, the Google Sheets "
                        "(TOOLBOX_SHEETS) of the tables this task reads.", default=False)
    operaciones: bool | None = param(
        "--operaciones/--sin-operaciones", "First refresh, in this run, the operations from "
        "the webservice (TOOLBOX_OPERACIONES_URL), or do not. Default: scheduled runs do "
        "when it is set, manual runs do not.")

    def resolved(self, today: date) -> Self:
        corte = self.fecha_corte or today
        if corte > today and not self.allow_future:
            raise InputError(
                f"--fecha-corte {corte} is after today in Lima ({today}): a report as of a "
                "day that has not come counts no payment of it; give --allow-future if you "
                "mean it")
        return dataclasses.replace(self, fecha_corte=corte)


@dataclass(frozen=True)
class ReportRange(CutOff):
    """Operations dated ``desde``..``hasta``, as of ``fecha_corte``."""

    desde: date = param("--desde", "First operation date (Lima). Default 2019-07-01.",
                        default=HISTORY_START, metavar=DATE)
    hasta: date | None = param("--hasta", "Last operation date (Lima). Default today in "
                               "Lima.", metavar=DATE)

    def resolved(self, today: date) -> Self:
        hasta = self.hasta or today
        if hasta > today and not self.allow_future:
            raise InputError(
                f"--hasta {hasta} is after today in Lima ({today}): no operation is dated in "
                "the future, so the range would end today anyway; leave --hasta out, or give "
                "--allow-future if you mean it")
        if hasta < self.desde:
            raise InputError(f"--hasta {hasta} is before --desde {self.desde}; swap them")
        return dataclasses.replace(super().resolved(today), hasta=hasta)
