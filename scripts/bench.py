#!/usr/bin/env python3
"""`make bench`: refresh speed and memory against the bulk-load limit and a pandas peer.

For each backend (SQLite, MariaDB) and size (100 000 and 1 000 000 operations by default):

* seeds demo source data (`toolbox demo`), then lets the database settle (MariaDB: until
  at most 1 % of InnoDB's buffer pool is dirty, at most SETTLE_SECONDS; SQLite: a WAL
  checkpoint),
* runs every command below once untimed (warm-up), then ``--repeats`` times (default 3),
  the commands in turn so that drift hits all alike; prints median, min, max and spread,
  and ratios of medians with the extremes the runs allow (issue 25),
* for ``kpi`` and ``tablas-cxc``, where the time went, from the toolbox's own
  ``--profile-phases`` line (start-up, read, compute, write, swap, ledger),
* measures `toolbox kpi` and `toolbox tablas-cxc` end to end (seconds, rows/s, peak RSS of
  the process, from wait4),
* baseline (a): the same kpi rows, same width, inserted into an identical table with plain
  DB-API ``executemany`` in batches of 5 000 (no computation; only the inserts are timed),
* baseline (b), MariaDB only: the same rows written to a CSV with Python's csv module and
  loaded with ``LOAD DATA LOCAL INFILE`` (CSV writing + load timed),
* baseline (c), SQLite only: the same rows copied inside SQLite (``INSERT INTO … SELECT``),
  the engine's own limit,
* baseline (d), SQLite only, per task (kpi, kpi-acumulado, tablas-cxc): the floor with the
  ``sqlite3`` driver in one process, the keyset read of the task's source tables plus
  ``executemany`` of its output rows into identical tables (issue 24: task <= 1.4x (d)),
* the peer: the kpi computation the obvious pandas way (scripts/bench_pandas_peer.py),
* `toolbox compare -t kpi` against a copy of the database, and the reading of both kpi
  tables as frames by the same reader (issue 22: compare <= 3x reading both),
* `toolbox export kpi --format xlsx`, and baseline (e): the same rows read as one frame and
  written by XlsxWriter's constant-memory `write_row` alone (issue 22: export <= 1.25x (e)),
* `toolbox operaciones` against the loopback stub serving the same book (issue 21),
* start-up: ``toolbox --help`` against ``python -c "import typer, rich"`` (best of 5),

then prints rows/s for each, and every ratio of issue 14 next to its target (kpi against
the baselines and the peer, tablas-cxc against its rows/s before the columnar core, peak
memory at the largest size and its growth, the start-up ratio). Nothing here is asserted:
tests check correctness, this script reports figures.

    python scripts/bench.py [--sizes 100000 1000000] [--backends sqlite mysql] [--repeats 3]
    python scripts/bench.py --quick     # 20 000 operations, SQLite, kpi + tablas-cxc + baselines
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TOOLBOX = [PYTHON, "-m", "toolbox_cli"]
MYSQL_SERVER = os.environ.get("TOOLBOX_BENCH_MYSQL_URL",
                              "mysql+pymysql://toolbox:tbx-test-pw@127.0.0.1:3306/test")
BATCH = 5000

# Issue 14's targets. `tablas-cxc` is compared with its rows/s before the columnar core, at
# 100 000 operations on the VM the issue was measured on.
CXC_BEFORE = {"sqlite": 20_000, "mysql": 17_300}
TARGETS = {
    "kpi_vs_a_sqlite": 0.7,  # SQLite: toolbox kpi rows/s >= 0.7 x baseline (a)
    "kpi_vs_b_mysql": 0.8,  # MariaDB: toolbox kpi rows/s >= 0.8 x baseline (b)
    "pandas_over_kpi": 5.0,  # both: pandas peer time / kpi time >= 5
    "cxc_over_before": 3.0,  # both: tablas-cxc rows/s >= 3 x before
    "peak_mb_largest": 300.0,  # peak RSS of the process tree at 1 000 000 <= 300 MB
    "peak_growth": 1.5,  # and <= 1.5 x the peak at 100 000
    "help_over_import": 2.0,  # toolbox --help <= 2 x python -c "import typer, rich"
    "operaciones_over_demo": 2.0,  # the webservice fetch <= 2 x toolbox demo's time (issue 21)
    "operaciones_peak_over_kpi": 1.5,  # and its peak <= 1.5 x toolbox kpi's
    "compare_over_read": 3.0,  # toolbox compare -t kpi <= 3 x reading both tables (issue 22)
    "export_over_xlsxwriter": 1.25,  # toolbox export kpi (xlsx) <= 1.25 x baseline (e)
    "task_over_floor_sqlite": 1.4,  # SQLite: kpi, kpi-acumulado, tablas-cxc <= 1.4 x (d) (issue 24)
}


@dataclass
class Measure:
    seconds: float
    peak_rss_mb: float
    rows: int = 0
    phases: dict[str, float] | None = None  # the toolbox's own --profile-phases line

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Series:
    """The timed runs of one command (issue 25): its figure is the median, with the
    extremes beside it; the peak is the largest seen."""

    samples: list[Measure] = field(default_factory=list)

    @property
    def times(self) -> list[float]:
        return sorted(m.seconds for m in self.samples)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return self.times[0]

    @property
    def max(self) -> float:
        return self.times[-1]

    @property
    def spread(self) -> float:
        """The slowest run over the fastest."""
        return self.max / self.min if self.min else 0.0

    @property
    def rows(self) -> int:
        return self.samples[-1].rows

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def peak_rss_mb(self) -> float:
        return max(m.peak_rss_mb for m in self.samples)

    def phases(self) -> dict[str, float]:
        """Each phase's median over the runs that reported phases."""
        reported = [m.phases for m in self.samples if m.phases]
        names = list(dict.fromkeys(k for p in reported for k in p))
        return {k: statistics.median(p.get(k, 0.0) for p in reported) for k in names}


