"""The TLS edge: connect to an issuer host as STS would, verify its chain, and fetch documents.

Trust is the system's, or ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` for private CAs. A connect-to
override (curl's ``HOST:PORT:ADDR:PORT``, from ``OIDC_PUBLISHER_CONNECT_TO`` or ``--connect-to``) sends
the TCP connection elsewhere while SNI and host-name verification still use the real host: for trying a
CloudFront distribution before DNS points at it, and for the local stand-ins of the demo and tests.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oidc_publisher.core.errors import InputError, TLSError
from oidc_publisher.core.limits import MAX_DOCUMENT_BYTES
from oidc_publisher.core.thumbprint import thumbprint_of

if TYPE_CHECKING:
    from cryptography import x509

CONNECT_TO_ENV = "OIDC_PUBLISHER_CONNECT_TO"
# The same bound as every other reader of issuer documents: a JWKS publish accepts, verify reads back.
MAX_BODY = MAX_DOCUMENT_BYTES
# STS gives up on an issuer that takes more than about 5 seconds to answer.
DEFAULT_TIMEOUT = 5.0

# HOST:PORT:ADDR:PORT, where HOST and ADDR may be bracketed IPv6 literals and HOST and the first PORT empty.
_CONNECT_TO = re.compile(r"^(\[[^\]]*\]|[^:\[\]]*):(\d*):(\[[^\]]+\]|[^:\[\]]+):(\d+)$")

# OpenSSL's X509_V_ERR_* codes the messages distinguish.
_UNABLE_TO_GET_ISSUER_CERT = 2
_NOT_YET_VALID = 9
_EXPIRED = 10
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
_HOSTNAME_MISMATCH = 62
_UNTRUSTED = {
    _UNABLE_TO_GET_ISSUER_CERT,
    _SELF_SIGNED,
    _SELF_SIGNED_IN_CHAIN,
    _UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    _UNABLE_TO_VERIFY_LEAF_SIGNATURE,
}


def _unbracket(name: str) -> str:
    return name[1:-1] if name.startswith("[") and name.endswith("]") else name


@dataclass(frozen=True)
class ConnectTo:
    """``HOST:PORT:ADDR:PORT``; an empty HOST or PORT on the left matches any."""

    host: str
    port: int | None
    address: str
    address_port: int

    @classmethod
    def parse(cls, text: str) -> ConnectTo:
        match = _CONNECT_TO.match(text.strip())
        ports = [int(p) for p in (match[2], match[4]) if p] if match else []
        if match is None or not all(0 < p < 65536 for p in ports):
            raise InputError(
                f"connect-to {text!r} is not HOST:PORT:ADDR:PORT",
                "write it like oidc.example.com:443:127.0.0.1:8443 (HOST and the first PORT may be empty: any)",
            )
        port = int(match[2]) if match[2] else None
        return cls(_unbracket(match[1]).lower(), port, _unbracket(match[3]), int(match[4]))

    def matches(self, host: str, port: int) -> bool:
        return (not self.host or self.host == host.lower()) and (self.port is None or self.port == port)


ConnectToArg = Sequence["str | ConnectTo"] | None


def connect_overrides(extra: ConnectToArg = ()) -> list[ConnectTo]:
    """Overrides from ``--connect-to`` values first, then ``OIDC_PUBLISHER_CONNECT_TO`` (comma-separated)."""
    env = [item for item in os.environ.get(CONNECT_TO_ENV, "").split(",") if item.strip()]
    return [item if isinstance(item, ConnectTo) else ConnectTo.parse(item) for item in [*(extra or ()), *env]]


def route(host: str, port: int, overrides: Sequence[ConnectTo]) -> tuple[str, int]:
    """Where the TCP connection for ``host:port`` goes: the first override that matches, else the host."""
    for override in overrides:
        if override.matches(host, port):
            return override.address, override.address_port
    return host, port


def ssl_context() -> ssl.SSLContext:
    """System trust, or the bundle in SSL_CERT_FILE (honoured by OpenSSL) / REQUESTS_CA_BUNDLE.

    SSL_CERT_FILE wins when both are set. REQUESTS_CA_BUNDLE may name a file or a hashed directory.
    """
    cert_file = os.environ.get("SSL_CERT_FILE")
    if cert_file:
        if not os.path.isfile(cert_file):
            raise TLSError(
                f"SSL_CERT_FILE names {cert_file}, which is not a file", "point it at a PEM CA bundle, or unset it"
            )
        bundle = None
    else:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or None
    try:
        if bundle and os.path.isdir(bundle):
            context = ssl.create_default_context(capath=bundle)
        elif bundle:
            context = ssl.create_default_context(cafile=bundle)
        else:
            context = ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(
            f"cannot load the CA bundle {bundle} ({getattr(exc, 'strerror', None) or exc})",
            "point REQUESTS_CA_BUNDLE at a PEM CA bundle, or unset it",
        ) from None
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


# The bundle that stands for IAM's library of trusted CAs (default: certifi's copy of Mozilla's, else the
# system's compiled-in bundle; never SSL_CERT_FILE / REQUESTS_CA_BUNDLE, which is where private CAs go).
PUBLIC_CA_BUNDLE_ENV = "OIDC_PUBLISHER_PUBLIC_CA_BUNDLE"


def public_ca_bundle() -> str | None:
    """The file of public root CAs the chain is checked against to guess IAM's case, or None if there is none."""
    given = os.environ.get(PUBLIC_CA_BUNDLE_ENV)
    if given:
        if not os.path.isfile(given):
            raise TLSError(
                f"{PUBLIC_CA_BUNDLE_ENV} names {given}, which is not a file", "point it at a PEM CA bundle, or unset it"
            )
        return given
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]  # comes with requests (kubernetes' dependency)

        where = str(certifi.where())
        if os.path.isfile(where):
            return where
    except ImportError:
        pass
    system = ssl.get_default_verify_paths().openssl_cafile  # compiled-in, not the SSL_CERT_FILE override
    return system if system and os.path.isfile(system) else None


