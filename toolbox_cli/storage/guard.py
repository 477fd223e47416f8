"""The guard before every swap: a bad source is never published.

One module, applied in one place (``TaskContext.judge``) to every write of a run: the
datamart writer's swaps and the imports and sheets into source tables, real and dry runs
alike. ``guard_for`` builds a run's guard from the settings, whose per-table limits are
checked against the table registry.

A new table that is empty while the live one has rows, or that has fewer rows than the live
one by more than the allowed percentage, stops the run before anything is swapped in, so
every table of the run keeps its old content. ``--allow-shrink`` lets one run through (a
narrower ``--desde``, a real purge) and the run records that it was used. The first refresh
into an empty (or missing) live table is not guarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from toolbox_cli.errors import ConfigError, GuardTripped, did_you_mean
from toolbox_cli.settings import Settings


@dataclass(frozen=True)
class Shrink:
    table: str
    live: int
    new: int
    limit: float  # percent

    @property
    def percent(self) -> float:
        return 100.0 * (self.live - self.new) / self.live

    def describe(self) -> str:
        if self.new == 0:
            return f"{self.table}: the new content is empty while the live table has {self.live:,} rows"
        return (f"{self.table}: {self.new:,} new rows against {self.live:,} in the live table "
                f"({self.percent:.0f}% fewer; the limit is {self.limit:g}%)")


@dataclass
class ShrinkGuard:
    default_percent: float = 20.0
    per_table: Mapping[str, float] = field(default_factory=dict)
    allow_shrink: bool = False
    # What --allow-shrink let through, for the run's warnings.
    notes: list[str] = field(default_factory=list)

    def limit(self, table: str) -> float:
        return float(self.per_table.get(table, self.default_percent))

    def shrinks(self, live: Mapping[str, int], new: Mapping[str, int]) -> list[Shrink]:
        """The tables whose new content is refused (pure)."""
        found = []
        for table, count in new.items():
            old = live.get(table, 0)
            if old <= 0:
                continue  # first refresh, or an empty live table: nothing to protect
            limit = self.limit(table)
            if count == 0 or 100.0 * (old - count) / old > limit:
                found.append(Shrink(table, old, count, limit))
        return found

    def check(self, live: Mapping[str, int], new: Mapping[str, int], *, dry_run: bool = False
              ) -> None:
        """Raise GuardTripped for a refused table, unless --allow-shrink was given (then
        note it). ``dry_run`` only changes the wording: a dry run fails as the real one would."""
        found = self.shrinks(live, new)
        if not found:
            return
        if self.allow_shrink:
            self.notes += [f"{s.describe()}; swapped in because --allow-shrink was given"
                           for s in found]
            return
        first, others = found[0], found[1:]
        also = "; also " + ", ".join(f"{s.table} ({s.live:,} → {s.new:,})" for s in others) \
            if others else ""
        outcome = "a real run would replace nothing" if dry_run else \
            "no table was replaced, the dashboards keep the previous content"
        raise GuardTripped(
            f"{first.describe()}{also}; {outcome}. Check the source tables; if the smaller "
            "result is right (a narrower --desde, a real purge), run again with --allow-shrink"
        )


def check_limits(settings: Settings) -> None:
    """A per-table limit naming no table is a configuration error (exit 2) naming the
    closest table; checked when any command starts and when a run builds its guard."""
    from toolbox_cli.storage.tables import guarded_tables, undefined

    for variable, limits in (("TOOLBOX_MAX_SHRINK_PERCENT_TABLES",
                              settings.max_shrink_percent_tables),):
        unknown = undefined(limits)
        if unknown:
            raise ConfigError(
                f"{variable} names no table {unknown[0]!r}"
                f"{did_you_mean(unknown[0], guarded_tables())}; use datamart or source "
                "table names, e.g. kpi, saldos, sector_pagadores")


def guard_for(settings: Settings, *, allow_shrink: bool) -> ShrinkGuard:
    """A run's guard, from the settings (``check_limits`` first)."""
    check_limits(settings)
    return ShrinkGuard(settings.max_shrink_percent, dict(settings.max_shrink_percent_tables),
                       allow_shrink=allow_shrink)
