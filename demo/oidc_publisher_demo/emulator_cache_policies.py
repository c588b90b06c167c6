"""CloudFront's cache policies, which moto (5.2.5) does not implement, stood in for in front of moto: for
the demo (``oidc_publisher_demo.emulator``) and the tests, whose AWS is moto's server. Never used against AWS.

`CachePolicyStandIn` is a small HTTP server between the client and moto's server. It answers
Create/Get/GetConfig/Update/Delete/List CachePolicy from memory, as CloudFront does (ETags that change on
every update and are checked on If-Match, unique names, ``Type=custom`` listing with MaxItems/Marker
pages, CachePolicyInUse while a distribution's behaviour names the policy), and forwards every other
request to moto. On the way it refuses, as CloudFront does, a distribution whose behaviour names an
unknown cache policy, or names one next to the legacy ForwardedValues. It stores and echoes the config it
was sent: tests check what the tool asked for (TTLs, cache key), not how CloudFront caches.

`fix_moto_cache_behaviours` patches moto (which runs in this process: ``ThreadedMotoServer``) so that a
behaviour with a CachePolicyId reads back without the legacy ForwardedValues and TTL fields moto would
otherwise make up next to it, as CloudFront answers.
"""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CF_NS = "{http://cloudfront.amazonaws.com/doc/2020-05-31/}"
XMLNS = b'xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"'
# One of AWS's managed policies (CachingOptimized): listed unless Type=custom, never changed or deleted.
MANAGED_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
MANAGED_CONFIG = (
    b"<CachePolicyConfig><Comment>Policy with caching enabled.</Comment><Name>Managed-CachingOptimized</Name>"
    b"<DefaultTTL>86400</DefaultTTL><MaxTTL>31536000</MaxTTL><MinTTL>1</MinTTL>"
    b"<ParametersInCacheKeyAndForwardedToOrigin><EnableAcceptEncodingGzip>true</EnableAcceptEncodingGzip>"
    b"<EnableAcceptEncodingBrotli>true</EnableAcceptEncodingBrotli><HeadersConfig><HeaderBehavior>none</HeaderBehavior>"
    b"</HeadersConfig><CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig><QueryStringsConfig>"
    b"<QueryStringBehavior>none</QueryStringBehavior></QueryStringsConfig></ParametersInCacheKeyAndForwardedToOrigin>"
    b"</CachePolicyConfig>"
)
PATH = re.compile(r"^/2020-05-31/cache-policy(?:/(?P<id>[^/?]+))?(?P<config>/config)?$")
DISTRIBUTION_WRITE = re.compile(r"^/2020-05-31/distribution(?:/[^/]+/config)?$")


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>"
    return status, body.encode()


def _without_declaration(body: bytes) -> bytes:
    return re.sub(rb"^<\?xml[^>]*\?>\s*", b"", body).replace(b" " + XMLNS, b"")


def _parse(xml: bytes) -> ET.Element:
    # Only requests to 127.0.0.1 from the demo's or the tests' own clients reach this parser.
    return ET.fromstring(xml)  # noqa: S314


def _name(config: bytes) -> str | None:
    return _parse(config).findtext("Name")


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def policies_in_use() -> set[str]:
    """The cache policy ids that moto's distributions' behaviours name (moto runs in this process)."""
    from moto.cloudfront.models import cloudfront_backends
    from moto.core.models import DEFAULT_ACCOUNT_ID

    used = set()
    for distribution in cloudfront_backends[DEFAULT_ACCOUNT_ID]["aws"].distributions.values():
        config: Any = distribution.distribution_config  # its fields are set from the request's dict
        behaviours = [config.DefaultCacheBehavior, *(config.CacheBehaviors.get("Items") or [])]
        used |= {b.cache_policy_id for b in behaviours if getattr(b, "cache_policy_id", "")}
    return used


