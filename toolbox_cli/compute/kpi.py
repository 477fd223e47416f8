"""The KPI pipeline on Polars frames (reportes.md §3.1–§3.6 with decisions.md).

No I/O and no clock: the task reads the source tables into frames and hands them in; every
date and rate comes in as a parameter. ``KpiPipeline`` holds what is the same for every
chunk (rates, sectors, referrals, executives, the superseded codes, the configuration) and
turns a chunk of documents with their payments and refunds (``in_system``) or a chunk of
off-system sheet rows (``off_system``) into the output rows of ``kpi`` (reporte 2) or
``kpi_acumulado`` (reporte 0). What it notices on the way (USD rows without a rate, fuzzy
matches, null amounts stored as 0, ...) is counted in ``KpiStats`` and becomes a few
aggregated warnings at the end, never one message per row.

The formulas are §3.5.5's, one expression per output column (``_metrics``); values stay
unrounded binary floats: the writer rounds money half-up once (decisions 12).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
from rapidfuzz import fuzz

from toolbox_cli.compute import cells, normalize
from toolbox_cli.compute.payments import COUNT, current_entry
from toolbox_cli.errors import InputError

# ------------------------------------------------------------------------ constants

IGV_FACTOR = 1.18
DAY_BASIS = 365
EXECUTIVE_THRESHOLD = 75  # RapidFuzz partial_ratio, §3.1 step 5
REFERRAL_THRESHOLD = 60  # RapidFuzz ratio, §3.3
SUSPICIOUS_RATE = 0.1  # monthly rate above 10 % after normalisation: probably mis-keyed (§6.11)
EXAMPLES = 3  # how many row identities a warning quotes

REPORTE_KPI = 2
REPORTE_ACUMULADO = 0

MESES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
    "septiembre", "octubre", "noviembre", "diciembre",
)


# Source amounts stored as 0 when null (§3.5.1 and §3.6). The legacy did it silently for most
# and crashed on NaN for the rest (§6.3); decisions.md "bad data" asks to count coercions.
ZERO_IF_NULL_SOURCE = (
    "DeudaAnterior", "NetoConfirmado", "FondoResguardo", "MontoComisionEstructuracion",
    "ComisionEstructuracionIGV", "ComisionEstructuracionConIGV", "MontoCobrar", "Interes",
    "InteresConIGV", "GastosContrato", "GastoVigenciaPoder", "ServicioCobranza",
    "ServicioCustodia", "GastosDiversosIGV", "GastosDiversosConIGV", "MontoTotalFacturado",
    "MontoDesembolso", "FinanciamientoPorc",
)
# Source columns the off-system sheets do not have (§2.4): always 0 there, nothing to report.
NOT_IN_SHEETS = frozenset({"DeudaAnterior"})
# Payment / refund amounts: 0 when the document has no payment or refund (not a coercion).
ZERO_IF_NULL_DETAIL = ("MontoPago", "ExcesoPago", "MontoDevolucion")
ZERO_IF_NULL_DETAIL_ACUMULADO = (
    "MontoCobrarPago", "InteresPago", "GastosPago", "SaldoDeuda", "DescuentoDevolucion",
)
PASSTHROUGH_TEXT = (
    "CodigoSolicitud", "RazonSocialCliente", "RazonSocialPagador", "ObservacionLiquidacion",
    "ObservacionSolicitud", "FlagPagoInteresConfirming", "Estado", "FacturasGeneradas",
    "EstadoDevolucion", "Anticipo", "TramoAnticipo",
)
PASSTHROUGH_TEXT_ACUMULADO = (
    "TipoOperacionDetalle", "FacturasMoraGeneradas", "ObservacionPago", "ObservacionDevolucion",
)
REQUIRED_TEXT = (
    "CodigoLiquidacion", "RUCCliente", "RazonSocialCliente", "RUCPagador", "RazonSocialPagador",
    "Moneda", "TipoOperacion", "Estado", "NroDocumento", "FacturasGeneradas", "Ejecutivo",
    "Mes", "Año", "MesAño", "MesSemana",
)
DATES = ("FechaConfirmado", "FechaOperacion", "FechaPago", "FechaDesembolso")
DATES_ACUMULADO = ("FechaInteresConfirming",)
TIMESTAMPS_ACUMULADO = ("FechaPagoCreacion", "FechaPagoModificacion")

# Columns each source must provide (typed: see ``source_schema``).
PAGO_COLUMNS = ("IdLiquidacionPago", "IdLiquidacionDet", "FechaPago", "MontoPago", "ExcesoPago",
                "DiasMora", "MontoCobrarPago", "InteresPago", "GastosPago", "TipoPago",
                "SaldoDeuda", "ObservacionPago", "FacturasMoraGeneradas", "FechaPagoCreacion",
                "FechaPagoModificacion")
DEVOLUCION_COLUMNS = ("IdLiquidacionDevolucion", "IdLiquidacionDet", "FechaDesembolso",
                      "MontoDevolucion", "DescuentoDevolucion", "EstadoDevolucion",
                      "ObservacionDevolucion")

# ------------------------------------------------------------------------ small helpers


def mes_anio(d: date) -> str:
    """``marzo-2024``: explicit Spanish month names, never the process locale (§6.13)."""
    return f"{MESES[d.month - 1]}-{d.year:04d}"


def calendar_columns(fecha: pl.Expr) -> list[pl.Expr]:
    """``Mes``, ``Año``, ``MesAño`` and ``MesSemana`` of the operation date (§3.2, §3.5.6):
    weeks start on Monday and week 1 holds day 1."""
    month_name = (fecha.dt.month() - 1).replace_strict(
        dict(enumerate(MESES)), return_dtype=pl.String)
    offset = (fecha.dt.month_start().dt.weekday() - 1).cast(pl.Int32)  # Monday = 0
    week = ((fecha.dt.day().cast(pl.Int32) + offset + 6) // 7).cast(pl.String)
    return [
        fecha.dt.strftime("%Y-%m").alias("Mes"),
        fecha.dt.strftime("%Y").alias("Año"),
        pl.concat_str(month_name, pl.lit("-"), fecha.dt.strftime("%Y")).alias("MesAño"),
        pl.concat_str(pl.lit("Semana "), week).alias("MesSemana"),
    ]


def as_text(expr: pl.Expr, dtype: Any) -> pl.Expr:
    """A cell as text; an integral number keeps only its digits (20123456789.0 → '20123456789')."""
    if dtype == pl.String:
        return expr
    if dtype.is_float():
        return pl.when(expr == expr.round(0)).then(expr.cast(pl.Int64).cast(pl.String)) \
            .otherwise(expr.cast(pl.String))
    return expr.cast(pl.String)


def _identity(frame: pl.DataFrame, index: int, fuera_sistema: bool) -> str:
    """How a user finds a row: code, document and where it lives."""
    row = frame.row(index, named=True)
    code, doc = row.get("_raw_codigo"), row.get("_raw_documento")
    if fuera_sistema:
        where = f"operaciones_fuera_sistema {row.get('Hoja') or '?'} fila {row.get('Fila')}"
    else:
        where = f"colocaciones IdLiquidacionDet {row.get('IdLiquidacionDet')}"
    return f"{code or '<sin código>'} / {doc or '<sin documento>'} ({where})"


# ------------------------------------------------------------------------ reference data


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


def best_match(query: str, choices: Sequence[str], scorer) -> tuple[int, float]:  # type: ignore[no-untyped-def]
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
            normalize.ruc_pagador(pl.col("RUCPagador").cast(pl.String)).alias("_sector_ruc"),
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


# ------------------------------------------------------------------------ stats


@dataclass
class Tally:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, identities: Iterable[str], count: int) -> None:
        self.count += count
        for identity in identities:
            if len(self.examples) >= EXAMPLES:
                break
            self.examples.append(identity)

    def text(self) -> str:
        more = ", ..." if self.count > len(self.examples) else ""
        return ", ".join(self.examples) + more


@dataclass
class KpiStats:
    in_system: int = 0
    superseded: int = 0
    off_system: int = 0
    off_system_dropped: int = 0
    usd_without_rate: Tally = field(default_factory=Tally)
    several_payments: Tally = field(default_factory=Tally)
    several_refunds: Tally = field(default_factory=Tally)
    suspicious_rate: Tally = field(default_factory=Tally)
    nulls_as_zero: Counter[str] = field(default_factory=Counter)
    nulls_as_zero_examples: list[str] = field(default_factory=list)
    moneda_from_sheet: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class KpiConfig:
    reporte: int
    # The output columns, in order: the datamart table's (storage/tables_reportes.py).
    columns: tuple[str, ...]
    tasa_fondeo_pen: float = 0.14
    tasa_fondeo_usd: float = 0.12

    @property
    def acumulado(self) -> bool:
        return self.reporte == REPORTE_ACUMULADO


def is_off_system_operation(frame: pl.DataFrame) -> pl.Series:
    """Whether each sheet row is an operation at all: rows without a code (null or exactly
    ``""``; a code of spaces is kept) or without either RUC are dropped (§2.4 step 1, §3.1
    step 3), and a dropped row supersedes nothing."""
    def blank(name: str) -> pl.Expr:
        text = pl.col(name).cast(pl.String)
        return text.is_null() | (text.str.strip_chars() == "")

    code = pl.col("CodigoLiquidacion").cast(pl.String)
    return frame.select(~(code.is_null() | (code == "") | blank("RUCCliente")
                          | blank("RUCPagador"))).to_series()


# ------------------------------------------------------------------------ the pipeline


class KpiPipeline:
    """Source frames → validated output frames, chunk by chunk (streamable)."""

    def __init__(self, config: KpiConfig, *, fx: pl.DataFrame, sectors: Sectors,
                 referrals: Referrals, off_system_names: Iterable[str | None],
                 off_system_codes: Iterable[str | None]) -> None:
        self.config = config
        self.fx = fx
        self.sectors = sectors
        self.referrals = referrals
        self.off_system_names = list(off_system_names)
        # Distinct in-system executive spellings in order of first appearance, learnt from
        # the documents as they stream by (in id order), for the off-system mapping.
        self.in_system_names: dict[str, None] = {}
        self._executives: dict[str, ExecutiveMatch] | None = None
        keys = pl.select(normalize.codigo_key(pl.Series(
            "c", [c for c in off_system_codes if c is not None], dtype=pl.String))).to_series()
        self.off_system_keys = pl.Series("k", keys.drop_nulls().unique().to_list(),
                                         dtype=pl.String)
        self.stats = KpiStats()

    # -- merge (§3.1)

    def in_system(self, documents: pl.DataFrame, pagos: pl.DataFrame | None = None,
                  devoluciones: pl.DataFrame | None = None) -> pl.DataFrame:
        """The output rows of one chunk of in-system documents with their payments and
        refunds (superseded documents left out)."""
        pagos = _details(pagos, PAGO_COLUMNS)
        devoluciones = _details(devoluciones, DEVOLUCION_COLUMNS)
        if "Ejecutivo" in documents.columns:
            names = documents["Ejecutivo"].cast(pl.String).drop_nulls().unique(maintain_order=True)
            fresh = [n for n in names.to_list() if n not in self.in_system_names]
            if fresh:
                self.in_system_names.update(dict.fromkeys(fresh))
                self._executives = None
        superseded = documents.select(normalize.codigo_key(
            pl.col("CodigoLiquidacion").cast(pl.String)).is_in(self.off_system_keys.implode())
            .fill_null(False)).to_series()
        self.stats.superseded += int(superseded.sum())
        kept = documents.filter(~superseded)
        self.stats.in_system += kept.height
        merged = kept.join(self._pagos(pagos), on="IdLiquidacionDet", how="left") \
            .join(self._devoluciones(devoluciones), on="IdLiquidacionDet", how="left")
        return self._build(merged, fuera_sistema=False)

    def off_system(self, sheet_rows: pl.DataFrame) -> pl.DataFrame:
        """The output rows of off-system sheet rows (rows that are not operations dropped)."""
        operation = is_off_system_operation(sheet_rows)
        self.stats.off_system_dropped += int((~operation).sum())
        rows = sheet_rows.filter(operation)
        self.stats.off_system += rows.height
        mapping = {name: m.mapped for name, m in self.executives.items()}
        if mapping:
            rows = rows.with_columns(pl.col("Ejecutivo").cast(pl.String).replace(mapping))
        return self._build(rows, fuera_sistema=True)

    @property
    def executives(self) -> dict[str, ExecutiveMatch]:
        """Each off-system executive mapped onto the in-system spellings seen so far (the
        in-system chunks come first, so the off-system rows see them all)."""
        if self._executives is None:
            self._executives = map_executives(self.off_system_names, list(self.in_system_names))
        return self._executives

    def _pagos(self, pagos: pl.DataFrame) -> pl.DataFrame:
        current = current_entry(pagos.drop([c for c in pagos.columns if c not in PAGO_COLUMNS]),
                                date="FechaPago", id="IdLiquidacionPago", summed=("MontoPago",))
        return current.drop("IdLiquidacionPago").rename({COUNT: "_pagos"})

    def _devoluciones(self, devoluciones: pl.DataFrame) -> pl.DataFrame:
        current = current_entry(devoluciones, date="FechaDesembolso", id="IdLiquidacionDevolucion",
                                summed=("MontoDevolucion",))
        return current.drop("IdLiquidacionDevolucion").rename({COUNT: "_devoluciones"})

    # -- the rows of a frame

    def _build(self, rows: pl.DataFrame, *, fuera_sistema: bool) -> pl.DataFrame:
        acumulado = self.config.acumulado
        columns = self.config.columns
        frame = _with_missing_columns(rows, fuera_sistema, acumulado)
        frame = frame.with_columns(
            as_text(pl.col("CodigoLiquidacion"), frame.schema["CodigoLiquidacion"])
            .alias("_raw_codigo"),
            as_text(pl.col("NroDocumento"), frame.schema["NroDocumento"]).alias("_raw_documento"),
        )
        frame = _read_cells(frame, fuera_sistema, acumulado)
        texts = PASSTHROUGH_TEXT + (PASSTHROUGH_TEXT_ACUMULADO if acumulado else ())
        frame = frame.with_columns(
            *[as_text(pl.col(c), frame.schema[c]).alias(c) for c in texts],
            normalize.codigo(pl.col("_raw_codigo")).alias("CodigoLiquidacion"),
            as_text(pl.col("RUCCliente"), frame.schema["RUCCliente"]).str.strip_chars()
            .alias("RUCCliente"),
            normalize.ruc_pagador(as_text(pl.col("RUCPagador"), frame.schema["RUCPagador"]))
            .alias("RUCPagador"),
            normalize.nro_documento(pl.col("_raw_documento")).alias("NroDocumento"),
            normalize.tipo_operacion(as_text(pl.col("TipoOperacion"),
                                             frame.schema["TipoOperacion"])).alias("TipoOperacion"),
            as_text(pl.col("Ejecutivo"), frame.schema["Ejecutivo"]).alias("Ejecutivo"),
        )
        frame = self._moneda(frame, fuera_sistema)
        frame = self._tasa(frame, fuera_sistema)
        frame = self._dates(frame, fuera_sistema, acumulado)
        frame = self._amounts(frame, fuera_sistema, acumulado)
        frame = self._dias_efectivo(frame, fuera_sistema)
        if acumulado:
            dias_mora = pl.when(pl.col("DiasMora").cast(pl.Float64).round(0)
                                == pl.col("DiasMora").cast(pl.Float64)) \
                .then(pl.col("DiasMora").cast(pl.Float64).cast(pl.Int64))
            if fuera_sistema:  # a blank off-system number is 0 (reportes §2.4 rule 4)
                dias_mora = dias_mora.fill_null(0)
            frame = frame.with_columns(
                dias_mora.alias("DiasMora"),
                normalize.tipo_pago_expr(as_text(pl.col("TipoPago"), frame.schema["TipoPago"]))
                .alias("TipoPago"),
                pl.lit(None, dtype=pl.Float64).alias("GastosDiversosSinIGV"),
            )
        if not fuera_sistema:
            self._tally_several(frame)
        frame = self._fx(frame, fuera_sistema)
        frame = frame.with_columns(_metrics(self.config))
        frame = self._referencia_and_sector(frame)
        frame = frame.with_columns(pl.lit("si" if fuera_sistema else "no").alias("FueraSistema"))
        self._check_required(frame, fuera_sistema)
        return frame.select(columns)

    def _moneda(self, frame: pl.DataFrame, fuera_sistema: bool) -> pl.DataFrame:
        raw = as_text(pl.col("Moneda"), frame.schema["Moneda"])
        blank = raw.is_null() | (raw.str.strip_chars() == "")
        if fuera_sistema:
            from_sheet = blank & pl.col("Hoja").is_not_null()
            taken = frame.filter(from_sheet)
            if taken.height:
                self.stats.moneda_from_sheet.add(
                    (_identity(taken, i, True) for i in range(min(EXAMPLES, taken.height))),
                    taken.height)
            # An off-system row lives in the PEN or the USD sheet: that is its currency.
            raw = pl.when(from_sheet).then(pl.col("Hoja")).otherwise(raw)
        frame = frame.with_columns(raw.alias("_raw_moneda"),
                                   normalize.moneda(raw).alias("Moneda"))
        bad = frame.filter(pl.col("Moneda").is_null())
        if bad.height:
            identity = _identity(bad, 0, fuera_sistema)
            raise InputError(f"kpi: row {identity} has Moneda {bad['_raw_moneda'][0]!r}; "
                             "expected PEN or USD, fix the source row")
        return frame

    def _tasa(self, frame: pl.DataFrame, fuera_sistema: bool) -> pl.DataFrame:
        number = pl.col("TasaNominalMensualPorc").cast(pl.Float64, strict=False)
        tasa = pl.when(number.is_null()).then(0.0) \
            .when(number >= 1).then(number / 100).otherwise(number)
        frame = frame.with_columns(tasa.alias("TasaNominalMensualPorc"))
        suspicious = frame.filter(pl.col("TasaNominalMensualPorc") > SUSPICIOUS_RATE)
        if suspicious.height:
            self.stats.suspicious_rate.add(
                (_identity(suspicious, i, fuera_sistema)
                 for i in range(min(EXAMPLES, suspicious.height))), suspicious.height)
        return frame

    def _dates(self, frame: pl.DataFrame, fuera_sistema: bool, acumulado: bool) -> pl.DataFrame:
        names = DATES + (DATES_ACUMULADO if acumulado else ())
        frame = frame.with_columns(
            *[pl.col(c).cast(pl.Date).cast(pl.Datetime("us")).alias(c) for c in names],
            *[pl.col(c).cast(pl.Datetime("us")).alias(c)
              for c in (TIMESTAMPS_ACUMULADO if acumulado else ())],
        )
        missing = frame.filter(pl.col("FechaOperacion").is_null())
        if missing.height:
            raise InputError(f"kpi: row {_identity(missing, 0, fuera_sistema)} has no "
                             "FechaOperacion; fix the source row")
        return frame.with_columns(calendar_columns(pl.col("FechaOperacion")))

    def _amounts(self, frame: pl.DataFrame, fuera_sistema: bool, acumulado: bool
                 ) -> pl.DataFrame:
        counted = [c for c in ZERO_IF_NULL_SOURCE
                   if not (fuera_sistema and c in NOT_IN_SHEETS)]
        nulls = frame.select([pl.col(c).is_null().sum().alias(c) for c in counted]).row(0)
        examples = self.stats.nulls_as_zero_examples
        for name, count in zip(counted, nulls, strict=True):
            if count:
                self.stats.nulls_as_zero[name] += count
                if len(examples) < EXAMPLES:
                    rows = frame.filter(pl.col(name).is_null())
                    for i in range(min(EXAMPLES, rows.height)):
                        identity = _identity(rows, i, fuera_sistema)
                        if len(examples) < EXAMPLES and identity not in examples:
                            examples.append(identity)
        detail = ZERO_IF_NULL_DETAIL + (ZERO_IF_NULL_DETAIL_ACUMULADO if acumulado else ())
        return frame.with_columns(
            *[pl.col(c).cast(pl.Float64).fill_null(0.0) for c in ZERO_IF_NULL_SOURCE],
            *[pl.col(c).cast(pl.Float64).fill_null(0.0) for c in detail],
        )

    def _dias_efectivo(self, frame: pl.DataFrame, fuera_sistema: bool) -> pl.DataFrame:
        dias = pl.col("DiasEfectivo").cast(pl.Float64)
        fractional = frame.filter(dias.is_not_null() & (dias.round(0) != dias))
        if fractional.height:
            raw = fractional["DiasEfectivo"][0]
            raise InputError(
                f"kpi: row {_identity(fractional, 0, fuera_sistema)}: DiasEfectivo {raw!r} is "
                "not a whole number of days; fix the source row"
            )
        nulls = frame["DiasEfectivo"].null_count()
        if nulls:
            self.stats.nulls_as_zero["DiasEfectivo"] += nulls
        return frame.with_columns(dias.fill_null(0.0).cast(pl.Int64).alias("DiasEfectivo"))

    def _tally_several(self, frame: pl.DataFrame) -> None:
        for name, tally in (("_pagos", self.stats.several_payments),
                            ("_devoluciones", self.stats.several_refunds)):
            several = frame.filter(pl.col(name).fill_null(0) > 1)
            if several.height:
                tally.add((_identity(several, i, False)
                           for i in range(min(EXAMPLES, several.height))), several.height)

    def _fx(self, frame: pl.DataFrame, fuera_sistema: bool) -> pl.DataFrame:
        """The most recent rate on or before the operation date (decisions 1)."""
        dated = frame.with_row_index("_order").with_columns(
            pl.col("FechaOperacion").cast(pl.Date).alias("_fecha"))
        joined = dated.sort("_fecha").join_asof(
            self.fx, left_on="_fecha", right_on="_fx_fecha", strategy="backward",
        ).sort("_order")
        joined = joined.with_columns(
            pl.col("_fx_fecha").cast(pl.Datetime("us")).alias("TipoCambioFecha"),
            pl.col("_fx_compra").alias("TipoCambioCompra"),
            pl.col("_fx_venta").alias("TipoCambioVenta"),
        )
        missing = joined.filter((pl.col("Moneda") == "USD") & pl.col("_fx_venta").is_null())
        if missing.height:
            self.stats.usd_without_rate.add(
                (_identity(missing, i, fuera_sistema) for i in range(min(EXAMPLES, missing.height))),
                missing.height)
        return joined.drop("_order", "_fecha", "_fx_fecha", "_fx_compra", "_fx_venta")

    def _referencia_and_sector(self, frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.with_columns(pl.col("CodigoLiquidacion").str.to_lowercase().alias("_ref_key"))
        frame = frame.join(self.referrals.frame, on="_ref_key", how="left", maintain_order="left")
        frame = frame.join(self.sectors.frame, left_on="RUCPagador", right_on="_sector_ruc",
                           how="left", maintain_order="left")
        return frame.with_columns(
            pl.coalesce("_referencia", "Ejecutivo").alias("Referencia"),
            pl.col("_sector").alias("Sector"),
            pl.coalesce("_grupo", "RazonSocialPagador").alias("GrupoEco"),
        )

    @staticmethod
    def _check_required(frame: pl.DataFrame, fuera_sistema: bool) -> None:
        nulls = frame.select(pl.any_horizontal(pl.col(REQUIRED_TEXT).is_null()).alias("_any"))
        if not nulls["_any"].any():
            return
        index = int(nulls["_any"].arg_true()[0])
        row = frame.row(index, named=True)
        missing = [name for name in REQUIRED_TEXT if row[name] is None]
        raise InputError(f"kpi: row {_identity(frame, index, fuera_sistema)} has no "
                         f"{', '.join(missing)}; fix the source row")

    # -- what to tell the user

    def warnings(self) -> list[str]:
        """Aggregated warnings of the whole run (a few examples each, never one per row)."""
        s = self.stats
        out: list[str] = []
        if not self.fx.height:
            out.append("tipo_cambio is empty: every USD row has NULL soles amounts; "
                       "run `toolbox tipo-cambio` first")
        if s.usd_without_rate.count:
            out.append(
                f"{s.usd_without_rate.count} USD row(s) have no exchange rate on or before their "
                f"FechaOperacion, soles amounts left NULL (run `toolbox tipo-cambio`): "
                f"{s.usd_without_rate.text()}"
            )
        if self.sectors.duplicates:
            dups = sorted(set(self.sectors.duplicates))
            out.append(f"sector_pagadores lists {len(dups)} RUC(s) more than once after cleaning, "
                       f"first row kept: {', '.join(dups[:EXAMPLES])}")
        fuzzy = [m for m in self.executives.values() if m.mapped != m.original]
        if fuzzy:
            shown = "; ".join(f"{m.original!r} → {m.mapped!r} ({m.score:.0f})"
                              for m in fuzzy[:EXAMPLES])
            out.append(f"{len(fuzzy)} off-system executive name(s) mapped by similarity: {shown}")
        if self.referrals.fuzzy:
            shown = "; ".join(f"{r.original!r} → {r.referencia!r} ({r.score:.0f})"
                              for r in self.referrals.fuzzy[:EXAMPLES])
            out.append(f"{len(self.referrals.fuzzy)} referral name(s) mapped by similarity: "
                       f"{shown}")
        if s.several_payments.count:
            out.append(
                f"{s.several_payments.count} document(s) have several payments: MontoPago is "
                f"their sum, the other payment columns come from the last one: "
                f"{s.several_payments.text()}"
            )
        if s.several_refunds.count:
            out.append(
                f"{s.several_refunds.count} document(s) have several refunds: MontoDevolucion is "
                f"their sum, the other refund columns come from the last one: "
                f"{s.several_refunds.text()}"
            )
        if s.suspicious_rate.count:
            out.append(
                f"{s.suspicious_rate.count} row(s) have a monthly rate above "
                f"{SUSPICIOUS_RATE:.0%} after normalisation (a percent typed as a fraction?): "
                f"{s.suspicious_rate.text()}"
            )
        if s.nulls_as_zero:
            counts = ", ".join(f"{k} ×{v}" for k, v in s.nulls_as_zero.most_common())
            out.append(f"empty amounts stored as 0: {counts}; e.g. "
                       f"{', '.join(s.nulls_as_zero_examples)}")
        if s.moneda_from_sheet.count:
            out.append(f"{s.moneda_from_sheet.count} off-system row(s) without Moneda took their "
                       f"sheet's currency: {s.moneda_from_sheet.text()}")
        return out


_DETAIL_DTYPES = {"IdLiquidacionPago": pl.Int64, "IdLiquidacionDet": pl.Int64,
                  "IdLiquidacionDevolucion": pl.Int64, "FechaPago": pl.Date,
                  "FechaDesembolso": pl.Date, "FechaPagoCreacion": pl.Datetime("us"),
                  "FechaPagoModificacion": pl.Datetime("us"), "DiasMora": pl.Float64,
                  "EstadoDevolucion": pl.Int64}


def _details(frame: pl.DataFrame | None, columns: Sequence[str]) -> pl.DataFrame:
    """Payments or refunds with every column the pipeline reads (none: an empty frame)."""
    amounts = set(ZERO_IF_NULL_DETAIL + ZERO_IF_NULL_DETAIL_ACUMULADO)

    def dtype(name: str) -> Any:
        return _DETAIL_DTYPES.get(name, pl.Float64 if name in amounts else pl.String)

    if frame is None or frame.width == 0:
        return pl.DataFrame(schema={c: dtype(c) for c in columns})
    missing = [c for c in columns if c not in frame.columns]
    return frame.with_columns([pl.lit(None, dtype=dtype(c)).alias(c) for c in missing])


_NUMBER_COLUMNS = ZERO_IF_NULL_SOURCE + ZERO_IF_NULL_DETAIL + ZERO_IF_NULL_DETAIL_ACUMULADO + (
    "TasaNominalMensualPorc", "DiasMora")


def _read_cells(frame: pl.DataFrame, fuera_sistema: bool, acumulado: bool) -> pl.DataFrame:
    """Columns that arrived as text (a permissive source, a legacy export) read cell by cell
    with the KPI's rules; typed columns are left as they are."""
    numbers = cells.needing_number_rules(frame, [c for c in _NUMBER_COLUMNS
                                                 if c in frame.columns])
    dates = [c for c in DATES + (DATES_ACUMULADO if acumulado else ()) + (
        TIMESTAMPS_ACUMULADO if acumulado else ()) + ("DiasEfectivo",)
        if c in frame.columns and not cells.arrived_as(frame, c, pl.Date, pl.Datetime, *(
            cells.NUMBERS if c == "DiasEfectivo" else ()))]
    if not numbers and not dates:
        return frame
    wheres = [_identity(frame, i, fuera_sistema) for i in range(frame.height)]
    replaced = [cells.cellwise(frame, c, lambda v, _w: cells.number_or_none(v), pl.Float64, wheres)
                for c in numbers]
    for name in dates:
        if name == "DiasEfectivo":
            replaced.append(cells.cellwise(frame, name, _dias_efectivo_cell, pl.Float64, wheres))
            continue
        keep_time = name in TIMESTAMPS_ACUMULADO

        def rule(value: Any, where: str, name: str = name, keep_time: bool = keep_time) -> Any:
            if keep_time and isinstance(value, datetime):
                return value  # payment timestamps keep their time of day
            try:
                day = cells.sheet_date(value)
            except ValueError as exc:
                raise InputError(f"kpi: row {where}: {name} {exc}; fix the source row") from None
            return datetime(day.year, day.month, day.day) if keep_time and day else day

        replaced.append(cells.cellwise(frame, name, rule,
                                       pl.Datetime("us") if keep_time else pl.Date, wheres))
    return frame.with_columns(replaced)


