"""The Kubernetes edge: read the issuer documents from the API server, mint a token, list annotations.

Credentials come from the official client: every kind of kubeconfig credential it supports (bearer
token, token file, client certificate, exec plugin), or the pod's service account when run in-cluster.
The client is slow to import; it is imported here, and this module only when a command needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from oidc_publisher.core.errors import OPTION, InputError, SourceError
from oidc_publisher.core.issuer import STS_AUDIENCE
from oidc_publisher.core.limits import MAX_DOCUMENT_BYTES

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TIMEOUT = 10
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
DISCOVERY_ROLE = "system:service-account-issuer-discovery"


@dataclass(frozen=True)
class ClusterIssuer:
    server: str
    jwks: bytes
    discovery: dict[str, Any]
    issuer: str


@dataclass(frozen=True)
class ServiceAccountRef:
    namespace: str
    name: str
    role_arn: str


def load_client() -> None:
    """Import the kubernetes client now, in the caller's thread: ``publish --fleet`` does it before its
    threads start (a first import of it inside a worker thread can deadlock on the import lock)."""
    import kubernetes.client
    import kubernetes.config  # noqa: F401


def _default_kubeconfig() -> Path | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    home = Path.home() / ".kube" / "config"
    return home if home.exists() else None


class _ExecPluginTimedOut(BaseException):
    """A BaseException on purpose: the client logs and swallows every ``Exception`` an exec plugin raises
    (and then goes on without credentials); this one has to reach :func:`api_client`."""


class _TimedPopen(subprocess.Popen[str]):
    """The client's exec plugin process, with a deadline: the client itself waits for it forever."""

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str, str]:
        try:
            return super().communicate(input, EXEC_PLUGIN_TIMEOUT if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.wait()
            raise _ExecPluginTimedOut(self.args) from None


def _exec_plugins_time_out() -> None:
    from kubernetes.config import exec_provider

    exec_provider.subprocess = SimpleNamespace(Popen=_TimedPopen, PIPE=subprocess.PIPE)  # type: ignore[attr-defined,assignment]


def _plugin_timeout(exc: _ExecPluginTimedOut) -> SourceError:
    args = exc.args[0] if exc.args else None
    command = Path(str(args[0] if isinstance(args, (list, tuple)) and args else args)).name
    return SourceError(
        f"the kubeconfig's exec plugin ({command}) did not answer within {EXEC_PLUGIN_TIMEOUT:g} s",
        "run it by hand to see what it waits for (a login prompt, the network), then re-run",
    )


# The kubeconfig's exec plugin (aws eks get-token, kubelogin, ...) answers in a second or two; one that has
# not answered in this long is waiting for something that will not come (a login prompt nobody sees).
EXEC_PLUGIN_TIMEOUT = 60.0
INSECURE_FLAG = "--insecure-skip-tls-verify"


def insecure_warning(server: str) -> str:
    return (
        f"{INSECURE_FLAG}: the API server {server} is reached without verifying its certificate, as the "
        "kubeconfig says: anyone on the network path can add a signing key that every role trusts"
    )


def api_client(
    kubeconfig: Path | None,
    context: str | None,
    *,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    insecure_ok: Callable[[str], None] | None = None,
) -> Any:
    """An ApiClient for the kubeconfig (and context), or in-cluster when there is none and we run in a pod.

    A kubeconfig with ``insecure-skip-tls-verify: true`` is refused: the cluster's JWKS is the root of trust
    of every role, and an unverified connection lets anyone on the path add a key. ``insecure_ok`` (the
    user's explicit flag) accepts the risk, and is called with the warning each time.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    _exec_plugins_time_out()
    configuration = client.Configuration()
    path = kubeconfig or _default_kubeconfig()
    try:
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.incluster_config.InClusterConfigLoader(
                token_filename=str(service_account_dir / "token"), cert_filename=str(service_account_dir / "ca.crt")
            ).load_and_set(configuration)
        elif path is None:
            raise SourceError(
                "no kubeconfig found and not running in a pod",
                f"give {OPTION} PATH, set KUBECONFIG, or run the job in-cluster", option="--kubeconfig",
            )
        else:
            if not path.is_file():
                raise InputError(f"kubeconfig {path} does not exist", f"check {OPTION} / KUBECONFIG", option="--kubeconfig")
            config.load_kube_config(config_file=str(path), context=context, client_configuration=configuration, persist_config=False)
    except ConfigException as exc:
        text = str(exc)
        if context and "context" in text.lower():
            raise InputError(f"kubeconfig {path} has no context {context!r}", "list them with 'kubectl config get-contexts'") from None
        if "invalid kube-config" in text.lower():  # the file the user named is malformed: bad input, exit 2
            raise InputError(f"kubeconfig {path} is not a valid kubeconfig ({text.splitlines()[0]})", "check the file") from None
        raise SourceError(f"cannot use the Kubernetes credentials ({text.splitlines()[0] if text else type(exc).__name__})", "check the kubeconfig or the pod's service account") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the kubeconfig {path} ({exc})", "check that it is a valid kubeconfig file") from None
    except _ExecPluginTimedOut as exc:
        raise _plugin_timeout(exc) from None
    except Exception as exc:
        if isinstance(exc, (SourceError, InputError)):
            raise
        if type(exc).__module__.startswith("yaml"):  # the file the user named is not YAML: bad input, exit 2
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"kubeconfig {path} is not valid YAML ({first})", "check the file") from None
        raise SourceError(f"cannot load the Kubernetes credentials ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", "check the kubeconfig (and its exec plugin, if any)") from None
    if not configuration.verify_ssl:
        if insecure_ok is None:
            raise InputError(
                f"the kubeconfig {path} sets insecure-skip-tls-verify for the API server {configuration.host}",
                "the cluster's keys are the root of trust of every role: give the cluster's CA "
                f"(certificate-authority-data) instead, or accept the risk with {INSECURE_FLAG}",
            )
        insecure_ok(insecure_warning(str(configuration.host)))
        import urllib3

        # Said once above, in the tool's words; urllib3 would add a multi-line warning per request.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return client.ApiClient(configuration)


@contextmanager
def _translated(server: str, what: str) -> Iterator[None]:
    import urllib3
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as exc:
        raise _status_error(exc.status or 0, server, what) from None
    except _ExecPluginTimedOut as exc:  # the plugin is run again when its credential expires
        raise _plugin_timeout(exc) from None
    except urllib3.exceptions.MaxRetryError as exc:
        raise _connection_error(exc.reason, server) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _connection_error(exc, server) from None


def _connection_error(reason: object, server: str) -> SourceError:
    import urllib3

    text = str(reason)
    if isinstance(reason, urllib3.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return SourceError(
            f"the API server {server} presented a certificate that does not verify",
            "check certificate-authority(-data) in the kubeconfig",
        )
    if "Connection refused" in text:
        return SourceError(f"connection to the API server {server} refused", "check the server address and that the API server is up")
    if "Name or service not known" in text or "nodename nor servname" in text or "Temporary failure in name resolution" in text:
        return SourceError(f"cannot resolve the API server {server} (DNS)", "check the kubeconfig's server address")
    if "timed out" in text.lower():
        return SourceError(f"the API server {server} did not answer in time", "check the network path to it")
    return SourceError(f"cannot reach the API server {server} ({type(reason).__name__})", "check the kubeconfig's server address")


def _status_error(status: int, server: str, what: str) -> SourceError:
    if status == 401:
        return SourceError(f"the API server {server} refused the credentials (401)", "refresh the kubeconfig's token or certificate")
    if status == 403:
        return SourceError(
            f"the API server {server} forbids reading {what} (403)",
            f"bind the ClusterRole {DISCOVERY_ROLE} to this identity (the rotation-job template does)",
        )
    if status == 404:
        return SourceError(
            f"the API server {server} does not serve {what} (404)",
            "service account issuer discovery needs Kubernetes 1.21+ with --service-account-issuer set",
        )
    return SourceError(f"the API server {server} answered {status} for {what}", "check the API server's health")


def _get(api: Any, path: str) -> bytes:
    method, url, headers, body, post = api.param_serialize(method="GET", resource_path=path, auth_settings=["BearerToken"])
    headers = {**headers, "Accept": "application/json"}
    response = api.call_api(method, url, header_params=headers, body=body, post_params=post, _request_timeout=TIMEOUT)
    data = response.read()
    if response.status >= 400:
        from kubernetes.client.exceptions import ApiException

        raise ApiException(status=response.status, reason=response.reason)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise SourceError(
            f"the API server {api.configuration.host} served more than {MAX_DOCUMENT_BYTES // 1024} KiB for {path}",
            "check the kubeconfig's server address: an issuer document is a few KiB",
        )
    return bytes(data)


def read_issuer_documents(
    kubeconfig: Path | None,
    context: str | None,
    *,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    insecure_ok: Callable[[str], None] | None = None,
) -> ClusterIssuer:
    """GET /openid/v1/jwks and /.well-known/openid-configuration from the API server."""
    api = api_client(kubeconfig, context, service_account_dir=service_account_dir, insecure_ok=insecure_ok)
    server = str(api.configuration.host)
    with _translated(server, "/.well-known/openid-configuration"):
        raw_discovery = _get(api, "/.well-known/openid-configuration")
    with _translated(server, "/openid/v1/jwks"):
        jwks = _get(api, "/openid/v1/jwks")
    try:
        discovery = json.loads(raw_discovery)
    except (ValueError, UnicodeDecodeError):
        raise SourceError(f"the API server {server} served a discovery document that is not JSON", "check the API server") from None
    issuer = discovery.get("issuer") if isinstance(discovery, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise SourceError(f"the API server {server} served a discovery document without an issuer", "check --service-account-issuer")
    return ClusterIssuer(server=server, jwks=jwks, discovery=discovery, issuer=issuer)


def request_token(
    kubeconfig: Path | None,
    context: str | None,
    *,
    namespace: str,
    service_account: str,
    audience: str = STS_AUDIENCE,
    expiration_seconds: int = 600,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    insecure_ok: Callable[[str], None] | None = None,
) -> str:
    """A fresh token for the service account, through the TokenRequest API."""
    api = api_client(kubeconfig, context, service_account_dir=service_account_dir, insecure_ok=insecure_ok)
    server = str(api.configuration.host)
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": [audience], "expirationSeconds": expiration_seconds},
    }
    with _translated(server, f"a token for {namespace}/{service_account}"):
        method, url, headers, body, post = api.param_serialize(
            method="POST", resource_path=path, body=request, auth_settings=["BearerToken"],
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
        )
        response = api.call_api(method, url, header_params=headers, body=body, post_params=post, _request_timeout=TIMEOUT)
        data = response.read()
        if response.status == 404:
            raise SourceError(
                f"service account {namespace}/{service_account} does not exist", "create it, or name another with --service-account"
            )
        if response.status >= 400:
            from kubernetes.client.exceptions import ApiException

            raise ApiException(status=response.status, reason=response.reason)
    try:
        token = json.loads(data)["status"]["token"]
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"the API server {server} answered the TokenRequest without a token", "check the API server") from None
    return str(token)


def service_accounts(
    kubeconfig: Path | None,
    context: str | None,
    *,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    insecure_ok: Callable[[str], None] | None = None,
) -> list[ServiceAccountRef]:
    """Every ServiceAccount, with its IAM role annotation (eks.amazonaws.com/role-arn) or ""."""
    api = api_client(kubeconfig, context, service_account_dir=service_account_dir, insecure_ok=insecure_ok)
    server = str(api.configuration.host)
    with _translated(server, "service accounts"):
        listing = json.loads(_get(api, "/api/v1/serviceaccounts"))
    refs = []
    for item in listing.get("items", []):
        meta = item.get("metadata", {})
        arn = (meta.get("annotations") or {}).get(ROLE_ARN_ANNOTATION, "")
        refs.append(ServiceAccountRef(meta.get("namespace", ""), meta.get("name", ""), arn))
    return refs


def service_account_role_annotations(
    kubeconfig: Path | None, context: str | None, *, service_account_dir: Path = SERVICE_ACCOUNT_DIR
) -> list[ServiceAccountRef]:
    """Every ServiceAccount annotated with an IAM role."""
    return [ref for ref in service_accounts(kubeconfig, context, service_account_dir=service_account_dir) if ref.role_arn]


# --- doctor's reads -------------------------------------------------------------------------------


class KubeForbidden(SourceError):
    """The API server answered 403: the identity lacks the RBAC permission the message names."""


@dataclass
class ClusterReader:
    """One API server, read object by object in the API's own JSON shapes (plain dicts), for ``doctor``.

    Every call is a GET, except :meth:`token`: TokenRequest is a ``create`` on the API, but it stores
    nothing (the token is signed and returned, no object is persisted).
    """

    api: Any
    server: str

    def _call(self, method: str, path: str, what: str, permission: str, body: Any = None) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        with _translated(self.server, what):
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            method, url, headers, data, post = self.api.param_serialize(
                method=method, resource_path=path, body=body, auth_settings=["BearerToken"], header_params=headers
            )
            response = self.api.call_api(method, url, header_params=headers, body=data, post_params=post, _request_timeout=TIMEOUT)
            raw = response.read()
            if response.status == 404:
                return None
            if response.status == 403:
                raise KubeForbidden(f"the API server {self.server} forbids {what} (403)", f"grant this identity RBAC {permission}")
            if response.status >= 400:
                raise ApiException(status=response.status, reason=response.reason)
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise SourceError(f"the API server {self.server} answered {path} with something that is not JSON", "check the API server") from None
        if not isinstance(parsed, dict):
            raise SourceError(f"the API server {self.server} answered {path} with something that is not a JSON object", "check the API server")
        return parsed

    def get(self, path: str, what: str, permission: str) -> dict[str, Any] | None:
        """The object at ``path``, or None when the API server has no such object (404)."""
        return self._call("GET", path, f"reading {what}", permission)

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{namespace}/pods/{name}", f"pod {namespace}/{name}", f"get pods in namespace {namespace}")

    def service_account(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}", f"service account {namespace}/{name}",
            f"get serviceaccounts in namespace {namespace}",
        )

    def mutating_webhooks(self) -> list[dict[str, Any]]:
        listing = self.get(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", "mutating webhook configurations",
            "list mutatingwebhookconfigurations (admissionregistration.k8s.io, cluster-wide)",
        )
        return list((listing or {}).get("items") or [])

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{namespace}/services/{name}", f"service {namespace}/{name}", f"get services in namespace {namespace}")

    def endpoints(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{namespace}/endpoints/{name}", f"endpoints {namespace}/{name}", f"get endpoints in namespace {namespace}")

    def discovery(self) -> dict[str, Any] | None:
        return self.get(
            "/.well-known/openid-configuration", "/.well-known/openid-configuration",
            f"get on the non-resource URL /.well-known/openid-configuration (the ClusterRole {DISCOVERY_ROLE})",
        )

    def token(self, namespace: str, service_account: str, audience: str, expiration_seconds: int = 600) -> str | None:
        """A token for the service account through TokenRequest (the one call that is not a GET), or None
        when the service account does not exist."""
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [audience], "expirationSeconds": expiration_seconds},
        }
        answer = self._call(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            f"a token for {namespace}/{service_account} (TokenRequest)", f"create serviceaccounts/token in namespace {namespace}", request,
        )
        if answer is None:
            return None
        token = (answer.get("status") or {}).get("token")
        if not isinstance(token, str) or not token:
            raise SourceError(f"the API server {self.server} answered the TokenRequest without a token", "check the API server")
        return token


def cluster_reader(
    kubeconfig: Path | None,
    context: str | None,
    *,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    insecure_ok: Callable[[str], None] | None = None,
) -> ClusterReader:
    api = api_client(kubeconfig, context, service_account_dir=service_account_dir, insecure_ok=insecure_ok)
    return ClusterReader(api, str(api.configuration.host))
