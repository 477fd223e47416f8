"""Worker child processes (storage/prefetch.py): items in order, one-line errors, no orphans."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.engine import make_engine
from toolbox_cli.storage.prefetch import prefetched

# Readers run in the spawned child, which imports them from this module by name.


def count_rows(engine: Engine, *, n: int) -> Iterator[tuple[int, int]]:
    with engine.connect() as conn:  # a real connection of the child's own engine
        one = conn.execute(text("SELECT 1")).scalar_one()
    for i in range(n):
        yield (i, one)


def fail_after(engine: Engine, *, n: int) -> Iterator[int]:
    yield from range(n)
    raise ValueError("the source broke\nand this second line must not reach the user")


def endless(engine: Engine, *, pid_file: str) -> Iterator[int]:
    Path(pid_file).write_text(str(os.getpid()))
    i = 0
    while True:
        yield i
        i += 1
        time.sleep(0.01)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(make_url(sqlite_url), create=True)
    with eng.connect():  # the file exists from here on, as a real database does
        pass
    yield eng
    eng.dispose()


def test_chunks_arrive_in_order_and_the_child_is_gone_after(engine: Engine) -> None:
    assert list(prefetched(count_rows, engine, n=40)) == [(i, 1) for i in range(40)]
    assert multiprocessing.active_children() == []


def test_an_error_in_the_child_reaches_the_parent_as_one_line(engine: Engine) -> None:
    got: list[int] = []
    with pytest.raises(TaskFailed) as info:
        for item in prefetched(fail_after, engine, n=3):
            got.append(item)
    assert got == [0, 1, 2]
    assert str(info.value) == "reading the source failed: ValueError: the source broke"
    assert multiprocessing.active_children() == []


def test_closing_the_stream_early_stops_the_child(engine: Engine, tmp_path: Path) -> None:
    stream = prefetched(endless, engine, pid_file=str(tmp_path / "pid"))
    assert next(stream) == 0
    stream.close()
    assert multiprocessing.active_children() == []
    assert not _alive(int((tmp_path / "pid").read_text()))


def test_the_child_dies_with_a_killed_parent(sqlite_url: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = (
        "import sys, time\n"
        "from sqlalchemy.engine import make_url\n"
        "from toolbox_cli.storage.engine import make_engine\n"
        "from toolbox_cli.storage.prefetch import prefetched\n"
        "from tests.test_prefetch import endless\n"
        f"engine = make_engine(make_url({sqlite_url!r}), create=True)\n"
        "engine.connect().close()\n"
        f"stream = prefetched(endless, engine, pid_file={str(pid_file)!r})\n"
        "next(stream)\n"
        "print('reading', flush=True)\n"
        "time.sleep(120)\n"
    )
    root = Path(__file__).resolve().parents[1]
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "reading"
        child = int(pid_file.read_text())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the reader outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing
