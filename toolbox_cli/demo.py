"""Synthetic but realistic source data for demos, benchmarks and tests.

``seed_demo`` replaces the content of every source-contract table with data generated from
``random.Random(seed)`` and the ``today`` it is given (never the clock), so one seed always
produces the same database. It models a factoring book from 2019-07 to ``today``:

* executives joining over the years, hundreds of clients and payers with 11-digit RUCs that
  carry a valid check digit, a few of them renamed (decisions.md 7);
* liquidations of 1..8 documents, PEN and USD, Factoring / Confirming / Capital de Trabajo
  written in mixed case, old-style codes (``LIQ002-2021``, ``LIQ088-2021 ME``) before
  2022-09 and new-style ones (``LIQ2403000101``) after, some with suffixes (``-001-R``);
* the messy values the specs normalise: rates in percent (1.5) or fraction (0.015), RUCs with
  spaces and colons, document numbers with spaces;
* payments (full, late with DiasMora, several partial ones, an overpayment, unpaid and
  overdue, not yet due), refunds, SUNAT-like exchange rates with weekend and holiday gaps,
  off-system sheets that repeat some liquidations (exact code, trailing space, ``-001``),
  referrals with aliases, payer sectors (some payers without one), daily cash balances and
  the two special CXC code lists (a few codes in both).

Rows are generated liquidation by liquidation and written in chunks through the driver's
executemany path, inside one transaction: memory stays flat and a failed seed changes
nothing. ``operations`` is the number of in-system documents (rows of ``colocaciones``).
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from toolbox_cli.business import HISTORY_START
from toolbox_cli.errors import InputError
from toolbox_cli.storage import tables as t

START = HISTORY_START  # the demo book begins when the reports' history does
NEW_CODE_STYLE_FROM = date(2022, 9, 1)  # LIQyymm###### replaced LIQ###-yyyy
CHUNK = 5000

# The tables seed_demo owns, in the order they are emptied and reported.
SOURCE_TABLES: tuple[Table, ...] = (
    t.colocaciones,
    t.colocaciones_pagos,
    t.colocaciones_devoluciones,
    t.tipo_cambio,
    t.sector_pagadores,
    t.operaciones_fuera_sistema,
    t.referidos,
    t.referidos_alias,
    t.saldos_caja,
    t.cxc_codigos_especiales,
)

EXECUTIVES: tuple[tuple[str, date], ...] = (
    ("Perez, Ana", START),
    ("Rojas, Carlos", START),
    ("Torres, Lucia", START),
    ("Mendoza, Jorge", date(2020, 2, 1)),
    ("Huaman, Rosa", date(2021, 1, 4)),
    ("Castillo, Diego", date(2022, 3, 1)),
    ("Vargas, Elena", date(2023, 5, 2)),
    ("Salazar, Miguel", date(2024, 6, 3)),
)

# Appendix A of reportes.md: alias key -> canonical referral name (invented people; one
# canonical keeps the odd spacing analysts typed, because it ends up in the data as written).
REFERRAL_ALIASES: tuple[tuple[str, str], ...] = (
    ("LEO", "Leonardo, Quispe"),
    ("LEONARDO", "Leonardo, Quispe"),
    ("QUISPE", "Leonardo, Quispe"),
    ("MARI", "Mariana, Torres"),
    ("MARIANA", "Mariana, Torres"),
    ("GUS", "Gustavo, Paredes"),
    ("GUSTAVO", "Gustavo, Paredes"),
    ("CARMEN", "Carmen, Villanueva"),
    ("CARMENCITA", "Carmen, Villanueva"),
    ("RICARDO", "Ricardo, Salas"),
    ("RICKY", "Ricardo, Salas"),
    ("PATY", "Patricia, Ccori"),
    ("PATRICIA", "Patricia, Ccori"),
    ("HUGO", "Hugo,Zapata"),
    ("ZAPATA", "Hugo,Zapata"),
    ("SOFI", "Sofia, Aliaga"),
    ("SOFIA", "Sofia, Aliaga"),
)
REFERRAL_FREE_TEXT = ("Web", "Feria PYME", "Camara de Comercio", "Linkedin")

SECTORS = (
    "Comercio", "Mineria", "Construccion", "Manufactura", "Agroindustria", "Servicios",
    "Energia", "Pesca", "Retail", "Telecomunicaciones", "Salud", "Transporte",
)
ECONOMIC_GROUPS = (
    "GRUPO ANDINO", "GRUPO PACIFICO", "CORPORACION DEL SUR", "GRUPO CONDOR", "HOLDING INCA",
    "GRUPO LITORAL", "CORPORACION ALTIPLANO",
)

_PLACES = (
    "ANDINA", "PACIFICO", "INCA", "DEL SOL", "DEL NORTE", "DEL SUR", "ALTIPLANO", "COSTA VERDE",
    "AMAZONICA", "CONDOR", "LIMA", "AREQUIPA", "TRUJILLO", "CUSCO", "PIURA", "CHAVIN", "NAZCA",
    "TITICACA", "MISTI", "HUASCARAN", "PARACAS", "MOCHE", "TAMBO", "VILCA", "QORI", "ICA",
)
_CLIENT_TRADES = (
    "DISTRIBUCIONES", "INVERSIONES", "CONSTRUCTORA", "SERVICIOS GENERALES", "COMERCIAL",
    "INDUSTRIAS", "TRANSPORTES", "AGROEXPORT", "IMPORTACIONES", "LOGISTICA", "INGENIERIA",
    "TEXTIL", "ALIMENTOS", "TECNOLOGIA", "NEGOCIACIONES", "SOLUCIONES", "METALMECANICA",
)
_PAYER_TRADES = (
    "SUPERMERCADOS", "MINERA", "CEMENTOS", "AGRICOLA", "PESQUERA", "ELECTRO", "TELEFONICA",
    "CERVECERIA", "CLINICA", "CONSTRUCTORA", "PETROLERA", "LABORATORIOS", "TIENDAS",
    "INMOBILIARIA", "CORPORACION", "HOSPITAL", "FARMACEUTICA",
)
_SUFFIXES = ("S.A.C.", "SAC", "S.A.", "S.R.L.", "E.I.R.L.")
_SURNAMES = (
    "GARCIA", "QUISPE", "FLORES", "RODRIGUEZ", "SANCHEZ", "HUAMAN", "CHAVEZ", "RAMIREZ",
    "TORRES", "MENDOZA", "VASQUEZ", "CASTILLO", "ROJAS", "GUTIERREZ", "MAMANI", "DIAZ",
)
_FIRST_NAMES = ("JUAN", "MARIA", "JOSE", "ROSA", "LUIS", "CARMEN", "JORGE", "ELENA", "PEDRO")

# Days SUNAT publishes no rate besides weekends (fixed-date Peruvian holidays).
_HOLIDAYS = {(1, 1), (5, 1), (6, 29), (7, 28), (7, 29), (8, 30), (10, 8), (11, 1), (12, 8),
             (12, 25)}
# Anchors of the PEN/USD buy rate; the daily series interpolates and adds AR(1) noise.
_FX_ANCHORS: tuple[tuple[date, float], ...] = (
    (date(2019, 7, 1), 3.30), (date(2019, 12, 31), 3.31), (date(2020, 3, 31), 3.44),
    (date(2020, 12, 31), 3.60), (date(2021, 4, 30), 3.75), (date(2021, 8, 31), 4.06),
    (date(2021, 12, 31), 3.98), (date(2022, 6, 30), 3.80), (date(2022, 12, 31), 3.81),
    (date(2023, 6, 30), 3.62), (date(2023, 12, 31), 3.70), (date(2024, 6, 30), 3.80),
    (date(2024, 12, 31), 3.75), (date(2025, 6, 30), 3.58), (date(2025, 12, 31), 3.40),
)


def seed_demo(source_engine: Engine, *, operations: int, seed: int, today: date) -> dict[str, int]:
    """Replace every source-contract table with demo data; return rows written per table."""
    if operations < 1:
        raise InputError("--operations must be at least 1")
    if today <= START:
        raise InputError(f"the demo book starts on {START}; today must be after it")
    with source_engine.begin() as conn:
        for table in reversed(SOURCE_TABLES):
            conn.execute(table.delete())
        sink = _Sink(conn)
        _DemoBook(random.Random(seed), operations, today, sink).write()
        sink.flush_all()
    return {table.name: sink.counts.get(table.name, 0) for table in SOURCE_TABLES}


# ---------------------------------------------------------------- writing


class _Sink:
    """Per-table buffers flushed every CHUNK rows with one executemany each."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.buffers: dict[str, list[tuple[Any, ...]]] = {}
        self.encoders: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {}
        self.sql: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: Table, row: dict[str, Any]) -> None:
        name = table.name
        if name not in self.encoders:
            self._prepare(table)
        buf = self.buffers[name]
        buf.append(self.encoders[name](row))
        if len(buf) >= CHUNK:
            self._flush(name)

    def _prepare(self, table: Table) -> None:
        dialect = self.conn.dialect
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        names = [c.name for c in columns]
        # Only the columns whose type needs a bind processor on this dialect (dates on
        # SQLite, for instance) pay for a Python call per value.
        procs = [(i, p) for i, c in enumerate(columns)
                 if (p := c.type.bind_processor(dialect)) is not None]

        def encode(row: dict[str, Any]) -> tuple[Any, ...]:
            values = list(map(row.get, names))
            for i, proc in procs:
                if values[i] is not None:
                    values[i] = proc(values[i])
            return tuple(values)

        q = dialect.identifier_preparer.quote
        mark = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
        self.sql[table.name] = (
            f"INSERT INTO {q(table.name)} ({', '.join(q(n) for n in names)}) "
            f"VALUES ({', '.join([mark] * len(names))})"
        )
        self.encoders[table.name] = encode
        self.buffers[table.name] = []

    def _flush(self, name: str) -> None:
        buf = self.buffers[name]
        if buf:
            self.conn.exec_driver_sql(self.sql[name], buf)
            self.counts[name] = self.counts.get(name, 0) + len(buf)
            self.buffers[name] = []

    def flush_all(self) -> None:
        for name in list(self.buffers):
            self._flush(name)


