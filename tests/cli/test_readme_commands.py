"""Every ``toolbox`` command of the README's ```sh blocks, run in order as a newcomer would,
so that the README cannot drift from the tool again.

The commands run as processes (the installed console script next to the interpreter of the
tests) in a directory of the test's own that holds a fresh ``db init`` + ``demo`` SQLite
database, with ``examples/`` beside it as in the checkout. What a command needs from outside
is on 127.0.0.1: the exchange-rate provider, the analysts' sheets, the operations webservice
and a notification webhook are loopback stubs, and the user's crontab is a stand-in
``crontab`` program on PATH that keeps it in a file of the test (python-crontab finds the
program on PATH), so nothing touches the machine's crontab or leaves the machine.

Tables say how a README line is run, each entry with its reason: ``PLACEHOLDERS`` (a word
of the README that stands for something of the reader's: a run id, a sheet's URL, a path
under /etc), ``SKIPPED`` (a line that cannot run here), ``EXIT_CODES`` (a line the README
documents as failing; every other line must exit 0) and ``OUTPUTS`` (what a line's output
must say). A line that runs a path outside the test's directory, or a URL off this machine,
fails the test until the tables say what stands for it; so does a line that calls toolbox
in a way the parser does not see, and an entry the README no longer has.

At the end, ``make demo`` (its ``toolbox`` lines, as ``make -n`` prints them) is run after
the README's imports: it must stop naming ``make demo-fresh``, and that target must work.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support.loopback import QuietHandler, loopback, serving
from tests.support.paths import EXAMPLES, README, REPO
from toolbox_cli.imports.kinds import KINDS
from toolbox_cli.imports.sheets import SHEET_KINDS

# The console script `pip install -e .` put next to the interpreter of the tests.
TOOLBOX = str(Path(sys.executable).parent / "toolbox")
TIMEOUT = 180  # seconds for one command; a hang fails the test instead of holding up CI
FX_KEY = "sk_test.readme-commands"
OPS_PASSWORD = "stub-pw"  # the README's (scripts/operaciones-stub's) password of the stub

# README lines (as written, without the comment) that are not run, and why.
SKIPPED: dict[str, str] = {
    "30 8 * * * cd /opt/toolbox && .venv/bin/toolbox --env-file /etc/toolbox/toolbox.env "
    "compare --tolerance 0.01 --json > /var/log/toolbox/compare-$(date +\\%F).json || "
    "echo \"toolbox compare: the tables differ, see /var/log/toolbox\"":
        "a crontab line (cron runs it in /opt/toolbox and writes under /var/log); its "
        "comparison is the Commands block's `toolbox compare --against ...`, which runs",
}

# README lines documented to exit with something else than 0.
EXIT_CODES: dict[str, int] = {}

# README lines whose output must say what the README says it does (a regular expression).
OUTPUTS: dict[str, str] = {
    "toolbox db init": r"in SQLite file /\S+/data/toolbox\.db",  # not a driver URL
    # "TOKEN shows ********" (and no command prints the key itself: checked for every line)
    "toolbox --env-file /etc/toolbox/toolbox.env config | grep TIPO_CAMBIO": r"\*{8}",
    "toolbox notify --test": r"test notification sent to 1 URL",
    "toolbox schedule remove --file /etc/cron.d/toolbox": r"the file is removed too",
}


@dataclass(frozen=True)
class Placeholder:
    why: str
    value: Callable[[World], str]


# A README word → what stands for it here (computed when the line runs, from the state the
# earlier lines left).
PLACEHOLDERS: dict[str, Placeholder] = {
    "1842": Placeholder("a run id: the newest tablas-reportes run of the test",
                        lambda w: str(w.last_run("tablas-reportes"))),
    "https://script.google.com/macros/s/KEY/exec": Placeholder(
        "a published sheet (Apps Script): the sheet stub's sectores, as JSON",
        lambda w: w.sheets.url("sectores")),
    "https://docs.google.com/spreadsheets/d/e/KEY/pub?output=csv": Placeholder(
        "a sheet published as CSV: the sheet stub's off-system USD sheet",
        lambda w: w.sheets.url("fuera-sistema-usd", csv_format=True)),
    "/etc/toolbox/toolbox.env": Placeholder(
        "the env file (mode 600) holding the exchange-rate key",
        lambda w: str(w.env_file)),
    "/etc/cron.d/toolbox": Placeholder("a cron.d file", lambda w: str(w.cron_d)),
    "/var/lib/node_exporter/textfile/toolbox.prom": Placeholder(
        "node_exporter's textfile directory", lambda w: str(w.mkdir("textfile") / "toolbox.prom")),
    "/var/www/toolbox-status": Placeholder(
        "a web server's directory", lambda w: str(w.root / "www" / "toolbox-status")),
    "mysql+pymysql://bi@legacy-db:3306/datamart": Placeholder(
        "the legacy's datamart: a copy of the test's database, made when the line runs",
        lambda w: w.legacy_copy()),
    "saldos.csv": Placeholder("the reader's cash balances: every stored day, as a CSV export",
                              lambda w: w.export_csv("saldos", "saldos.csv")),
    "rates.csv": Placeholder("the reader's corrected rates: examples/tipo_cambio.csv",
                             lambda w: w.copy_example("tipo_cambio.csv", "rates.csv")),
    "codigos.csv": Placeholder(
        "the reader's special codes: the stored ones but the last (the line drops it)",
        lambda w: w.export_csv("codigos-cxc", "codigos.csv", drop_last=True)),
    "pagadores.csv": Placeholder("a DOS export: examples/sectores.csv saved as cp850",
                                 lambda w: w.cp850_copy("sectores.csv", "pagadores.csv")),
}


# ---------------------------------------------------------------------- the README's lines


@dataclass(frozen=True)
class ReadmeLine:
    """A toolbox call on a line of a ```sh block: the line's number and text without the
    comment, the variables set before the call and its arguments; ``grep`` holds the words a
    ``| grep WORD`` after it looks for."""

    number: int
    text: str
    env: dict[str, str]
    args: list[str]
    grep: list[str] = field(default_factory=list)


_OPERATORS = {"&&", "||", "|", ";", "&"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _words(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = ""  # the comment is gone already (_without_comment)
    return list(lexer)


def _without_comment(text: str) -> str:
    """The line as written up to its `#` comment (a `#` inside quotes or a word is kept)."""
    for match in re.finditer(r"(?:^|\s)#", text):
        head = text[:match.start()]
        try:
            shlex.split(head)
        except ValueError:  # an open quote: this # is inside it
            continue
        return head.rstrip()
    return text.rstrip()


