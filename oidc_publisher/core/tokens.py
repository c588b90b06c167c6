"""Service-account tokens: check one the way STS does, and mint one the way kube-apiserver does.

STS, given a token for AssumeRoleWithWebIdentity, finds the provider by the token's ``iss``, fetches the
issuer's discovery document and JWKS, picks the key by the header's ``kid``, checks the signature, the
expiry, and that the ``aud`` is one of the provider's client IDs. :func:`check_token` does the same
checks on documents the caller fetched, and says which one failed in STS's own words where it has some.
Minting is for the demo and for tests: a token signed with a key the caller holds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from oidc_publisher.core.errors import CheckFailed
from oidc_publisher.core.issuer import STS_AUDIENCE
from oidc_publisher.core.keys import PrivateKey, SigningKey, b64url_decode, default_alg
from oidc_publisher.core.limits import load_json


@dataclass(frozen=True)
class TokenClaims:
    issuer: str
    subject: str
    audiences: tuple[str, ...]
    kid: str
    expires: dt.datetime
    claims: dict[str, Any]


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise CheckFailed(
            "the token is not a JWS compact serialisation (three dot-separated parts)",
            "give the raw token, not a file of YAML or JSON",
        )
    try:
        header = load_json(b64url_decode(parts[0], what="the token header"))
        payload = load_json(b64url_decode(parts[1], what="the token payload"))
    except (ValueError, UnicodeDecodeError):
        raise CheckFailed("the token's header or payload is not base64url JSON", "give the raw token") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise CheckFailed("the token's header or payload is not a JSON object", "give the raw token")
    return header, payload


def check_token(
    token: str,
    *,
    issuer: str,
    keys: Sequence[SigningKey],
    audiences: Iterable[str],
    now: dt.datetime | None = None,
) -> TokenClaims:
    """Verify ``token`` as STS would against the published ``keys``; raise CheckFailed naming what fails."""
    from jwcrypto import jwk, jws

    header, payload = _segments(token)
    now = now or dt.datetime.now(dt.timezone.utc)
    iss = payload.get("iss")
    if iss != issuer:
        raise CheckFailed(
            f"the token's iss {iss!r} is not the issuer {issuer!r}",
            "STS finds the provider by iss, byte for byte: set kube-apiserver's --service-account-issuer to the published issuer",
        )
    kid = header.get("kid")
    by_kid = {key.kid: key for key in keys}
    if not isinstance(kid, str) or kid not in by_kid:
        raise CheckFailed(
            f"Couldn't retrieve verification key from your identity provider: the token's kid {kid!r} is not in the published JWKS",
            "publish the cluster's current keys (oidc-publisher publish --from-cluster)",
        )
    key = by_kid[kid]
    alg = header.get("alg")
    if alg != key.alg:
        raise CheckFailed(
            f"the token is signed with {alg!r} but key {kid} is published for {key.alg}",
            "republish the key with its real algorithm",
        )
    verifier = jwk.JWK.from_pem(key.public_pem())
    try:
        signed = jws.JWS()
        signed.deserialize(token.strip())
        signed.verify(verifier, alg=key.alg)
    except (jws.InvalidJWSSignature, jws.InvalidJWSObject, ValueError) as exc:
        raise CheckFailed(
            f"the token's signature does not verify with published key {kid} ({type(exc).__name__})",
            "the published key is not the one the API server signs with: republish from the cluster",
        ) from None
    exp = payload.get("exp")
    if not isinstance(exp, (int, float)):
        raise CheckFailed("the token has no exp claim", "STS requires an expiring token")
    expires = dt.datetime.fromtimestamp(exp, dt.timezone.utc)
    if expires <= now:
        raise CheckFailed(
            f"the token expired at {expires:%Y-%m-%dT%H:%M:%SZ}",
            "use a fresh token (kubelet refreshes projected tokens)",
        )
    nbf = payload.get("nbf")
    if isinstance(nbf, (int, float)) and dt.datetime.fromtimestamp(nbf, dt.timezone.utc) > now + dt.timedelta(
        minutes=5
    ):
        raise CheckFailed("the token is not valid yet (nbf in the future)", "check the clocks of the control plane")
    aud = payload.get("aud")
    token_audiences = tuple(aud) if isinstance(aud, list) else (aud,) if isinstance(aud, str) else ()
    accepted = set(audiences)
    if not accepted & set(token_audiences):
        raise CheckFailed(
            f"Incorrect token audience: the token is for {', '.join(map(str, token_audiences)) or 'no audience'}, "
            f"the provider accepts {', '.join(sorted(accepted)) or 'no client ID'}",
            f"request the token for audience {STS_AUDIENCE} (the pod identity webhook's --token-audience) and list it as a client ID",
        )
    return TokenClaims(
        issuer=issuer,
        subject=str(payload.get("sub", "")),
        audiences=tuple(str(a) for a in token_audiences),
        kid=kid,
        expires=expires,
        claims=payload,
    )


def mint_token(
    private_key: PrivateKey,
    *,
    kid: str,
    issuer: str,
    subject: str,
    audience: str = STS_AUDIENCE,
    lifetime: dt.timedelta = dt.timedelta(hours=1),
    now: dt.datetime | None = None,
) -> str:
    """A token shaped like a projected service-account token, signed like kube-apiserver signs it."""
    from cryptography.hazmat.primitives import serialization
    from jwcrypto import jwk, jwt

    now = now or dt.datetime.now(dt.timezone.utc)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = jwk.JWK.from_pem(pem)
    namespace, _, name = subject.removeprefix("system:serviceaccount:").partition(":")
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": [audience],
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": str(uuid.uuid4())}},
    }
    token = jwt.JWT(header={"alg": default_alg(private_key.public_key()), "kid": kid, "typ": "JWT"}, claims=claims)
    token.make_signed_token(signer)
    return str(token.serialize())
