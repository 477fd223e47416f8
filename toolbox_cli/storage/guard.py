"""The guard before every swap: a bad source is never published.

One module, applied in one place (``TaskContext.judge``) to every write of a run: the
datamart writer's swaps and the imports and sheets into source tables, real and dry runs
alike. ``guard_for`` builds a run's guard from the settings, whose per-table limits are
checked against the table registry. It refuses, before anything is swapped in, so that
every table of the run keeps its old content:

- **a shrink**: a new table that is empty while the live one has rows, or that has more
  than ``TOOLBOX_MAX_SHRINK_PERCENT`` (per table: ``..._TABLES``) fewer rows;
- **a moved total** (decision 22): a control total the table declares (``info["totals"]``,
  per ``info["totals_by"]``, in the table registry) that changed sign, or moved by more than
  ``TOOLBOX_MAX_TOTAL_CHANGE_PERCENT`` (per table: ``..._TABLES``) against the live table;
- **a broken column** (decision 21): a source column whose cells needed the legacy's
  coercion (a blank amount read as 0, ...) in more than ``TOOLBOX_MAX_COERCED_PERCENT`` of
  the rows the run read.

``--allow-shrink`` lets one run through all three (a narrower ``--desde``, a real purge, a
source known to be so) and the run records what it let through. A first fill (an empty or
missing live table) has nothing to protect and is not guarded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from toolbox_cli.errors import ConfigError, GuardTripped, did_you_mean
from toolbox_cli.settings import Settings


def percent_text(value: float, limit: float, least: int = 0) -> str:
    """``value`` percent with the decimals it takes not to read as the limit: a refusal one
    step past 20 % says ``20.1%``, not ``20%`` beside "the limit is 20%"."""
    for decimals in range(least, 4):
        text = f"{value:.{decimals}f}"
        if float(text) != limit:
            return text
    return f"{value:.4f}"


# A control total: (column, group) → sum; the group is a currency, or "" for the table.
Totals = Mapping[tuple[str, str], float]


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
                f"({percent_text(self.percent, self.limit)}% fewer; the limit is {self.limit:g}%)")

    def short(self) -> str:
        return f"{self.table} ({self.live:,} → {self.new:,} rows)"


@dataclass(frozen=True)
class TotalMove:
    table: str
    column: str
    group: str
    live: float
    new: float
    limit: float  # percent

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}" + (f" ({self.group})" if self.group else "")

    @property
    def flipped(self) -> bool:
        return (self.live > 0 > self.new) or (self.live < 0 < self.new)

    def describe(self) -> str:
        how = "changes sign" if self.flipped else \
            f"moves {percent_text(100 * abs(self.new - self.live) / abs(self.live), self.limit)}%"
        return (f"the total {self.name} {how}: {self.live:,.2f} in the live table, "
                f"{self.new:,.2f} new (the limit is {self.limit:g}%)")

    def short(self) -> str:
        return f"{self.name} ({self.live:,.2f} → {self.new:,.2f})"


@dataclass(frozen=True)
class Coerced:
    """A source column that needed coercion in too many of the rows a run read."""

    table: str
    column: str
    count: int
    rows: int
    example: str
    limit: float  # percent

    @property
    def percent(self) -> float:
        return 100.0 * self.count / self.rows

    def describe(self) -> str:
        return (f"{self.table}.{self.column} needed coercion in {self.count:,} of the "
                f"{self.rows:,} rows read ({percent_text(self.percent, self.limit, 1)}%; the "
                f"limit is {self.limit:g}%), e.g. {self.example}: the source is broken, not "
                "untidy")

    def short(self) -> str:
        return f"{self.table}.{self.column} ({self.count:,} of {self.rows:,})"


Finding = Shrink | TotalMove | Coerced


@dataclass(frozen=True)
class Coercions:
    """What a run read of one source column: the cells coerced, the rows read, an example."""

    table: str
    column: str
    count: int
    rows: int
    example: str


@dataclass
class ShrinkGuard:
    default_percent: float = 20.0
    per_table: Mapping[str, float] = field(default_factory=dict)
    allow_shrink: bool = False
    total_percent: float = 20.0
    total_per_table: Mapping[str, float] = field(default_factory=dict)
    coerced_percent: float = 5.0
    # Why a smaller result can be right, in the words of the command that runs: a task
    # with --desde says "a narrower --desde"; an import or a sheet does not have one.
    smaller_because: str = "a real purge"
    # What --allow-shrink let through, for the run's warnings.
    notes: list[str] = field(default_factory=list)

    def limit(self, table: str) -> float:
        return float(self.per_table.get(table, self.default_percent))

    def total_limit(self, table: str) -> float:
        return float(self.total_per_table.get(table, self.total_percent))

    def shrinks(self, live: Mapping[str, int], new: Mapping[str, int]) -> list[Shrink]:
        """The tables whose new row count is refused (pure)."""
        found = []
        for table, count in new.items():
            old = live.get(table, 0)
            if old <= 0:
                continue  # first refresh, or an empty live table: nothing to protect
            limit = self.limit(table)
            if count == 0 or 100.0 * (old - count) / old > limit:
                found.append(Shrink(table, old, count, limit))
        return found

    def moved_totals(self, live: Mapping[str, int], live_totals: Mapping[str, Totals],
                     new_totals: Mapping[str, Totals]) -> list[TotalMove]:
        """The control totals refused (pure): against a live table that has rows, a total
        that changed sign or moved by more than the limit; a total with no live value
        (a currency new to the table) has nothing to compare with."""
        found = []
        for table, totals in new_totals.items():
            if live.get(table, 0) <= 0:
                continue
            limit = self.total_limit(table)
            for (column, group), old in live_totals.get(table, {}).items():
                value = totals.get((column, group), 0.0)
                if old == 0:
                    continue
                move = TotalMove(table, column, group, old, value, limit)
                if move.flipped or 100.0 * abs(value - old) / abs(old) > limit:
                    found.append(move)
        return found

    def broken_columns(self, coerced: Sequence[Coercions]) -> list[Coerced]:
        """The source columns coerced in more than the limit's share of the rows read."""
        return [Coerced(c.table, c.column, c.count, c.rows, c.example, self.coerced_percent)
                for c in coerced
                if c.rows and 100.0 * c.count / c.rows > self.coerced_percent]

    def check(self, live: Mapping[str, int], new: Mapping[str, int], *, dry_run: bool = False,
              live_totals: Mapping[str, Totals] | None = None,
              new_totals: Mapping[str, Totals] | None = None,
              coerced: Sequence[Coercions] = ()) -> None:
        """Raise GuardTripped for a refused table, unless --allow-shrink was given (then
        note it). ``dry_run`` only changes the wording: a dry run fails as the real one would."""
        found: list[Finding] = [*self.broken_columns(coerced), *self.shrinks(live, new),
                                *self.moved_totals(live, live_totals or {}, new_totals or {})]
        if not found:
            return
        if self.allow_shrink:
            self.notes += [f"{f.describe()}; swapped in because --allow-shrink was given"
                           for f in found]
            return
        first, others = found[0], found[1:]
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        also = ("; also " + ", ".join(f.short() for f in others[:3]) + more) if others else ""
        outcome = "a real run would replace nothing" if dry_run else \
            "no table was replaced, the dashboards keep the previous content"
        if isinstance(first, Coerced):
            advice = ("Fix that column in the source; if the values are right as they are, "
                      "run again with --allow-shrink")
        else:
            advice = (f"Check the source tables; if the new result is right "
                      f"({self.smaller_because}), run again with --allow-shrink")
        raise GuardTripped(f"{first.describe()}{also}; {outcome}. {advice}")