class CachePolicyStandIn:
    """In front of moto: answers the CachePolicy calls moto lacks, forwards everything else."""

    def __init__(self, upstream: str) -> None:
        target = urllib.parse.urlsplit(upstream)
        self.policies: dict[str, bytes] = {}  # id -> the CachePolicyConfig element as sent (no namespace)
        self.etags: dict[str, str] = {}
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self, body: bytes) -> None:
                conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "transfer-encoding")}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                passed = {
                    k: v
                    for k, v in response.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date")
                }
                conn.close()
                self._reply(response.status, data, passed)

            def _handle(self) -> None:
                body = _read_body(self)
                path = self.path.split("?", 1)[0]
                if path == "/moto-api/reset" and self.command == "POST":
                    stand_in.clear()
                match = PATH.match(path)
                if match is None:
                    refusal = stand_in.refuse_distribution(self.command, path, body)
                    if refusal is not None:
                        self._reply(refusal[0], refusal[1], {"Content-Type": "text/xml"})
                    else:
                        self._forward(body)
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                status, reply, headers = stand_in.answer(
                    self.command, match["id"], match["config"] is not None, body, self.headers.get("If-Match"), query
                )
                self._reply(status, reply, {"Content-Type": "text/xml", **headers})

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    # ------------------------------------------------------------ CloudFront's answers

    def answer(
        self, method: str, policy_id: str | None, config_only: bool, body: bytes, if_match: str | None,
        query: dict[str, list[str]],
    ) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            if method == "POST" and policy_id is None:
                config = _without_declaration(body)
                name = _name(config)
                if any(_name(c) == name for c in self.policies.values()):
                    return (*_error(409, "CachePolicyAlreadyExists", f"a cache policy named {name} exists"), {})
                policy_id = str(uuid.uuid4())
                self.policies[policy_id], self.etags[policy_id] = config, uuid.uuid4().hex[:14].upper()
                return 201, self.document(policy_id, False), {
                    "ETag": self.etags[policy_id],
                    "Location": f"https://cloudfront.amazonaws.com/2020-05-31/cache-policy/{policy_id}",
                }
            if method == "GET" and policy_id is None:
                return 200, self.listing(query), {}
            if policy_id == MANAGED_ID and method == "GET":
                return 200, self.document(MANAGED_ID, config_only), {"ETag": "MANAGED"}
            if policy_id not in self.policies:
                return (*_error(404, "NoSuchCachePolicy", "The cache policy does not exist."), {})
            if method == "GET":
                return 200, self.document(policy_id, config_only), {"ETag": self.etags[policy_id]}
            if method in ("PUT", "DELETE"):
                if not if_match:
                    return (*_error(400, "InvalidIfMatchVersion", "The If-Match version is missing or not valid."), {})
                if if_match != self.etags[policy_id]:
                    return (*_error(412, "PreconditionFailed", "The If-Match version does not match."), {})
            if method == "PUT":
                self.policies[policy_id], self.etags[policy_id] = _without_declaration(body), uuid.uuid4().hex[:14].upper()
                return 200, self.document(policy_id, False), {"ETag": self.etags[policy_id]}
            if method == "DELETE":
                if policy_id in policies_in_use():
                    return (*_error(409, "CachePolicyInUse", "Cannot delete the cache policy, it is attached to one or more cache behaviors."), {})
                del self.policies[policy_id], self.etags[policy_id]
                return 204, b"", {}
            return 405, b"", {}

    def refuse_distribution(self, method: str, path: str, body: bytes) -> tuple[int, bytes] | None:
        """CloudFront's refusals of a distribution config that moto accepts."""
        if method not in ("POST", "PUT") or not DISTRIBUTION_WRITE.match(path) or not body:
            return None
        try:
            root = _parse(body)
        except ET.ParseError:
            return None
        for behaviour in root.iter():
            policy_id = behaviour.findtext(f"{CF_NS}CachePolicyId")
            if not policy_id:
                continue
            if policy_id not in self.policies and policy_id != MANAGED_ID:
                return _error(404, "NoSuchCachePolicy", "The cache policy does not exist.")
            if behaviour.find(f"{CF_NS}ForwardedValues") is not None:
                return _error(400, "InvalidArgument", "The parameter ForwardedValues cannot be used when a cache policy is associated to the cache behavior.")
        return None

    def listing(self, query: dict[str, list[str]]) -> bytes:
        kind = (query.get("Type") or [""])[0]
        ids = ([MANAGED_ID] if kind in ("", "managed") else []) + (list(self.policies) if kind in ("", "custom") else [])
        size = int((query.get("MaxItems") or ["100"])[0])
        start = int((query.get("Marker") or ["0"])[0])
        page, rest = ids[start : start + size], ids[start + size :]
        items = b"".join(
            b"<CachePolicySummary><Type>" + (b"managed" if i == MANAGED_ID else b"custom") + b"</Type>"
            + self.document(i, False, namespaced=False) + b"</CachePolicySummary>"
            for i in page
        )
        marker = b"<NextMarker>%d</NextMarker>" % (start + size) if rest else b""
        return (
            b"<CachePolicyList " + XMLNS + b">" + marker + b"<MaxItems>%d</MaxItems>" % size
            + b"<Quantity>%d</Quantity><Items>%s</Items></CachePolicyList>" % (len(page), items)
        )

    def document(self, policy_id: str, config_only: bool, *, namespaced: bool = True) -> bytes:
        config = MANAGED_CONFIG if policy_id == MANAGED_ID else self.policies[policy_id]
        if config_only:
            return config.replace(b"<CachePolicyConfig>", b"<CachePolicyConfig " + XMLNS + b">", 1)
        return (
            b"<CachePolicy" + (b" " + XMLNS if namespaced else b"") + b"><Id>" + policy_id.encode()
            + b"</Id><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime>" + config + b"</CachePolicy>"
        )

    # ------------------------------------------------------------ for the tests' assertions

    def config(self, policy_id: str) -> ET.Element:
        """The CachePolicyConfig as stored (element names without a namespace)."""
        return _parse(self.policies[policy_id])

    def by_name(self) -> dict[str, str]:
        """name -> id of every custom policy."""
        return {str(_name(c)): i for i, c in self.policies.items()}

    def clear(self) -> None:
        with self.lock:
            self.policies.clear()
            self.etags.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def fix_moto_cache_behaviours() -> None:
    """A behaviour with a CachePolicyId reads back without legacy ForwardedValues or TTLs, as CloudFront's
    does (moto makes them up next to it). Idempotent."""
    from moto.cloudfront import models

    behaviour = models.DefaultCacheBehaviour
    if getattr(behaviour, "_oidc_publisher_fixed", False):
        return
    original = behaviour.__init__

    def no_legacy_fields_with_a_cache_policy(self: Any, config: dict[str, Any]) -> None:
        original(self, config)
        if config.get("CachePolicyId"):
            self.forwarded_values = None
            self.min_ttl = self.default_ttl = self.max_ttl = None

    behaviour.__init__ = no_legacy_fields_with_a_cache_policy  # type: ignore[method-assign]
    behaviour._oidc_publisher_fixed = True  # type: ignore[attr-defined]
