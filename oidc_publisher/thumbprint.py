"""IAM's thumbprint of an OIDC issuer's host. Pure: computed from certificates the TLS edge fetched.

IAM wants the lower-case hex SHA-1 of the *last* certificate the host presents in its chain (the
top intermediate CA, or the leaf when the server sends only its own certificate), after the chain has
been verified. It keeps at most five per provider.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from oidc_publisher.errors import InputError

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
