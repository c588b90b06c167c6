"""The Kubernetes edge: read the issuer documents from the API server, mint a token, list annotations.

Credentials come from the official client: every kind of kubeconfig credential it supports (bearer
token, token file, client certificate, exec plugin), or the pod's service account when run in-cluster.
The client is slow to import; it is imported here, and this module only when a command needs it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oidc_publisher.errors import InputError, SourceError

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


def _default_kubeconfig() -> Path | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    home = Path.home() / ".kube" / "config"
    return home if home.exists() else None


def api_client(kubeconfig: Path | None, context: str | None, *, service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> Any:
    """An ApiClient for the kubeconfig (and context), or in-cluster when there is none and we run in a pod."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

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
                "give --kubeconfig PATH, set KUBECONFIG, or run the job in-cluster",
            )
        else:
            if not path.is_file():
                raise InputError(f"kubeconfig {path} does not exist", "check --kubeconfig / KUBECONFIG")
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
    except Exception as exc:
        if isinstance(exc, (SourceError, InputError)):
            raise
        if type(exc).__module__.startswith("yaml"):  # the file the user named is not YAML: bad input, exit 2
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"kubeconfig {path} is not valid YAML ({first})", "check the file") from None
        raise SourceError(f"cannot load the Kubernetes credentials ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", "check the kubeconfig (and its exec plugin, if any)") from None
    if not configuration.verify_ssl:
        _warn_unverified(configuration.host)
    return client.ApiClient(configuration)


@functools.cache
def _warn_unverified(server: str) -> None:
    """One line for a kubeconfig that skips TLS verification, instead of urllib3's warning on every request."""
    import sys

    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    sys.stderr.write(
        f"warning: the kubeconfig turns off TLS verification for {server} (insecure-skip-tls-verify): anyone on the "
        "network path could hand over other keys; give the cluster's CA (certificate-authority-data) instead\n"
    )
    sys.stderr.flush()


@contextmanager
def _translated(server: str, what: str) -> Iterator[None]:
    import urllib3
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as exc:
        raise _status_error(exc.status or 0, server, what) from None
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
    return bytes(data)


def read_issuer_documents(
    kubeconfig: Path | None, context: str | None, *, service_account_dir: Path = SERVICE_ACCOUNT_DIR
) -> ClusterIssuer:
    """GET /openid/v1/jwks and /.well-known/openid-configuration from the API server."""
    api = api_client(kubeconfig, context, service_account_dir=service_account_dir)
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
    audience: str = "sts.amazonaws.com",
    expiration_seconds: int = 600,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> str:
    """A fresh token for the service account, through the TokenRequest API."""
    api = api_client(kubeconfig, context, service_account_dir=service_account_dir)
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
    kubeconfig: Path | None, context: str | None, *, service_account_dir: Path = SERVICE_ACCOUNT_DIR
) -> list[ServiceAccountRef]:
    """Every ServiceAccount, with its IAM role annotation (eks.amazonaws.com/role-arn) or ""."""
    api = api_client(kubeconfig, context, service_account_dir=service_account_dir)
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
