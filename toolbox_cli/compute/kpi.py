"""The KPI pipeline on Polars frames (reportes.md §3.1–§3.6 with decisions.md).

No I/O and no clock: the task reads the source tables into frames and hands them in; every
date and rate comes in as a parameter. ``KpiPipeline`` holds what is the same for every
chunk (rates, sectors, referrals and executives from ``kpi_reference``, the superseded
codes, the ``kpi_formulas.KpiConfig``) and turns a chunk of documents with their payments
and refunds (``in_system``) or a chunk of off-system sheet rows (``off_system``), brought to
its typed columns by ``kpi_inputs``, into the output rows of ``kpi`` or ``kpi_acumulado``:
it validates and normalises every field, joins rates, referrals and sectors, and applies
the formulas of ``kpi_formulas``. What it notices on the way (USD rows without a rate,
fuzzy matches, null amounts stored as 0, ...) is counted in ``KpiStats`` and becomes a few
aggregated warnings at the end (``KpiPipeline.warnings``), never one message per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from toolbox_cli.compute import ruc, spellings
from toolbox_cli.compute.cells import CoercionLog
from toolbox_cli.compute.kpi_formulas import KpiConfig, metrics
from toolbox_cli.compute.kpi_inputs import (
    DATES,
    DATES_ACUMULADO,
    NOT_IN_SHEETS,
    PAGO_COLUMNS,
    PASSTHROUGH_TEXT,
    PASSTHROUGH_TEXT_ACUMULADO,
    REQUIRED_TEXT,
    TIMESTAMPS_ACUMULADO,
    ZERO_IF_NULL_DETAIL,
    ZERO_IF_NULL_DETAIL_ACUMULADO,
    ZERO_IF_NULL_SOURCE,
    as_text,
    calendar_columns,
    is_off_system_operation,
    read_cells,
    row_identity,
    with_detail_columns,
    with_missing_columns,
)
from toolbox_cli.compute.kpi_reference import ExecutiveMatch, Referrals, Sectors, map_executives
from toolbox_cli.compute.payments import COUNT, DEVOLUCION_COLUMNS, current_entry
from toolbox_cli.errors import InputError
from toolbox_cli.words import count, plural

# ------------------------------------------------------------------------ constants

IN_SYSTEM, OFF_SYSTEM = "colocaciones", "operaciones_fuera_sistema"  # the source tables read
SUSPICIOUS_RATE = 0.1  # monthly rate above 10 % after normalisation: probably mis-keyed (§6.11)
EXAMPLES = 3  # how many row identities a warning quotes


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

# ------------------------------------------------------------------------ the pipeline


class KpiPipeline:
    """Source frames → validated output frames, chunk by chunk (streamable)."""

    def __init__(self, config: KpiConfig, *, fx: pl.DataFrame, sectors: Sectors,
                 referrals: Referrals, off_system_names: Iterable[str | None],
                 off_system_codes: Iterable[str | None] | pl.Series,
                 logs: dict[str, CoercionLog] | None = None) -> None:
        self.config = config
        # The coercions of each source table's columns (decision 21), for the run's guard.
        self.logs = logs if logs is not None else {}
        for table in (IN_SYSTEM, OFF_SYSTEM):
            self.logs.setdefault(table, CoercionLog())
        self.fx = fx
        self.sectors = sectors
        self.referrals = referrals
        self.off_system_names = list(off_system_names)
        # Distinct in-system executive spellings in order of first appearance, learnt from
        # the documents as they stream by (in id order), for the off-system mapping.
        self.in_system_names: dict[str, None] = {}
        self._executives: dict[str, ExecutiveMatch] | None = None
        codes = (off_system_codes.cast(pl.String).drop_nulls().rename("c")
                 if isinstance(off_system_codes, pl.Series) else
                 pl.Series("c", [c for c in off_system_codes if c is not None], dtype=pl.String))
        keys = pl.DataFrame([codes]).select(spellings.codigo_key(pl.col("c"))).to_series()
        self.off_system_keys = pl.Series("k", keys.drop_nulls().unique().to_list(),
                                         dtype=pl.String)
        self.stats = KpiStats()

    # -- merge (§3.1)

    def in_system(self, documents: pl.DataFrame, pagos: pl.DataFrame | None = None,
                  devoluciones: pl.DataFrame | None = None) -> pl.DataFrame:
        """The output rows of one chunk of in-system documents with their payments and
        refunds (superseded documents left out)."""
        pagos = with_detail_columns(pagos, PAGO_COLUMNS)
        devoluciones = with_detail_columns(devoluciones, DEVOLUCION_COLUMNS)
        if "Ejecutivo" in documents.columns:
            names = documents["Ejecutivo"].cast(pl.String).drop_nulls().unique(maintain_order=True)
            fresh = [n for n in names.to_list() if n not in self.in_system_names]
            if fresh:
                self.in_system_names.update(dict.fromkeys(fresh))
                self._executives = None
        superseded = documents.select(spellings.codigo_key(
            pl.col("CodigoLiquidacion").cast(pl.String)).is_in(self.off_system_keys.implode())
            .fill_null(False)).to_series()
        self.stats.superseded += int(superseded.sum())
        kept = documents.filter(~superseded)
        self.stats.in_system += kept.height
        self.logs[IN_SYSTEM].read(kept.height)
        merged = kept.join(self._pagos(pagos), on="IdLiquidacionDet", how="left") \
            .join(self._devoluciones(devoluciones), on="IdLiquidacionDet", how="left")
        return self._build(merged, fuera_sistema=False)

    def off_system(self, sheet_rows: pl.DataFrame) -> pl.DataFrame:
        """The output rows of off-system sheet rows (rows that are not operations dropped)."""
        operation = is_off_system_operation(sheet_rows)
        self.stats.off_system_dropped += int((~operation).sum())
        rows = sheet_rows.filter(operation)
        self.stats.off_system += rows.height
        self.logs[OFF_SYSTEM].read(rows.height)
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
        frame = with_missing_columns(rows, fuera_sistema, acumulado)
        frame = frame.with_columns(
            as_text(pl.col("CodigoLiquidacion"), frame.schema["CodigoLiquidacion"])
            .alias("_raw_codigo"),
            as_text(pl.col("NroDocumento"), frame.schema["NroDocumento"]).alias("_raw_documento"),
        )
        frame = read_cells(frame, fuera_sistema, acumulado)
        texts = PASSTHROUGH_TEXT + (PASSTHROUGH_TEXT_ACUMULADO if acumulado else ())
        frame = frame.with_columns(
            *[as_text(pl.col(c), frame.schema[c]).alias(c) for c in texts],
            spellings.codigo(pl.col("_raw_codigo")).alias("CodigoLiquidacion"),
            as_text(pl.col("RUCCliente"), frame.schema["RUCCliente"]).str.strip_chars()
            .alias("RUCCliente"),
            ruc.ruc_key(as_text(pl.col("RUCPagador"), frame.schema["RUCPagador"]))
            .alias("RUCPagador"),
            spellings.nro_documento(pl.col("_raw_documento")).alias("NroDocumento"),
            spellings.tipo_operacion(as_text(pl.col("TipoOperacion"),
                                             frame.schema["TipoOperacion"])).alias("TipoOperacion"),
            as_text(pl.col("Ejecutivo"), frame.schema["Ejecutivo"]).alias("Ejecutivo"),
        )
        frame = self._moneda(frame, fuera_sistema)
        frame = self._tasa(frame, fuera_sistema)
        frame = self._dates(frame, fuera_sistema, acumulado)
        frame = self._amounts(frame, fuera_sistema, acumulado)
        frame = self._dias_efectivo(frame, fuera_sistema)
        if acumulado:
            dias_mora: pl.Expr = pl.when(pl.col("DiasMora").cast(pl.Float64).round(0)
                                         == pl.col("DiasMora").cast(pl.Float64)) \
                .then(pl.col("DiasMora").cast(pl.Float64).cast(pl.Int64))
            if fuera_sistema:  # a blank off-system number is 0 (reportes §2.4 rule 4)
                dias_mora = dias_mora.fill_null(0)
            frame = frame.with_columns(
                dias_mora.alias("DiasMora"),
                spellings.tipo_pago(as_text(pl.col("TipoPago"), frame.schema["TipoPago"]))
                .alias("TipoPago"),
                pl.lit(None, dtype=pl.Float64).alias("GastosDiversosSinIGV"),
            )
        if not fuera_sistema:
            self._tally_several(frame)
        frame = self._fx(frame, fuera_sistema)
        frame = frame.with_columns(metrics(self.config))
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
                    (row_identity(taken, i, True) for i in range(min(EXAMPLES, taken.height))),
                    taken.height)
            # An off-system row lives in the PEN or the USD sheet: that is its currency.
            raw = pl.when(from_sheet).then(pl.col("Hoja")).otherwise(raw)
        frame = frame.with_columns(raw.alias("_raw_moneda"),
                                   spellings.moneda(raw).alias("Moneda"))
        bad = frame.filter(pl.col("Moneda").is_null())
        if bad.height:
            identity = row_identity(bad, 0, fuera_sistema)
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
                (row_identity(suspicious, i, fuera_sistema)
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
            raise InputError(f"kpi: row {row_identity(missing, 0, fuera_sistema)} has no "
                             "FechaOperacion; fix the source row")
        return frame.with_columns(calendar_columns(pl.col("FechaOperacion")))

    def _amounts(self, frame: pl.DataFrame, fuera_sistema: bool, acumulado: bool
                 ) -> pl.DataFrame:
        counted = [c for c in ZERO_IF_NULL_SOURCE
                   if not (fuera_sistema and c in NOT_IN_SHEETS)]
        nulls = frame.select([pl.col(c).is_null().sum().alias(c) for c in counted]).row(0)
        examples = self.stats.nulls_as_zero_examples
        log = self.logs[OFF_SYSTEM if fuera_sistema else IN_SYSTEM]
        for name, nulled in zip(counted, nulls, strict=True):
            if nulled:
                self.stats.nulls_as_zero[name] += nulled
                first = frame.filter(pl.col(name).is_null())
                log.note(f"null {name} read as 0", row_identity(first, 0, fuera_sistema), nulled,
                         column=name)
                if len(examples) < EXAMPLES:
                    rows = frame.filter(pl.col(name).is_null())
                    for i in range(min(EXAMPLES, rows.height)):
                        identity = row_identity(rows, i, fuera_sistema)
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
                f"kpi: row {row_identity(fractional, 0, fuera_sistema)}: DiasEfectivo {raw!r} is "
                "not a whole number of days; fix the source row"
            )
        nulls = frame["DiasEfectivo"].null_count()
        if nulls:
            self.stats.nulls_as_zero["DiasEfectivo"] += nulls
            first = frame.filter(pl.col("DiasEfectivo").is_null())
            self.logs[OFF_SYSTEM if fuera_sistema else IN_SYSTEM].note(
                "null DiasEfectivo read as 0", row_identity(first, 0, fuera_sistema), nulls,
                column="DiasEfectivo")
        return frame.with_columns(dias.fill_null(0.0).cast(pl.Int64).alias("DiasEfectivo"))

    def _tally_several(self, frame: pl.DataFrame) -> None:
        for name, tally in (("_pagos", self.stats.several_payments),
                            ("_devoluciones", self.stats.several_refunds)):
            several = frame.filter(pl.col(name).fill_null(0) > 1)
            if several.height:
                tally.add((row_identity(several, i, False)
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
                (row_identity(missing, i, fuera_sistema) for i in range(min(EXAMPLES, missing.height))),
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
        raise InputError(f"kpi: row {row_identity(frame, index, fuera_sistema)} has no "
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
                f"{count(s.usd_without_rate.count, 'USD row')} "
                f"{plural('has', s.usd_without_rate.count)} no exchange rate on or before their "
                f"FechaOperacion, soles amounts left NULL (run `toolbox tipo-cambio`): "
                f"{s.usd_without_rate.text()}"
            )
        if self.sectors.duplicates:
            dups = sorted(set(self.sectors.duplicates))
            out.append(f"sector_pagadores lists {count(len(dups), 'RUC')} more than once after cleaning, "
                       f"first row kept: {', '.join(dups[:EXAMPLES])}")
        if s.several_payments.count:
            out.append(
                f"{count(s.several_payments.count, 'document')} "
                f"{plural('has', s.several_payments.count)} several payments: MontoPago is "
                f"their sum, the other payment columns come from the last one: "
                f"{s.several_payments.text()}"
            )
        if s.several_refunds.count:
            out.append(
                f"{count(s.several_refunds.count, 'document')} "
                f"{plural('has', s.several_refunds.count)} several refunds: MontoDevolucion is "
                f"their sum, the other refund columns come from the last one: "
                f"{s.several_refunds.text()}"
            )
        if s.suspicious_rate.count:
            out.append(
                f"{count(s.suspicious_rate.count, 'row')} "
                f"{plural('has', s.suspicious_rate.count)} a monthly rate above "
                f"{SUSPICIOUS_RATE:.0%} after normalisation (a percent typed as a fraction?): "
                f"{s.suspicious_rate.text()}"
            )
        if s.nulls_as_zero:
            counts = ", ".join(f"{k} ×{v}" for k, v in s.nulls_as_zero.most_common())
            out.append(f"empty amounts stored as 0: {counts}; e.g. "
                       f"{', '.join(s.nulls_as_zero_examples)}")
        if s.moneda_from_sheet.count:
            out.append(f"{count(s.moneda_from_sheet.count, 'off-system row')} without Moneda took their "
                       f"sheet's currency: {s.moneda_from_sheet.text()}")
        return out + self._similarity_summary()

    def _similarity_cases(self) -> tuple[list[ExecutiveMatch], Counter[tuple[str, str, float]]]:
        """Names mapped by similarity, without the matches that only change letter case
        (the same name, no warning); referrals counted per distinct case."""
        def same(a: str, b: str) -> bool:
            return a.casefold() == b.casefold()

        executives = [m for m in self.executives.values() if not same(m.mapped, m.original)]
        referrals: Counter[tuple[str, str, float]] = Counter(
            (r.original, r.referencia, r.score) for r in self.referrals.fuzzy
            if not same(r.original, r.referencia))
        return executives, referrals

    def _similarity_summary(self) -> list[str]:
        executives, referrals = self._similarity_cases()
        out: list[str] = []
        if executives:
            out.append(f"{count(len(executives), 'off-system executive name')} mapped by similarity "
                       "to an in-system one (each listed in the run's warnings)")
        if referrals:
            out.append(f"{count(len(referrals), 'referral name')} mapped by similarity to a canonical "
                       "one (each listed in the run's warnings)")
        return out

    def warning_details(self) -> list[str]:
        """One entry per distinct similarity mapping (with the operations it covers): kept
        on the run for ``toolbox status ID --warnings``, not printed as the run goes."""
        executives, referrals = self._similarity_cases()
        return [f"off-system executive {m.original!r} read as {m.mapped!r} "
                f"(similarity {m.score:.0f})" for m in executives] + [
            f"referral {original!r} read as {canonical!r} (similarity {score:.0f}) in "
            f"{count(n, 'operation')}" for (original, canonical, score), n in referrals.items()]

