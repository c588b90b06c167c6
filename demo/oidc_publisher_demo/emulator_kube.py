"""A local stand-in for a Kubernetes API server, for the playground (``demo --serve``).

It speaks what the tool asks of a cluster, and nothing else: the two issuer discovery endpoints
(``/.well-known/openid-configuration`` and ``/openid/v1/jwks``), TokenRequest (tokens signed with the
playground's service-account key, as kube-apiserver signs them), and an empty ServiceAccount list. It
serves HTTPS with a chain of its own, accepts one bearer token, and writes a real kubeconfig that carries
the server's address, its CA and the token. Nothing here is used against a real cluster.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from oidc_publisher.core.keys import PrivateKey, signing_key
from oidc_publisher.core.tokens import mint_token
from oidc_publisher_demo.localca import Chain, make_chain

_TOKEN_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[a-z0-9.-]+)/serviceaccounts/(?P<sa>[a-z0-9.-]+)/token$")
_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class KubeAnswer:
    status: int
    body: dict[str, Any]
    content_type: str = "application/json"


def _status(code: int, reason: str) -> KubeAnswer:
    return KubeAnswer(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason})


class ClusterStandIn:
    """What the stand-in answers: a pure function of the request, the issuer and the signing key."""

    def __init__(self, issuer: str, key: PrivateKey, url: str, token: str) -> None:
        self.issuer = issuer
        self.key = key
        self.url = url
        self.token = token
        public = signing_key(key.public_key(), "playground service-account key")
        self.kid, self.alg, self.jwk = public.kid, public.alg, public.to_jwk()

    def answer(self, method: str, path: str, authorization: str, body: bytes) -> KubeAnswer:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(credential.encode(), self.token.encode()):
            return _status(401, "Unauthorized")
        path = path.split("?", 1)[0]
        if method == "GET" and path == "/.well-known/openid-configuration":
            return KubeAnswer(200, {
                "issuer": self.issuer,
                # kube-apiserver's own address when --service-account-jwks-uri is not set
                "jwks_uri": f"{self.url}/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [self.alg],
            })
        if method == "GET" and path == "/openid/v1/jwks":
            return KubeAnswer(200, {"keys": [self.jwk]}, "application/jwk-set+json")
        if method == "GET" and path == "/api/v1/serviceaccounts":
            return KubeAnswer(200, {"kind": "ServiceAccountList", "apiVersion": "v1", "items": []})
        match = _TOKEN_PATH.match(path)
        if method == "POST" and match:
            try:
                spec = json.loads(body or b"{}").get("spec", {})
                audience = str((spec.get("audiences") or [self.issuer])[0])
                seconds = int(spec.get("expirationSeconds") or 3600)
            except (ValueError, AttributeError, TypeError):
                return _status(400, "BadRequest")
            import datetime as dt

            token = mint_token(
                self.key, kid=self.kid, issuer=self.issuer, audience=audience,
                subject=f"system:serviceaccount:{match['ns']}:{match['sa']}",
                lifetime=dt.timedelta(seconds=max(600, min(seconds, 86400))),
            )
            return KubeAnswer(201, {
                "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "status": {"token": token},
            })
        return _status(404, "NotFound")


class KubeAPIStandIn:
    """The stand-in served over HTTPS on 127.0.0.1 (a free port), until :meth:`stop`."""

    def __init__(self, issuer: str, key: PrivateKey, pki_dir: Path) -> None:
        self.chain: Chain = make_chain(
            ("127.0.0.1", "localhost"), intermediates=1, root_name="oidc-publisher playground Kubernetes CA"
        ).write(pki_dir)
        self.token = secrets.token_urlsafe(24)
        stand_in: ClusterStandIn | None = None

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), _MAX_BODY)
                body = self.rfile.read(length) if length else b""
                assert stand_in is not None
                answer = stand_in.answer(self.command, self.path, self.headers.get("Authorization", ""), body)
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.chain.files["chain"]), str(self.chain.files["key"]))
        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        stand_in = ClusterStandIn(issuer, key, self.url, self.token)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig (mode 0600: it holds the bearer token) whose one context is this stand-in."""
        ca = base64.b64encode(self.chain.root.pem).decode()
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "playground",
            "clusters": [{"name": "playground", "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "playground", "user": {"token": self.token}}],
            "contexts": [{"name": "playground", "context": {"cluster": "playground", "user": "playground"}}],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(document, indent=2) + "\n")  # JSON is YAML: kubectl and the client read it
        return path

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