def _load_roots(bundle: str) -> list[x509.Certificate]:
    """Each certificate of a PEM bundle that parses (one odd root, e.g. with a negative serial, is skipped)."""
    import warnings

    from cryptography import x509

    with open(bundle, "rb") as handle:
        text = handle.read()
    roots: list[x509.Certificate] = []
    end = b"-----END CERTIFICATE-----"
    for block in text.split(end)[:-1]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                roots.append(x509.load_pem_x509_certificate(block + end))
        except ValueError:
            continue
    return roots


def verifies_with_public_roots(chain: PresentedChain, bundle: str | None) -> bool:
    """Whether the presented chain (already verified with the configured trust) also verifies, for its host,
    against the public bundle alone. False when there is no bundle, or it cannot be read."""
    if not bundle or not chain.certificates:
        return False
    import ipaddress

    from cryptography import x509
    from cryptography.x509 import verification

    try:
        roots = _load_roots(bundle)
        leaf, *rest = (x509.load_der_x509_certificate(der) for der in chain.certificates)
        try:
            subject: x509.DNSName | x509.IPAddress = x509.IPAddress(ipaddress.ip_address(chain.host))
        except ValueError:
            subject = x509.DNSName(chain.host)
        verifier = verification.PolicyBuilder().store(verification.Store(roots)).build_server_verifier(subject)
        verifier.verify(leaf, rest)
    except (OSError, ValueError, verification.VerificationError):
        return False
    return True


def _presented(sock: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The certificates the server sent, as sent (not the chain OpenSSL built to a trust anchor).

    Python 3.13 has ``SSLSocket.get_unverified_chain()`` (DER bytes); 3.10-3.12 have the same accessor on
    the private ``_sslobj`` (``_ssl.Certificate`` objects). ``getpeercert`` would give only the leaf, which
    would be the wrong thumbprint whenever there is an intermediate, so there is no fallback to it.
    """
    import _ssl  # ENCODING_DER is not re-exported by ssl

    sslobj = getattr(sock, "_sslobj", None)
    getter = getattr(sock, "get_unverified_chain", None) or getattr(sslobj, "get_unverified_chain", None)
    if getter is None:
        raise TLSError(
            "this Python cannot read the certificate chain a server presents",
            "run oidc-publisher with CPython 3.10 or newer",
        )
    chain = getter() or []
    return tuple(cert if isinstance(cert, bytes) else cert.public_bytes(_ssl.ENCODING_DER) for cert in chain)


def _describe(der: bytes) -> tuple[str, str, list[str]]:
    """(subject, issuer, DNS/IP names) of a certificate, for error messages."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]
    except x509.ExtensionNotFound:
        names = []
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), names


def _verification_error(
    exc: ssl.SSLCertVerificationError, host: str, where: str, presented: tuple[bytes, ...]
) -> TLSError:
    code = exc.verify_code
    leaf = _describe(presented[0]) if presented else None
    top = _describe(presented[-1]) if presented else None
    if code == _EXPIRED:
        return TLSError(f"the certificate of {where} has expired", "renew it; STS refuses expired certificates")
    if code == _NOT_YET_VALID:
        return TLSError(f"the certificate of {where} is not valid yet", "check its notBefore and the clocks")
    if code == _HOSTNAME_MISMATCH:
        covers = f" (it covers {', '.join(leaf[2])})" if leaf and leaf[2] else ""
        return TLSError(
            f"the certificate of {where} does not cover the host name {host}{covers}",
            "serve a certificate whose subject alternative names include the issuer's host",
        )
    if code in _UNTRUSTED:
        anchor = f" (the top certificate presented was issued by {top[1]})" if top else ""
        return TLSError(
            f"the certificate chain of {where} does not verify: {exc.verify_message}{anchor}",
            "serve the full chain from a CA AWS trusts; for a private CA, set SSL_CERT_FILE to its bundle",
        )
    return TLSError(f"the certificate of {where} does not verify: {exc.verify_message}", "fix the certificate chain")