def _dias_efectivo_cell(value: Any, where: str) -> float | None:
    number = cells.number_or_none(value)
    if number is None and value is not None and str(value).strip() not in ("", "-"):
        raise InputError(f"kpi: row {where}: DiasEfectivo {value!r} is not a number; "
                         "fix the source row")
    return number


def _with_missing_columns(rows: pl.DataFrame, fuera_sistema: bool, acumulado: bool
                          ) -> pl.DataFrame:
    """Every column ``_build`` reads: what a source does not have is NULL (an off-system row
    has no DeudaAnterior, a document without payments no payment columns)."""
    wanted = set(ZERO_IF_NULL_SOURCE) | set(ZERO_IF_NULL_DETAIL) | set(PASSTHROUGH_TEXT) | {
        "CodigoLiquidacion", "RUCCliente", "RUCPagador", "NroDocumento", "TipoOperacion",
        "Ejecutivo", "Moneda", "TasaNominalMensualPorc", "DiasEfectivo", *DATES,
        "_pagos", "_devoluciones",
    }
    if fuera_sistema:
        wanted |= {"Hoja", "Fila"}
    else:
        wanted |= {"IdLiquidacionDet"}
    if acumulado:
        wanted |= set(ZERO_IF_NULL_DETAIL_ACUMULADO) | set(PASSTHROUGH_TEXT_ACUMULADO) | {
            "DiasMora", "TipoPago", *DATES_ACUMULADO, *TIMESTAMPS_ACUMULADO}
    missing = [c for c in sorted(wanted) if c not in rows.columns]
    dtypes = {c: pl.Datetime("us") for c in TIMESTAMPS_ACUMULADO} | \
        {c: pl.Date for c in (*DATES, *DATES_ACUMULADO)}
    return rows.with_columns([pl.lit(None, dtype=dtypes.get(c, pl.String)).alias(c)
                              if c not in ZERO_IF_NULL_SOURCE + ZERO_IF_NULL_DETAIL
                              + ZERO_IF_NULL_DETAIL_ACUMULADO + ("DiasMora", "_pagos",
                                                                 "_devoluciones")
                              else pl.lit(None, dtype=pl.Float64).alias(c)
                              for c in missing])


