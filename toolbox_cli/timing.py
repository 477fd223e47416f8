"""Where a run's time goes, by phase, when asked (``--profile-phases``, or
``TOOLBOX_PROFILE_PHASES=1`` in the environment): ``make bench`` prints it for ``kpi`` and
``tablas-cxc`` so that a performance change can be judged phase by phase.

The phases are measured where they happen, once for every task: *read* in
``frames.read_table`` (every source read), *write* in the writer's loader thread (it runs
beside the compute, so it overlaps it), *waiting for the writer* when the task's thread
blocks on the loader's queue or its end, *swap* around the writer's swap, *ledger* around
the runner's ledger writes, *start-up* from the process's start to the run's. *compute* is
what is left of the task's own time. At the end of the run one line goes to stderr (and the
run's log): ``phases: {"start-up": 0.41, "read": 1.52, ...}``.

Off (the default) every hook is one boolean test.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator

ENV = "TOOLBOX_PROFILE_PHASES"
ORDER = ("start-up", "read", "compute", "write", "waiting for the writer", "swap", "ledger")

_lock = threading.Lock()
_totals: dict[str, float] = {}


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def add(name: str, seconds: float) -> None:
    with _lock:
        _totals[name] = _totals.get(name, 0.0) + seconds


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Charge the block's wall time to ``name`` (when profiling)."""
    if not enabled():
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - t0)


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc), or None."""
    try:
        with open("/proc/self/stat") as fh:
            started = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(uptime - started / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return None


def summary(task_seconds: float, run_seconds: float) -> dict[str, float]:
    """The phases of the run, ``compute`` being the task's time not spent reading, waiting
    for the writer or swapping; ``run`` is the runner's whole time."""
    with _lock:
        totals = dict(_totals)
    waited = sum(totals.get(k, 0.0) for k in ("read", "waiting for the writer", "swap"))
    totals["compute"] = max(task_seconds - waited, 0.0)
    out = {name: round(totals[name], 3) for name in ORDER if name in totals}
    out["run"] = round(run_seconds, 3)
    return out


def report_line(task_seconds: float, run_seconds: float) -> str:
    return "phases: " + json.dumps(summary(task_seconds, run_seconds))


def reset() -> None:
    with _lock:
        _totals.clear()
