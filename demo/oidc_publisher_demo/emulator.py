"""Local stand-ins for the demo: moto's server as AWS (behind a stand-in for CloudFront's cache-policy
calls, which moto lacks: emulator_cache_policies), and an HTTPS front that serves a bucket the way
CloudFront with Origin Access Control does, with a certificate chain of its own.

Nothing here is used against real AWS. The tool reaches the stand-ins exactly as it reaches AWS and
CloudFront: through ``AWS_ENDPOINT_URL``, ``SSL_CERT_FILE`` and a connect-to override.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from oidc_publisher.core.errors import Error
from oidc_publisher_demo.localca import Chain, make_chain


@dataclass
class LocalAWS:
    endpoint: str  # the cache-policy stand-in, in front of moto's server
    _server: Any
    _cache_policies: Any = None

    def stop(self) -> None:
        if self._cache_policies is not None:
            self._cache_policies.stop()
        self._server.stop()


_requester = threading.local()  # the account of the S3 request moto is handling on this thread (None: anonymous)


def fix_moto_policy_conditions() -> None:
    """Make moto's bucket-policy evaluation see what AWS sees when this tool calls it.

    moto (5.x) evaluates a bucket policy's statements without the request's context: a Deny with a
    Condition applies to every request, whatever the condition says. Two conditions the tool writes are
    evaluated here as AWS evaluates them, and everything else is left to moto:

    - ``Bool aws:SecureTransport = false`` (deny without TLS): the tool always talks to AWS over TLS, so the
      condition is not met and the Deny does not apply.
    - ``StringNotEquals aws:PrincipalAccount = ACCOUNT`` (a tombstone's deny to everyone but the owner): met
      unless the request is signed by that account (the account moto's S3 gives the request's access key);
      an anonymous request has no account, so it is met for it, as on AWS.

    Idempotent.
    """
    from moto.iam import access_control
    from moto.s3.responses import S3Response

    statement = access_control.IAMPolicyStatement
    if getattr(statement, "_oidc_publisher_fixed", False):
        return
    original = statement.is_action_permitted

    def is_action_permitted(self: Any, *args: Any, **kwargs: Any) -> Any:
        condition = self._statement.get("Condition") or {}
        secure = condition.get("Bool", {}).get("aws:SecureTransport")
        if secure is not None and str(secure).lower() == "false":
            return access_control.PermissionResult.NEUTRAL
        accounts = condition.get("StringNotEquals", {}).get("aws:PrincipalAccount")
        if accounts is not None and list(condition) == ["StringNotEquals"] and hasattr(_requester, "account"):
            owners = [accounts] if isinstance(accounts, str) else list(accounts)
            if _requester.account is not None and _requester.account in owners:
                return access_control.PermissionResult.NEUTRAL  # the condition is not met: no Deny
        return original(self, *args, **kwargs)

    original_setup = S3Response.setup_class

    def setup_class(self: Any, request: Any, *args: Any, **kwargs: Any) -> None:
        original_setup(self, request, *args, **kwargs)
        signed = "Authorization" in request.headers or "Signature=" in str(getattr(request, "url", ""))
        _requester.account = self.current_account if signed else None

    statement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]
    S3Response.setup_class = setup_class  # type: ignore[method-assign]
    statement._oidc_publisher_fixed = True  # type: ignore[attr-defined]


def fix_moto_create_bucket_tags() -> None:
    """Make moto's CreateBucket apply ``CreateBucketConfiguration.Tags``, as S3 does (moto 5.2 ignores them).

    The tool marks the buckets it creates in the creating call itself, so the mark cannot be missing
    when the bucket exists. Only a call that really creates the bucket applies its tags. Idempotent.
    """
    import xmltodict  # type: ignore[import-untyped]
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_oidc_publisher_tags_fixed", False):
        return
    original = S3Response._bucket_response_put

    def _bucket_response_put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        existed = bucket_name in self.backend.buckets
        result = original(self, request, bucket_name, querystring)
        if existed or querystring or not self.body or bucket_name not in self.backend.buckets:
            return result
        try:
            tags = (xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}).get("Tags") or {}
        except Exception:  # noqa: BLE001 - not a configuration with tags: nothing to apply
            return result
        items = tags.get("Tag", [])
        items = [items] if isinstance(items, dict) else items
        if items:
            self.backend.put_bucket_tagging(bucket_name, {t["Key"]: t.get("Value") or "" for t in items})
        return result

    S3Response._bucket_response_put = _bucket_response_put  # type: ignore[method-assign]
    S3Response._oidc_publisher_tags_fixed = True  # type: ignore[attr-defined]


_conditional_writes = threading.Lock()


def fix_moto_conditional_writes() -> None:
    """Make moto's conditional PutObject atomic, as S3's is.

    moto (5.2) checks If-Match / If-None-Match and then writes, unlocked, while its threaded server answers
    other requests: two writers that read the same ETag can both pass the check, and one silently replaces
    the other's object, which S3 never allows (the second gets 412 PreconditionFailed). Here the check and
    the write are one step for every PutObject. Idempotent.
    """
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_oidc_publisher_conditional_fixed", False):
        return
    original = S3Response.put_object

    def put_object(self: Any) -> Any:
        with _conditional_writes:
            return original(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]
    S3Response._oidc_publisher_conditional_fixed = True  # type: ignore[attr-defined]


def start_moto() -> LocalAWS:
    """moto's server on a free port of 127.0.0.1 (the demo extra installs moto)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise Error(
            "the demo needs moto's server (the local AWS)", "install the demo extra: pip install '.[demo]' in the clone (pipx: pipx install --force '.[demo]')"
        ) from None
    from oidc_publisher_demo.emulator_cache_policies import CachePolicyStandIn, fix_moto_cache_behaviours

    fix_moto_policy_conditions()
    fix_moto_create_bucket_tags()
    fix_moto_conditional_writes()
    fix_moto_cache_behaviours()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log is noise here
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    cache_policies = CachePolicyStandIn(f"http://{host}:{port}")  # moto has no cache-policy calls
    return LocalAWS(endpoint=cache_policies.url, _server=server, _cache_policies=cache_policies)


Fetch = Callable[[str], tuple[int, bytes, dict[str, str]]]
HostFetch = Callable[[str, str], tuple[int, bytes, dict[str, str]]]


class HTTPSFront:
    """A threaded HTTPS server on 127.0.0.1 that answers GET/HEAD with ``fetch(path)``, or with
    ``by_host(host, path)`` when one front stands in for many hosts."""

    def __init__(self, chain: Chain, fetch: Fetch | None = None, *, by_host: HostFetch | None = None) -> None:
        if not chain.files:
            raise ValueError("write the chain first (Chain.write)")
        if by_host is None:
            if fetch is None:
                raise ValueError("give fetch or by_host")
            single = fetch
            by_host = lambda host, path: single(path)  # noqa: E731
        answer = by_host
        self.requests: list[str] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                front.requests.append(path)
                status, body, headers = answer(self.headers.get("Host", "").rsplit(":", 1)[0].lower(), path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            do_GET = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(chain.files["chain"]), str(chain.files["key"]))
        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up; nothing to tell the user

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def s3_fetcher(s3: Any, bucket: str) -> Fetch:
    """Serve the bucket's objects by path, as CloudFront does through OAC (403 for a missing key, like S3)."""

    def fetch(path: str) -> tuple[int, bytes, dict[str, str]]:
        key = path.lstrip("/")
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
        except Exception as exc:  # noqa: BLE001 - any S3 failure is an error response, like CloudFront's
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            status = 403 if code in ("NoSuchKey", "AccessDenied", "404") else 502
            return status, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"}
        headers = {"Content-Type": response.get("ContentType", "application/octet-stream"), "Via": "1.1 oidc-publisher-demo (CloudFront stand-in)"}
        if response.get("CacheControl"):
            headers["Cache-Control"] = response["CacheControl"]
        return 200, response["Body"].read(), headers

    return fetch


def cloudfront_chain(directory: Path) -> Chain:
    """root -> intermediate -> *.cloudfront.net, like the certificate CloudFront presents."""
    return make_chain(("*.cloudfront.net",), intermediates=1, root_name="oidc-publisher demo root CA").write(directory)


def local_aws_environment(*, endpoint: str, credential: str, region: str, ca_file: Path, front_port: int, work: Path) -> dict[str, str]:
    """What points the tool (boto3, its HTTPS checks) at the local stand-ins and at nothing of the user's: the
    demo sets it in its own process, the playground prints it for another shell."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        # Dummy credentials: moto accepts any. They only keep boto3 from looking for real ones.
        "AWS_ACCESS_KEY_ID": credential,
        "AWS_SECRET_ACCESS_KEY": credential,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # Files that do not exist: no profile, region or endpoint of the user's own AWS config applies.
        "AWS_CONFIG_FILE": str(work / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SSL_CERT_FILE": str(ca_file),
        "REQUESTS_CA_BUNDLE": str(ca_file),
        # Name resolution without root: every HTTPS connection to port 443 goes to the front (curl's
        # --connect-to syntax), while SNI and certificate verification still use the real host name.
        "OIDC_PUBLISHER_CONNECT_TO": f"::127.0.0.1:{front_port}",
    }


@contextlib.contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the duration, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
