"""Read a stream of source chunks in a second process, so reading overlaps computing.

On MySQL/MariaDB most of a refresh's reading time is PyMySQL turning each field of each row
into a Python value, in Python: work that holds the interpreter lock, so a thread would not
overlap it with the computation. A child process does: it runs the same reader on its own
connection and hands over finished chunks through a pipe, while this process computes and
writes. The child is at most one chunk ahead (it blocks sending the next one until this
process takes it), so memory stays flat. A pipe and not a ``multiprocessing.Queue``: no
semaphores, so no resource-tracker process that would complain on stderr after a kill.

The child is a helper, never a second runner: it takes no lock and writes nothing. It dies
with its parent (``PR_SET_PDEATHSIG``, and it is killed when the stream is closed), so a
``kill -9`` of the run leaves no orphan reading the source. A failure in the child reaches
the parent as the same one-line error the reader would have raised in-process.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.engine import Engine, make_url

from toolbox_cli.errors import TaskFailed, ToolboxError

_PR_SET_PDEATHSIG = 1


def prefetched(reader: Callable[..., Iterator[Any]], engine: Engine, **kwargs: Any) -> Iterator[Any]:
    """``reader(engine, **kwargs)``, run in a child process on its own engine.

    ``reader`` must be a module-level function (the child imports it by name); its chunks
    and ``kwargs`` must pickle. The URL goes to the child through the spawn pipe, never on a
    command line or in the environment, so the password stays out of ``ps``.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    url = engine.url.render_as_string(hide_password=False)
    child = ctx.Process(target=_child, args=(reader, url, kwargs, sender, os.getpid()),
                        name="toolbox-reader", daemon=True)
    child.start()
    sender.close()  # the child's copy is the only one left: its exit reads as end of file
    try:
        while True:
            try:
                kind, payload = receiver.recv()  # SIGTERM/Ctrl-C still interrupt the wait
            except EOFError:
                child.join(timeout=5)
                raise TaskFailed(
                    f"the source reader process ended unexpectedly (exit code {child.exitcode})"
                ) from None
            if kind == "chunk":
                yield payload
            elif kind == "done":
                return
            else:
                raise _rebuild(payload)
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=10)
        receiver.close()


def _child(reader: Callable[..., Iterator[Any]], url: str, kwargs: dict[str, Any],
           channel: Any, parent: int) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    logging.getLogger("sqlalchemy").setLevel(logging.CRITICAL)
    from toolbox_cli.storage.engine import make_engine, translate_db_error

    engine = make_engine(make_url(url))
    try:
        for chunk in reader(engine, **kwargs):
            channel.send(("chunk", chunk))
        channel.send(("done", None))
    except Exception as exc:  # sent to the parent, which raises it as a one-line error
        err = translate_db_error(exc, engine.url) or exc
        channel.send(("error", (type(err).__name__, _one_line(err), isinstance(err, ToolboxError))))
    finally:
        engine.dispose()
        channel.close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if isinstance(exc, ToolboxError) else f"{type(exc).__name__}: {text}"


def _rebuild(payload: tuple[str, str, bool]) -> ToolboxError:
    name, message, is_toolbox = payload
    from toolbox_cli import errors

    cls = getattr(errors, name, None) if is_toolbox else None
    if isinstance(cls, type) and issubclass(cls, ToolboxError):
        return cls(message)
    return TaskFailed(f"reading the source failed: {message}")


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent's finally still kills us
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
