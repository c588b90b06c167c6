"""A local stand-in for the Kubernetes API server: its own CA, bearer-token or client-certificate
authentication, the two issuer discovery endpoints, TokenRequest (real signed JWTs), service accounts,
pods, the pod identity webhook's MutatingWebhookConfiguration, Services and Endpoints, all in the real
API's JSON shapes; plus writers for real kubeconfig files of every credential kind."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from oidc_publisher_demo.localca import Chain, Issued, client_certificate, make_chain

from oidc_publisher.core.keys import PrivateKey, signing_key
from oidc_publisher.core.tokens import mint_token
from tests.support.https import HTTPSServer, Request, Response

TOKEN = "stand-in-bearer-token"
_TOKEN_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/serviceaccounts/(?P<sa>[^/]+)/token$")
_OBJECT_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<kind>serviceaccounts|pods|services|endpoints)/(?P<name>[^/]+)$")
WEBHOOKS_PATH = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
CREATED = "2026-01-01T00:00:00Z"
TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"


def not_found(kind: str, name: str) -> Response:
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": f'{kind} "{name}" not found',
              "reason": "NotFound", "details": {"name": name, "kind": kind}, "code": 404}
    return Response(404, json.dumps(status).encode())


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
    forbid: set[str] = field(default_factory=set)  # paths (prefixes) answered 403, as RBAC would
    status_override: int | None = None
    # Full objects, keyed by (namespace, name), in the API's JSON shapes (see add_pod and install_webhook).
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    services: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    webhook_configurations: list[dict[str, Any]] = field(default_factory=list)
    annotated_at: dict[tuple[str, str], str] = field(default_factory=dict)  # when a service account was annotated
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
        if any(path.startswith(prefix) for prefix in self.forbid):
            return Response(403, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                                             "message": f"forbidden: cannot access {path}"}).encode())
        if path == WEBHOOKS_PATH and request.method == "GET":
            listing = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfigurationList",
                       "metadata": {"resourceVersion": "1"}, "items": self.webhook_configurations}
            return Response(200, json.dumps(listing).encode())
        if (found := _OBJECT_PATH.match(path)) and request.method == "GET":
            key, kind = (found["ns"], found["name"]), found["kind"]
            obj = self.service_account(*key) if kind == "serviceaccounts" else {
                "pods": self.pods, "services": self.services, "endpoints": self.endpoints}[kind].get(key)
            return Response(200, json.dumps(obj).encode()) if obj is not None else not_found(kind, key[1])
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
            seconds = int(spec.get("expirationSeconds") or 3600)
            key = self.keys[self.signing]
            now = dt.datetime.now(dt.timezone.utc)
            token = mint_token(key, kid=signing_key(key.public_key(), "x").kid, issuer=self.issuer,
                               subject=f"system:serviceaccount:{ns}:{sa}", audience=audience, lifetime=dt.timedelta(seconds=seconds), now=now)
            expires = (now + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
            answer = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"name": sa, "namespace": ns},
                      "spec": {"audiences": [audience], "expirationSeconds": seconds, "boundObjectRef": None},
                      "status": {"token": token, "expirationTimestamp": expires}}
            return Response(201, json.dumps(answer).encode())
        return Response(404, b'{"kind":"Status","code":404,"reason":"NotFound"}')

    # --- objects, in the API's shapes -------------------------------------------------------------

    def service_account(self, namespace: str, name: str) -> dict[str, Any] | None:
        if (namespace, name) not in self.service_accounts:
            return None
        annotations = self.service_accounts[(namespace, name)]
        meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sa/{namespace}/{name}")),
                                "resourceVersion": "1", "creationTimestamp": CREATED}
        if annotations:
            meta["annotations"] = annotations
            meta["managedFields"] = [{
                "manager": "kubectl-annotate", "operation": "Update", "apiVersion": "v1",
                "time": self.annotated_at.get((namespace, name), CREATED), "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, **{f"f:{k}": {} for k in annotations}}}},
            }]
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}

    def install_webhook(self, *, ready: bool = True, ca_bundle: bool = True, namespace: str = "pod-identity-webhook") -> None:
        """The pod identity webhook as the template deploys it: its configuration, Service and Endpoints."""
        import base64

        assert self.chain is not None
        name = "pod-identity-webhook"
        client: dict[str, Any] = {"service": {"name": name, "namespace": namespace, "path": "/mutate", "port": 443}}
        if ca_bundle:
            client["caBundle"] = base64.b64encode(self.chain.root.pem).decode()
        self.webhook_configurations = [{
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name, "resourceVersion": "1", "creationTimestamp": CREATED},
            "webhooks": [{
                "name": "pod-identity-webhook.amazonaws.com", "admissionReviewVersions": ["v1beta1"], "sideEffects": "None",
                "failurePolicy": "Ignore", "timeoutSeconds": 5, "reinvocationPolicy": "IfNeeded", "matchPolicy": "Equivalent",
                "clientConfig": client, "namespaceSelector": {}, "objectSelector": {},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "*"}],
            }],
        }]
        self.services[(namespace, name)] = {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace, "creationTimestamp": CREATED},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.42", "selector": {"app": name},
                     "ports": [{"port": 443, "targetPort": 443, "protocol": "TCP"}]},
        }
        subset: dict[str, Any] = {"ports": [{"port": 443, "protocol": "TCP"}]}
        pod_address = {"ip": "10.244.0.7", "targetRef": {"kind": "Pod", "namespace": namespace, "name": f"{name}-6d8f7b9c4-x7k2p"}}
        subset["addresses" if ready else "notReadyAddresses"] = [pod_address]
        self.endpoints[(namespace, name)] = {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace}, "subsets": [subset],
        }

    def add_pod(self, namespace: str, name: str, service_account: str, *, mutated_for: str | None = None,
                audience: str = "sts.amazonaws.com", created: str = CREATED, deployment: str | None = "app") -> dict[str, Any]:
        """A running pod; ``mutated_for`` a role ARN makes it what the webhook makes of a pod (env, volume, mounts)."""
        container: dict[str, Any] = {"name": "app", "image": "public.ecr.aws/aws-cli/aws-cli:2.15.0",
                                     "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}]}
        volumes: list[dict[str, Any]] = [{"name": "kube-api-access-abcde", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]
        if mutated_for:
            container["env"] = [
                {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
                {"name": "AWS_ROLE_ARN", "value": mutated_for},
                {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{TOKEN_DIR}/token"},
            ]
            container["volumeMounts"].append({"name": "aws-iam-token", "mountPath": TOKEN_DIR, "readOnly": True})
            volumes.append({"name": "aws-iam-token", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"audience": audience, "expirationSeconds": 86400, "path": "token"}}]}})
        meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "creationTimestamp": created}
        if deployment:
            meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{deployment}-7d9f8c6b5", "controller": True}]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
               "spec": {"serviceAccountName": service_account, "containers": [container], "volumes": volumes},
               "status": {"phase": "Running"}}
        self.pods[(namespace, name)] = pod
        return pod

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