def readme_lines() -> list[ReadmeLine]:
    """Every toolbox call of the README's ```sh blocks, in order."""
    from toolbox_cli.cli.app import COMMANDS
    from toolbox_cli.registry import all_tasks

    commands = set(COMMANDS) | set(all_tasks())
    found: list[ReadmeLine] = []
    in_sh = False
    for number, raw in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if raw.startswith("```"):
            in_sh = raw.strip() == "```sh" if not in_sh else False
            continue
        if not in_sh or not raw.strip() or raw.lstrip().startswith("#"):
            continue
        text = _without_comment(raw.strip())
        try:
            tokens = _words(text)
        except ValueError:  # a line of a quoted value over several lines (TOOLBOX_SHEETS)
            assert not re.search(r"(^|[\s/])toolbox\s", text), f"cannot parse line {number}"
            continue
        segments: list[list[str]] = [[]]
        for token in tokens:
            if token in _OPERATORS:
                segments.append([])
            else:
                segments[-1].append(token)
        calls = len(found)
        for i, segment in enumerate(segments):
            env = {}
            while segment and _ASSIGNMENT.match(segment[0]):
                name, _, value = segment.pop(0).partition("=")
                env[name] = value
            if segment and Path(segment[0]).name == "toolbox":
                args = segment[1:]
                if ">" in args:  # an output redirection: not the toolbox's arguments
                    args = args[:args.index(">")]
                nxt = segments[i + 1] if i + 1 < len(segments) else []
                grep = nxt[1:] if nxt[:1] == ["grep"] else []
                found.append(ReadmeLine(number, text, env, args, grep))
        # "sudo -u x toolbox status" and the like: a toolbox command the loop above missed
        # (a word "toolbox" followed by one of its commands).
        if len(found) == calls:
            at = [n for n, token in enumerate(tokens) if Path(token).name == "toolbox"]
            assert not at or not commands & set(tokens[at[0]:]), \
                f"README line {number} calls toolbox in a way this test does not parse: {text}"
    return found


# ---------------------------------------------------------------------- the stubs


