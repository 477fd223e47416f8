#!/usr/bin/env python3
"""Kill `toolbox kpi` with SIGKILL at random moments, then check what the runs left behind.

    .venv/bin/python scripts/kill_runs.py --url mysql+pymysql://toolbox:tbx-test-pw@127.0.0.1:3306/killtest \
        --operations 100000 --kills 20

Seeds demo data into the given database (created if missing on MariaDB), times one full
`toolbox kpi`, then starts it KILLS times and kills it after a random delay within that
duration. Each run gets a private TMPDIR, so the check is exact: after one `toolbox status`
no file or directory of the killed runs may remain in it, no staging table in the
database, and every killed run must read `crashed`. Prints one line per kill and a verdict;
exit 1 if anything was left behind. Not a test (it takes minutes at 100 000 operations).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

TOOLBOX = [sys.executable, "-m", "toolbox_cli"]


def toolbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOOLBOX, *args], env=env, capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="database URL (MariaDB or sqlite)")
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()

    url = make_url(args.url)
    if url.get_backend_name() != "sqlite":
        admin = create_engine(url.set(database="information_schema"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{url.database}` "
                              "CHARACTER SET utf8mb4"))
        admin.dispose()
    scratch = Path(tempfile.mkdtemp(prefix="kill-runs-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLBOX_")}
    env.update(TOOLBOX_DATABASE_URL=args.url, TOOLBOX_DATA_DIR=str(scratch / "data"),
               TMPDIR=str(scratch), TOOLBOX_HEARTBEAT_SECONDS="1")
    for step in (["db", "init"], ["demo", "--operations", str(args.operations), "--force"]):
        done = toolbox(env, *step)
        if done.returncode:
            print(f"{' '.join(step)} failed: {done.stderr.strip()}", file=sys.stderr)
            return 2
    t0 = time.monotonic()
    done = toolbox(env, "kpi")
    full = time.monotonic() - t0
    if done.returncode:
        print(f"kpi failed: {done.stderr.strip()}", file=sys.stderr)
        return 2
    print(f"one full toolbox kpi: {full:.1f} s; killing {args.kills} runs at random moments")

    rng = random.Random(args.seed)
    pids = []
    for i in range(args.kills):
        proc = subprocess.Popen([*TOOLBOX, "kpi"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.3, full * 0.95)
        time.sleep(delay)
        root = scratch / f"toolbox-{os.getuid()}"
        files = sum(len(f) for _, _, f in os.walk(root)) if root.is_dir() else 0
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        pids.append(proc.pid)
        print(f"  kill {i + 1:2d}: pid {proc.pid} after {delay:5.1f} s "
              f"({files} scratch file(s) on disk at that moment)")

    status = toolbox(env, "status", "--task", "kpi", "--limit", str(args.kills + 1), "--json")
    runs = json.loads(status.stdout)
    found = [r for r in runs if r["pid"] in pids]  # a run killed at start-up has no row yet
    crashed = sum(1 for r in found if r["status"] == "crashed")
    finished = sum(1 for r in found if r["status"] == "success")  # the kill came too late
    root = scratch / f"toolbox-{os.getuid()}"  # the runs' scratch root (itself may stay)
    left = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*")
                  if p != root and p.relative_to(scratch).parts[0] != "data")
    engine = create_engine(args.url)
    staging = [t for t in inspect(engine).get_table_names() if "__stg_" in t or "__old_" in t]
    engine.dispose()
    print(f"after one `toolbox status`: {crashed}/{len(found)} killed runs in the ledger read "
          f"crashed, {finished} had finished ({len(pids) - len(found)} killed before writing "
          "their row); "
          f"{len(left)} path(s) left in TMPDIR; {len(staging)} staging table(s) left")
    for path in left[:20]:
        print(f"  left: {path}")
    ok = not left and not staging and crashed + finished == len(found)
    print("verdict:", "nothing left behind" if ok else "LEFT SOMETHING BEHIND")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
