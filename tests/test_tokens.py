"""check_token finds what STS would reject; tokens we mint verify with a library that is not ours."""

from __future__ import annotations

import datetime as dt

import jwt as pyjwt
import pytest

from oidc_publisher.core.errors import CheckFailed
from oidc_publisher.core.keys import signing_key
from oidc_publisher.core.tokens import check_token, mint_token
from tests.support import keys as k

ISSUER = "https://oidc.example.com"
SUB = "system:serviceaccount:default:app"


@pytest.fixture(scope="module")
def rsa():  # type: ignore[no-untyped-def]
    private = k.rsa_key()
    return private, signing_key(private.public_key(), "x")


def test_minted_token_verifies_with_pyjwt_and_check_token(rsa) -> None:  # type: ignore[no-untyped-def]
    private, key = rsa
    token = mint_token(private, kid=key.kid, issuer=ISSUER, subject=SUB)
    claims = pyjwt.decode(token, key.public_pem(), algorithms=["RS256"], audience="sts.amazonaws.com", issuer=ISSUER)
    assert claims["sub"] == SUB
    assert pyjwt.get_unverified_header(token)["kid"] == key.kid
    checked = check_token(token, issuer=ISSUER, keys=[key], audiences=["sts.amazonaws.com"])
    assert (checked.subject, checked.kid) == (SUB, key.kid)


def test_ec_token(rsa) -> None:  # type: ignore[no-untyped-def]
    private = k.ec_key()
    key = signing_key(private.public_key(), "x")
    token = mint_token(private, kid=key.kid, issuer=ISSUER, subject=SUB)
    assert pyjwt.get_unverified_header(token)["alg"] == "ES256"
    assert check_token(token, issuer=ISSUER, keys=[key], audiences=["sts.amazonaws.com"]).kid == key.kid


def test_each_failure_is_named(rsa) -> None:  # type: ignore[no-untyped-def]
    private, key = rsa
    other = signing_key(k.rsa_key().public_key(), "x")
    good = mint_token(private, kid=key.kid, issuer=ISSUER, subject=SUB)

    def fails(token: str, **kw: object) -> str:
        args = {"issuer": ISSUER, "keys": [key], "audiences": ["sts.amazonaws.com"], **kw}
        with pytest.raises(CheckFailed) as info:
            check_token(token, **args)  # type: ignore[arg-type]
        return str(info.value)

    assert fails(good, issuer=ISSUER + "/").startswith("the token's iss 'https://oidc.example.com' is not the issuer 'https://oidc.example.com/'")
    assert fails(good, keys=[other]).startswith(f"Couldn't retrieve verification key from your identity provider: the token's kid '{key.kid}'")
    forged = mint_token(k.rsa_key(), kid=key.kid, issuer=ISSUER, subject=SUB)
    assert fails(forged).startswith(f"the token's signature does not verify with published key {key.kid}")
    assert fails(good, audiences=["other"]).startswith("Incorrect token audience: the token is for sts.amazonaws.com, the provider accepts other")
    old = mint_token(private, kid=key.kid, issuer=ISSUER, subject=SUB, now=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert fails(old).startswith("the token expired at 2020-01-01T01:00:00Z")
    assert fails("abc").startswith("the token is not a JWS compact serialisation")