# ---------------------------------------------------------------- parties


def ruc_with_check_digit(first_ten: str) -> str:
    """An 11-digit RUC whose last digit is SUNAT's modulo-11 check digit."""
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    total = sum(int(d) * w for d, w in zip(first_ten, weights, strict=True))
    check = 11 - total % 11
    return first_ten + str(check - 10 if check >= 10 else check)


@dataclass
class _Party:
    ruc: str
    names: list[tuple[date, str]]  # (valid from, legal name), ascending

    def name_on(self, day: date) -> str:
        name = self.names[0][1]
        for since, candidate in self.names:
            if since <= day:
                name = candidate
        return name


@dataclass
class _Client(_Party):
    start: date = START
    executive: str = ""
    usd_share: float = 0.0
    op_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
    payers: list[int] = field(default_factory=list)
    series: str = "E001"
    next_doc: int = 1
    operations: int = 0


@dataclass
class _Doc:
    """What the later tables need to know about one generated document."""

    row: dict[str, Any]
    payments: list[dict[str, Any]]
    refund: dict[str, Any] | None
    problem: bool  # unpaid and overdue, or partially paid and open


class _Forced:
    """Rare scenarios that must appear whatever the size: the first eligible cases take them."""

    def __init__(self, names: Iterable[str], after: int = 0) -> None:
        self.pending = list(names)
        self.skip = after

    def take(self) -> str | None:
        if self.skip > 0:
            self.skip -= 1
            return None
        return self.pending.pop(0) if self.pending else None


