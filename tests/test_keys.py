"""kid, JWK conversion and key validation, against Kubernetes' own vectors."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.errors import InputError
from oidc_publisher.core.keys import b64url, compute_kid, load_public_keys_pem, parse_jwks
from tests.support import keys as k
from tests.support.pki import make_chain


def test_rsa_kid_matches_kubernetes_vector() -> None:
    # kubernetes pkg/serviceaccount/keyid_test.go TestKeyIDStability: rsaPublicKey -> rsaKeyID
    [key] = load_public_keys_pem(k.K8S_RSA_PUBLIC_KEY, "sa.pub")
    assert key.kid == k.K8S_RSA_KID
    assert key.alg == "RS256"


def test_ec_kid_matches_kubernetes_vector() -> None:
    [key] = load_public_keys_pem(k.K8S_EC_PUBLIC_KEY, "sa.pub")
    assert key.kid == k.K8S_EC_KID
    assert key.alg == "ES256"


def test_jwks_matches_what_kube_apiserver_serves() -> None:
    # pkg/serviceaccount/openidmetadata_test.go: kube-apiserver's JWKS for the two keys above.
    keys = load_public_keys_pem(k.K8S_RSA_PUBLIC_KEY + k.K8S_EC_PUBLIC_KEY, "two keys")
    assert [key.to_jwk() for key in keys] == json.loads(k.K8S_WANT_KEYSET)["keys"]


def test_jwks_from_cluster_keeps_kids_and_round_trips() -> None:
    keys = parse_jwks(k.K8S_WANT_KEYSET.encode(), "jwks.json")
    assert [key.kid for key in keys] == [k.K8S_RSA_KID, k.K8S_EC_KID]
    assert [key.to_jwk() for key in keys] == json.loads(k.K8S_WANT_KEYSET)["keys"]


def test_foreign_kid_is_kept_unchanged() -> None:
    jwks = json.loads(k.K8S_WANT_KEYSET)
    jwks["keys"][0]["kid"] = "custom-kid"
    [rsa_key, _] = parse_jwks(json.dumps(jwks), "jwks.json")
    assert rsa_key.kid == "custom-kid"


def test_missing_kid_is_computed_as_kube_would() -> None:
    jwks = json.loads(k.K8S_WANT_KEYSET)
    for jwk in jwks["keys"]:
        del jwk["kid"]
    assert [key.kid for key in parse_jwks(json.dumps(jwks), "x")] == [k.K8S_RSA_KID, k.K8S_EC_KID]


@pytest.mark.parametrize("curve,alg", [(ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384"), (ec.SECP521R1(), "ES512")])
def test_ec_alg_by_curve_and_padded_coordinates(curve: ec.EllipticCurve, alg: str) -> None:
    for _ in range(5):
        [key] = load_public_keys_pem(k.public_pem(k.ec_key(curve)), "ec.pub")
        jwk = key.to_jwk()
        assert key.alg == alg
        size = (curve.key_size + 7) // 8
        # RFC 7518 6.2.1.2: coordinates are the full size of the curve, even with leading zeros.
        assert len(jwk["x"]) == len(jwk["y"]) == (size * 4 + 2) // 3
        assert parse_jwks(json.dumps({"keys": [jwk]}), "x")[0].kid == key.kid


def test_pkcs1_and_certificate_keys_get_the_same_kid() -> None:
    from cryptography.hazmat.primitives import serialization

    private = k.rsa_key()
    spki = k.public_pem(private)
    pkcs1 = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert b"BEGIN RSA PUBLIC KEY" in pkcs1
    assert load_public_keys_pem(spki, "a")[0].kid == load_public_keys_pem(pkcs1, "b")[0].kid
    chain = make_chain(intermediates=0)
    cert_pem = chain.leaf.pem
    cert_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    assert load_public_keys_pem(cert_pem, "cert.pem")[0].kid == compute_kid(cert_key)  # type: ignore[arg-type]


def test_several_keys_in_one_pem_file() -> None:
    keys = load_public_keys_pem(k.K8S_EC_PUBLIC_KEY + b"\n" + k.K8S_RSA_PUBLIC_KEY, "bundle.pub")
    assert {key.kid for key in keys} == {k.K8S_RSA_KID, k.K8S_EC_KID}


@pytest.mark.parametrize(
    "data,message",
    [
        (k.private_pem(k.rsa_key()), "sa.pub holds a private key, not a public key; give its public key instead: "
         "openssl pkey -in sa.pub -pubout > sa.pub (sa.pub on kubeadm control planes)"),
        (b"-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n", "sa.pub: malformed PEM (no complete BEGIN/END block); check the file is not truncated"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "sa.pub: malformed PEM (PUBLIC KEY could not be decoded); check the file is intact"),
        (b"hello", "sa.pub: not a PEM file; give a PEM public key such as /etc/kubernetes/pki/sa.pub"),
        (k.public_pem(k.rsa_key(1024)), "sa.pub: RSA key is 1024 bits, shorter than 2048; generate a new signing key of at least 2048 bits (oidc-publisher keys generate)"),
        (k.public_pem(ed25519.Ed25519PrivateKey.generate()), "sa.pub: Ed25519 keys are not accepted by AWS STS; use an RSA (2048 bits or more) or EC P-256/P-384/P-521 signing key"),
        (k.public_pem(k.ec_key(ec.SECP256K1())), "sa.pub: EC curve secp256k1 is not accepted by AWS STS; use P-256, P-384 or P-521 (oidc-publisher keys generate --type ec)"),
    ],
    ids=["private", "truncated", "garbage-base64", "not-pem", "rsa-1024", "ed25519", "secp256k1"],
)
def test_bad_pem_is_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        load_public_keys_pem(data, "sa.pub")
    assert str(info.value) == message


def test_traditional_ec_private_key_hint_uses_openssl_ec() -> None:
    with pytest.raises(InputError, match=r"openssl ec -in key.pem -pubout"):
        load_public_keys_pem(k.private_pem(k.ec_key(), traditional=True), "key.pem")


_RSA = json.loads(k.K8S_WANT_KEYSET)["keys"][0]


@pytest.mark.parametrize(
    "document,message",
    [
        ("not json", "jwks.json is not JSON; give a JWKS such as the output of 'kubectl get --raw /openid/v1/jwks'"),
        ('{"kty": "RSA"}', "jwks.json is not a JWKS (no \"keys\" list); give a JWKS such as the output of 'kubectl get --raw /openid/v1/jwks'"),
        ("[]", "jwks.json is not a JWKS (no \"keys\" list); give a JWKS such as the output of 'kubectl get --raw /openid/v1/jwks'"),
        ('{"keys": []}', "jwks.json holds no keys; an empty JWKS would make STS reject every token; give the cluster's keys"),
        (json.dumps({"keys": [{**_RSA, "d": "AAAA"}]}), "jwks.json: key 1 contains private key members (d); never publish a private key: use the public JWKS (kubectl get --raw /openid/v1/jwks)"),
        (json.dumps({"keys": [{**_RSA, "p": "AA", "q": "AA"}]}), "jwks.json: key 1 contains private key members (p, q); never publish a private key: use the public JWKS (kubectl get --raw /openid/v1/jwks)"),
        (json.dumps({"keys": [_RSA, {**json.loads(k.K8S_WANT_KEYSET)["keys"][1], "kid": _RSA["kid"]}]}),
         f"jwks.json: two different keys have the kid '{_RSA['kid']}'; every key needs its own kid"),
        (json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}), "jwks.json: key 1 has key type 'OKP', which AWS STS does not accept; use RSA or EC (P-256/P-384/P-521) keys"),
        (json.dumps({"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}]}), "jwks.json: key 1 uses curve 'secp256k1', which AWS STS does not accept; use P-256, P-384 or P-521"),
        (json.dumps({"keys": [{**_RSA, "use": "enc"}]}), "jwks.json: key 1 has use 'enc'; only signing keys (use: sig) belong in an issuer's JWKS"),
        (json.dumps({"keys": [{**_RSA, "alg": "PS256"}]}), "jwks.json: key 1 has alg 'PS256' for an RSA key; AWS STS accepts RS256, RS384, RS512"),
        (json.dumps({"keys": [{**_RSA, "n": "not base64!"}]}), "jwks.json: key 1 'n' is not unpadded base64url; take the JWKS exactly as the API server serves it"),
        (json.dumps({"keys": [{"kty": "RSA", "e": "AQAB"}]}), "jwks.json: key 1 has no 'n'; take the JWKS exactly as the API server serves it"),
        (json.dumps({"keys": ["x"]}), "jwks.json: key 1 is not a JSON object; a JWKS is {\"keys\": [{...}, ...]}"),
    ],
    ids=["not-json", "no-keys", "list", "empty", "private-d", "private-pq", "dup-kid", "okp", "secp256k1", "use-enc", "ps256", "bad-b64", "no-n", "not-object"],
)
def test_bad_jwks_is_refused_with_a_clear_message(document: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_jwks(document, "jwks.json")
    assert str(info.value) == message


def test_short_rsa_in_jwks_is_refused() -> None:
    numbers = k.rsa_key(1024).public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64url(numbers.n.to_bytes(128, "big")), "e": "AQAB"}
    with pytest.raises(InputError) as info:
        parse_jwks(json.dumps({"keys": [jwk]}), "jwks.json")
    assert str(info.value) == (
        "jwks.json: key 1: RSA key is 1024 bits, shorter than 2048; "
        "generate a new signing key of at least 2048 bits (oidc-publisher keys generate)"
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_pem_parser_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    try:
        load_public_keys_pem(data, "fuzz.pem")
    except InputError as exc:
        assert "\n" not in str(exc)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries({"keys": st.lists(st.dictionaries(
    st.sampled_from(["kty", "kid", "n", "e", "crv", "x", "y", "alg", "use", "d"]),
    st.one_of(st.sampled_from(["RSA", "EC", "P-256", "AQAB", "RS256", "sig", ""]), st.text(max_size=12), st.integers()),
    max_size=8), max_size=3)})))
def test_jwks_parser_never_crashes_on_arbitrary_json(document: object) -> None:
    try:
        keys = parse_jwks(json.dumps(document), "fuzz.json")
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert keys and all("d" not in key.to_jwk() for key in keys)


_JWK = json.loads(k.K8S_WANT_KEYSET)["keys"][0]


@settings(max_examples=300, deadline=None)
@given(kid=st.text(min_size=1, max_size=300))
def test_a_kid_is_published_only_when_printable_ascii_and_bounded(kid: str) -> None:
    """Any text may arrive as a kid; what is accepted is safe to publish and print, and a refusal never
    repeats it (it may be key material or a terminal escape)."""
    try:
        [key] = parse_jwks(json.dumps({"keys": [{**_JWK, "kid": kid}]}), "jwks")
    except InputError as exc:
        # One of two fixed messages, whatever the kid: nothing of it is repeated.
        assert str(exc) in (
            "jwks: key 1 has a 'kid' with spaces, control or non-ASCII characters (not shown); "
            "a kid is printable ASCII without spaces: remove it to have it computed, or fix it",
            f"jwks: key 1 has a 'kid' of {len(kid)} characters, longer than 256; "
            "remove it to have it computed (kube-apiserver's kids are 43 characters), or fix it",
        )
        assert not (len(kid) <= 256 and all("!" <= ch <= "~" for ch in kid))
        return
    assert key.kid == kid and len(kid) <= 256 and all("!" <= ch <= "~" for ch in kid)


def test_a_pem_as_kid_is_refused_without_being_repeated() -> None:
    pem = k.private_pem(k.rsa_key()).decode()
    with pytest.raises(InputError) as info:
        parse_jwks(json.dumps({"keys": [{**_JWK, "kid": pem}]}), "jwks")
    assert str(info.value).startswith(f"jwks: key 1 has a 'kid' of {len(pem)} characters, longer than 256; ")
    assert "PRIVATE" not in str(info.value) and pem[40:80] not in str(info.value)
    with pytest.raises(InputError, match=r"^jwks: key 1 has a 'kid' with spaces, control or non-ASCII characters \(not shown\); "):
        parse_jwks(json.dumps({"keys": [{**_JWK, "kid": "\x1b[2J"}]}), "jwks")
