"""The discovery document and JWKS: kube-apiserver's fields, canonical bytes."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.documents import build_documents
from oidc_publisher.core.errors import InputError
from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.keys import load_public_keys_pem, signing_key
from tests.support import keys as k

ISSUER = parse_issuer("https://issuer.example.com")


def test_discovery_equals_kube_apiservers() -> None:
    keys = load_public_keys_pem(k.K8S_RSA_PUBLIC_KEY + k.K8S_EC_PUBLIC_KEY, "keys")
    docs = build_documents(ISSUER, keys)
    assert json.loads(docs.discovery) == json.loads(k.K8S_WANT_CONFIG)
    assert json.loads(docs.jwks) == json.loads(k.K8S_WANT_KEYSET)
    # Exactly the five members kube-apiserver emits.
    assert sorted(json.loads(docs.discovery)) == sorted(json.loads(k.K8S_WANT_CONFIG))


def test_bytes_are_canonical() -> None:
    keys = load_public_keys_pem(k.K8S_RSA_PUBLIC_KEY + k.K8S_EC_PUBLIC_KEY, "keys")
    docs = build_documents(ISSUER, keys)
    assert docs.discovery == (
        b'{"id_token_signing_alg_values_supported":["ES256","RS256"],"issuer":"https://issuer.example.com",'
        b'"jwks_uri":"https://issuer.example.com/openid/v1/jwks","response_types_supported":["id_token"],'
        b'"subject_types_supported":["public"]}'
    )
    assert docs.jwks.startswith(b'{"keys":[{"alg":"RS256","e":"AQAB","kid":"JHJehTTTZlsspKHT-GaJxK7Kd1NQgZJu3fyK6K_QDYU"')


def test_same_keys_in_any_order_give_the_same_bytes() -> None:
    keys = [signing_key(k.rsa_key().public_key(), "x") for _ in range(4)] + [signing_key(k.ec_key().public_key(), "x")]
    first = build_documents(ISSUER, keys)
    for _ in range(10):
        random.shuffle(keys)
        again = build_documents(ISSUER, keys + keys[:2])  # duplicates of the same key merge
        assert (again.jwks, again.discovery) == (first.jwks, first.discovery)
    kids = [jwk["kid"] for jwk in json.loads(first.jwks)["keys"]]
    assert kids == sorted(kids)


@pytest.mark.parametrize(
    "url,jwks_uri",
    [
        ("https://issuer.example.com/", "https://issuer.example.com/openid/v1/jwks"),
        ("https://b.s3.eu-west-1.amazonaws.com/clusters/prod", "https://b.s3.eu-west-1.amazonaws.com/clusters/prod/openid/v1/jwks"),
    ],
)
def test_issuer_is_kept_byte_for_byte(url: str, jwks_uri: str) -> None:
    docs = build_documents(parse_issuer(url), load_public_keys_pem(k.K8S_EC_PUBLIC_KEY, "x"))
    body = json.loads(docs.discovery)
    assert body["issuer"] == url
    assert body["jwks_uri"] == jwks_uri


def test_explicit_jwks_uri() -> None:
    docs = build_documents(ISSUER, load_public_keys_pem(k.K8S_EC_PUBLIC_KEY, "x"), "https://keys.example.net/jwks")
    assert json.loads(docs.discovery)["jwks_uri"] == "https://keys.example.net/jwks"
    with pytest.raises(InputError, match="is not https"):
        build_documents(ISSUER, load_public_keys_pem(k.K8S_EC_PUBLIC_KEY, "x"), "http://keys.example.net/jwks")


def test_never_empty() -> None:
    with pytest.raises(InputError, match="no signing keys to publish"):
        build_documents(ISSUER, [])


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(4))))
def test_order_never_matters(order: list[int]) -> None:
    pool = _POOL
    docs = build_documents(ISSUER, [pool[i] for i in order])
    assert docs.jwks == build_documents(ISSUER, pool).jwks


_POOL = [signing_key(k.rsa_key().public_key(), "x") for _ in range(2)] + [
    signing_key(k.ec_key().public_key(), "x") for _ in range(2)
]


def test_a_jwks_larger_than_verify_reads_is_never_built() -> None:
    """One limit for what is published and what verify (tls.https_get) reads back: the JWKS of many keys
    that fits is built, one byte more is refused."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from oidc_publisher.core.documents import canonical_bytes, check_publishable, jwks_document
    from oidc_publisher.core.limits import MAX_DOCUMENT_BYTES
    from oidc_publisher.tls import MAX_BODY

    assert MAX_BODY == MAX_DOCUMENT_BYTES
    keys = [signing_key(ec.generate_private_key(ec.SECP256R1()).public_key(), "x") for _ in range(8000)]
    size = len(canonical_bytes(jwks_document(keys)))
    assert size > MAX_DOCUMENT_BYTES
    fitting = keys[: int(len(keys) * MAX_DOCUMENT_BYTES / size) - 5]
    assert len(build_documents(parse_issuer("https://oidc.example.com"), fitting).jwks) <= MAX_DOCUMENT_BYTES
    with pytest.raises(InputError, match=rf"^the JWKS would be {size} bytes, more than the 1024 KiB verify reads; publish fewer keys"):
        build_documents(parse_issuer("https://oidc.example.com"), keys)
    with pytest.raises(InputError, match=r"^the JWKS would be"):
        check_publishable(keys, None)