def _cell(value: object, *, is_date: bool) -> str:
    if value is None:
        return ""
    text = str(value)
    return text[:10] if is_date else text


class SheetStub:
    """The analysts' sheets, served from the test's own database as it is when asked: each
    sheet answers its table's stored rows under the import headers (as JSON rows, or as CSV
    when the URL is a published CSV), so refreshing a sheet stores what is already there and
    the guard has nothing to say."""

    def __init__(self, database: Path) -> None:
        self.database = database
        stub = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                name = self.path.split("?", 1)[0].strip("/").split("/")[-2].removeprefix("KEY-")
                kind, hoja = SHEET_KINDS[name]
                headers, rows = stub.rows(kind, hoja)
                if "output=csv" in self.path:
                    lines = [",".join(headers)] + [
                        ",".join(_csv_quote(c) for c in row) for row in rows]
                    body, ctype = "\n".join(lines).encode(), "text/csv; charset=utf-8"
                else:
                    body = json.dumps([dict(zip(headers, row, strict=True)) for row in rows]
                                      ).encode()
                    ctype = "application/json; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = loopback(Handler)

    def rows(self, kind_name: str, hoja: str | None) -> tuple[list[str], list[list[str]]]:
        """The stored rows of an import kind's table, as a sheet writes them."""
        from toolbox_cli.compute.text import optional_date, required_date

        kind = KINDS[kind_name]
        fields = [f for f in kind.fields if f.column]
        columns = ", ".join(f'"{f.column}"' for f in fields)
        where, params = (' WHERE "Hoja" = ?', (hoja,)) if hoja else ("", ())
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as conn:
            stored = conn.execute(f'SELECT {columns} FROM "{kind.table.name}"{where} '
                                  "ORDER BY rowid", params).fetchall()
        dates = [f.parse in (required_date, optional_date) for f in fields]
        return ([f.header for f in fields],
                [[_cell(v, is_date=d) for v, d in zip(row, dates, strict=True)] for row in stored])

    def url(self, name: str, *, csv_format: bool = False) -> str:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if csv_format:
            return f"{base}/spreadsheets/d/e/KEY-{name}/pub?output=csv"
        return f"{base}/macros/s/KEY-{name}/exec"


def _csv_quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell


def _weekday(day: date) -> bool:
    return day.weekday() < 5


def _rate(day: date) -> dict[str, str]:
    return {"buy_price": f"3.{700 + day.day:03d}", "sell_price": f"3.{740 + day.day:03d}",
            "base_currency": "USD", "quote_currency": "PEN", "date": day.isoformat()}


@contextmanager
def decolecta_stub() -> Iterator[str]:
    """decolecta on 127.0.0.1 (``?date=`` and ``?month=&year=``, weekdays only, the key as
    ``Authorization: Bearer``); yields the base URL for TOOLBOX_TIPO_CAMBIO_URL."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            if self.headers.get("Authorization") != f"Bearer {FX_KEY}":
                return self._send(401, {"message": "Unauthorized"})
            if "date" in query:
                day = date.fromisoformat(query["date"])
                if not _weekday(day):
                    return self._send(404, {"message": "No se encontró tipo de cambio"})
                return self._send(200, _rate(day))
            day = date(int(query["year"]), int(query["month"]), 1)
            month = []
            while day.month == int(query["month"]):
                if _weekday(day):
                    month.append(_rate(day))
                day += timedelta(days=1)
            return self._send(200, month)

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = loopback(Handler)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/tipo-cambio/sunat"


@contextmanager
def webhook_stub() -> Iterator[str]:
    """A JSON webhook that takes every notification; yields its Apprise URL."""

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = loopback(Handler)
    with serving(server):
        yield f"json://127.0.0.1:{server.server_address[1]}/toolbox"


# A stand-in for cron's crontab(1): "the user's crontab" is a file beside it.
FAKE_CRONTAB = """#!/bin/sh
tab="$(dirname "$0")/user.crontab"
case "$1" in
  -l) [ -f "$tab" ] && exec cat "$tab"; echo "no crontab for $(id -un)" >&2; exit 1;;
  -r) rm -f "$tab";;
  *) cp "$1" "$tab";;