def check_limits(settings: Settings) -> None:
    """A per-table limit naming no table is a configuration error (exit 2) naming the
    closest table; checked when any command starts and when a run builds its guard."""
    from toolbox_cli.storage.tables import guarded_tables, undefined

    for variable, limits in (
            ("TOOLBOX_MAX_SHRINK_PERCENT_TABLES", settings.max_shrink_percent_tables),
            ("TOOLBOX_MAX_TOTAL_CHANGE_PERCENT_TABLES", settings.max_total_change_percent_tables)):
        unknown = undefined(limits)
        if unknown:
            raise ConfigError(
                f"{variable} names no table {unknown[0]!r}"
                f"{did_you_mean(unknown[0], guarded_tables())}; use datamart or source "
                "table names, e.g. kpi, saldos, sector_pagadores")


def guard_for(settings: Settings, *, allow_shrink: bool, ranged: bool = False) -> ShrinkGuard:
    """A run's guard, from the settings (``check_limits`` first); ``ranged``: the run's
    command takes --desde, so a narrower range is one reason for fewer rows."""
    check_limits(settings)
    return ShrinkGuard(settings.max_shrink_percent, dict(settings.max_shrink_percent_tables),
                       allow_shrink=allow_shrink,
                       total_percent=settings.max_total_change_percent,
                       total_per_table=dict(settings.max_total_change_percent_tables),
                       coerced_percent=settings.max_coerced_percent,
                       smaller_because="a narrower --desde, a real purge" if ranged
                       else "a real purge")
