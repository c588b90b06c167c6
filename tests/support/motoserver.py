"""moto's server as the tests' AWS, behind a small recording proxy that counts every AWS call.

The tool reaches it exactly as it reaches AWS: ``AWS_ENDPOINT_URL`` points at the proxy, which forwards
to moto and records (service, operation) for each request, so tests can assert "no write calls".
Between the proxy and moto sits the stand-in for CloudFront's cache policies, which moto lacks
(demo/oidc_publisher_demo/emulator_cache_policies.py, also the demo's); the tests' own clients (``AwsWorld.client``)
reach AWS through it too.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from oidc_publisher_demo.emulator_cache_policies import CachePolicyStandIn

from oidc_publisher.core.operations import SURFACE
from tests.support.servers import LocalServer, relay, stop_promptly

WRITE_PREFIXES = ("Put", "Create", "Delete", "Update", "Add", "Remove", "Tag", "Untag", "Set", "Attach", "Detach", "Upload", "Copy")
# A call the proxy cannot name is recorded as its HTTP method ("POST /x", "POSTObject"): one that is not a
# read counts as a write, so that "no write call" cannot pass just because an operation went unrecognised.
UNNAMED_WRITE_PREFIXES = ("POST", "PUT", "PATCH", "DELETE")

# The tool's declared AWS surface (core/operations.py), by service and API name: every call the tool makes
# must be one of them, and the ``aws`` fixture fails the test that saw one that is not.
DECLARED = frozenset((call.service, call.api) for call in SURFACE.values())
# Callers that are not the tool, which some tests point at the proxy too (terraform's AWS provider).
FOREIGN_AGENTS = ("terraform",)

_S3_SUBRESOURCES = {
    "policy": "BucketPolicy", "tagging": "BucketTagging", "versioning": "BucketVersioning",
    "encryption": "BucketEncryption", "publicAccessBlock": "PublicAccessBlock", "ownershipControls": "BucketOwnershipControls",
    "location": "BucketLocation", "acl": "BucketAcl",
}


def _s3_operation(method: str, path: str, query: dict[str, list[str]]) -> str:
    parts = [p for p in path.split("/") if p]
    has_key = len(parts) > 1
    for sub, name in _S3_SUBRESOURCES.items():
        if sub in query:
            return {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method) + name
    if "versions" in query:
        return "ListObjectVersions"
    if "delete" in query and method == "POST":
        return "DeleteObjects"
    if not parts:
        return "ListBuckets"
    if has_key:
        return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method + "Object")
    return {"GET": "ListObjects", "PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, method + "Bucket")


def _cloudfront_operation(method: str, path: str, query: dict[str, list[str]] | None = None) -> str:
    p = re.sub(r"^/\d{4}-\d{2}-\d{2}", "", path)
    if p.startswith("/tagging"):
        return "TagResource" if method == "POST" else "ListTagsForResource"
    if "/invalidation" in p:
        return "CreateInvalidation" if method == "POST" else "ListInvalidations" if p.endswith("/invalidation") else "GetInvalidation"
    if p.startswith("/origin-access-control"):
        name = "OriginAccessControl"
        if method == "POST":
            return "Create" + name
        if method == "DELETE":
            return "Delete" + name
        if method == "PUT":
            return "Update" + name
        return "List" + name + "s" if p.rstrip("/") == "/origin-access-control" else "Get" + name
    if p.startswith("/cache-policy"):
        name = "CachePolicy"
        if method in ("POST", "PUT", "DELETE"):
            return {"POST": "Create", "PUT": "Update", "DELETE": "Delete"}[method] + name
        if p.rstrip("/") == "/cache-policy":
            return "ListCachePolicies"
        return "GetCachePolicyConfig" if p.endswith("/config") else "GetCachePolicy"
    if p.startswith("/distribution"):
        if method == "POST":
            return "CreateDistributionWithTags" if "WithTags" in (query or {}) else "CreateDistribution"  # POST /distribution?WithTags
        if method == "DELETE":
            return "DeleteDistribution"
        if method == "PUT":
            return "UpdateDistribution"
        return "ListDistributions" if p.rstrip("/") == "/distribution" else ("GetDistributionConfig" if p.endswith("/config") else "GetDistribution")
    return f"{method} {p}"


@dataclass(frozen=True)
class RecordedRequest:
    """One call as it reached AWS: what the tool sent, for assertions on headers and bodies."""

    service: str
    operation: str
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class Recorder:
    calls: list[tuple[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # the request path of each call, in order
    requests: list[RecordedRequest] = field(default_factory=list)  # every call in full, in order
    # The tool's calls that core/operations.py does not declare, for the whole test (reset keeps them).
    undeclared: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, service: str, operation: str, path: str = "", request: RecordedRequest | None = None) -> None:
        with self.lock:
            self.calls.append((service, operation))
            self.paths.append(path)
            if request is not None:
                self.requests.append(request)
                agent = request.headers.get("user-agent", "").lower()
                if (service, operation) not in DECLARED and not any(name in agent for name in FOREIGN_AGENTS):
                    self.undeclared.append((service, operation))

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.paths.clear()
            self.requests.clear()

    def sent(self, operation: str) -> list[RecordedRequest]:
        """The requests of ``operation``, as the tool sent them."""
        return [r for r in self.requests if r.operation == operation]

    def puts(self) -> list[str]:
        """The paths of PutObject calls, in the order they reached AWS."""
        return [p for (_, op), p in zip(self.calls, self.paths) if op == "PutObject"]

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[1].startswith(WRITE_PREFIXES + UNNAMED_WRITE_PREFIXES)]

    def operations(self, service: str | None = None) -> list[str]:
        return [op for svc, op in self.calls if service is None or svc == service]


def _identify(method: str, path: str, headers: Any, body: bytes) -> tuple[str, str]:
    auth = headers.get("Authorization", "")
    match = re.search(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/", auth)
    service = match.group(1) if match else "unknown"
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    if headers.get("X-Amz-Target"):
        return service, headers["X-Amz-Target"].split(".")[-1]
    if "Action" in query:
        return service, query["Action"][0]
    if body and b"Action=" in body[:200]:
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        if "Action" in form:
            action = form["Action"][0]
            if service == "unknown" and action in ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
                service = "sts"  # STS's unsigned calls carry no Authorization header to name the service
            return service, action
    if service == "s3":
        return service, _s3_operation(method, url.path, query)
    if service == "cloudfront":
        return service, _cloudfront_operation(method, url.path, query)
    return service, f"{method} {url.path}"


class AwsClock:
    """AWS's clock as the tool sees it: the ``Date`` header of every answer the proxy gives.

    ``advance(hours=25)`` makes time pass for AWS (retention ends) without a sleep. moto's own
    timestamps (an object's Last-Modified) stay on the real clock.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.hidden = False  # answers without a Date (some S3-compatible stores and proxies)
        self.lock = threading.Lock()

    def advance(self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> None:
        with self.lock:
            self.offset += ((days * 24 + hours) * 60 + minutes) * 60 + seconds

    def time(self) -> float:
        with self.lock:
            return time.time() + self.offset


class RecordingProxy:
    """Forwards every request to ``upstream`` (moto) and records which AWS operation it was."""

    def __init__(self, upstream: str, recorder: Recorder) -> None:
        target = urllib.parse.urlsplit(upstream)
        host, port = target.hostname or "127.0.0.1", target.port or 80
        proxy = self
        self.recorder = recorder
        # Faults to inject: each answers one matching call, after letting `skip` matching calls through.
        self.faults: list[dict[str, Any]] = []
        # Called with each request before it reaches moto: a test can look at AWS's state at that moment.
        self.observers: list[Callable[[RecordedRequest], None]] = []
        self.lock = threading.Lock()
        self.clock = AwsClock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def date_time_string(self, timestamp: float | None = None) -> str:
                # The Date of every answer (moto's own is dropped below): AWS's clock, as the test set it.
                return super().date_time_string(proxy.clock.time() if timestamp is None else timestamp)

            def send_header(self, keyword: str, value: str) -> None:
                if not (proxy.clock.hidden and keyword.lower() == "date"):
                    super().send_header(keyword, value)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service, operation = _identify(self.command, self.path, self.headers, body)
                path, _, query = self.path.partition("?")
                sent = RecordedRequest(
                    service, operation, self.command, path, query,
                    {name.lower(): value for name, value in self.headers.items()}, body,
                )
                recorder.record(service, operation, path, sent)
                for observe in list(proxy.observers):
                    observe(sent)
                fault = proxy.take_fault(operation, path)
                if fault is not None and fault["kind"] != "lost-reply":
                    if fault["kind"] == "timeout":
                        time.sleep(fault["hold"])  # longer than the client's read timeout
                    if fault["kind"] in ("drop", "timeout"):
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        self.connection.close()
                        return
                    error = fault["body"]
                    if service in ("iam", "sts"):  # the query protocol wraps errors
                        error = b"<ErrorResponse>" + error.replace(b"<Error>", b"<Error><Type>Sender</Type>") + b"<RequestId>fault</RequestId></ErrorResponse>"
                    self.send_response(fault["status"])
                    self.send_header("Content-Length", str(len(error)))
                    self.send_header("Content-Type", "text/xml")
                    self.end_headers()
                    self.wfile.write(error)
                    return
                if operation in ("AddClientIDToOpenIDConnectProvider", "RemoveClientIDFromOpenIDConnectProvider"):
                    self._client_id_gap(operation, body, lost=fault is not None)
                    return
                if fault is not None:  # lost-reply: AWS carries the call out, and the answer never arrives
                    upstream = http.client.HTTPConnection(host, port, timeout=30)
                    upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                    upstream.getresponse().read()  # done on moto's side before the client loses the answer
                    upstream.close()
                    self._cut()
                    return
                relay(self, (host, port), body)

            def _cut(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()

            def _client_id_gap(self, operation: str, body: bytes, *, lost: bool = False) -> None:
                """moto's server does not implement these two IAM actions (it answers 500). The proxy
                carries them out on moto's own provider object, as IAM would, so the tool's real call is
                exercised against real state."""
                from moto.iam.models import iam_backends

                form = urllib.parse.parse_qs(body.decode())
                arn, client_id = form["OpenIDConnectProviderArn"][0], form["ClientID"][0]
                # The provider's own account (arn:aws:iam::ACCOUNT:...): an assumed role's calls land there.
                provider = iam_backends[arn.split(":")[4]]["global"].get_open_id_connect_provider(arn)
                if operation.startswith("Add") and client_id not in provider.client_id_list:
                    provider.client_id_list.append(client_id)
                elif operation.startswith("Remove") and client_id in provider.client_id_list:
                    provider.client_id_list.remove(client_id)
                if lost:
                    self._cut()
                    return
                reply = (
                    f'<{operation}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
                    f"<ResponseMetadata><RequestId>emulated</RequestId></ResponseMetadata></{operation}Response>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = LocalServer(Handler).start()  # quiet: the faults' cut connections make handlers fail

    @property
    def url(self) -> str:
        return self._httpd.url

    def fail_next(
        self, operation: str, status: int = 500, code: str = "InternalError", *, times: int = 1, after: int = 0,
        kind: str = "error", hold: float = 2.0, message: str = "injected by the test",
    ) -> None:
        """Answer the next `times` calls of `operation` (after letting `after` through) with an error,
        a dropped connection (kind="drop"), silence past the read timeout (kind="timeout"), or a
        connection dropped after moto carried the call out (kind="lost-reply": the write happened, the
        client never heard, and retries it)."""
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        with self.lock:
            for i in range(times):
                self.faults.append({"op": operation, "status": status, "body": body, "kind": kind, "hold": hold,
                                    "skip": after if i == 0 else 0})

    def fail_call(self, index: int, fault: dict[str, Any], times: int) -> None:
        """Inject `fault` on the index-th call (0-based, counting every call) and the next times-1 retries of it.

        A retry is the same operation on the same path: two calls of one operation made side by side (the
        state object and the discovery document read together) must not share out the faults between them."""
        with self.lock:
            self.positional = {"index": index, "fault": fault, "left": times, "seen": 0, "op": None, "path": None}

    def take_fault(self, operation: str, path: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            positional = getattr(self, "positional", None)
            if positional is not None:
                seen = positional["seen"]
                positional["seen"] += 1
                same = positional["op"] == operation and positional["path"] == path
                hit = seen == positional["index"] or (same and positional["left"] > 0 and seen > positional["index"])
                if hit and positional["left"] > 0:
                    if positional["op"] is None:
                        positional["op"], positional["path"] = operation, path
                    if positional["op"] == operation and positional["path"] == path:
                        positional["left"] -= 1
                        return dict(positional["fault"])
            for i, fault in enumerate(self.faults):
                if fault["op"] != operation:
                    continue
                if fault["skip"] > 0:
                    fault["skip"] -= 1
                    return None
                return self.faults.pop(i)
        return None

    def stop(self) -> None:
        self._httpd.stop()


@dataclass
class AwsWorld:
    endpoint: str  # what the tool is pointed at (the proxy)
    moto_endpoint: str  # AWS without the recording: the cache-policy stand-in in front of moto
    recorder: Recorder
    proxy: RecordingProxy
    cache_policies: CachePolicyStandIn

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client straight to moto (not recorded), for the test's own setup and assertions."""
        import boto3

        return boto3.client(
            service, region_name=region, endpoint_url=self.moto_endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )


@pytest.fixture
def aws_clock(aws: AwsWorld) -> AwsClock:
    """AWS's clock (the Date the tool reads), to move instead of sleeping: ``aws_clock.advance(hours=25)``."""
    return aws.proxy.clock


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer
    from oidc_publisher_demo.emulator import (
        fix_moto_conditional_writes,
        fix_moto_create_bucket_tags,
        fix_moto_policy_conditions,
    )
    from oidc_publisher_demo.emulator_cache_policies import fix_moto_cache_behaviours

    fix_moto_policy_conditions()  # see its docstring: a moto bug, fixed to AWS's semantics
    fix_moto_create_bucket_tags()  # S3 applies CreateBucketConfiguration.Tags; moto 5.2 ignores them
    fix_moto_conditional_writes()  # S3's If-Match / If-None-Match check and write are one step; moto's are two
    fix_moto_cache_behaviours()  # legacy fields next to a CachePolicyId, which CloudFront never returns
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    """A fresh moto state and the environment that points the tool at it (through the recording proxy)."""
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    cache_policies = CachePolicyStandIn(moto_server)
    cache_policies_port = urllib.parse.urlsplit(cache_policies.url).port or 80
    recorder = Recorder()
    proxy = RecordingProxy(cache_policies.url, recorder)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    # No other credential provider of the machine's may answer for the tests (container, web identity).
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/oidc-publisher-tests")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/oidc-publisher-tests")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield AwsWorld(
        endpoint=proxy.url, moto_endpoint=cache_policies.url, recorder=recorder, proxy=proxy, cache_policies=cache_policies
    )
    proxy.stop()
    stop_promptly(cache_policies.stop, cache_policies_port)
    # The whole suite proves the declared surface complete: a call the tool made that SURFACE does not list
    # fails the test that made it.
    assert not recorder.undeclared, (
        f"the tool called {sorted(set(recorder.undeclared))}, not declared in core/operations.py SURFACE"
    )