esac
"""


# ---------------------------------------------------------------------- the world


class World:
    """The test's directory, environment and stubs, and the values the placeholders take."""

    root: Path
    sheets: SheetStub
    env_file: Path
    cron_d: Path

    def __init__(self, root: Path, stack: ExitStack, demo: tuple[int, int]) -> None:
        from toolbox_cli.demo.webservice import Stub

        self.root = root
        self.database = root / "data" / "toolbox.db"
        shutil.copytree(EXAMPLES, root / "examples")
        bin_dir = self.mkdir("bin")
        (bin_dir / "crontab").write_text(FAKE_CRONTAB)
        (bin_dir / "crontab").chmod(0o755)
        self.user_crontab = bin_dir / "user.crontab"
        self.cron_d = self.mkdir("cron.d") / "toolbox"
        self.sheets = SheetStub(self.database)
        stack.enter_context(serving(self.sheets.server))
        fx_url = stack.enter_context(decolecta_stub())
        webhook = stack.enter_context(webhook_stub())
        operations, seed = demo  # the book the README's `toolbox demo` writes
        ops = stack.enter_context(Stub(operations=operations, seed=seed, user="demo",
                                       password=OPS_PASSWORD))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLBOX_")}
        self.env.update({
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "TOOLBOX_TIPO_CAMBIO_URL": fx_url, "TOOLBOX_TIPO_CAMBIO_TOKEN": FX_KEY,
            "TOOLBOX_TIPO_CAMBIO_PAUSE_SECONDS": "0",
            "TOOLBOX_SHEETS": json.dumps({name: self.sheets.url(name) for name in SHEET_KINDS}),
            "TOOLBOX_OPERACIONES_URL": ops.url, "TOOLBOX_OPERACIONES_USER": ops.user,
            "TOOLBOX_OPERACIONES_PASSWORD": ops.password,
            "TOOLBOX_NOTIFY_URLS": webhook,
        })
        self.env_file = self.mkdir("etc") / "toolbox.env"
        self.env_file.write_text(f"TOOLBOX_TIPO_CAMBIO_TOKEN={FX_KEY}\n"
                                 f"TOOLBOX_TIPO_CAMBIO_URL={fx_url}\n")
        self.env_file.chmod(0o600)

    def mkdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, args: list[str], env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TOOLBOX, *args], cwd=self.root, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)

    def last_run(self, task: str) -> int:
        with sqlite3.connect(self.database) as conn:
            found = conn.execute("SELECT MAX(id) FROM toolbox_runs WHERE task = ? AND "
                                 "status = 'success' AND dry_run = 0", (task,)).fetchone()[0]
        assert found, f"no successful {task} run for the README's run id"
        return int(found)

    def legacy_copy(self) -> str:
        path = self.root / "legacy.db"
        path.unlink(missing_ok=True)
        with sqlite3.connect(self.database) as mine, sqlite3.connect(path) as theirs:
            mine.backup(theirs)
        return f"sqlite:///{path}"

    def export_csv(self, kind: str, name: str, *, drop_last: bool = False) -> str:
        headers, rows = self.sheets.rows(kind, None)
        with open(self.root / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            writer.writerows(rows[:-1] if drop_last else rows)
        return name

    def copy_example(self, example: str, name: str) -> str:
        shutil.copy(EXAMPLES / example, self.root / name)
        return name

    def cp850_copy(self, example: str, name: str) -> str:
        text = (EXAMPLES / example).read_text(encoding="utf-8-sig")
        assert text != text.encode("ascii", "ignore").decode(), "needs a non-ASCII letter"
        (self.root / name).write_bytes(text.encode("cp850"))
        return name

    def outside(self, word: str) -> bool:
        """A path outside the test's directory and the checkout, or a URL off this machine:
        a README word the placeholders should stand for."""
        if "://" in word:
            url = urlparse(word)
            return not (url.scheme == "sqlite" or url.hostname == "127.0.0.1")
        if word.startswith("/"):
            path = Path(word)
            return not (path.is_relative_to(self.root) or path.is_relative_to(REPO))
        return False


def _readme_demo(lines: list[ReadmeLine]) -> tuple[int, int]:
    """``--operations`` and ``--seed`` of the last ``toolbox demo`` of the README: the book
    the operations stub must serve for ``toolbox operaciones`` to store the same rows."""
    operations, seed = 2000, 42
    for line in lines:
        if line.args[:1] == ["demo"]:
            args = line.args
            if "--operations" in args:
                operations = int(args[args.index("--operations") + 1])
            if "--seed" in args:
                seed = int(args[args.index("--seed") + 1])
    return operations, seed


# ---------------------------------------------------------------------- the tests


def test_the_tables_name_only_lines_and_words_the_readme_has() -> None:
    lines = readme_lines()
    assert len(lines) > 40, "the README's ```sh blocks were not found"
    texts = {line.text for line in lines}
    for table in (SKIPPED, EXIT_CODES, OUTPUTS):
        stale = [text for text in table if text not in texts]
        assert not stale, f"no longer in the README (remove from the table): {stale}"
    words = {word for line in lines for word in line.args}
    stale = [word for word in PLACEHOLDERS if word not in words]
    assert not stale, f"placeholders the README no longer uses: {stale}"


def test_every_readme_command_exits_as_the_readme_says(tmp_path: Path) -> None:
    lines = readme_lines()
    started = time.monotonic()
    with ExitStack() as stack:
        world = World(tmp_path, stack, _readme_demo(lines))
        for setup in (["db", "init"], ["demo", "--operations", "300"]):
            proc = world.run(setup)
            assert proc.returncode == 0, proc.stderr
        failures = []
        ran = 0
        for line in lines:
            if line.text in SKIPPED:
                continue
            args = [PLACEHOLDERS[w].value(world) if w in PLACEHOLDERS else w for w in line.args]
            outside = [w for w in args if world.outside(w)]
            if outside:
                failures.append(f"README line {line.number}: {line.text}\n  {outside} is outside "
                                "the test: add it to PLACEHOLDERS (or the line to SKIPPED)")
                continue
            proc = world.run(args, line.env)
            ran += 1
            expected = EXIT_CODES.get(line.text, 0)
            missing = [w for w in line.grep if w not in proc.stdout]
            said = OUTPUTS.get(line.text)
            if said is not None and not re.search(said, proc.stdout):
                missing.append(said)
            leaked = [s for s in (FX_KEY, OPS_PASSWORD) if s in proc.stdout + proc.stderr]
            if leaked:
                failures.append(f"README line {line.number}: {line.text}\n  printed the "
                                f"secret(s) {leaked}")
            if proc.returncode != expected or missing:
                failures.append(
                    f"README line {line.number}: {line.text}\n  ran: toolbox {shlex.join(args)}\n"
                    f"  exit {proc.returncode}, the README says {expected}"
                    + (f"; the output has no {missing}:\n{proc.stdout[-1500:]}" if missing else "")
                    + f"\n  stderr: {proc.stderr.strip()[-800:]}")
        make = shutil.which("make")
        if make is not None:
            failures += _make_demo_after_the_examples(world, make)
    assert not failures, "\n".join(failures)
    assert ran == len([line for line in lines if line.text not in SKIPPED])
    print(f"{ran} README commands in {time.monotonic() - started:.1f}s")
    if make is None:
        pytest.skip("no make program: make demo after the examples was not checked")


def _make_demo_after_the_examples(world: World, make: str) -> list[str]:
    """``make demo`` after the README's imports stops naming ``make demo-fresh``, and that
    target's commands work: its toolbox lines as ``make -n`` prints them, run here."""

    def toolbox_lines(target: str) -> list[list[str]]:
        shown = subprocess.run([make, "-n", "-s", "--no-print-directory", "-C", str(REPO), target,
                                "TOOLBOX=toolbox"],
                               capture_output=True, text=True, check=True, env=world.env)
        return [shlex.split(line)[1:] for line in shown.stdout.splitlines()
                if line.startswith("toolbox ")]

    failures = []
    demo = toolbox_lines("demo")  # db init (idempotent, the README ran it), demo, ...
    assert demo[1][:1] == ["demo"], demo
    refused = world.run(demo[1])
    if refused.returncode != 2 or "make demo-fresh" not in refused.stderr:
        failures.append(f"make demo after the README's imports: toolbox {shlex.join(demo[1])} "
                        f"exit {refused.returncode}, stderr {refused.stderr.strip()!r}; "
                        "it should refuse (exit 2) naming make demo-fresh")
    for args in toolbox_lines("demo-fresh"):
        proc = world.run(args)
        if proc.returncode != 0:
            failures.append(f"make demo-fresh: toolbox {shlex.join(args)} exit "
                            f"{proc.returncode}: {proc.stderr.strip()[-800:]}")
    return failures
