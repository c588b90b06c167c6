"""``oidc-publisher thumbprint``: the SHA-1 thumbprint IAM expects of the issuer's host, and the chain it
was taken from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ThumbprintReport:
    host: str
    port: int
    thumbprint: str
    certificates: list[dict[str, str]]
    exit_code: int = 0

    def to_text(self) -> str:
        return self.thumbprint

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "thumbprint": self.thumbprint, "presented": self.certificates}


def _describe(der: bytes) -> dict[str, str]:
    import hashlib

    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha1": hashlib.sha1(der).hexdigest(),  # noqa: S324 - the thumbprint's definition
    }


def compute(url: str, connect_to: list[str], timeout: float) -> ThumbprintReport:
    """Fetch and verify the host's chain (tls.fetch_chain) and take the thumbprint of its last certificate."""
    from urllib.parse import urlsplit

    from oidc_publisher.core.errors import InputError
    from oidc_publisher.tls import fetch_chain

    parts = urlsplit(url.strip() if "://" in url else f"https://{url.strip()}")
    try:
        port = parts.port or 443
    except ValueError:
        port = 0
    if parts.scheme != "https" or not parts.hostname or not port:
        raise InputError(
            f"{url!r} is not an https URL or a host name", "give the issuer URL, e.g. https://oidc.example.com"
        )
    if not 0 < timeout < float("inf"):
        raise InputError(f"--timeout {timeout:g} is not a positive number of seconds", "STS waits about 5: try 5")
    chain = fetch_chain(parts.hostname, port, timeout=timeout, connect_to=connect_to)
    return ThumbprintReport(
        host=chain.host,
        port=chain.port,
        thumbprint=chain.thumbprint,
        certificates=[_describe(der) for der in chain.certificates],
    )