# ---------------------------------------------------------------- the book


class _DemoBook:
    def __init__(self, rng: random.Random, operations: int, today: date, sink: _Sink) -> None:
        self.rng = rng
        self.operations = operations
        self.today = today
        self.sink = sink
        self.used_rucs: set[str] = set()
        self.ids = {"cab": 0, "det": 0, "pago": 0, "dev": 0, "fact": 0, "sol": 0}
        self.code_seq: dict[tuple[int, int], int] = {}
        self.fila = {"PEN": 0, "USD": 0}
        self.referral_codes: set[str] = set()
        self.special_codes: set[tuple[str, str]] = set()
        self.payment_forced = _Forced(
            ["partial_settled", "partial_open", "overpay", "unpaid", "late"], after=10)
        self.offsystem_forced = _Forced(["exact", "space", "suffix"], after=5)
        self.both_lists_forced = 2
        self.spaced_code_written = False
        self.payers = self._make_payers()
        self.clients = self._make_clients()
        self.client_starts = [c.start for c in self.clients]

    # -- parties --------------------------------------------------------------------

    def _new_ruc(self, prefix: str) -> str:
        while True:
            ruc = ruc_with_check_digit(prefix + f"{self.rng.randrange(10**8):08d}")
            if ruc not in self.used_rucs:
                self.used_rucs.add(ruc)
                return ruc

    def _company_name(self, trades: tuple[str, ...], suffixes: tuple[str, ...]) -> str:
        rng = self.rng
        name = f"{rng.choice(trades)} {rng.choice(_PLACES)}"
        if rng.random() < 0.15:
            name += " & ASOCIADOS"
        return f"{name} {rng.choice(suffixes)}"

    def _renamed(self, name: str) -> list[tuple[date, str]]:
        """Some companies change their legal name or its spelling (decisions.md 7)."""
        rng = self.rng
        if rng.random() >= 0.04:
            return [(START, name)]
        since = START + timedelta(days=rng.randrange(200, max(201, (self.today - START).days)))
        new = name.replace("S.A.C.", "SAC") if "S.A.C." in name else f"{name.rsplit(' ', 1)[0]} S.A."
        if new == name:
            new = f"NUEVA {name}"
        return [(START, name), (since, new)]

    def _make_payers(self) -> list[_Party]:
        count = max(60, min(4000, self.operations // 5))
        payers = []
        for _ in range(count):
            name = self._company_name(_PAYER_TRADES, ("S.A.", "S.A.", "S.A.A.", "S.A.C."))
            payers.append(_Party(self._new_ruc("20"), self._renamed(name)))
        return payers

    def _make_clients(self) -> list[_Client]:
        rng = self.rng
        count = max(40, min(3000, self.operations // 6))
        span = (self.today - START).days
        # Zipf-like weights: a few big payers appear in many clients' portfolios.
        payer_weights = [1.0 / (i + 1) ** 0.8 for i in range(len(self.payers))]
        clients = []
        for i in range(count):
            start = START if i < count * 0.15 else START + timedelta(days=rng.randrange(span))
            if rng.random() < 0.15:  # a person with business income
                ruc = self._new_ruc("10")
                name = f"{rng.choice(_SURNAMES)} {rng.choice(_SURNAMES)} {rng.choice(_FIRST_NAMES)}"
                names = [(START, name)]
            else:
                ruc = self._new_ruc("20")
                names = self._renamed(self._company_name(_CLIENT_TRADES, _SUFFIXES))
            active = [name for name, since in EXECUTIVES if since <= start] or [EXECUTIVES[0][0]]
            style = rng.random()
            op_weights = ((0.92, 0.05, 0.03) if style < 0.7
                          else (0.3, 0.65, 0.05) if style < 0.9 else (0.45, 0.05, 0.5))
            clients.append(_Client(
                ruc=ruc, names=names, start=start,
                executive=rng.choice(active),
                usd_share=0.0 if rng.random() < 0.5 else rng.uniform(0.2, 0.8),
                op_weights=op_weights,
                payers=sorted(set(rng.choices(range(len(self.payers)), payer_weights,
                                              k=rng.randint(2, 8)))),
                series=rng.choice(("E001", "F001", "F002", "E002", "FF01")),
                next_doc=rng.randint(1, 4000),
            ))
        clients.sort(key=lambda c: c.start)
        return clients

    # -- the walk over days ---------------------------------------------------------

    def write(self) -> None:
        for alias, canonical in REFERRAL_ALIASES:
            self.sink.add(t.referidos_alias, {"Alias": alias, "Canonico": canonical})
        self._write_sectors()
        self._write_exchange_rates()
        self._write_cash_balances()
        self._write_prehistoric_offsystem()
        days = self._days()
        quotas = self._daily_quotas(days)
        for day, quota in zip(days, quotas, strict=True):
            while quota > 0:
                size = min(quota, self._liquidation_size())
                self._liquidation(day, size)
                quota -= size
                if self.rng.random() < 0.012:
                    self._offsystem_only_liquidation(day)

    def _days(self) -> list[date]:
        return [START + timedelta(days=i) for i in range((self.today - START).days + 1)]

    def _daily_quotas(self, days: list[date]) -> list[int]:
        """Documents per day: growing business, a 2020 lockdown dip, quiet weekends.

        Cumulative rounding makes the quotas add up to exactly ``operations``.
        """
        total_days = len(days)
        weights = []
        for i, day in enumerate(days):
            w = 0.6 + 1.8 * i / total_days
            if date(2020, 3, 16) <= day <= date(2020, 6, 30):
                w *= 0.35
            w *= (1, 1, 1, 1, 1, 0.2, 0.0)[day.weekday()]
            weights.append(w)
        total = sum(weights)
        quotas, cum, done = [], 0.0, 0
        for w in weights:
            cum += w
            target = round(cum / total * self.operations)
            quotas.append(target - done)
            done = target
        return quotas

    def _liquidation_size(self) -> int:
        return self.rng.choices((1, 2, 3, 4, 5, 6, 8), (40, 25, 15, 9, 6, 3, 2))[0]

    def _pick_client(self, day: date) -> _Client:
        active = bisect.bisect_right(self.client_starts, day) or 1
        return self.clients[self.rng.randrange(active)]

    def _executive_for(self, client: _Client, day: date) -> str:
        if self.rng.random() < 0.06:  # a colleague covers (holidays, workload)
            active = [name for name, since in EXECUTIVES if since <= day]
            return self.rng.choice(active)
        return client.executive

    # -- codes ----------------------------------------------------------------------

    def _liquidation_code(self, day: date, usd: bool, *, suffixes: bool = True) -> str:
        rng = self.rng
        if day < NEW_CODE_STYLE_FROM:
            key = (day.year, 0)
            seq = self.code_seq[key] = self.code_seq.get(key, 0) + 1
            code = f"LIQ{seq:03d}-{day.year}"
            if usd and rng.random() < 0.6:
                code += " ME"
            elif suffixes and rng.random() < 0.01:
                code += "-2"
            return code
        key = (day.year, day.month)
        seq = self.code_seq[key] = self.code_seq.get(key, 0) + 1
        code = f"LIQ{day.year % 100:02d}{day.month:02d}{seq:06d}"
        roll = rng.random() if suffixes else 1.0
        if roll < 0.02:
            code += "-001-R"
        elif roll < 0.03:
            code += "-001"
        return code

    def _invoice_number(self) -> str:
        self.ids["fact"] += 1
        return f"F001-{self.ids['fact']:08d}"

    # -- one liquidation ------------------------------------------------------------

    def _liquidation(self, day: date, size: int) -> None:
        rng = self.rng
        client = self._pick_client(day)
        usd = rng.random() < client.usd_share
        tipo = rng.choices(("Factoring", "Confirming", "Capital de Trabajo"), client.op_weights)[0]
        code = self._liquidation_code(day, usd)
        self.ids["cab"] += 1
        cab = self.ids["cab"]
        executive = self._executive_for(client, day)
        payers = [rng.choice(client.payers)]
        if size > 1 and rng.random() < 0.2:
            payers.append(rng.choice(client.payers))
        first_operation = client.operations == 0
        client.operations += 1
        docs = [
            self._document(cab, code, day, client, self.payers[payers[i % len(payers)]], tipo,
                           usd, executive, first_doc=i == 0, first_operation=first_operation)
            for i in range(size)
        ]
        for doc in docs:
            self.sink.add(t.colocaciones, doc.row)
            for payment in doc.payments:
                self.sink.add(t.colocaciones_pagos, payment)
            if doc.refund is not None:
                self.sink.add(t.colocaciones_devoluciones, doc.refund)
        self._maybe_referral(code, day, executive)
        self._maybe_special_codes(code, docs)
        self._maybe_offsystem_copy(code, docs)

    def _document(self, cab: int, code: str, day: date, client: _Client, payer: _Party,
                  tipo: str, usd: bool, executive: str, *, first_doc: bool,
                  first_operation: bool, in_system: bool = True) -> _Doc:
        rng = self.rng
        self.ids["det"] += 1
        det = self.ids["det"]
        moneda = "USD" if usd else "PEN"
        neto = _money(min(2_000_000.0, max(800.0, rng.lognormvariate(
            math.log(12_000 if usd else 25_000), 0.9))))
        dias = rng.choice((15, 30, 30, 45, 60, 60, 75, 90, 120)) + rng.randint(-3, 3)
        fin_porc = rng.choices((90.0, 85.0, 95.0, 100.0, 80.0), (70, 10, 10, 5, 5))[0]
        fondo = _money(neto * (1 - fin_porc / 100))
        cobrar = _money(neto - fondo)
        tnm = rng.uniform(0.010, 0.018) if usd else rng.uniform(0.012, 0.022)
        if tipo == "Confirming":
            tnm *= 0.8
        interes = _money(cobrar * ((1 + tnm) ** (dias / 30) - 1))
        interes_igv = _money(interes * 0.18)
        com_porc = rng.choice((0.3, 0.5, 0.5, 0.8, 1.0))
        comision = _money(max(neto * com_porc / 100, 15.0 if usd else 50.0))
        comision_igv = _money(comision * 0.18)
        gastos_contrato = (50.0 if usd else 150.0) if first_doc and first_operation else 0.0
        vigencia = (15.0 if usd else 45.0) if first_doc and rng.random() < 0.1 else 0.0
        cobranza = 0.0 if tipo == "Confirming" else (3.0 if usd else 8.0)
        custodia = (2.0 if usd else 5.0) if rng.random() < 0.3 else 0.0
        diversos = _money(gastos_contrato + vigencia + cobranza + custodia)
        diversos_igv = _money(diversos * 0.18)
        flag = "S" if tipo == "Confirming" and rng.random() < 0.3 else "N"
        total_facturado = _money(comision + comision_igv + interes + interes_igv
                                 + diversos + diversos_igv)
        deuda_anterior = _money(rng.uniform(100, 0.1 * cobrar)) \
            if first_doc and rng.random() < 0.03 else 0.0
        # When the payer pays the confirming interest it is not withheld from the client.
        withheld = total_facturado - (interes + interes_igv if flag == "S" else 0.0)
        desembolso = _money(cobrar - withheld - deuda_anterior)
        due = day + timedelta(days=dias)
        payments, settled = self._payments(det, neto, tnm, due, day, forced_ok=in_system)
        refund = self._refund(det, fondo, payments, settled) if settled else None
        estado = ("Cancelado" if settled else "Pago Parcial" if payments
                  else "Vigente" if due > self.today else "Vencido")
        client.next_doc += 1
        nro = f"{client.series}-{client.next_doc:0{rng.choice((3, 6, 8))}d}"
        if rng.random() < 0.03:
            nro = nro.replace("-", "- ")
        row = {
            "IdLiquidacionDet": det,
            "IdLiquidacionCab": cab,
            "CodigoLiquidacion": code,
            "CodigoSolicitud": self._request_code(day) if rng.random() < 0.97 else None,
            "RUCCliente": _messy_client_ruc(rng, client.ruc),
            "RazonSocialCliente": client.name_on(day),
            "RUCPagador": _messy_payer_ruc(rng, payer.ruc),
            "RazonSocialPagador": payer.name_on(day),
            "Moneda": moneda,
            "DeudaAnterior": deuda_anterior,
            "ObservacionLiquidacion": rng.choice(_OBS_LIQ) if rng.random() < 0.1 else None,
            "ObservacionSolicitud": rng.choice(_OBS_SOL) if rng.random() < 0.05 else None,
            "FlagPagoInteresConfirming": flag,
            "FechaInteresConfirming": due if tipo == "Confirming" and flag == "S" else None,
            "TipoOperacion": _spelling(rng, tipo),
            "TipoOperacionDetalle": rng.choice(_DETALLE[tipo]),
            "Estado": estado,
            "NroDocumento": nro,
            # Analysts type the monthly rate either as percent (1.5) or as fraction (0.015).
            "TasaNominalMensualPorc": self._typed_rate(tnm),
            "FinanciamientoPorc": fin_porc,
            "FechaConfirmado": due,
            "FechaOperacion": day,
            "DiasEfectivo": dias,
            "NetoConfirmado": neto,
            "FondoResguardo": fondo,
            "ComisionEstructuracionPorc": com_porc,
            "MontoComisionEstructuracion": comision,
            "ComisionEstructuracionIGV": comision_igv,
            "ComisionEstructuracionConIGV": _money(comision + comision_igv),
            "FacturasGeneradas": self._invoice_number(),
            "MontoCobrar": cobrar,
            "Interes": interes,
            "InteresIGV": interes_igv,
            "InteresConIGV": _money(interes + interes_igv),
            "GastosContrato": gastos_contrato,
            "GastoVigenciaPoder": vigencia,
            "ServicioCobranza": cobranza,
            "ServicioCustodia": custodia,
            "GastosDiversos": diversos,
            "GastosDiversosIGV": diversos_igv,
            "GastosDiversosConIGV": _money(diversos + diversos_igv),
            "MontoTotalFacturado": total_facturado,
            "MontoDesembolso": desembolso,
            "Ejecutivo": executive,
            "Anticipo": "Sí" if rng.random() < 0.1 else "No",
            "TramoAnticipo": rng.choice(("Tramo 1", "Tramo 2")) if rng.random() < 0.05 else None,
        }
        problem = (not settled) and (bool(payments) or due <= self.today)
        return _Doc(row, payments, refund, problem)

    def _typed_rate(self, tnm: float) -> float:
        """Percent (1.5) or fraction (0.015). A rate under 1 % typed as percent (0.8) is the
        ambiguous case of reportes §6.11; it happens, but rarely."""
        rng = self.rng
        if rng.random() < 0.7 and (tnm >= 0.01 or rng.random() < 0.02):
            return round(tnm * 100, 4)
        return round(tnm, 6)

    def _request_code(self, day: date) -> str:
        self.ids["sol"] += 1
        return f"SOL{day.year % 100:02d}{day.month:02d}{self.ids['sol']:06d}"

    # -- payments and refunds -------------------------------------------------------

    def _payment_scenario(self, due: date, day: date, forced_ok: bool) -> str:
        rng = self.rng
        if due > self.today:
            if day < self.today and rng.random() < 0.08:
                return "early"
            return "none"
        if forced_ok and due <= self.today - timedelta(days=60):
            forced = self.payment_forced.take()
            if forced:
                return forced
        old = due < self.today - timedelta(days=540)
        roll = rng.random()
        if roll < (0.01 if old else 0.05):
            return "unpaid"
        if roll < 0.08:
            return rng.choice(("partial_settled", "partial_open"))
        if roll < 0.09:
            return "overpay"
        return "late" if rng.random() < 0.35 else "on_time"

    def _payments(self, det: int, neto: float, tnm: float, due: date, day: date, *,
                  forced_ok: bool) -> tuple[list[dict[str, Any]], bool]:
        """Payments of one document and whether they settle it."""
        rng = self.rng
        scenario = self._payment_scenario(due, day, forced_ok)
        if scenario in ("none", "unpaid"):
            return [], False
        if scenario == "early":
            when = day + timedelta(days=rng.randint(1, max(1, (self.today - day).days)))
            return [self._payment(det, when, due, neto, neto, 0.0, tnm, "PAGO ANTICIPADO")], True
        if scenario in ("on_time", "late", "overpay"):
            delay = rng.randint(1, 45) if scenario == "late" else rng.randint(-3, 0)
            when = due + timedelta(days=delay)
            if when > self.today:  # not collected yet: overdue at the cut-off
                return [], False
            excess = _money(neto * rng.uniform(0.005, 0.05)) if scenario == "overpay" else 0.0
            return [self._payment(det, when, due, neto, neto + excess, excess, tnm,
                                  "PAGO TOTAL")], True
        # Several partial payments; the last one settles the document or leaves it open.
        parts = rng.randint(2, 3)
        settles = scenario == "partial_settled"
        remaining = neto
        rows: list[dict[str, Any]] = []
        when = due + timedelta(days=rng.randint(-5, 10))
        for i in range(parts):
            if when > self.today:
                break
            last = i == parts - 1
            if last and settles:
                amount = remaining
            else:
                amount = _money(remaining * rng.uniform(0.25, 0.6))
            kind = "PAGO TOTAL" if last and settles else "PAGO PARCIAL"
            if kind == "PAGO PARCIAL" and rng.random() < 0.1:
                kind = "Pago Parcial"  # typed by hand; decisions.md 10 matches it anyway
            rows.append(self._payment(det, when, due, remaining, amount, 0.0, tnm, kind))
            remaining = _money(remaining - amount)
            when += timedelta(days=rng.randint(7, 30))
        return rows, remaining <= 0.005

    def _payment(self, det: int, when: date, due: date, saldo: float, amount: float,
                 excess: float, tnm: float, kind: str) -> dict[str, Any]:
        rng = self.rng
        self.ids["pago"] += 1
        mora = max(0, (when - due).days)
        interes_mora = _money(saldo * tnm * 1.2 * mora / 30) if mora else 0.0
        gastos_mora = 35.40 if mora else 0.0
        created = datetime.combine(when, time(rng.randint(8, 18), rng.randint(0, 59)))
        modified = created + timedelta(days=rng.randint(0, 5), hours=rng.randint(0, 8)) \
            if rng.random() < 0.3 else None
        return {
            "IdLiquidacionPago": self.ids["pago"],
            "IdLiquidacionDet": det,
            "FechaPago": when,
            "DiasMora": mora,
            "MontoCobrarPago": _money(saldo + interes_mora + gastos_mora),
            "MontoPago": _money(amount),
            "ObservacionPago": rng.choice(_OBS_PAGO) if rng.random() < 0.2 else None,
            "InteresPago": interes_mora,
            "GastosPago": gastos_mora,
            "TipoPago": kind,
            "SaldoDeuda": _money(max(0.0, saldo - amount)),
            "ExcesoPago": excess,
            "FacturasMoraGeneradas": self._invoice_number() if mora else None,
            "FechaPagoCreacion": created,
            "FechaPagoModificacion": modified,
        }

    def _refund(self, det: int, fondo: float, payments: list[dict[str, Any]], settled: bool
                ) -> dict[str, Any] | None:
        """The guarantee reserve (less withheld late charges) and any excess go back."""
        rng = self.rng
        excess = sum(p["ExcesoPago"] for p in payments)
        if not settled or (fondo <= 0 and excess <= 0) or (excess <= 0 and rng.random() < 0.3):
            return None
        self.ids["dev"] += 1
        withheld = _money(min(fondo, sum(p["InteresPago"] + p["GastosPago"] for p in payments)))
        when = payments[-1]["FechaPago"] + timedelta(days=rng.randint(1, 12))
        paid = when <= self.today
        return {
            "IdLiquidacionDevolucion": self.ids["dev"],
            "IdLiquidacionDet": det,
            "FechaDesembolso": when if paid else None,
            "MontoDevolucion": _money(fondo - withheld + excess),
            "DescuentoDevolucion": withheld,
            "EstadoDevolucion": 1 if paid else 0,
            "ObservacionDevolucion": ("Devolución de exceso de pago" if excess > 0
                                      else "Devolución de fondo de resguardo")
            if rng.random() < 0.5 else None,
        }

    # -- referrals, special codes, off-system sheets ----------------------------------

    def _maybe_referral(self, code: str, day: date, executive: str) -> None:
        rng = self.rng
        if rng.random() >= 0.07 or code in self.referral_codes:
            return
        self.referral_codes.add(code)
        alias, canonical = rng.choice(REFERRAL_ALIASES)
        referencia = rng.choice((
            alias.lower(), f" {alias} ", alias.title(), canonical,
            canonical.replace(",", "").lower(), rng.choice(REFERRAL_FREE_TEXT), executive,
        ))
        self.sink.add(t.referidos, {
            "CodigoLiquidacion": code, "Referencia": referencia, "Ejecutivo": executive,
            "Mes": day.replace(day=1),
        })

    def _maybe_special_codes(self, code: str, docs: list[_Doc]) -> None:
        if not any(doc.problem for doc in docs):
            return
        lists = []
        if self.both_lists_forced > 0:
            self.both_lists_forced -= 1
            lists = ["MORA_A_MAYO", "COBRANZA_ESPECIAL"]
        else:
            if self.rng.random() < 0.25:
                lists.append("MORA_A_MAYO")
            if self.rng.random() < 0.2:
                lists.append("COBRANZA_ESPECIAL")
        for lista in lists:
            if (code, lista) not in self.special_codes:
                self.special_codes.add((code, lista))
                self.sink.add(t.cxc_codigos_especiales, {"codigo": code, "lista": lista})
        # The legacy literal carried one code with a leading space; keep one such case.
        if lists and not self.spaced_code_written and len(self.special_codes) >= 5:
            self.spaced_code_written = True
            self.special_codes.add((f" {code}", lists[0]))
            self.sink.add(t.cxc_codigos_especiales, {"codigo": f" {code}", "lista": lists[0]})

    def _maybe_offsystem_copy(self, code: str, docs: list[_Doc]) -> None:
        """Some liquidations were also typed into the off-system sheets (they win the dedup)."""
        if code.count("-") > 1 or code.endswith("-001"):
            return
        variant = self.offsystem_forced.take()
        if variant is None:
            if self.rng.random() >= 0.012:
                return
            variant = self.rng.choices(("exact", "space", "suffix"), (6, 2, 2))[0]
        sheet_code = {"exact": code, "space": code + " ", "suffix": code + "-001"}[variant]
        for doc in docs:
            self._offsystem_row(doc, sheet_code)

    def _offsystem_row(self, doc: _Doc, code: str) -> None:
        rng = self.rng
        row = doc.row
        hoja = row["Moneda"]
        self.fila[hoja] += 1
        payments = doc.payments
        executive = row["Ejecutivo"]
        spelled = rng.choices((executive, executive.upper(), executive.replace(",", "")),
                              (4, 5, 1))[0]
        tnm = float(row["TasaNominalMensualPorc"])
        self.sink.add(t.operaciones_fuera_sistema, {
            "Hoja": hoja,
            "Fila": self.fila[hoja],
            "CodigoLiquidacion": code,
            "NroDocumento": row["NroDocumento"].replace(" ", ""),
            "RazonSocialCliente": row["RazonSocialCliente"],
            "RUCCliente": row["RUCCliente"].strip(),
            "RazonSocialPagador": row["RazonSocialPagador"],
            "RUCPagador": row["RUCPagador"],
            "TasaNominalMensualPorc": tnm * 100 if tnm < 0.1 and rng.random() < 0.5 else tnm,
            "FinanciamientoPorc": row["FinanciamientoPorc"],
            "FechaOperacion": row["FechaOperacion"],
            "FechaConfirmado": row["FechaConfirmado"],
            "DiasEfectivo": row["DiasEfectivo"],
            "Moneda": row["Moneda"],
            "NetoConfirmado": row["NetoConfirmado"],
            "MontoComisionEstructuracion": row["MontoComisionEstructuracion"],
            "ComisionEstructuracionIGV": row["ComisionEstructuracionIGV"],
            "ComisionEstructuracionConIGV": row["ComisionEstructuracionConIGV"],
            "FondoResguardo": row["FondoResguardo"],
            "MontoCobrar": row["MontoCobrar"],
            "Interes": row["Interes"],
            "InteresConIGV": row["InteresConIGV"],
            "GastosDiversosSinIGV": row["GastosDiversos"],
            "GastosDiversosIGV": row["GastosDiversosIGV"],
            "GastosDiversosConIGV": row["GastosDiversosConIGV"],
            "MontoTotalFacturado": row["MontoTotalFacturado"],
            "FacturasGeneradas": row["FacturasGeneradas"],
            "MontoDesembolso": row["MontoDesembolso"],
            "FechaPago": payments[-1]["FechaPago"] if payments else None,
            "Estado": row["Estado"].upper(),
            "DiasMora": max((p["DiasMora"] for p in payments), default=None),
            "InteresPago": _money(sum(p["InteresPago"] for p in payments)),
            "GastosPago": _money(sum(p["GastosPago"] for p in payments)),
            "MontoCobrarPago": payments[-1]["MontoCobrarPago"] if payments else 0.0,
            "MontoPago": _money(sum(p["MontoPago"] for p in payments)),
            "ExcesoPago": _money(sum(p["ExcesoPago"] for p in payments)),
            "FechaDesembolso": doc.refund["FechaDesembolso"] if doc.refund else None,
            "Ejecutivo": spelled,
            "TipoOperacion": row["TipoOperacion"],
            "GastosContrato": row["GastosContrato"],
            "ServicioCustodia": row["ServicioCustodia"],
            "ServicioCobranza": row["ServicioCobranza"],
            "GastoVigenciaPoder": row["GastoVigenciaPoder"],
        })

    def _offsystem_only_liquidation(self, day: date) -> None:
        """A liquidation booked only in the sheets: its code is taken from the same series."""
        rng = self.rng
        client = self._pick_client(day)
        usd = rng.random() < client.usd_share
        tipo = rng.choices(("Factoring", "Confirming", "Capital de Trabajo"), client.op_weights)[0]
        code = self._liquidation_code(day, usd, suffixes=False)
        executive = self._executive_for(client, day)
        self.ids["cab"] += 1
        # Built like in-system documents (so amounts follow the same formulas), but only the
        # sheet row is written; the ids it consumed are simply never used in-system.
        for i in range(rng.randint(1, 3)):
            doc = self._document(self.ids["cab"], code, day, client,
                                 self.payers[rng.choice(client.payers)], tipo, usd, executive,
                                 first_doc=i == 0, first_operation=False, in_system=False)
            self._offsystem_row(doc, code)

    def _write_prehistoric_offsystem(self) -> None:
        """A few sheet rows dated before 2019-07 (the new-clients logic must ignore them)."""
        for k in range(3):
            day = date(2019, 5, 6) + timedelta(days=14 * k)
            client = self.clients[k]
            doc = self._document(0, f"LIQ{900 + k}-2019", day, client,
                                 self.payers[client.payers[0]], "Factoring", False,
                                 client.executive, first_doc=True, first_operation=False,
                                 in_system=False)
            self._offsystem_row(doc, f"LIQ{900 + k}-2019")
        # Ids consumed by these sheet-only documents are not reused in-system on purpose.

    # -- reference tables -----------------------------------------------------------

    def _write_sectors(self) -> None:
        rng = self.rng
        for i, payer in enumerate(self.payers):
            # Some payers are not classified yet (CXC shows them as SIN CLASIFICAR).
            if i % 9 == 4 or rng.random() < 0.05:
                continue
            self.sink.add(t.sector_pagadores, {
                "RUCPagador": payer.ruc,
                "Sector": rng.choice(SECTORS),
                "GrupoEco": rng.choice(ECONOMIC_GROUPS) if rng.random() < 0.35 else None,
            })

    def _write_exchange_rates(self) -> None:
        rng = self.rng
        noise = 0.0
        for day in self._days():
            noise = 0.9 * noise + rng.gauss(0, 0.008)
            if day.weekday() >= 5 or (day.month, day.day) in _HOLIDAYS:
                continue
            compra = round(min(4.09, max(3.30, _fx_anchor(day) + noise)), 3)
            venta = round(min(4.10, compra + rng.uniform(0.002, 0.012)), 3)
            if venta <= compra:
                venta = round(compra + 0.001, 3)
            self.sink.add(t.tipo_cambio, {
                "TipoCambioFecha": day.isoformat(),
                "TipoCambioCompra": compra,
                "TipoCambioVenta": venta,
            })

    def _write_cash_balances(self) -> None:
        """One row per calendar day; balances are PEN and may go negative (decisions.md 8)."""
        rng = self.rng
        days = self._days()
        previous = None
        drift = 0.0
        for i, day in enumerate(days):
            base = 1_500_000 + 4_500_000 * i / len(days)
            drift = 0.97 * drift + rng.gauss(0, 250_000)
            saldo = base + drift
            if date(2020, 4, 1) <= day <= date(2020, 4, 8):  # lockdown overdraft
                saldo -= 4_000_000
            saldo = _money(saldo)
            weekday = day.weekday() < 5
            overnight = _money(max(0.0, saldo - 1_000_000) * rng.uniform(0.5, 0.9)) \
                if weekday else (None if day.weekday() == 6 and rng.random() < 0.5 else 0.0)
            excess = max(0.0, saldo - 2_000_000)
            self.sink.add(t.saldos_caja, {
                "FechaOperacion": day,
                "EvolucionCaja": _money(saldo - previous) if previous is not None else 0.0,
                "CostoExcesoCaja": _money(excess * 0.14 / 360),
                "IngresoNoRecibidoPorExcesoCaja": _money(excess * 0.17 / 360),
                "MontoOvernight": overnight,
                "IngresosOvernightNeto": _money((overnight or 0.0) * rng.uniform(0.02, 0.05) / 360),
                "SaldoTotalCaja": saldo,
            })
            previous = saldo


# ---------------------------------------------------------------- helpers

_OBS_LIQ = ("Cliente solicita desembolso urgente", "Documentos en custodia", "Revisar contrato",
            "Confirmado por correo del pagador", "Operación con adelanto")
_OBS_SOL = ("Solicitud ingresada por web", "Pendiente de firma", "Aprobado por comité")
_OBS_PAGO = ("Pago mediante transferencia", "Depósito en cuenta BCP", "Pago con cheque de gerencia",
             "Detracción aplicada", "Pago confirmado por tesorería")
_DETALLE = {
    "Factoring": ("Factoring Electrónico", "Factoring con Letras", "Factoring Tradicional"),
    "Confirming": ("Confirming Proveedores", "Confirming Internacional"),
    "Capital de Trabajo": ("Capital de Trabajo", "Capital de Trabajo Pagaré"),
}


# Amounts are generated as floats rounded to cents (the columns are DECIMAL(18,2)).
_money = functools.partial(round, ndigits=2)


def _spelling(rng: random.Random, tipo: str) -> str:
    """TipoOperacion arrives in mixed case; the KPI maps FACTORING/CONFIRMING."""
    if tipo == "Capital de Trabajo":
        return tipo
    return tipo.upper() if rng.random() < 0.5 else tipo


def _messy_client_ruc(rng: random.Random, ruc: str) -> str:
    roll = rng.random()
    if roll < 0.02:
        return ruc + " "
    if roll < 0.03:
        return " " + ruc
    return ruc


def _messy_payer_ruc(rng: random.Random, ruc: str) -> str:
    roll = rng.random()
    if roll < 0.02:
        return f"{ruc[:7]} {ruc[7:]}"
    if roll < 0.03:
        return ruc + ":"
    if roll < 0.04:
        return f"{ruc[:2]}:{ruc[2:]} "
    return ruc


def _fx_anchor(day: date) -> float:
    anchors = _FX_ANCHORS
    if day <= anchors[0][0]:
        return anchors[0][1]
    for (d0, v0), (d1, v1) in zip(anchors, anchors[1:], strict=False):
        if day <= d1:
            return v0 + (v1 - v0) * (day - d0).days / (d1 - d0).days
    return anchors[-1][1]
