"""The KPI's reference data (reportes.md §3.1 step 5, §3.3, §6.8, §6.9; decisions 1).

What ``KpiPipeline`` holds for every chunk besides its configuration: the exchange rates as
a frame sorted by date (``fx_frame``), the off-system executive names mapped onto the
in-system spellings by RapidFuzz similarity (``map_executives``, ``ExecutiveMatch``,
``best_match``), the referral of each liquidación code under its canonical name
(``canonical_referencia``, ``Referral``, ``Referrals``) and the sector and economic group of
each payer RUC (``Sectors``), with the similarity thresholds they use. Each is built once per
run from a small source table; a row that cannot be used fails the run with an
``InputError`` that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from rapidfuzz import fuzz

from toolbox_cli.compute import ruc
from toolbox_cli.errors import InputError

EXECUTIVE_THRESHOLD = 75  # RapidFuzz partial_ratio, §3.1 step 5
REFERRAL_THRESHOLD = 60  # RapidFuzz ratio, §3.3


def fx_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """``tipo_cambio`` (``TipoCambioFecha`` ISO text, rates) as a frame sorted by date."""
    parsed = rows.select(
        pl.col("TipoCambioFecha").cast(pl.String).str.strip_chars().str.slice(0, 10)
        .str.to_date("%Y-%m-%d", strict=False).alias("_fx_fecha"),
        pl.col("TipoCambioCompra").cast(pl.Float64, strict=False).alias("_fx_compra"),
        pl.col("TipoCambioVenta").cast(pl.Float64, strict=False).alias("_fx_venta"),
        pl.col("TipoCambioFecha").alias("_raw"),
    )
    bad = parsed.filter(pl.any_horizontal(pl.col("_fx_fecha", "_fx_compra", "_fx_venta")
                                          .is_null()))
    if bad.height:
        raise InputError(
            f"tipo_cambio row {bad['_raw'][0]!r} has an unreadable date or rate; "
            "fix it (dates YYYY-MM-DD, numeric rates) and rerun"
        )
    return parsed.drop("_raw").sort("_fx_fecha")


@dataclass(frozen=True)
class ExecutiveMatch:
    original: str
    mapped: str
    score: float


def best_match(query: str, choices: Sequence[str], scorer: Callable[[str, str], float]
               ) -> tuple[int, float]:
    """Index and score of the highest-scoring choice; the first one wins ties."""
    best_index, best_score = -1, -1.0
    for index, choice in enumerate(choices):
        score = scorer(query, choice)
        if score > best_score:
            best_index, best_score = index, score
    return best_index, best_score


def map_executives(off_system_names: Iterable[str | None],
                   in_system_names: Sequence[str | None]) -> dict[str, ExecutiveMatch]:
    """Map each distinct off-system executive onto an in-system spelling (§3.1 step 5).

    ``in_system_names`` are the distinct in-system spellings in order of first appearance.
    Lower-cased names are compared with RapidFuzz ``partial_ratio`` (no other processing);
    a best score ≥ 75 takes the spelling of the first in-system row with that lower-cased
    name, otherwise the original text is kept.
    """
    spelling: dict[str, str] = {}
    for name in in_system_names:
        if name is not None:
            spelling.setdefault(name.lower(), name)
    choices = list(spelling)
    out: dict[str, ExecutiveMatch] = {}
    for name in off_system_names:
        if name is None or name in out:
            continue
        index, score = best_match(name.lower(), choices, fuzz.partial_ratio)
        mapped = spelling[choices[index]] if index >= 0 and score >= EXECUTIVE_THRESHOLD else name
        out[name] = ExecutiveMatch(name, mapped, score if index >= 0 else 0.0)
    return out


@dataclass(frozen=True)
class Referral:
    original: str
    referencia: str
    how: str  # "alias", "exact" (already canonical), "fuzzy", "as-is"
    score: float = 0.0


def canonical_referencia(text: str, aliases: Mapping[str, str]) -> Referral:
    """Canonical referral name: alias key (trimmed, case-insensitive), else the most similar
    canonical name with RapidFuzz ``ratio`` ≥ 60 (first on ties), else the trimmed text.

    ``aliases`` maps alias key → canonical name, in table order (which breaks fuzzy ties).
    """
    trimmed = text.strip()
    by_key = {k.strip().casefold(): v for k, v in aliases.items()}
    if trimmed.casefold() in by_key:
        return Referral(text, by_key[trimmed.casefold()], "alias", 100.0)
    canonicals = list(dict.fromkeys(aliases.values()))
    index, score = best_match(trimmed.lower(), [c.lower() for c in canonicals], fuzz.ratio)
    if index >= 0 and score >= REFERRAL_THRESHOLD:
        # Only a changed name is a fuzzy mapping worth reporting.
        how = "exact" if canonicals[index] == trimmed else "fuzzy"
        return Referral(text, canonicals[index], how, score)
    return Referral(text, trimmed, "as-is", score if index >= 0 else 0.0)


@dataclass(frozen=True)
class Referrals:
    """Referencia by code key (the sheet side trimmed only, not truncated: §3.3, §6.8)."""

    frame: pl.DataFrame  # _ref_key, Referencia
    fuzzy: list[Referral]

    @classmethod
    def build(cls, referidos: pl.DataFrame, aliases: Mapping[str, str]) -> Referrals:
        by_key: dict[str, Referral] = {}
        for code, referencia in zip(referidos["CodigoLiquidacion"].to_list(),
                                    referidos["Referencia"].to_list(), strict=True):
            if code is None or not str(code).strip() or referencia is None \
                    or not str(referencia).strip():
                raise InputError(
                    f"referidos: row {code!r} has an empty CodigoLiquidacion or Referencia; "
                    "fix the referrals sheet and import it again"
                )
            # Later rows win: the legacy de-duplicated by code keeping the last row.
            by_key[str(code).strip().casefold()] = canonical_referencia(str(referencia), aliases)
        frame = pl.DataFrame({"_ref_key": list(by_key),
                              "_referencia": [r.referencia for r in by_key.values()]},
                             schema={"_ref_key": pl.String, "_referencia": pl.String})
        return cls(frame, [r for r in by_key.values() if r.how == "fuzzy"])


@dataclass(frozen=True)
class Sectors:
    """Sector and economic group by payer RUC, one row per RUC (first wins, §6.9)."""

    frame: pl.DataFrame  # _sector_ruc, _sector, _grupo
    duplicates: list[str]

    @classmethod
    def build(cls, rows: pl.DataFrame) -> Sectors:
        # The RUCPagador cleaning of §3.2 on both sides, so a spaced RUC still matches.
        cleaned = rows.select(
            ruc.ruc_key(pl.col("RUCPagador").cast(pl.String)).alias("_sector_ruc"),
            pl.col("Sector").cast(pl.String).alias("_raw_sector"),
            pl.col("GrupoEco").cast(pl.String).alias("_raw_grupo"),
        ).filter(pl.col("_sector_ruc").is_not_null()
                 & (pl.col("_sector_ruc").str.strip_chars() != ""))
        blank = cleaned.filter(pl.col("_raw_sector").is_null()
                               | (pl.col("_raw_sector").str.strip_chars() == ""))
        if blank.height:
            raise InputError(f"sector_pagadores: RUC {blank['_sector_ruc'][0]} has no SECTOR; "
                             "fill it and import the sheet again")
        duplicated = cleaned.filter(pl.col("_sector_ruc").is_duplicated()
                                    & ~pl.col("_sector_ruc").is_first_distinct())
        first = cleaned.unique("_sector_ruc", keep="first", maintain_order=True)
        frame = first.select(
            "_sector_ruc",
            pl.col("_raw_sector").str.strip_chars().alias("_sector"),
            pl.when(pl.col("_raw_grupo").str.strip_chars() != "")
            .then(pl.col("_raw_grupo").str.strip_chars()).alias("_grupo"),
        )
        return cls(frame, duplicated["_sector_ruc"].to_list())
