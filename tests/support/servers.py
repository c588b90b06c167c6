"""The tests' own HTTP servers, made one way: threaded, on 127.0.0.1 and a free port, optionally TLS,
quiet about clients that hang up, and stopped at once.

socketserver's ``shutdown()`` waits until ``serve_forever`` sees the request, which it checks only when
its ``select()`` returns: after up to 0.5 s (the poll interval) on an idle server, and a suite starts and
stops a few servers per test. :func:`stop_promptly` wakes the loop with a connection instead; it also
stops the emulator's servers (the HTTPS front, the cache-policy stand-in), through their own ``stop``.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def stop_promptly(stop: Callable[[], None], port: int, host: str = "127.0.0.1") -> None:
    """Run a socketserver's ``stop`` (``shutdown()`` then ``server_close()``) without waiting out its poll."""
    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    while stopper.is_alive():
        # Once shutdown() has set its flag, the next wake-up ends the loop; a wake-up before that is an
        # empty connection the server answers with nothing. Refused once the socket is closed.
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=0.5).close()
        stopper.join(0.002)


class LocalServer(ThreadingHTTPServer):
    """``LocalServer(Handler, tls=context).start()``; ``.url``; ``.stop()``. ``Handler`` is a
    :class:`BaseHTTPRequestHandler` class, usually defined inside the helper that owns the server."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), handler)
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (the faults cut connections; a TLS client that refuses the chain) make the
        handler fail: expected, and it must not print into the stderr a CLI runner is capturing."""

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def _stop(self) -> None:
        self.shutdown()
        self.server_close()

    def stop(self) -> None:
        if self._thread.is_alive():
            stop_promptly(self._stop, self.port, str(self.server_address[0]))
        else:
            self.server_close()


def relay(request: BaseHTTPRequestHandler, upstream: tuple[str, int], body: bytes) -> None:
    """Forward the request being handled (its body already read) to ``upstream`` and answer with its reply."""
    conn = http.client.HTTPConnection(*upstream, timeout=30)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "connection"}
    conn.request(request.command, request.path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    request.send_response(response.status)
    for name, value in response.getheaders():
        if name.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
            request.send_header(name, value)
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(data)
    conn.close()
