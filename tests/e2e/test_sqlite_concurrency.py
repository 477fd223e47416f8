"""SQLite runs that share no table never fail on each other (issue 20, item 9): they all write
the one ledger, and an import reads its table before it writes it, which SQLite refuses at
once ("database is locked") when another connection wrote in between, unless every write
transaction takes the write lock when it begins."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.loopback import QuietHandler, loopback, serving
from tests.support.paths import EXAMPLES, TOOLBOX

ROUNDS = 20
SECTORES = (EXAMPLES / "sectores.csv").read_bytes()


class CsvSheet(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(SECTORES)))
        self.end_headers()
        self.wfile.write(SECTORES)


def test_four_runs_at_once_twenty_times_never_meet_a_lock_error(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TOOLBOX_DATA_DIR": str(tmp_path / "data")}
    for args in (["db", "init"], ["demo", "--operations", "300"], ["kpi"]):
        done = subprocess.run([*TOOLBOX, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    server = loopback(CsvSheet)
    url = f"http://127.0.0.1:{server.server_address[1]}/sheet/pub?output=csv"
    commands = [["import", "saldos", str(EXAMPLES / "saldos.csv")],  # saldos_caja
                ["import", "sectores", url],  # sector_pagadores, from a loopback URL
                ["kpi"],  # kpi, reading sector_pagadores while it may be rewritten
                ["status"]]
    failures = []
    with serving(server):
        for round_ in range(ROUNDS):
            procs = [subprocess.Popen([*TOOLBOX, *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for args in commands]
            for args, proc in zip(commands, procs, strict=True):
                out, err = proc.communicate(timeout=180)
                if proc.returncode != 0:
                    failures.append((round_, args[:2], proc.returncode, err.strip()[-300:]))
    assert failures == []