@dataclass
class Result:
    backend: str
    size: int
    figures: dict[str, Series] = field(default_factory=dict)


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, summed (from /proc)."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))  # fields[1]: the ppid
        rss[int(entry)] = int(fields[21]) * page_kb  # fields[21]: rss in pages
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, ()))
    return total


class _TreePeak(threading.Thread):
    """Samples the summed RSS of a process tree every 50 ms, so a command that starts child
    processes is charged for all of them, not only the largest one."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))


def run_measured(args: list[str], env: dict[str, str]) -> tuple[Measure, str]:
    """Run a command; wall time and peak RSS of its process tree (summed over processes)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, cwd=ROOT)
        sampler = _TreePeak(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args[2:])} failed ({proc.returncode}): {stderr.strip()}")
    phases = next((json.loads(line[len("phases: "):]) for line in stderr.splitlines()
                   if line.startswith("phases: {")), None)
    # wait4's ru_maxrss (the largest single process) is a floor for the sampled sum.
    return Measure(seconds, max(sampler.peak_kb, usage.ru_maxrss) / 1024, phases=phases), stdout


def fresh_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        path = workdir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    return fresh_mysql_database("toolbox_bench")


def fresh_mysql_database(name: str, *then: str) -> str:
    """The URL of database ``name`` on the bench server, dropped and created empty, after
    the statements ``then``."""
    server = make_url(MYSQL_SERVER)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        for statement in then:
            conn.execute(text(statement))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def count_rows(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def _raw_connections(url: str) -> tuple[Any, Any, str]:
    """A reader, a writer (plain DB-API connections) and the driver's parameter mark."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        import sqlite3

        path = u.database or ""
        return sqlite3.connect(path), sqlite3.connect(path), "?"
    import pymysql
    import pymysql.cursors

    def connect(**extra: Any) -> Any:
        return pymysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306,
                               user=u.username or "", password=u.password or "",
                               database=u.database or "", charset="utf8mb4", local_infile=True,
                               **extra)

    return connect(cursorclass=pymysql.cursors.SSCursor), connect(), "%s"


def _copy_table_like_kpi(url: str, name: str) -> list[str]:
    """An empty table identical to kpi; returns its insertable columns."""
    from sqlalchemy import MetaData, Table

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        if engine.dialect.name == "sqlite":
            kpi = Table("kpi", MetaData(), autoload_with=conn)
            copy = kpi.to_metadata(MetaData(), name=name)
            copy.create(conn)
        else:
            conn.execute(text(f"CREATE TABLE {name} LIKE kpi"))
        cols = [c for c in Table(name, MetaData(), autoload_with=conn).columns.keys() if c != "id"]
    engine.dispose()
    return cols


def _kpi_batches(reader: Any, cols: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    cur = reader.cursor()
    quoted = ", ".join(f"`{c}`" for c in cols)
    cur.execute(f"SELECT {quoted} FROM kpi")
    while batch := cur.fetchmany(BATCH):
        yield batch
    cur.close()


def baseline_executemany(url: str) -> Measure:
    cols = _copy_table_like_kpi(url, "bench_copy")
    reader, writer, mark = _raw_connections(url)
    quoted = ", ".join(f"`{c}`" for c in cols)
    sql = f"INSERT INTO bench_copy ({quoted}) VALUES ({', '.join([mark] * len(cols))})"
    spent, rows = _timed_inserts(writer, sql, _kpi_batches(reader, cols))
    reader.close()
    writer.close()
    return Measure(spent, 0.0, rows)


def _timed_inserts(writer: Any, sql: str, batches: Iterator[list[Any]]) -> tuple[float, int]:
    """``executemany`` of each batch, committed; only the inserts are timed: (seconds, rows)."""
    spent, rows = 0.0, 0
    for batch in batches:
        t0 = time.perf_counter()
        writer.cursor().executemany(sql, batch)
        writer.commit()
        spent += time.perf_counter() - t0
        rows += len(batch)
    return spent, rows


def baseline_load_data(url: str) -> Measure:
    cols = _copy_table_like_kpi(url, "bench_copy")
    reader, writer, _ = _raw_connections(url)
    rows, spent = 0, 0.0
    with tempfile.NamedTemporaryFile("w", newline="", encoding="utf-8", suffix=".csv") as fh:
        out = csv.writer(fh)
        for batch in _kpi_batches(reader, cols):
            t0 = time.perf_counter()
            # With ESCAPED BY '' an unquoted NULL field is read as SQL NULL.
            out.writerows([["NULL" if v is None else v for v in row] for row in batch])
            spent += time.perf_counter() - t0
            rows += len(batch)
        fh.flush()
        t0 = time.perf_counter()
        cur = writer.cursor()
        quoted = ", ".join(f"`{c}`" for c in cols)
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE bench_copy CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
            f"LINES TERMINATED BY '\\r\\n' ({quoted})",
            (fh.name,),
        )
        writer.commit()
        spent += time.perf_counter() - t0
    reader.close()
    writer.close()
    return Measure(spent, 0.0, rows)


def baseline_copy_in_engine(url: str) -> Measure:
    """SQLite: the kpi rows copied inside the engine, ``INSERT INTO … SELECT``."""
    cols = _copy_table_like_kpi(url, "bench_copy")
    _reader, writer, _ = _raw_connections(url)
    quoted = ", ".join(f'"{c}"' for c in cols)
    t0 = time.perf_counter()
    cur = writer.execute(f"INSERT INTO bench_copy ({quoted}) SELECT {quoted} FROM kpi")
    writer.commit()
    spent = time.perf_counter() - t0
    rows = cur.rowcount
    _reader.close()
    writer.close()
    return Measure(spent, 0.0, rows)


def baseline_floor(url: str, task: str, outputs: tuple[str, ...]) -> Measure:
    """Baseline (d), SQLite (issue 24): the floor of a refresh with the ``sqlite3`` driver, in
    one process: every column of every source table the task reads (``TaskSpec.reads``; all
    of them, so the floor is if anything high), in keyset chunks of BATCH by rowid, plus
    ``executemany`` of the task's output rows (read from the tables the task wrote, untimed)
    into identical tables in batches of BATCH. Only the reads and the inserts are timed."""
    import sqlite3

    sys.path.insert(0, str(ROOT))
    from toolbox_cli.registry import get_task

    conn = sqlite3.connect(make_url(url).database or "")
    spent, rows = 0.0, 0
    for table in get_task(task).reads:
        cols = ", ".join(f'"{r[1]}"' for r in conn.execute(f'PRAGMA table_info("{table}")'))
        last = -1
        t0 = time.perf_counter()
        while batch := conn.execute(f'SELECT rowid, {cols} FROM "{table}" WHERE rowid > ? '
                                    f"ORDER BY rowid LIMIT {BATCH}", (last,)).fetchall():
            last = batch[-1][0]
        spent += time.perf_counter() - t0
    for table in outputs:
        copy = f"bench_floor_{table}"
        conn.execute(f'DROP TABLE IF EXISTS "{copy}"')
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (table,)).fetchone()[0]
        conn.execute(ddl.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "{copy}"', 1)
                     .replace(f"CREATE TABLE {table} ", f'CREATE TABLE "{copy}" ', 1))
        cols_list = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")') if r[1] != "id"]
        quoted = ", ".join(f'"{c}"' for c in cols_list)
        insert = (f'INSERT INTO "{copy}" ({quoted}) VALUES ({", ".join("?" * len(cols_list))})')
        reader = sqlite3.connect(make_url(url).database or "")
        cursor = reader.execute(f'SELECT {quoted} FROM "{table}"')
        batches = iter(functools.partial(cursor.fetchmany, BATCH), [])
        inserted, count = _timed_inserts(conn, insert, batches)
        spent, rows = spent + inserted, rows + count
        reader.close()
        conn.execute(f'DROP TABLE "{copy}"')
        conn.commit()
    conn.close()
    return Measure(spent, 0.0, rows)


FLOORS = {  # task -> the tables it writes, for baseline (d)
    "kpi": ("kpi",), "kpi-acumulado": ("kpi_acumulado",),
    "tablas-cxc": ("cxc_pagos_fact", "cxc_dev_fact", "cxc_acumulado_dim"),
}


def startup() -> tuple[float, float]:
    """Best of 5: `toolbox --help` and `python -c "import typer, rich"`, in seconds."""
    def best(args: list[str]) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        return min(times)

    return best([*TOOLBOX, "--help"]), best([PYTHON, "-c", "import typer, rich"])


def operaciones_stub(size: int, today: str) -> Any:
    """The loopback stub serving the same book as the demo seed (its answers rendered
    before any clock starts), as a context manager."""
    from datetime import date

    sys.path.insert(0, str(ROOT))
    from toolbox_cli.demo.webservice import Stub

    return Stub(operations=size, seed=1, today=date.fromisoformat(today))


def bench_operaciones(stub_url: str, env: dict[str, str]) -> Measure:
    """``toolbox operaciones`` against the stub, into the same tables."""
    fetch_env = {**env, "TOOLBOX_OPERACIONES_URL": stub_url, "TOOLBOX_OPERACIONES_USER": "demo",
                 "TOOLBOX_OPERACIONES_PASSWORD": "demo"}
    measure, _ = run_measured([*TOOLBOX, "operaciones"], fetch_env)
    measure.rows = sum(count_rows(env["TOOLBOX_DATABASE_URL"], t) for t in
                       ("colocaciones", "colocaciones_pagos", "colocaciones_devoluciones"))
    return measure


_READ_BOTH = """
import sys
from toolbox_cli.jobs.compare import read_whole
from toolbox_cli.storage.engine import make_engine
from toolbox_cli.storage.tables.reportes import kpi
from sqlalchemy.engine import make_url
names = [c.name for c in kpi.columns if c.name != "id"]
rows = [read_whole(make_engine(make_url(u)), kpi, names).height for u in sys.argv[1:]]
print(sum(rows))
"""


# Baseline (e): the well-kept writer alone: the kpi rows read as one frame, then written
# with XlsxWriter in constant-memory mode by write_row, dates with its default format.
_XLSX_BASELINE = """
import sys
import xlsxwriter
from toolbox_cli.jobs.compare import read_whole
from toolbox_cli.storage.engine import make_engine
from toolbox_cli.storage.tables.reportes import kpi
from sqlalchemy.engine import make_url
names = [c.name for c in kpi.columns if c.name != "id"]
frame = read_whole(make_engine(make_url(sys.argv[1])), kpi, names)
book = xlsxwriter.Workbook(sys.argv[2], {"constant_memory": True, "use_zip64": True,
                                         "default_date_format": "yyyy-mm-dd hh:mm:ss"})
sheet = book.add_worksheet("kpi")
sheet.write_row(0, 0, names)
for i, row in enumerate(frame.iter_rows(), start=1):
    sheet.write_row(i, 0, row)
book.close()
print(frame.height)
"""


def bench_export(url: str, env: dict[str, str], workdir: Path) -> Measure:
    """``toolbox export kpi --format xlsx`` into a file of the workdir."""
    target = workdir / "bench-kpi.xlsx"
    export, _ = run_measured([*TOOLBOX, "export", "kpi", "-f", "xlsx", "-o", str(target),
                              "--force"], env)
    export.rows = count_rows(url, "kpi")
    target.unlink(missing_ok=True)
    return export


def bench_xlsx_baseline(url: str, env: dict[str, str], workdir: Path) -> Measure:
    """Baseline (e), into a file of the workdir."""
    target = workdir / "bench-kpi-e.xlsx"
    baseline, out = run_measured([PYTHON, "-c", _XLSX_BASELINE, url, str(target)], env)
    baseline.rows = int(out.strip())
    target.unlink(missing_ok=True)
    return baseline


def other_copy(backend: str, url: str, workdir: Path) -> str:
    """A second database holding a copy of ``url``'s kpi (the other side of a compare)."""
    if backend == "sqlite":
        path = workdir / "bench-other.db"
        path.unlink(missing_ok=True)
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql(f"VACUUM INTO '{path}'")
        engine.dispose()
        return f"sqlite:///{path}"
    return fresh_mysql_database(
        "toolbox_bench_other", "CREATE TABLE toolbox_bench_other.kpi LIKE toolbox_bench.kpi",
        "INSERT INTO toolbox_bench_other.kpi SELECT * FROM toolbox_bench.kpi")


def bench_read_both(url: str, other: str, env: dict[str, str]) -> Measure:
    """Both kpi tables read as frames by the reader compare uses (``jobs.compare.read_whole``)."""
    read, out = run_measured([PYTHON, "-c", _READ_BOTH, url, other], env)
    read.rows = int(out.strip())
    return read


def bench_compare(url: str, other: str, env: dict[str, str]) -> Measure:
    """``toolbox compare -t kpi`` against the copy."""
    compare, _ = run_measured([*TOOLBOX, "compare", "--against", other, "-t", "kpi", "--json"],
                              env)
    compare.rows = 2 * count_rows(url, "kpi")
    return compare


SETTLE_SECONDS = 180  # at most this long for the server to flush the seed


def settle(backend: str, url: str) -> str:
    """Let the database finish with the seed before anything is timed (issue 25): on
    MariaDB until InnoDB has no dirty pages left (polled, at most SETTLE_SECONDS), on SQLite a
    WAL checkpoint. Returns what it did, for the report."""
    engine = create_engine(url)
    t0 = time.monotonic()
    try:
        with engine.connect() as conn:
            if backend == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                return "WAL checkpointed"
            # Flushed enough: at most 1 % of the pool dirty (InnoDB may keep a few hundred
            # dirty pages indefinitely when idle: seen here, 528 of them after 180 s).
            dirty, settled = -1, False
            while time.monotonic() - t0 < SETTLE_SECONDS:
                status: dict[str, str] = dict(conn.exec_driver_sql(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN "
                    "('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')").all())
                dirty = int(status.get("Innodb_buffer_pool_pages_dirty", 0))
                total = int(status.get("Innodb_buffer_pool_pages_total", 0))
                if dirty <= total // 100:
                    settled = True
                    break
                time.sleep(1.0)
            return (f"InnoDB dirty pages {dirty} after {time.monotonic() - t0:.0f} s"
                    + ("" if settled else " (time limit)"))
    finally:
        engine.dispose()


def bench_one(backend: str, size: int, workdir: Path, today: str, *, fetch: bool = True,
              repeats: int = 3, quick: bool = False) -> Result:
    """Seed, settle, one untimed warm-up run of each command, then ``repeats`` rounds of
    every command in turn (so that a drift of the machine hits all of them alike)."""
    url = fresh_database(backend, workdir)
    env = {**os.environ, "TOOLBOX_DATABASE_URL": url, "TOOLBOX_DATA_DIR": str(workdir),
           "TOOLBOX_TRIGGER": "manual"}
    env.pop("TOOLBOX_ENV_FILE", None)
    profiled = {**env, "TOOLBOX_PROFILE_PHASES": "1"}
    res = Result(backend, size)
    print(f"\n== {backend}, {size:,} operations", flush=True)
    run_measured([*TOOLBOX, "db", "init"], env)
    seed, _ = run_measured([*TOOLBOX, "demo", "--operations", str(size), "--seed", "1"], env)
    seed.rows = size
    res.figures["demo seed"] = Series([seed])
    print(f"  seeded in {seed.seconds:.1f} s; {settle(backend, url)}", flush=True)

    def kpi() -> Measure:
        m, _ = run_measured([*TOOLBOX, "kpi", "--fecha-corte", today, "--hasta", today], profiled)
        m.rows = count_rows(url, "kpi")
        return m

    def cxc() -> Measure:
        m, _ = run_measured([*TOOLBOX, "tablas-cxc", "--fecha-corte", today], profiled)
        m.rows = sum(count_rows(url, t)
                     for t in ("cxc_pagos_fact", "cxc_dev_fact", "cxc_acumulado_dim"))
        return m

    def acumulado() -> Measure:
        m, _ = run_measured([*TOOLBOX, "kpi-acumulado", "--fecha-corte", today, "--hasta",
                             today], profiled)
        m.rows = count_rows(url, "kpi_acumulado")
        return m

    commands: dict[str, Callable[[], Measure]] = {
        "toolbox kpi": kpi, "toolbox kpi-acumulado": acumulado, "toolbox tablas-cxc": cxc,
        "baseline (a) executemany": lambda: baseline_executemany(url),
    }
    if backend == "mysql":
        commands["baseline (b) LOAD DATA"] = lambda: baseline_load_data(url)
    else:
        commands["baseline (c) INSERT SELECT"] = lambda: baseline_copy_in_engine(url)
        for task, outputs in FLOORS.items():
            commands[f"baseline (d) {task}"] = \
                lambda task=task, outputs=outputs: baseline_floor(url, task, outputs)  # type: ignore[misc]  # bound per task
    with contextlib.ExitStack() as stack:
        if not quick:
            kpi()  # the copy compare reads needs the kpi table
            other = other_copy(backend, url, workdir)
            commands["toolbox compare -t kpi"] = lambda: bench_compare(url, other, env)
            commands["read both kpi tables"] = lambda: bench_read_both(url, other, env)
            commands["toolbox export kpi xlsx"] = lambda: bench_export(url, env, workdir)
            commands["baseline (e) XlsxWriter"] = lambda: bench_xlsx_baseline(url, env, workdir)
            if fetch:
                started = time.monotonic()
                stub = stack.enter_context(operaciones_stub(size, today))
                print(f"  (stub rendered {size:,} documents in "
                      f"{time.monotonic() - started:.0f} s)", flush=True)
                commands["toolbox operaciones"] = lambda: bench_operaciones(stub.url, env)
            commands["pandas peer"] = lambda: _pandas_peer(url, env)
        print(f"  warm-up: one untimed run of each of {len(commands)} commands", flush=True)
        for run in commands.values():
            run()
        for round_ in range(1, repeats + 1):
            for name, run in commands.items():
                res.figures.setdefault(name, Series()).samples.append(run())
            print(f"  round {round_} of {repeats} done", flush=True)
    print(f"  {'':<26} {'median':>9}   {'min':>7} {'max':>7} {'spread':>6}  {'rows':>10}  "
          f"{'rows/s':>10}  peak")
    for name, m in res.figures.items():
        rss = f"{m.peak_rss_mb:6.0f} MB" if m.peak_rss_mb else "     -   "
        print(f"  {name:<26} {m.seconds:8.2f} s  {m.min:7.2f} {m.max:7.2f} {m.spread:6.2f}  "
              f"{m.rows:>10,}  {m.rows_per_s:>10,.0f}  {rss}", flush=True)
    for name in ("toolbox kpi", "toolbox kpi-acumulado", "toolbox tablas-cxc"):
        phases = res.figures[name].phases()
        if phases:
            shown = ", ".join(f"{k} {v:.2f}" for k, v in phases.items())
            print(f"  {name} phases (s, median): {shown}")
    return res


def _pandas_peer(url: str, env: dict[str, str]) -> Measure:
    peer, out = run_measured([PYTHON, str(ROOT / "scripts" / "bench_pandas_peer.py"), url], env)
    peer.rows = int(out.strip().splitlines()[-1])
    return peer


Ratio = tuple[float, float, float]  # median, lowest, highest


def time_ratio(x: Series, y: Series) -> Ratio:
    """x's time over y's: of the medians, and the extremes the runs allow."""
    return x.seconds / y.seconds, x.min / y.max, x.max / y.min


def rate_ratio(x: Series, y: Series) -> Ratio:
    """x's rows/s over y's: of the medians, and the extremes the runs allow."""
    rows = x.rows / y.rows if y.rows else 0.0
    return rows * y.seconds / x.seconds, rows * y.min / x.max, rows * y.max / x.min


def _ratio_text(value: Ratio) -> str:
    median, lo, hi = value
    return f"{median:8.2f}" + (f"  [{lo:.2f}..{hi:.2f}]" if hi != lo else "")


def _verdict(value: float | Ratio, target: float, *, at_most: bool = False) -> str:
    """``value`` (a median ratio, with its lowest and highest when it has them) against its
    target; the spread is the highest over the lowest."""
    median, lo, hi = value if isinstance(value, tuple) else (value, value, value)
    met = median <= target if at_most else median >= target
    sign = "<=" if at_most else ">="
    spread = f"  [{lo:.2f}..{hi:.2f}, spread {hi / lo:.2f}]" if lo and hi != lo else ""
    return f"{median:8.2f}   target {sign} {target:<6g} {'met' if met else 'NOT MET'}{spread}"


def _line(label: str, text: str) -> None:
    print(f"    {label:<34}{text}")


def print_ratios(results: list[Result], help_s: float, import_s: float) -> None:
    print("\n== ratios against issue 14's targets")
    for r in results:
        f = r.figures
        kpi = f["toolbox kpi"]
        print(f"  {r.backend}, {r.size:,} operations")
        if r.backend == "sqlite":
            a, c = f["baseline (a) executemany"], f["baseline (c) INSERT SELECT"]
            _line("kpi rows/s / baseline (a)",
                  _verdict(rate_ratio(kpi, a), TARGETS["kpi_vs_a_sqlite"]))
            _line("kpi rows/s / baseline (c)",
                  _ratio_text(rate_ratio(kpi, c)) + "   (the engine's own limit)")
        else:
            a, b = f["baseline (a) executemany"], f["baseline (b) LOAD DATA"]
            _line("kpi rows/s / baseline (b)",
                  _verdict(rate_ratio(kpi, b), TARGETS["kpi_vs_b_mysql"]))
            _line("kpi rows/s / baseline (a)", _ratio_text(rate_ratio(kpi, a)))
        if "pandas peer" in f:
            _line("pandas time / kpi time",
                  _verdict(time_ratio(f["pandas peer"], kpi), TARGETS["pandas_over_kpi"]))
        for task in FLOORS if r.backend == "sqlite" else ():
            if f"baseline (d) {task}" in f:
                _line(f"{task} time / baseline (d)",
                      _verdict(time_ratio(f[f"toolbox {task}"], f[f"baseline (d) {task}"]),
                               TARGETS["task_over_floor_sqlite"], at_most=True))
        cxc, before = f["toolbox tablas-cxc"], CXC_BEFORE[r.backend]
        _line("tablas-cxc rows/s / before",
              _verdict(cxc.rows_per_s / before, TARGETS["cxc_over_before"])
              + f"  ({cxc.rows_per_s:,.0f} vs {before:,} rows/s)")
    by_backend: dict[str, dict[int, Result]] = {}
    for r in results:
        by_backend.setdefault(r.backend, {})[r.size] = r
    for backend, sizes in by_backend.items():
        print(f"  {backend}, memory")
        largest = sizes[max(sizes)].figures["toolbox kpi"].peak_rss_mb
        _line(f"kpi peak MB at {max(sizes):,}",
              _verdict(largest, TARGETS["peak_mb_largest"], at_most=True))
        if len(sizes) < 2:
            continue
        small, large = sizes[min(sizes)], sizes[max(sizes)]
        for task in ("toolbox kpi", "toolbox tablas-cxc"):
            before_mb = small.figures[task].peak_rss_mb
            after_mb = large.figures[task].peak_rss_mb
            _line(f"{task.split()[1]} peak {max(sizes):,} / {min(sizes):,}",
                  _verdict(after_mb / before_mb, TARGETS["peak_growth"], at_most=True)
                  + f"  ({before_mb:.0f} MB -> {after_mb:.0f} MB)")
    for r in results:
        f = r.figures
        if "toolbox operaciones" not in f:
            continue
        ops, demo, kpi = f["toolbox operaciones"], f["demo seed"], f["toolbox kpi"]
        print(f"  {r.backend}, {r.size:,} operations: the webservice fetch (issue 21)")
        _line("operaciones time / demo time",
              _verdict(time_ratio(ops, demo), TARGETS["operaciones_over_demo"], at_most=True)
              + f"  ({ops.seconds:.1f} s vs {demo.seconds:.1f} s)")
        _line("operaciones peak / kpi peak",
              _verdict(ops.peak_rss_mb / kpi.peak_rss_mb, TARGETS["operaciones_peak_over_kpi"],
                       at_most=True) + f"  ({ops.peak_rss_mb:.0f} MB vs {kpi.peak_rss_mb:.0f} MB)")
    # Issue 22's two time ratios: (command, against, heading, label, target).
    pairs = (("toolbox compare -t kpi", "read both kpi tables", "compare",
              "compare time / reading both", "compare_over_read"),
             ("toolbox export kpi xlsx", "baseline (e) XlsxWriter", "export to xlsx",
              "export time / baseline (e)", "export_over_xlsxwriter"))
    for command, against, heading, label, target in pairs:
        for r in results:
            if command not in r.figures:
                continue
            x, y = r.figures[command], r.figures[against]
            print(f"  {r.backend}, {r.size:,} operations: {heading} (issue 22)")
            rows = f", {y.rows:,} rows" if command.startswith("toolbox compare") else ""
            _line(label, _verdict(time_ratio(x, y), TARGETS[target], at_most=True)
                  + f"  ({x.seconds:.1f} s vs {y.seconds:.1f} s{rows})")
    print("  start-up")
    _line("toolbox --help / import typer, rich",
          _verdict(help_s / import_s, TARGETS["help_over_import"], at_most=True)
          + f"  ({help_s:.3f} s vs {import_s:.3f} s)")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return 0.0


QUICK_SIZE = 20_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="operations to seed (default 100000 1000000; --quick: 20000)")
    parser.add_argument("--backends", nargs="+", default=None, choices=["sqlite", "mysql"],
                        help="default both; --quick: sqlite")
    parser.add_argument("--today", default=time.strftime("%Y-%m-%d"))
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of every command, after one untimed warm-up (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="before and after a change: 20 000 operations on SQLite, kpi, "
                        "tablas-cxc and their baselines only (about a minute)")
    parser.add_argument("--no-operaciones", action="store_true",
                        help="skip the webservice fetch against the loopback stub")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    sizes = args.sizes or ([QUICK_SIZE] if args.quick else [100_000, 1_000_000])
    backends = args.backends or (["sqlite"] if args.quick else ["sqlite", "mysql"])
    print(f"machine: {platform.node()} {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
          f"{memory_gb():.0f} GB RAM, Python {platform.python_version()}, {platform.platform()}")
    print(f"each command: one untimed warm-up, then {args.repeats} timed runs, the commands in "
          "turn; figures are medians, [lowest..highest] ratios the runs allow")
    results = []
    with tempfile.TemporaryDirectory(prefix="toolbox-bench-") as tmp:
        for backend in backends:
            for size in sizes:
                results.append(bench_one(backend, size, Path(tmp), args.today,
                                         fetch=not args.no_operaciones and not args.quick,
                                         repeats=args.repeats, quick=args.quick))
    help_s, import_s = startup()
    print_ratios(results, help_s, import_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
