"""The toolbox as a separate process: start a run, wait for what it prints, read what it left."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time

from sqlalchemy import create_engine, inspect, text

from tests.support.paths import TOOLBOX


def kpi_fingerprint(url: str) -> tuple[int, str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT CodigoLiquidacion, NroDocumento, ColocacionSoles, Utilidad FROM kpi "
            "ORDER BY CodigoLiquidacion, NroDocumento, ColocacionSoles, Utilidad")).all()
    engine.dispose()
    digest = hashlib.sha256(repr([tuple(map(str, r)) for r in rows]).encode()).hexdigest()
    return len(rows), digest


def leftover_staging(url: str) -> list[str]:
    engine = create_engine(url)
    names = [t for t in inspect(engine).get_table_names() if "__stg_" in t or "__old_" in t]
    engine.dispose()
    return names


def toolbox_json(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    proc = subprocess.run([*TOOLBOX, *args, "--json"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def start_kpi(env: dict[str, str], pause_at: str | None = None, *, watch: bool = True,
              **extra: str) -> subprocess.Popen:
    env = {**env, **extra}
    if pause_at:
        env["TOOLBOX_PAUSE_AT"] = f"{pause_at}:60"
    return subprocess.Popen([*TOOLBOX, "kpi"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE if watch else subprocess.DEVNULL, text=True)


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"process ended before {needle!r}")
    raise AssertionError(f"no {needle!r} within {timeout}s")


def wait_for_running_row(env: dict[str, str], timeout: float = 60) -> int:
    engine = create_engine(env["TOOLBOX_DATABASE_URL"])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                run_id = conn.execute(text(
                    "SELECT MAX(id) FROM toolbox_runs WHERE task='kpi' AND status='running'")).scalar()
            if run_id:
                return int(run_id)
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError("the run never showed up as running")
