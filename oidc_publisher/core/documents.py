"""The two documents an issuer serves, built from dicts and serialised canonically. Pure.

Canonical bytes (sorted members, compact separators, keys sorted by kid) make "nothing changed" a byte
comparison: the same keys and issuer always give the same bytes, whatever order they arrived in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from oidc_publisher.core.errors import InputError
from oidc_publisher.core.issuer import Issuer, parse_issuer
from oidc_publisher.core.keys import PRIVATE_JWK_MEMBERS, SigningKey, check_unique
from oidc_publisher.core.limits import MAX_DOCUMENT_BYTES

# Short, so that a published rotation reaches STS and CloudFront's edges within five minutes
# (kube-apiserver itself serves max-age=3600). Served as plain JSON, as S3 and CloudFront issuers are.
CACHE_CONTROL = "public, max-age=300"
CONTENT_TYPE = "application/json"


def canonical_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def jwks_document(keys: Sequence[SigningKey]) -> dict[str, Any]:
    """The JWKS: keys sorted by kid, public members only. Never empty."""
    if not keys:
        raise InputError("no signing keys to publish", "an empty JWKS would make STS reject every token")
    check_unique(keys, "the keys to publish")
    unique = {key.kid: key for key in keys}
    jwks = [unique[kid].to_jwk() for kid in sorted(unique)]
    for jwk in jwks:  # belt and braces: the types cannot carry private members, but this is the last gate
        assert not any(member in jwk for member in PRIVATE_JWK_MEMBERS)
    return {"keys": jwks}


def discovery_document(issuer: Issuer, keys: Sequence[SigningKey], jwks_uri: str | None = None) -> dict[str, Any]:
    """The five members kube-apiserver serves, with ``jwks_uri`` pointing at the *published* JWKS."""
    return {
        "issuer": issuer.url,
        "jwks_uri": jwks_uri or issuer.default_jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": sorted({key.alg for key in keys}),
    }


@dataclass(frozen=True)
class Documents:
    issuer: Issuer
    keys: tuple[SigningKey, ...]
    jwks: bytes
    discovery: bytes
    jwks_uri: str

    @property
    def kids(self) -> list[str]:
        return [key.kid for key in self.keys]


def validate_jwks_uri(jwks_uri: str) -> str:
    # Same rules as an issuer: https, no port/query/fragment (STS fetches it the same way).
    parse_issuer(jwks_uri, what="--jwks-uri")
    return jwks_uri


def check_jwks_size(jwks: bytes) -> None:
    """A JWKS larger than what ``verify`` (and every reader of the tool) accepts is never published."""
    if len(jwks) > MAX_DOCUMENT_BYTES:
        raise InputError(
            f"the JWKS would be {len(jwks)} bytes, more than the {MAX_DOCUMENT_BYTES // 1024} KiB verify reads",
            "publish fewer keys: STS is reported to fail on JWKS beyond about 100 keys",
        )


def check_publishable(keys: Sequence[SigningKey], jwks_uri: str | None) -> None:
    """Everything about the documents that can be refused before the issuer URL is known (a CloudFront
    issuer's is known only once its distribution exists): the JWKS URL, the keys, the JWKS's size.
    Commands call it before their first AWS call."""
    if jwks_uri:
        validate_jwks_uri(jwks_uri)
    check_jwks_size(canonical_bytes(jwks_document(keys)))


def build_documents(issuer: Issuer, keys: Sequence[SigningKey], jwks_uri: str | None = None) -> Documents:
    uri = validate_jwks_uri(jwks_uri) if jwks_uri else issuer.default_jwks_uri
    jwks = canonical_bytes(jwks_document(keys))
    check_jwks_size(jwks)
    ordered = tuple(sorted({k.kid: k for k in keys}.values(), key=lambda k: k.kid))
    return Documents(
        issuer=issuer,
        keys=ordered,
        jwks=jwks,
        discovery=canonical_bytes(discovery_document(issuer, ordered, uri)),
        jwks_uri=uri,
    )
