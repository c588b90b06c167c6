"""One table of malformed inputs of every kind, through the command line: each gets one clear line
(what is wrong; what to do), a non-zero exit, no traceback, and nothing written (no file, no AWS write)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.motoserver import AwsWorld

ISSUER = "https://oidc.example.com"
RSA = json.loads(k.K8S_WANT_KEYSET)["keys"][0]


def files(tmp: Path) -> dict[str, Path]:
    def w(name: str, data: bytes | str) -> Path:
        return k.write(tmp / name, data if isinstance(data, bytes) else data.encode())

    return {
        "private": w("sa.key", k.private_pem(k.rsa_key())),
        "ec_private": w("ec.key", k.private_pem(k.ec_key(), traditional=True)),
        "short": w("short.pub", k.public_pem(k.rsa_key(1024))),
        "ed25519": w("ed.pub", k.public_pem(ed25519.Ed25519PrivateKey.generate())),
        "k1": w("k1.pub", k.public_pem(k.ec_key(ec.SECP256K1()))),
        "truncated": w("trunc.pub", k.K8S_RSA_PUBLIC_KEY[:120]),
        "garbage": w("garbage.pub", b"\x00\x01binary"),
        "good": w("good.pub", k.K8S_RSA_PUBLIC_KEY),
        "empty_jwks": w("empty.json", '{"keys": []}'),
        "private_jwks": w("priv.json", json.dumps({"keys": [{**RSA, "qi": "AQAB"}]})),
        "not_json": w("notjson.json", "{keys:"),
        "not_jwks": w("notjwks.json", '{"issuer": "https://x"}'),
        "dup_kid": w("dup.json", json.dumps({"keys": [RSA, {**json.loads(k.K8S_WANT_KEYSET)["keys"][1], "kid": RSA["kid"]}]})),
        "oct": w("oct.json", json.dumps({"keys": [{"kty": "oct", "k": "AAAA"}]})),
        "bad_kubeconfig": w("kubeconfig", "apiVersion: v1\nkind: Config\nclusters: {{{\n"),
        "bad_policy": w("policy.json", '{"Statement": "nope"}'),
        "not_policy_json": w("policy2.json", "Version: 2012-10-17"),
    }


# (name, arguments, exit code, the start of the one line on stderr)
CASES: list[tuple[str, Callable[[dict[str, Path], Path], list[str]], int, str]] = [
    ("private key as public", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(f["private"]), "--out-dir", str(o)], 2, "error: {private} holds a private key, not a public key; give its public key instead: openssl pkey"),
    ("EC private key as public", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(f["ec_private"]), "--out-dir", str(o)], 2, "error: {ec_private} holds a private key, not a public key; give its public key instead: openssl ec"),
    ("RSA-1024", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(f["short"]), "--out-dir", str(o)], 2, "error: {short}: RSA key is 1024 bits, shorter than 2048"),
    ("Ed25519", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(f["ed25519"]), "--out-dir", str(o)], 2, "error: {ed25519}: Ed25519 keys are not accepted by AWS STS"),
    ("secp256k1", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(f["k1"]), "--out-dir", str(o)], 2, "error: {k1}: EC curve secp256k1 is not accepted by AWS STS"),
    ("truncated PEM", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(f["truncated"]), "--out-dir", str(o)], 2, "error: {truncated}: malformed PEM"),
    ("binary file", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(f["garbage"]), "--out-dir", str(o)], 2, "error: {garbage}: not a PEM file"),
    ("missing key file", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", str(o.parent / "nope.pub"), "--out-dir", str(o)], 2, "error: public key file"),
    ("empty JWKS", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["empty_jwks"]), "--out-dir", str(o)], 2, "error: {empty_jwks} holds no keys"),
    ("JWKS with private member", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["private_jwks"]), "--out-dir", str(o)], 2, "error: {private_jwks}: key 1 contains private key members (qi)"),
    ("JWKS not JSON", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["not_json"]), "--out-dir", str(o)], 2, "error: {not_json} is not JSON"),
    ("JSON not a JWKS", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["not_jwks"]), "--out-dir", str(o)], 2, "error: {not_jwks} is not a JWKS"),
    ("duplicate kid", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["dup_kid"]), "--out-dir", str(o)], 2, "error: {dup_kid}: two different keys have the kid"),
    ("symmetric key", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["oct"]), "--out-dir", str(o)], 2, "error: {oct}: key 1 contains private key members (k)"),
    ("broken kubeconfig", lambda f, o: ["render", "--issuer-url", ISSUER, "--from-cluster", "--kubeconfig", str(f["bad_kubeconfig"]), "--out-dir", str(o)], 2, "error: kubeconfig {bad_kubeconfig} is not valid YAML"),
    ("http issuer", lambda f, o: ["render", "--issuer-url", "http://oidc.example.com", "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: issuer URL 'http://oidc.example.com' is not https"),
    ("issuer with port", lambda f, o: ["render", "--issuer-url", "https://oidc.example.com:8443", "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: issuer URL 'https://oidc.example.com:8443' has a port"),
    ("issuer with query", lambda f, o: ["render", "--issuer-url", "https://oidc.example.com?x", "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: issuer URL 'https://oidc.example.com?x' has a query string"),
    ("issuer with fragment", lambda f, o: ["render", "--issuer-url", "https://oidc.example.com#x", "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: issuer URL 'https://oidc.example.com#x' has a fragment"),
    ("issuer with whitespace", lambda f, o: ["render", "--issuer-url", "https://oidc.example.com/ x", "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: issuer URL 'https://oidc.example.com/ x' contains whitespace"),
    ("upper-case issuer host", lambda f, o: ["render", "--issuer-url", "https://OIDC.example.com", "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: issuer URL 'https://OIDC.example.com' has no valid lower-case host name"),
    ("bucket with dots", lambda f, o: ["publish", "--bucket", "my.bucket", "--region", "us-east-1", "--public-key", str(f["good"])], 2, "error: bucket name 'my.bucket' contains dots"),
    ("bucket upper case", lambda f, o: ["publish", "--bucket", "MyBucket", "--region", "us-east-1", "--public-key", str(f["good"])], 2, "error: bucket name 'MyBucket' is not a valid S3 bucket name"),
    ("bucket too short", lambda f, o: ["publish", "--bucket", "ab", "--region", "us-east-1", "--public-key", str(f["good"])], 2, "error: bucket name 'ab' is not a valid S3 bucket name"),
    ("bad retention", lambda f, o: ["publish", "--bucket", "good-bucket", "--public-key", str(f["good"]), "--retain-removed-keys", "forever"], 2, "error: duration 'forever' is not understood"),
    ("tag without =", lambda f, o: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--tag", "team"], 2, "error: --tag 'team' is not KEY=VALUE"),
    ("tag with aws: prefix", lambda f, o: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--tag", "aws:x=y"], 2, "error: tag key 'aws:x' is not valid for IAM"),
    ("tag value with *", lambda f, o: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--tag", "a=*"], 2, "error: tag value '*' (for a) is not valid for IAM"),
    ("thumbprint not hex", lambda f, o: ["register", "--issuer-url", ISSUER, "--thumbprint", "zz"], 2, "error: thumbprint 'zz' is not 40 hex digits"),
    ("six thumbprints", lambda f, o: ["register", "--issuer-url", ISSUER, *[arg for i in range(6) for arg in ("--thumbprint", f"{i:040x}")]], 2, "error: 6 thumbprints given; IAM keeps at most 5"),
    ("policy file without Version", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-file", str(f["bad_policy"])], 2, "error: policy file {bad_policy} is not an IAM policy document"),
    ("policy file not JSON", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-file", str(f["not_policy_json"])], 2, "error: policy file {not_policy_json} is not JSON"),
    ("bad namespace", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "Bad_NS", "--service-account", "a", "--policy-arn", "arn:aws:iam::aws:policy/X"], 2, "error: namespace 'Bad_NS' is not a valid Kubernetes name"),
    ("policy ARN malformed", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-arn", "ReadOnlyAccess"], 2, "error: 'ReadOnlyAccess' is not an IAM policy ARN"),
    ("two key sources", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["empty_jwks"]), "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: --jwks and --public-key were both given"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case: tuple, aws: AwsWorld, tmp_path: Path) -> None:
    name, build, code, message = case
    made = files(tmp_path / "in")
    out = tmp_path / "out"
    result = invoke(*build(made, out))
    assert result.exit_code == code, (name, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, (name, lines)
    assert lines[0].startswith(message.format(**{key: str(path) for key, path in made.items()})), (name, lines[0])
    assert "; " in lines[0], f"{name}: the message says what to do"
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists(), f"{name}: a file was written"
    assert aws.recorder.writes == [], f"{name}: AWS was changed"


def test_the_table_is_large() -> None:
    assert len(CASES) >= 25
