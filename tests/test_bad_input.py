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


def fifo(directory: Path) -> Path:
    """A named pipe nobody writes to: reading it must not wait for a writer."""
    import os

    path = directory / "fifo"
    if not path.exists():
        os.mkfifo(path)
    return path


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
        # A kid is published and printed as is: never key material, spaces, escapes, or unbounded text.
        "pem_kid": w("pemkid.json", json.dumps({"keys": [{**RSA, "kid": k.private_pem(k.rsa_key()).decode()}]})),
        "escape_kid": w("esckid.json", json.dumps({"keys": [{**RSA, "kid": "\x1b]0;owned\x07\x1b[31mred"}]})),
        "space_kid": w("spacekid.json", json.dumps({"keys": [{**RSA, "kid": "a kid"}]})),
        "long_kid": w("longkid.json", json.dumps({"keys": [{**RSA, "kid": "k" * 257}]})),
        "unicode_kid": w("unikid.json", json.dumps({"keys": [{**RSA, "kid": "kid\u200b"}]})),
        # Unbounded or odd inputs.
        "deep_jwks": w("deep.json", "[" * 100_000 + "]" * 100_000),
        "deep_policy": w("deeppolicy.json", '{"Version": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "big_jwks": w("big.json", json.dumps({"keys": [RSA]}) + " " * (1 << 20)),
        "latin1_token": w("token.jwt", b"eyJ\xff\xfe.x.y"),
        # Refused before any connection: nothing listens on port 9 here, and nothing needs to.
        "insecure_kubeconfig": w("insecure-kubeconfig", json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        })),
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
    ("client ID *", lambda f, o: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--client-id", "*"], 2, "error: --client-id '*' would accept any audience"),
    ("empty client ID", lambda f, o: ["bootstrap", "--bucket", "good-bucket", "--public-key", str(f["good"]), "--client-id", ""], 2, "error: --client-id '' would accept any audience"),
    ("audience *", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-arn", "arn:aws:iam::aws:policy/X", "--audience", "*"], 2, "error: --audience '*' would accept any audience"),
    ("tag managed-by", lambda f, o: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--tag", "managed-by=oidc-publisher"], 2, "error: tag key 'managed-by' is reserved for oidc-publisher's own records"),
    ("policy file without Version", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-file", str(f["bad_policy"])], 2, "error: policy file {bad_policy} is not an IAM policy document"),
    ("policy file not JSON", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-file", str(f["not_policy_json"])], 2, "error: policy file {not_policy_json} is not JSON"),
    ("bad namespace", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "Bad_NS", "--service-account", "a", "--policy-arn", "arn:aws:iam::aws:policy/X"], 2, "error: namespace 'Bad_NS' is not a valid Kubernetes name"),
    ("policy ARN malformed", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-arn", "ReadOnlyAccess"], 2, "error: 'ReadOnlyAccess' is not an IAM policy ARN"),
    ("kid holding a PEM", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["pem_kid"]), "--out-dir", str(o)], 2, "error: {pem_kid}: key 1 has a 'kid' of "),
    ("kid with terminal escapes", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["escape_kid"]), "--out-dir", str(o)], 2, "error: {escape_kid}: key 1 has a 'kid' with spaces, control or non-ASCII characters (not shown); a kid is printable ASCII"),
    ("kid with a space", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["space_kid"]), "--out-dir", str(o)], 2, "error: {space_kid}: key 1 has a 'kid' with spaces, control or non-ASCII characters (not shown)"),
    ("kid of 257 characters", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["long_kid"]), "--out-dir", str(o)], 2, "error: {long_kid}: key 1 has a 'kid' of 257 characters, longer than 256; remove it"),
    ("kid with a zero-width space", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["unicode_kid"]), "--out-dir", str(o)], 2, "error: {unicode_kid}: key 1 has a 'kid' with spaces, control or non-ASCII characters (not shown)"),
    ("/dev/zero as a key file", lambda f, o: ["render", "--issuer-url", ISSUER, "--public-key", "/dev/zero", "--out-dir", str(o)], 2, "error: public key file /dev/zero is larger than 1024 KiB, the most the tool reads of any input (and verify of any issuer document); check the path"),
    ("/dev/zero as a JWKS", lambda f, o: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--jwks", "/dev/zero"], 2, "error: JWKS file /dev/zero is larger than 1024 KiB"),
    ("a FIFO nobody writes to", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(fifo(o.parent / "in")), "--out-dir", str(o)], 2, "error: JWKS file {fifo} gave no data (a pipe or device nobody writes to); give a regular file"),
    ("JWKS larger than verify reads", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["big_jwks"]), "--out-dir", str(o)], 2, "error: JWKS file {big_jwks} is larger than 1024 KiB"),
    ("deeply nested JWKS", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["deep_jwks"]), "--out-dir", str(o)], 2, "error: {deep_jwks} is not JSON"),
    ("deeply nested policy", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-file", str(f["deep_policy"])], 2, "error: policy file {deep_policy} is not JSON"),
    ("deeply nested fleet file", lambda f, o: ["publish", "--fleet", str(f["deep_jwks"])], 2, "error: fleet file {deep_jwks} is not JSON (nested too deeply)"),
    ("token file not UTF-8", lambda f, o: ["verify", "--issuer-url", ISSUER, "--skip-iam", "--token", str(f["latin1_token"])], 2, "error: token file {latin1_token} is not UTF-8 text (byte 4)"),
    ("retention overflowing", lambda f, o: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--public-key", str(f["good"]), "--retain-removed-keys", "99999999999d"], 2, "error: duration '99999999999d' is longer than 10 years; write a retention"),
    ("retention of 5000 digits", lambda f, o: ["bootstrap", "--bucket", "good-bucket", "--region", "us-east-1", "--public-key", str(f["good"]), "--retain-removed-keys", "9" * 5000 + "h"], 2, "error: duration '9999999999999999999999999999999999999999...' is not understood"),
    ("kubeconfig that skips TLS verification", lambda f, o: ["render", "--issuer-url", ISSUER, "--from-cluster", "--kubeconfig", str(f["insecure_kubeconfig"]), "--out-dir", str(o)], 2, "error: the kubeconfig {insecure_kubeconfig} sets insecure-skip-tls-verify for the API server https://127.0.0.1:9; the cluster's keys are the root of trust of every role"),
    ("kubeconfig that skips TLS verification, dry-run publish", lambda f, o: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--from-cluster", "--kubeconfig", str(f["insecure_kubeconfig"]), "--dry-run"], 2, "error: the kubeconfig {insecure_kubeconfig} sets insecure-skip-tls-verify"),
    ("--insecure-skip-tls-verify without --from-cluster", lambda f, o: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--public-key", str(f["good"]), "--insecure-skip-tls-verify"], 2, "error: --insecure-skip-tls-verify only applies with --from-cluster; drop it"),
    ("issuer with a leading control character", lambda f, o: ["render", "--issuer-url", "\x01https://oidc.example.com", "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: issuer URL '\\x01https://oidc.example.com' contains a control or non-ASCII character"),
    ("issuer on an IP address", lambda f, o: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--issuer-url", "https://10.0.0.1", "--public-key", str(f["good"]), "--dry-run"], 2, "error: issuer URL 'https://10.0.0.1' has an IP address as its host"),
    ("issuer on localhost", lambda f, o: ["register", "--issuer-url", "https://localhost", "--no-thumbprint"], 2, "error: issuer URL 'https://localhost' names localhost"),
    ("issuer with a percent-encoded dot", lambda f, o: ["bootstrap", "--bucket", "good-bucket", "--region", "us-east-1", "--cloudfront", "--issuer-url", "https://oidc.example.com/%2e%2e", "--public-key", str(f["good"])], 2, "error: issuer URL 'https://oidc.example.com/%2e%2e' has an invalid or percent-encoded dot escape"),
    ("issuer longer than IAM's 255", lambda f, o: ["register", "--issuer-url", "https://oidc.example.com/" + "a" * 240, "--no-thumbprint"], 2, "error: issuer URL 'https://oidc.example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is 265 characters long"),
    ("two key sources", lambda f, o: ["render", "--issuer-url", ISSUER, "--jwks", str(f["empty_jwks"]), "--public-key", str(f["good"]), "--out-dir", str(o)], 2, "error: --jwks and --public-key were both given"),
    ("account role that is an account id", lambda f, o: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--account-role", "111111111111"], 2, "error: --account-role '111111111111' is not an IAM role ARN; give the role to assume in that account"),
    ("account role given twice", lambda f, o: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--account-role", "arn:aws:iam::111111111111:role/r", "--account-role", "arn:aws:iam::111111111111:role/r"], 2, "error: --account-role arn:aws:iam::111111111111:role/r is given twice; list each account's role once"),
    ("two account roles of one account", lambda f, o: ["audit", "--issuer-url", ISSUER, "--account-role", "arn:aws:iam::111111111111:role/a", "--account-role", "arn:aws:iam::111111111111:role/b"], 2, "error: --account-role arn:aws:iam::111111111111:role/b is in account 111111111111, as arn:aws:iam::111111111111:role/a is; give one role per account"),
    ("account role that is a user", lambda f, o: ["teardown", "--issuer-url", ISSUER, "--bucket", "good-bucket", "--yes", "--account-role", "arn:aws:iam::111111111111:user/bob"], 2, "error: --account-role 'arn:aws:iam::111111111111:user/bob' is not an IAM role ARN"),
    ("account role with a bad name", lambda f, o: ["role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-arn", "arn:aws:iam::aws:policy/X", "--account-role", "arn:aws:iam::111111111111:role/a b"], 2, "error: --account-role 'arn:aws:iam::111111111111:role/a b' is not an IAM role ARN"),
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
    names = {key: str(path) for key, path in made.items()} | {"fifo": str(tmp_path / "in" / "fifo")}
    assert lines[0].startswith(message.format(**names)), (name, lines[0])
    assert "\x1b" not in result.stderr + result.stdout and "PRIVATE KEY" not in result.stderr + result.stdout
    assert len(lines[0]) < 600, f"{name}: the one line repeats an input verbatim"
    assert "; " in lines[0], f"{name}: the message says what to do"
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists(), f"{name}: a file was written"
    assert aws.recorder.writes == [], f"{name}: AWS was changed"


def test_the_table_is_large() -> None:
    assert len(CASES) >= 25


# Every input is checked before the first AWS call, read or write, and --dry-run refuses the same way.
# (command line, the start of the one line on stderr)
BEFORE_ANY_CALL: list[tuple[str, Callable[[dict[str, Path]], list[str]], str]] = [
    ("publish: bad --jwks-uri", lambda f: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--public-key", str(f["good"]), "--jwks-uri", "http://keys.example.com/jwks"], "error: --jwks-uri 'http://keys.example.com/jwks' is not https"),
    ("publish --create-bucket: bad --jwks-uri", lambda f: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--create-bucket", "--public-key", str(f["good"]), "--jwks-uri", "http://keys.example.com/jwks"], "error: --jwks-uri 'http://keys.example.com/jwks' is not https"),
    ("publish --create-bucket: bad kid", lambda f: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--create-bucket", "--jwks", str(f["escape_kid"])], "error: {escape_kid}: key 1 has a 'kid' with spaces"),
    ("bootstrap: bad --jwks-uri", lambda f: ["bootstrap", "--bucket", "good-bucket", "--region", "us-east-1", "--public-key", str(f["good"]), "--jwks-uri", "https://127.0.0.1/jwks"], "error: --jwks-uri 'https://127.0.0.1/jwks' has an IP address as its host"),
    ("bootstrap --cloudfront: bad --jwks-uri", lambda f: ["bootstrap", "--bucket", "good-bucket", "--region", "us-east-1", "--cloudfront", "--public-key", str(f["good"]), "--jwks-uri", "http://keys.example.com/jwks"], "error: --jwks-uri 'http://keys.example.com/jwks' is not https"),
    ("bootstrap --cloudfront: bad --prefix", lambda f: ["bootstrap", "--bucket", "good-bucket", "--region", "us-east-1", "--cloudfront", "--public-key", str(f["good"]), "--prefix", "a//b"], "error: prefix 'a//b' has an empty or relative segment"),
    ("bootstrap --cloudfront --issuer-url: bad --prefix", lambda f: ["bootstrap", "--bucket", "good-bucket", "--region", "us-east-1", "--cloudfront", "--issuer-url", ISSUER, "--public-key", str(f["good"]), "--prefix", "../up"], "error: prefix '../up' has an empty or relative segment"),
    ("bootstrap --cloudfront: bad kid", lambda f: ["bootstrap", "--bucket", "good-bucket", "--region", "us-east-1", "--cloudfront", "--jwks", str(f["long_kid"])], "error: {long_kid}: key 1 has a 'kid' of 257 characters"),
    ("publish: --revoke of a kid no JWKS can hold", lambda f: ["publish", "--bucket", "good-bucket", "--region", "us-east-1", "--public-key", str(f["good"]), "--revoke", "\x1b[2Jkid"], "error: --revoke has a 'kid' with spaces, control or non-ASCII characters (not shown)"),
    ("register: bad --jwks-uri", lambda f: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--jwks-uri", "http://keys.example.com/jwks"], "error: --jwks-uri 'http://keys.example.com/jwks' is not https"),
    ("register: issuer on localhost", lambda f: ["register", "--issuer-url", "https://localhost", "--no-thumbprint"], "error: issuer URL 'https://localhost' names localhost"),
    ("role create: issuer with a quote", lambda f: ["role", "create", "--issuer-url", "https://oidc.example.com/a'b", "--namespace", "d", "--service-account", "a", "--policy-arn", "arn:aws:iam::aws:policy/X"], "error: issuer URL \"https://oidc.example.com/a'b\" has \"'\" in its path"),
    ("audit: upper-case scheme", lambda f: ["audit", "--issuer-url", "HTTPS://oidc.example.com"], "error: issuer URL 'HTTPS://oidc.example.com' has an upper-case scheme"),
    ("register --account-role: a bad --tag", lambda f: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--account-role", "arn:aws:iam::111111111111:role/r", "--tag", "aws:x=y"], "error: tag key 'aws:x' is not valid for IAM"),
    ("register --account-role: not a role ARN", lambda f: ["register", "--issuer-url", ISSUER, "--no-thumbprint", "--account-role", "arn:aws:iam::111111111111:group/g"], "error: --account-role 'arn:aws:iam::111111111111:group/g' is not an IAM role ARN"),
    ("role create --account-role: bad namespace", lambda f: ["role", "create", "--issuer-url", ISSUER, "--namespace", "Bad_NS", "--service-account", "a", "--policy-arn", "arn:aws:iam::aws:policy/X", "--account-role", "arn:aws:iam::111111111111:role/r"], "error: namespace 'Bad_NS' is not a valid Kubernetes name"),
    ("audit --account-role: a short account id", lambda f: ["audit", "--issuer-url", ISSUER, "--account-role", "arn:aws:iam::11111111111:role/r"], "error: --account-role 'arn:aws:iam::11111111111:role/r' is not an IAM role ARN"),
    ("teardown --account-role: http issuer", lambda f: ["teardown", "--issuer-url", "http://oidc.example.com", "--bucket", "good-bucket", "--yes", "--account-role", "arn:aws:iam::111111111111:role/r"], "error: issuer URL 'http://oidc.example.com' is not https"),
]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("case", BEFORE_ANY_CALL, ids=[c[0] for c in BEFORE_ANY_CALL])
def test_inputs_are_refused_before_any_aws_call(case: tuple, dry_run: bool, aws: AwsWorld, tmp_path: Path) -> None:
    name, build, message = case
    made = files(tmp_path / "in")
    args = build(made)
    if dry_run and args[0] != "audit":  # audit changes nothing and takes no --dry-run
        args.append("--dry-run")
    result = invoke(*args)
    assert result.exit_code == 2, (name, result.stderr)  # bad input
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, (name, lines)
    assert lines[0].startswith(message.format(**{key: str(path) for key, path in made.items()})), (name, lines[0])
    assert aws.recorder.calls == [], f"{name}: AWS was called before the input was refused"