def _tls_error(
    exc: BaseException,
    host: str,
    port: int,
    timeout: float,
    address: tuple[str, int] | None = None,
    presented: tuple[bytes, ...] = (),
) -> TLSError:
    where = f"{host}:{port}" if port != 443 else host
    # The network-level messages name the address actually dialled when a connect-to override sent it elsewhere.
    routed = where if address is None or address == (host, port) else f"{where} (via {address[0]}:{address[1]})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _verification_error(exc, host, where, presented)
    if isinstance(exc, ssl.SSLError):
        return TLSError(
            f"the TLS handshake with {routed} failed ({exc.reason or exc})",
            "check the host serves HTTPS with TLS 1.2 or newer on that port",
        )
    if isinstance(exc, socket.gaierror):
        name = address[0] if address else host
        return TLSError(f"cannot resolve {name} (DNS)", "check the host name and that its DNS record exists")
    if isinstance(exc, ConnectionRefusedError):
        return TLSError(
            f"connection to {routed} refused", f"check the host serves HTTPS on port {address[1] if address else port}"
        )
    if isinstance(exc, TimeoutError):
        return TLSError(
            f"{routed} did not answer within {timeout:g}s",
            "STS gives up after about 5 seconds: check the host, its firewall and its TLS",
        )
    if isinstance(exc, http.client.HTTPException):
        return TLSError(
            f"{routed} did not answer with HTTP ({type(exc).__name__})", "check the URL points at a web server"
        )
    if isinstance(exc, OSError):
        return TLSError(f"cannot connect to {routed} ({exc.strerror or exc})", "check the network path to the host")
    return TLSError(f"cannot connect to {routed} ({exc})", "check the host")


def _open(host: str, port: int, timeout: float, connect_to: ConnectToArg) -> ssl.SSLSocket:
    address = route(host, port, connect_overrides(connect_to))
    context = ssl_context()
    raw: socket.socket | None = None
    sock: ssl.SSLSocket | None = None
    try:
        raw = socket.create_connection(address, timeout=timeout)
        sock = context.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        sock.do_handshake()
        return sock
    except (OSError, ssl.SSLError) as exc:
        presented: tuple[bytes, ...] = ()
        if isinstance(exc, ssl.SSLCertVerificationError) and sock is not None:
            try:  # what the server sent is still readable after a failed verification: name it in the message
                presented = _presented(sock)
            except (TLSError, ValueError, ssl.SSLError):
                presented = ()
        for opened in (sock, raw):
            if opened is not None:
                opened.close()
        raise _tls_error(exc, host, port, timeout, address, presented) from None


def fetch_chain(
    host: str, port: int = 443, *, timeout: float = DEFAULT_TIMEOUT, connect_to: ConnectToArg = ()
) -> PresentedChain:
    """Connect with SNI, verify chain and host name, and return what the server presented."""
    with _open(host, port, timeout, connect_to) as sock:
        return PresentedChain(host, port, _presented(sock))


@dataclass(frozen=True)
class HttpResponse:
    url: str
    status: int
    headers: Message  # case-insensitive: headers["content-type"] == headers["Content-Type"]
    body: bytes
    chain: PresentedChain

    @property
    def redirect_location(self) -> str | None:
        """Where a 3xx answer points (STS does not follow redirects, and neither does :func:`https_get`)."""
        if 300 <= self.status < 400:
            return self.headers.get("Location")
        return None


def https_get(
    url: str, *, timeout: float = DEFAULT_TIMEOUT, connect_to: ConnectToArg = (), max_bytes: int = MAX_BODY
) -> HttpResponse:
    """GET over verified HTTPS, the way STS fetches discovery and JWKS: redirects are returned, not followed."""
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
    host_header = host if port == 443 else f"{host}:{port}"
    if ":" in host:
        host_header = f"[{host}]" if port == 443 else f"[{host}]:{port}"
    try:
        connection.request(
            "GET", path, headers={"Host": host_header, "User-Agent": "oidc-publisher", "Accept": "application/json"}
        )
        response = connection.getresponse()
        body = response.read(max_bytes + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise _tls_error(exc, host, port, timeout) from None
    finally:
        connection.close()
    if len(body) > max_bytes:
        raise TLSError(
            f"{url} answered with more than {max_bytes} bytes", "an issuer document is a few KiB: check the URL"
        )
    return HttpResponse(url=url, status=response.status, headers=response.msg, body=body, chain=chain)