def _metrics(config: KpiConfig) -> list[pl.Expr]:
    """§3.5.5, unrounded. A USD row without a rate has no soles amounts (NULL: decisions 1);
    PEN rows use factor 1."""
    moneda = pl.col("Moneda")
    factor = pl.when(moneda == "USD").then(pl.col("TipoCambioVenta")).otherwise(1.0)
    comision = pl.col("ComisionEstructuracionConIGV") / IGV_FACTOR
    ingresos = comision + pl.col("Interes") + pl.col("GastosDiversosConIGV") / IGV_FACTOR
    tasa = pl.when(moneda == "PEN").then(config.tasa_fondeo_pen).otherwise(config.tasa_fondeo_usd)
    costos = ((1 + tasa).pow(pl.col("DiasEfectivo") / DAY_BASIS) - 1) * pl.col("MontoDesembolso")
    total = comision + pl.col("Interes")
    negociado = pl.col("NetoConfirmado") - pl.col("FondoResguardo")
    return [
        (pl.col("NetoConfirmado") * factor).alias("ColocacionSoles"),
        (pl.col("MontoDesembolso") * factor).alias("MontoDesembolsoSoles"),
        (pl.col("MontoPago") * factor).alias("MontoPagoSoles"),
        ingresos.alias("Ingresos"),
        (ingresos * factor).alias("IngresosSoles"),
        costos.alias("CostosFondo"),
        (costos * factor).alias("CostosFondoSoles"),
        total.alias("TotalIngresos"),
        (total * factor).alias("TotalIngresosSoles"),
        (total * factor - costos * factor).alias("Utilidad"),
        negociado.alias("MontoNegociado"),
        (negociado * factor).alias("MontoNegociadoSoles"),
    ]
