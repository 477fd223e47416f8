"""A stand-in for the operations webservice, serving a demo book on 127.0.0.1 exactly as the
real one answers (``webservice.md``): ``scripts/operaciones-stub`` runs it for a newcomer,
the tests and the benchmark run it in-process.

The book is the one ``toolbox demo`` writes for the same ``--operations``, ``--seed`` and
day (it is seeded into a scratch SQLite file first), so ``toolbox operaciones`` against the
stub must store what ``toolbox demo`` stores. Each answer is rendered once, at start-up, into
a file, in the webservice's spellings: numbers as JSON numbers or as strings (some with
thousands separators, ``"10,000.00"``), ids sometimes as floats or strings, the documents'
dates in the four spellings the page lists and a missing one as ``""`` or ``-``, the
reports' dates ``dd/mm/YYYY`` (reporte 0) and ISO (reporte 2), ``No Aplica``; the token
endpoint takes a user and a password as form fields.

``faults`` make it misbehave the ways a real one can (the tests use them): an HTTP status,
HTML, a sign-in page, a JSON object, a truncated body, a missing field, a slow answer, a
token refused once or always, a redirect to another host.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from toolbox_cli.storage.tables.contract import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
)
from toolbox_cli.storage.tables.metadata import source_metadata

PATHS = {
    "/webservice/liquidacionCab/subquery-cab": "documents",
    "/webservice/liquidacionPago/subquery": "payments",
    "/webservice/liquidacionDevolucion/subquery": "refunds",
}
REPORT_PATH = "/webservice/colocaciones"
TOKEN_PATH = "/webservice/token"
# The fields of reporte 2 and reporte 0 besides the ones they add (a representative part of
# the legacy's KPI schema; the toolbox reads only the key and the added columns).
_REPORT_BASE = ("CodigoLiquidacion", "NroDocumento", "RUCCliente", "RazonSocialCliente",
                "RUCPagador", "Moneda", "FechaOperacion", "NetoConfirmado", "Estado")


@dataclass
class Faults:
    """How the stub misbehaves; each applies to the endpoints whose key (``documents``,
    ``payments``, ``refunds``, ``report2``, ``report0``, ``token``) is listed, or all."""

    status: dict[str, int] = field(default_factory=dict)  # answer this HTTP status
    body: dict[str, bytes] = field(default_factory=dict)  # answer this body instead
    content_type: dict[str, str] = field(default_factory=dict)
    truncate: dict[str, int] = field(default_factory=dict)  # cut the body after N bytes
    drop_field: dict[str, str] = field(default_factory=dict)  # drop it from the 1st row
    delay: dict[str, float] = field(default_factory=dict)  # seconds before answering
    refuse_token: int = 0  # the first N report calls answer 401 (-1: always)
    redirect_report_to: str | None = None  # answer the report with a 302 to this URL


@dataclass
class Served:
    """What the stub saw: calls per endpoint key, and the Authorization headers received."""

    calls: dict[str, int] = field(default_factory=dict)
    authorizations: list[str] = field(default_factory=list)
    logins: int = 0


def _number(value: Any, row_id: int, *, separators: bool = True) -> Any:
    """A number as the webservice may send it: a JSON number, a plain string, or a string
    with thousands separators, by row."""
    if value is None:
        return None
    value = float(value) if not isinstance(value, int) else value
    style = row_id % 3
    if style == 0:
        return value
    if style == 1 or not separators:
        return repr(value) if isinstance(value, float) else str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}" \
        if round(value, 2) == value else f"{value:,}"


def _day(value: date | None, row_id: int, *, style: int | None = None) -> str | None:
    """A date in one of the four spellings of the documents (by row), ``""``/``-`` if none."""
    if value is None:
        return "" if row_id % 2 else "-"
    formats = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%Y/%m/%d")
    return value.strftime(formats[row_id % 4 if style is None else style])


def _id(value: int | None, row_id: int) -> Any:
    if value is None:
        return None
    return float(value) if row_id % 5 == 0 else str(value) if row_id % 5 == 1 else value


def _stamp(value: datetime | None, row_id: int) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S" if row_id % 2 else "%Y-%m-%d %H:%M:%S")


def _as_answer(table: Any, row: dict[str, Any], omitted: tuple[str, ...]) -> dict[str, Any]:
    from sqlalchemy import Date, DateTime, Integer, Numeric

    ident = int(next(iter(row.values())))
    out: dict[str, Any] = {}
    for column in table.columns:
        name, kind, value = column.name, column.type, row[column.name]
        if name in omitted:
            continue
        if isinstance(kind, DateTime):
            out[name] = _stamp(value, ident)
        elif isinstance(kind, Date):
            out[name] = _day(value, ident, style=1 if table is colocaciones_pagos else None)
        elif isinstance(kind, Integer):
            out[name] = _id(value, ident) if column.primary_key or name.startswith("Id") \
                else _number(value, ident, separators=False)
        elif isinstance(kind, Numeric):
            out[name] = _number(None if value is None else float(value), ident)
        else:
            out[name] = value
    return out


def _write_list(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for row in rows:
            out.write(("," if count else "") + json.dumps(row, ensure_ascii=False))
            count += 1
        out.write("]")
    return count


class Book:
    """The demo book's answers, rendered into files under ``folder``."""

    def __init__(self, folder: Path, *, operations: int, seed: int, today: date) -> None:
        from toolbox_cli.demo import seed_demo

        self.folder, self.today = folder, today
        engine = create_engine(f"sqlite:///{folder / 'book.db'}")
        try:
            source_metadata.create_all(engine)
            seed_demo(engine, operations=operations, seed=seed, today=today)
            self._render(engine)
        finally:
            engine.dispose()

    def file(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def _rows(self, engine: Any, table: Any) -> Iterator[dict[str, Any]]:
        key = next(iter(table.primary_key.columns))
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(
                select(table).order_by(key))
            for row in result.mappings():
                yield dict(row)

    def _render(self, engine: Any) -> None:
        _write_list(self.file("documents"), (
            _as_answer(colocaciones, r, ("Anticipo", "TramoAnticipo"))
            for r in self._rows(engine, colocaciones)))
        _write_list(self.file("payments"), (
            _as_answer(colocaciones_pagos, r, ("FacturasMoraGeneradas",))
            for r in self._rows(engine, colocaciones_pagos)))
        _write_list(self.file("refunds"), (
            _as_answer(colocaciones_devoluciones, r, ())
            for r in self._rows(engine, colocaciones_devoluciones)))
        # The report of each document: its base fields, and what the report adds.
        current = self._current_mora(engine)
        for reporte in (2, 0):
            _write_list(self.file(f"report{reporte}"), (
                self._report_row(r, reporte, current) for r in self._rows(engine, colocaciones)))

    @staticmethod
    def _current_mora(engine: Any) -> dict[int, str]:
        """Each document's current payment's FacturasMoraGeneradas (decision 3's order)."""
        p = colocaciones_pagos
        found: dict[int, str | None] = {}
        with engine.connect() as conn:
            rows = conn.execute(select(p.c.IdLiquidacionDet, p.c.FacturasMoraGeneradas)
                                .order_by(p.c.IdLiquidacionDet, p.c.FechaPago.is_not(None),
                                          p.c.FechaPago, p.c.IdLiquidacionPago))
            for det, facturas in rows:
                found[det] = facturas
        return {det: f for det, f in found.items() if f}

    @staticmethod
    def _report_row(row: dict[str, Any], reporte: int, mora: dict[int, str]) -> dict[str, Any]:
        ident = row["IdLiquidacionDet"]
        out = {name: row[name] for name in _REPORT_BASE}
        day = row["FechaOperacion"]
        out["FechaOperacion"] = day.isoformat() if reporte == 2 else day.strftime("%d/%m/%Y")
        out["NetoConfirmado"] = _number(float(row["NetoConfirmado"]), ident)
        if reporte == 2:
            out["Anticipo"], out["TramoAnticipo"] = row["Anticipo"], row["TramoAnticipo"]
        else:
            out["FechaPago"] = "No Aplica"
            out["FacturasMoraGeneradas"] = mora.get(ident) or ("" if ident % 2 else None)
        return out


class Stub:
    """The webservice stub: ``with Stub(...) as stub: stub.url`` serves until the block ends."""

    def __init__(self, *, operations: int = 2000, seed: int = 42, today: date | None = None,
                 user: str = "demo", password: str = "demo", faults: Faults | None = None,
                 host: str = "127.0.0.1", port: int = 0, folder: Path | None = None) -> None:
        from zoneinfo import ZoneInfo

        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="toolbox-ws-")
        self.folder = folder or Path(self._tmp.name)  # type: ignore[union-attr]  # set above
        self.book = Book(self.folder, operations=operations, seed=seed,
                         today=today or datetime.now(ZoneInfo("America/Lima")).date())
        self.user, self.password = user, password
        self.faults = faults or Faults()
        self.served = Served()
        self.tokens: set[str] = set()
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.server.block_on_close = False

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Stub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if urllib.parse.urlsplit(self.path).path != TOKEN_PATH:
                return self._answer(404, b'{"detail": "Not Found"}')
            stub.served.calls["token"] = stub.served.calls.get("token", 0) + 1
            if self._fault("token"):
                return None
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if form.get("username") != [stub.user] or form.get("password") != [stub.password]:
                return self._answer(401, b'{"detail": "Incorrect username or password"}')
            token = secrets.token_urlsafe(24)
            stub.tokens.add(token)
            stub.served.logins += 1
            return self._answer(200, json.dumps({"access_token": token,
                                                 "token_type": "bearer"}).encode())

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urllib.parse.urlsplit(self.path)
            if parts.path in PATHS:
                key = PATHS[parts.path]
            elif parts.path == REPORT_PATH:
                query = urllib.parse.parse_qs(parts.query)
                reporte = (query.get("reporte") or [""])[0]
                if reporte not in ("0", "2") or not all(query.get(k) for k in
                                                        ("desde", "hasta", "fechaCorte")):
                    return self._answer(422, b'{"detail": "desde, hasta, fechaCorte and '
                                             b'reporte (0 or 2) are required"}')
                key = f"report{reporte}"
                auth = self.headers.get("Authorization") or ""
                stub.served.authorizations.append(auth)
                if stub.faults.redirect_report_to:
                    self.send_response(302)
                    self.send_header("Location", stub.faults.redirect_report_to + self.path)
                    self.end_headers()
                    return None
                refused = stub.faults.refuse_token
                if refused:
                    stub.faults.refuse_token = refused - 1 if refused > 0 else refused
                    return self._answer(401, b'{"detail": "Could not validate credentials"}')
                if not auth.startswith("Bearer ") or auth[7:] not in stub.tokens:
                    return self._answer(401, b'{"detail": "Not authenticated"}')
            else:
                return self._answer(404, b'{"detail": "Not Found"}')
            stub.served.calls[key] = stub.served.calls.get(key, 0) + 1
            if self._fault(key):
                return None
            return self._send_file(key)

        def _fault(self, key: str) -> bool:
            f = stub.faults
            if key in f.delay:
                time.sleep(f.delay[key])
            if key in f.status:
                self._answer(f.status[key], b'{"detail": "error"}')
                return True
            if key in f.body:
                self._answer(200, f.body[key], f.content_type.get(key, "application/json"))
                return True
            return False

        def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_file(self, key: str) -> None:
            f = stub.faults
            path = stub.book.file(key)
            self.send_response(200)
            self.send_header("Content-Type", f.content_type.get(key, "application/json"))
            self.end_headers()
            if key in f.drop_field:
                rows = json.loads(path.read_text(encoding="utf-8"))
                rows[0].pop(f.drop_field[key], None)
                self.wfile.write(json.dumps(rows, ensure_ascii=False).encode())
                return
            limit = f.truncate.get(key)
            with path.open("rb") as body:
                sent = 0
                while block := body.read(1 << 20):
                    if limit is not None and sent + len(block) > limit:
                        self.wfile.write(block[:limit - sent])
                        return
                    self.wfile.write(block)
                    sent += len(block)

    return Handler
