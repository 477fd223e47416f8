"""Run a generator over the source in a child process, so its work overlaps ours.

On MySQL/MariaDB a refresh spends most of its time in Python: PyMySQL turning each field
into a value, the per-row computation, the encoding of LOAD DATA lines. That work holds the
interpreter lock, so threads would not overlap it; child processes do. ``prefetched`` runs
a generator (``tasks.kpi.compute_in_system``: read, compute, encode one chunk at a time) in
a spawned child on its own connection and hands its items over a pipe. The child is at most
one item ahead (it blocks sending the next one until this process takes it), so memory
stays flat. A pipe and not a ``multiprocessing.Queue``: no semaphores, so no
resource-tracker process that would complain on stderr after a kill.

The child is a helper, never a second runner: it takes no lock and writes nothing. It dies
with its parent (``PR_SET_PDEATHSIG``, and it is killed when the stream is closed), so a
``kill -9`` of the run leaves no orphan reading the source. A failure in the child reaches
the parent as the same one-line error the generator would have raised in-process.
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


def prefetched(reader: Callable[..., Iterator[Any]], engine: Engine, **kwargs: Any) -> ChildStream:
    """``reader(engine, **kwargs)``, run in a child process on its own engine.

    The child starts now (so several of them start together), not at the first ``next``.
    ``reader`` must be a module-level function (the child imports it by name); its items
    and ``kwargs`` must pickle. The URL goes to the child through the spawn pipe, never on a
    command line or in the environment, so the password stays out of ``ps``.
    """
    return ChildStream(reader, engine, kwargs)


class ChildStream:
    """The items of a generator running in a child process; ``close()`` stops the child."""

    def __init__(self, reader: Callable[..., Iterator[Any]], engine: Engine,
                 kwargs: dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._receiver, sender = ctx.Pipe(duplex=False)
        url = engine.url.render_as_string(hide_password=False)
        self._child = ctx.Process(target=_child, args=(reader, url, kwargs, sender, os.getpid()),
                                  name="toolbox-worker", daemon=True)
        self._child.start()
        sender.close()  # the child's copy is the only one left: its exit reads as end of file
        self._done = False

    def __iter__(self) -> ChildStream:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        try:
            kind, payload = self._receiver.recv()  # SIGTERM/Ctrl-C still interrupt the wait
        except EOFError:
            self.close()
            raise TaskFailed("a worker process ended unexpectedly "
                             f"(exit code {self._child.exitcode})") from None
        except BaseException:
            self.close()
            raise
        if kind == "item":
            return payload
        self.close(finished=True)
        if kind == "done":
            raise StopIteration
        raise _rebuild(payload)

    def close(self, finished: bool = False) -> None:
        """Stop the child (if it still runs) and release the pipe; idempotent. A child that
        has sent its last message gets a moment to close its connection cleanly."""
        if self._done:
            return
        self._done = True
        if finished:
            self._child.join(timeout=5)
        if self._child.is_alive():
            self._child.kill()
        self._child.join(timeout=10)
        self._receiver.close()

    def __enter__(self) -> ChildStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(reader: Callable[..., Iterator[Any]], url: str, kwargs: dict[str, Any],
           channel: Any, parent: int) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    logging.getLogger("sqlalchemy").setLevel(logging.CRITICAL)
    from toolbox_cli.storage.engine import make_engine, translate_db_error

    engine = make_engine(make_url(url))
    try:
        for chunk in reader(engine, **kwargs):
            channel.send(("item", chunk))
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
