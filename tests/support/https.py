"""A local HTTPS server on 127.0.0.1 with a chain from :mod:`tests.support.pki`.

It serves a mutable map of path -> (status, headers, body), or calls a handler function, and
records every request it answers, so tests can assert what a client asked for.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.pki import Chain
from tests.support.servers import LocalServer


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_cert: dict[str, Any] | None = None  # the verified client certificate, when one was presented


Handler = Callable[[Request], Response | None]


class HTTPSServer:
    """``with HTTPSServer(chain) as srv: srv.routes['/x'] = Response(body=b'...')``; ``srv.url``."""

    def __init__(
        self,
        chain: Chain,
        handler: Handler | None = None,
        *,
        client_ca: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if not chain.files:
            raise ValueError("write the chain to a directory first (Chain.write)")
        self.chain = chain
        self.routes: dict[str, Response] = {}
        self.handler = handler
        self.requests: list[Request] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
                request = Request(self.command, self.path, dict(self.headers.items()), body, peer or None)
                server.requests.append(request)
                response = server.handler(request) if server.handler else None
                if response is None:
                    response = server.routes.get(self.path.split("?", 1)[0], Response(404, b'{"error":"not found"}'))
                self.send_response(response.status)
                headers = {"Content-Type": "application/json", **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(chain.files["chain"]), str(chain.files["key"]))
        if client_ca:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(client_ca)
        self._context = context
        self._httpd = LocalServer(_Handler, tls=context, host=host)

    @property
    def port(self) -> int:
        return self._httpd.port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> HTTPSServer:
        self._httpd.start()
        return self

    def stop(self) -> None:
        self._httpd.stop()

    def __enter__(self) -> HTTPSServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
