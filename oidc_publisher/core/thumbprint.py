"""IAM's thumbprint of an OIDC issuer's host. Pure: computed from certificates the TLS edge fetched.

IAM wants the lower-case hex SHA-1 of the *last* certificate the host presents in its chain (the
top intermediate CA, or the leaf when the server sends only its own certificate), after the chain has
been verified. It keeps at most five per provider.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from oidc_publisher.core.errors import InputError

MAX_THUMBPRINTS = 5
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def thumbprint_of(chain_der: Sequence[bytes]) -> str:
    """SHA-1 of the last certificate presented, lower-case hex."""
    if not chain_der:
        raise ValueError("no certificates presented")
    return hashlib.sha1(chain_der[-1]).hexdigest()  # noqa: S324 - IAM's definition of a thumbprint


def normalise_thumbprint(value: str) -> str:
    """Accept upper or lower case, with or without colons (openssl's -fingerprint form)."""
    cleaned = value.strip().replace(":", "").lower()
    if not _HEX40.match(cleaned):
        raise InputError(
            f"thumbprint {value!r} is not 40 hex digits",
            "give the SHA-1 of the issuer host's top certificate (oidc-publisher thumbprint URL prints it)",
        )
    return cleaned


def merge_thumbprints(*groups: Iterable[str]) -> list[str]:
    """Normalised, de-duplicated, in first-seen order; at most five, as IAM allows."""
    seen: list[str] = []
    for group in groups:
        for value in group:
            normal = normalise_thumbprint(value)
            if normal not in seen:
                seen.append(normal)
    if len(seen) > MAX_THUMBPRINTS:
        raise InputError(
            f"{len(seen)} thumbprints given; IAM keeps at most {MAX_THUMBPRINTS}",
            "drop the ones for certificates the hosts no longer present",
        )
    return seen


# Which of IAM's two cases applies to a host (docs/thumbprint.md): IAM checks the JWKS host's certificate
# against its own library of trusted CAs, and uses the registered thumbprints only when the CA is not in it.
CA_PUBLIC = "public"  # the chain verifies against the public CA bundle: IAM very likely trusts the CA itself
CA_PRIVATE = "private"  # it verifies only with a private bundle (SSL_CERT_FILE / REQUESTS_CA_BUNDLE): IAM uses the thumbprint


def ca_case(verifies_with_public_roots: bool) -> str:
    """IAM's case for a host, from one fact about its verified chain: does it also verify against the
    public CA bundle alone (not the private CAs of SSL_CERT_FILE / REQUESTS_CA_BUNDLE)?

    IAM's library is not published; the public bundle (Mozilla's, as certifi ships it) is a proxy for it, so a
    CA in one and not the other is misjudged. When unsure the answer is "private": registering a thumbprint IAM
    does not need costs nothing, missing one it needs is an outage.
    """
    return CA_PUBLIC if verifies_with_public_roots else CA_PRIVATE


def describe_ca_case(case: str) -> str:
    if case == CA_PUBLIC:
        return "CA likely in IAM's trusted library: IAM checks the certificate itself and does not use the thumbprint"
    return "private or uncommon CA: IAM accepts the host only by a registered thumbprint"


def unregistered_pinned(live: Mapping[str, tuple[str, str]], registered: Collection[str]) -> dict[str, str]:
    """The hosts STS would refuse: on a CA IAM does not trust (``live`` maps host to (thumbprint, case)) and
    presenting a thumbprint the provider does not have. Host -> the live thumbprint."""
    known = {normalise_thumbprint(value) for value in registered}
    return {host: thumb for host, (thumb, case) in live.items() if case != CA_PUBLIC and thumb not in known}
