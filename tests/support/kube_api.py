"""A local stand-in for the Kubernetes API server: its own CA, bearer-token or client-certificate
authentication, the two issuer discovery endpoints, TokenRequest (real signed JWTs), and service
accounts; plus writers for real kubeconfig files of every credential kind."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from oidc_publisher.keys import PrivateKey, signing_key
from oidc_publisher.localca import Chain, Issued, client_certificate, make_chain
from oidc_publisher.tokens import mint_token
from tests.support.https import HTTPSServer, Request, Response

TOKEN = "stand-in-bearer-token"
_TOKEN_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/serviceaccounts/(?P<sa>[^/]+)/token$")


@dataclass
class KubeAPI:
    """The stand-in's state: change ``keys`` or ``issuer`` between calls to model a rotation."""

    issuer: str
    keys: list[PrivateKey]
    signing: int = 0  # index into keys of the key that signs tokens
    chain: Chain | None = None
    server: HTTPSServer | None = None
    client_ca: Issued | None = None
    service_accounts: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    forbidden: bool = False
    status_override: int | None = None
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.port}"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [signing_key(k.public_key(), "stand-in").to_jwk() for k in self.keys]}

    def discovery(self) -> dict[str, Any]:
        algs = sorted({signing_key(k.public_key(), "x").alg for k in self.keys})
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.url}/openid/v1/jwks",  # the API server's own address, as kube does without --service-account-jwks-uri
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
        }

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        headers = {name.lower(): value for name, value in request.headers.items()}
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        authed = (scheme.lower() == "bearer" and credential == TOKEN) or request.client_cert is not None
        if not authed:
            return Response(401, b'{"kind":"Status","code":401,"reason":"Unauthorized"}')
        if self.forbidden:
            return Response(403, b'{"kind":"Status","code":403,"reason":"Forbidden"}')
        if self.status_override:
            return Response(self.status_override, b'{"kind":"Status"}')
        path = request.path.split("?", 1)[0]
        if path == "/.well-known/openid-configuration" and request.method == "GET":
            return Response(200, json.dumps(self.discovery()).encode())
        if path == "/openid/v1/jwks" and request.method == "GET":
            return Response(200, json.dumps(self.jwks()).encode(), {"Content-Type": "application/jwk-set+json"})
        if path == "/api/v1/serviceaccounts" and request.method == "GET":
            items = [
                {"metadata": {"namespace": ns, "name": name, "annotations": annotations}}
                for (ns, name), annotations in sorted(self.service_accounts.items())
            ]
            return Response(200, json.dumps({"kind": "ServiceAccountList", "items": items}).encode())
        match = _TOKEN_PATH.match(path)
        if match and request.method == "POST":
            ns, sa = match["ns"], match["sa"]
            if (ns, sa) not in self.service_accounts:
                return Response(404, b'{"kind":"Status","code":404,"reason":"NotFound"}')
            spec = json.loads(request.body or b"{}").get("spec", {})
            audience = (spec.get("audiences") or [self.issuer])[0]
            key = self.keys[self.signing]
            token = mint_token(key, kid=signing_key(key.public_key(), "x").kid, issuer=self.issuer,
                               subject=f"system:serviceaccount:{ns}:{sa}", audience=audience)
            return Response(201, json.dumps({"kind": "TokenRequest", "status": {"token": token}}).encode())
        return Response(404, b'{"kind":"Status","code":404,"reason":"NotFound"}')

    # --- kubeconfigs -----------------------------------------------------------------------------

    def _cluster(self, name: str = "stand-in") -> dict[str, Any]:
        import base64

        assert self.chain is not None
        return {"name": name, "cluster": {"server": self.url, "certificate-authority-data": base64.b64encode(self.chain.root.pem).decode()}}

    def kubeconfig(self, path: Path, *, kind: str = "token", context: str = "stand-in", extra_contexts: tuple[str, ...] = ()) -> Path:
        """A real kubeconfig file: kind is token, client-cert, exec, or bad-token."""
        import base64

        user: dict[str, Any]
        if kind == "token":
            user = {"token": TOKEN}
        elif kind == "bad-token":
            user = {"token": "wrong"}
        elif kind == "client-cert":
            assert self.client_ca is not None
            cert = client_certificate(self.client_ca)
            user = {"client-certificate-data": base64.b64encode(cert.pem).decode(), "client-key-data": base64.b64encode(cert.key_pem).decode()}
        elif kind == "exec":
            script = path.parent / "exec-plugin.py"
            credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": TOKEN}}
            script.write_text(f"import json\nprint(json.dumps({credential!r}))\n")
            user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable, "args": [str(script)], "interactiveMode": "Never"}}
        else:
            raise ValueError(kind)
        contexts = [{"name": c, "context": {"cluster": "stand-in", "user": "user"}} for c in (context, *extra_contexts)]
        document = {
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [self._cluster()], "users": [{"name": "user", "user": user}], "contexts": contexts,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document))
        return path

    def service_account_dir(self, directory: Path) -> Path:
        """What a pod sees at /var/run/secrets/kubernetes.io/serviceaccount."""
        assert self.chain is not None
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(TOKEN)
        (directory / "ca.crt").write_bytes(self.chain.root.pem)
        (directory / "namespace").write_text("oidc-publisher")
        return directory


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeAPI]:
    from tests.support import keys as k

    chain = make_chain(("localhost", "127.0.0.1"), intermediates=1).write(tmp_path / "kube-pki")
    client_ca = make_chain(("client-ca",), intermediates=0).root
    ca_file = tmp_path / "kube-pki" / "client-ca.pem"
    ca_file.write_bytes(client_ca.pem)
    api = KubeAPI(issuer="https://oidc.example.com", keys=[k.rsa_key()], chain=chain, client_ca=client_ca)
    api.server = HTTPSServer(chain, api.handle, client_ca=str(ca_file)).start()
    yield api
    api.server.stop()
