"""What every loopback server of the tests shares: a free port, serving an HTTP stub for a
block, a handler that keeps pytest's output clean."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def loopback(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 and a free port; slow handlers do not hold up its shutdown."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    return server


@contextmanager
def serving(*servers: ThreadingHTTPServer) -> Iterator[None]:
    """Serve each of ``servers`` on a thread for the block; shut down and closed after."""
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
