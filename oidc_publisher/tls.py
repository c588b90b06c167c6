"""The TLS edge: connect to an issuer host as STS would, verify its chain, and fetch documents.

Trust is the system's, or ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` for private CAs. A connect-to
override (curl's ``HOST:PORT:ADDR:PORT``, from ``OIDC_PUBLISHER_CONNECT_TO`` or ``--connect-to``) sends
the TCP connection elsewhere while SNI and host-name verification still use the real host: for trying a
CloudFront distribution before DNS points at it, and for the local stand-ins of the demo and tests.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

from oidc_publisher.errors import InputError, TLSError
from oidc_publisher.thumbprint import thumbprint_of

CONNECT_TO_ENV = "OIDC_PUBLISHER_CONNECT_TO"
MAX_BODY = 1 << 20  # a JWKS of a hundred keys is well under 100 KiB
# STS gives up on an issuer that takes more than about 5 seconds to answer.
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ConnectTo:
    """``HOST:PORT:ADDR:PORT``; an empty HOST or PORT on the left matches any."""

    host: str
    port: int | None
    address: str
    address_port: int

    @classmethod
    def parse(cls, text: str) -> ConnectTo:
        parts = text.strip().split(":")
        if len(parts) != 4 or not parts[2] or not parts[3].isdigit() or (parts[1] and not parts[1].isdigit()):
            raise InputError(
                f"connect-to {text!r} is not HOST:PORT:ADDR:PORT",
                "write it like oidc.example.com:443:127.0.0.1:8443 (HOST and the first PORT may be empty: any)",
            )
        return cls(parts[0].lower(), int(parts[1]) if parts[1] else None, parts[2], int(parts[3]))

    def matches(self, host: str, port: int) -> bool:
        return (not self.host or self.host == host.lower()) and (self.port is None or self.port == port)


def connect_overrides(extra: Sequence[str] = ()) -> list[ConnectTo]:
    """Overrides from ``--connect-to`` values first, then the environment."""
    env = [item for item in os.environ.get(CONNECT_TO_ENV, "").split(",") if item.strip()]
    return [ConnectTo.parse(item) for item in [*extra, *env]]


def _route(host: str, port: int, overrides: Sequence[ConnectTo]) -> tuple[str, int]:
    for override in overrides:
        if override.matches(host, port):
            return override.address, override.address_port
    return host, port


def ssl_context() -> ssl.SSLContext:
    """System trust, or the bundle in SSL_CERT_FILE (honoured by OpenSSL) / REQUESTS_CA_BUNDLE."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") if not os.environ.get("SSL_CERT_FILE") else None
    try:
        context = ssl.create_default_context(cafile=bundle) if bundle else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the CA bundle {bundle} ({exc})", "check REQUESTS_CA_BUNDLE") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class PresentedChain:
    host: str
    port: int
    certificates: tuple[bytes, ...]  # DER, in the order the server presented them (leaf first)

    @property
    def thumbprint(self) -> str:
        return thumbprint_of(self.certificates)


def _presented(sock: ssl.SSLSocket) -> tuple[bytes, ...]:
    import _ssl  # the chain accessors are private before Python 3.13

    sslobj = getattr(sock, "_sslobj", None)
    getter = getattr(sock, "get_unverified_chain", None) or getattr(sslobj, "get_unverified_chain", None)
    if getter is None:
        raise TLSError("this Python cannot read the presented certificate chain", "use Python 3.10 or newer")
    chain = getter() or []
    return tuple(
        cert if isinstance(cert, bytes) else cert.public_bytes(_ssl.ENCODING_DER)
        for cert in chain
    )


def _tls_error(exc: BaseException, host: str, port: int, timeout: float) -> TLSError:
    where = f"{host}:{port}" if port != 443 else host
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code == 10:
            return TLSError(f"the certificate of {where} has expired", "renew it; STS refuses expired certificates")
        if code == 9:
            return TLSError(f"the certificate of {where} is not valid yet", "check its notBefore and the clocks")
        if code == 62:
            return TLSError(
                f"the certificate of {where} does not cover the host name {host} ({exc.verify_message})",
                "serve a certificate whose subject alternative names include the issuer's host",
            )
        if code in (18, 19, 20, 21, 2):
            return TLSError(
                f"the certificate chain of {where} does not verify: {exc.verify_message}",
                "serve the full chain from a CA AWS trusts; for a private CA in tests, set SSL_CERT_FILE to its bundle",
            )
        return TLSError(f"the certificate of {where} does not verify: {exc.verify_message}", "fix the certificate chain")
    if isinstance(exc, ssl.SSLError):
        return TLSError(f"the TLS handshake with {where} failed ({exc.reason or exc})", "check the host serves HTTPS with TLS 1.2+")
    if isinstance(exc, socket.gaierror):
        return TLSError(f"cannot resolve {host} (DNS)", "check the host name and that its DNS record exists")
    if isinstance(exc, ConnectionRefusedError):
        return TLSError(f"connection to {where} refused", "check the host serves HTTPS on port 443")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return TLSError(
            f"{where} did not answer within {timeout:g}s",
            "STS gives up after about 5 seconds: check the host, its firewall and its TLS",
        )
    if isinstance(exc, OSError):
        return TLSError(f"cannot connect to {where} ({exc.strerror or exc})", "check the network path to the host")
    return TLSError(f"cannot connect to {where} ({exc})", "check the host")


def _open(host: str, port: int, timeout: float, connect_to: Sequence[str]) -> ssl.SSLSocket:
    address, address_port = _route(host, port, connect_overrides(connect_to))
    context = ssl_context()
    raw: socket.socket | None = None
    try:
        raw = socket.create_connection((address, address_port), timeout=timeout)
        return context.wrap_socket(raw, server_hostname=host)
    except (OSError, ssl.SSLError) as exc:
        if raw is not None:
            raw.close()
        raise _tls_error(exc, host, port, timeout) from None


def fetch_chain(
    host: str, port: int = 443, *, timeout: float = DEFAULT_TIMEOUT, connect_to: Sequence[str] = ()
) -> PresentedChain:
    """Connect with SNI, verify chain and host name, and return what the server presented."""
    with _open(host, port, timeout, connect_to) as sock:
        return PresentedChain(host, port, _presented(sock))


@dataclass(frozen=True)
class HttpResponse:
    url: str
    status: int
    headers: Message
    body: bytes
    chain: PresentedChain


def https_get(
    url: str, *, timeout: float = DEFAULT_TIMEOUT, connect_to: Sequence[str] = (), max_bytes: int = MAX_BODY
) -> HttpResponse:
    """GET over verified HTTPS, the way STS fetches discovery and JWKS: no redirects followed."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise InputError(f"{url!r} is not an https URL", "STS only fetches https URLs")
    host, port = parts.hostname, parts.port or 443
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    sock = _open(host, port, timeout, connect_to)
    chain = PresentedChain(host, port, _presented(sock))
    connection = http.client.HTTPSConnection(host, port, timeout=timeout)
    connection.sock = sock  # already connected and verified
    try:
        connection.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "oidc-publisher", "Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(max_bytes + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise _tls_error(exc, host, port, timeout) from None
    finally:
        connection.close()
    if len(body) > max_bytes:
        raise TLSError(f"{url} answered with more than {max_bytes} bytes", "an issuer document is a few KiB: check the URL")
    return HttpResponse(url=url, status=response.status, headers=response.msg, body=body, chain=chain)
