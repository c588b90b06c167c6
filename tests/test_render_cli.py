"""``render`` and ``keys generate`` end to end: exact bytes, exact messages, nothing written on bad input."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from oidc_publisher.core.documents import build_documents
from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.keys import load_public_keys_pem
from tests.support import keys as k
from tests.support.cli import invoke, run

ISSUER = "https://oidc.example.com/clusters/prod"


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def test_render_writes_exactly_the_documents(tmp_path: Path) -> None:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    ec = k.write(tmp_path / "ec.pub", k.K8S_EC_PUBLIC_KEY)
    out = tmp_path / "out"
    result = invoke("render", "--issuer-url", ISSUER, "--public-key", str(pub), "--public-key", str(ec), "--out-dir", str(out))
    assert result.exit_code == 0, result.stderr
    expected = build_documents(parse_issuer(ISSUER), load_public_keys_pem(k.K8S_RSA_PUBLIC_KEY + k.K8S_EC_PUBLIC_KEY, "x"))
    assert (out / ".well-known/openid-configuration").read_bytes() == expected.discovery
    assert (out / "openid/v1/jwks").read_bytes() == expected.jwks
    assert files_under(out) == [out / ".well-known/openid-configuration", out / "openid/v1/jwks"]
    assert f"keys: {k.K8S_RSA_KID}, {k.K8S_EC_KID}" in result.stdout


def test_render_from_jwks_file_keeps_kids_and_json_output(tmp_path: Path) -> None:
    jwks = k.write(tmp_path / "jwks.json", k.K8S_WANT_KEYSET.encode())
    result = invoke("render", "--issuer-url", ISSUER, "--jwks", str(jwks), "--out-dir", str(tmp_path / "o"), "--output", "json")
    assert result.exit_code == 0
    body = result.json()
    assert body["kids"] == [k.K8S_RSA_KID, k.K8S_EC_KID]
    assert body["jwks_uri"] == ISSUER + "/openid/v1/jwks"
    assert json.loads((tmp_path / "o/openid/v1/jwks").read_bytes()) == json.loads(k.K8S_WANT_KEYSET)


def test_render_is_byte_identical_across_runs_and_key_order(tmp_path: Path) -> None:
    a = k.write(tmp_path / "a.pub", k.K8S_RSA_PUBLIC_KEY)
    b = k.write(tmp_path / "b.pub", k.K8S_EC_PUBLIC_KEY)
    invoke("render", "--issuer-url", ISSUER, "--public-key", str(a), "--public-key", str(b), "--out-dir", str(tmp_path / "1"))
    invoke("render", "--issuer-url", ISSUER, "--public-key", str(b), "--public-key", str(a), "--out-dir", str(tmp_path / "2"))
    for rel in (".well-known/openid-configuration", "openid/v1/jwks"):
        assert (tmp_path / "1" / rel).read_bytes() == (tmp_path / "2" / rel).read_bytes()


def _bad_inputs(tmp: Path) -> list[tuple[str, list[str], int, str]]:
    priv = k.write(tmp / "sa.key", k.private_pem(k.rsa_key()))
    short = k.write(tmp / "short.pub", k.public_pem(k.rsa_key(1024)))
    good = k.write(tmp / "good.pub", k.K8S_RSA_PUBLIC_KEY)
    empty = k.write(tmp / "empty.json", b'{"keys": []}')
    private_jwks = k.write(tmp / "priv.json", json.dumps({"keys": [{**json.loads(k.K8S_WANT_KEYSET)["keys"][0], "d": "AQAB"}]}).encode())
    notjwks = k.write(tmp / "notjwks.json", b'{"issuer": "x"}')
    return [
        ("private key as --public-key", ["--public-key", str(priv)], 2,
         f"error: {priv} holds a private key, not a public key; give its public key instead: openssl pkey -in {priv} -pubout > sa.pub (sa.pub on kubeadm control planes)"),
        ("missing file", ["--public-key", str(tmp / "nope.pub")], 2, f"error: public key file {tmp / 'nope.pub'} does not exist; check the path"),
        ("directory", ["--jwks", str(tmp)], 2, f"error: JWKS file {tmp} is a directory; give the path of a file"),
        ("short rsa", ["--public-key", str(short)], 2,
         f"error: {short}: RSA key is 1024 bits, shorter than 2048; generate a new signing key of at least 2048 bits (oidc-publisher keys generate)"),
        ("empty jwks", ["--jwks", str(empty)], 2, f"error: {empty} holds no keys; an empty JWKS would make STS reject every token; give the cluster's keys"),
        ("private jwks", ["--jwks", str(private_jwks)], 2,
         f"error: {private_jwks}: key 1 contains private key members (d); never publish a private key: use the public JWKS (kubectl get --raw /openid/v1/jwks)"),
        ("not a jwks", ["--jwks", str(notjwks)], 2,
         f"error: {notjwks} is not a JWKS (no \"keys\" list); give a JWKS such as the output of 'kubectl get --raw /openid/v1/jwks'"),
        ("two sources", ["--jwks", str(empty), "--public-key", str(good)], 2,
         "error: --jwks and --public-key were both given; give exactly one key source: --from-cluster, --jwks FILE, or --public-key FILE (repeatable)"),
        ("no source", [], 2, "error: no key source given; give exactly one of --from-cluster, --jwks FILE, or --public-key FILE (repeatable)"),
        ("kubeconfig without cluster", ["--public-key", str(good), "--kubeconfig", "x"], 2,
         "error: --kubeconfig and --context only apply with --from-cluster; add --from-cluster or drop them"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_render_refuses_bad_input_and_writes_nothing(tmp_path: Path, case: int) -> None:
    name, args, code, message = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    result = invoke("render", "--issuer-url", ISSUER, *args, "--out-dir", str(out))
    assert result.exit_code == code, name
    assert result.stderr.strip() == message, name
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists(), f"{name}: something was written"


@pytest.mark.parametrize(
    "issuer,message",
    [
        ("http://oidc.example.com", "error: issuer URL 'http://oidc.example.com' is not https; IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)"),
        ("https://oidc.example.com:8443", "error: issuer URL 'https://oidc.example.com:8443' has a port; IAM refuses issuer URLs with a port; serve it on 443 and drop ':PORT'"),
        ("https://oidc.example.com/?a=b", "error: issuer URL 'https://oidc.example.com/?a=b' has a query string; remove everything from '?' on"),
        ("https://oidc.example.com/#x", "error: issuer URL 'https://oidc.example.com/#x' has a fragment; remove everything from '#' on"),
        ("https://oidc.example.com ", "error: issuer URL 'https://oidc.example.com ' contains whitespace; remove it: the issuer must match 'iss' exactly"),
    ],
)
def test_render_refuses_bad_issuer(tmp_path: Path, issuer: str, message: str) -> None:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("render", "--issuer-url", issuer, "--public-key", str(pub), "--out-dir", str(tmp_path / "out"))
    assert (result.exit_code, result.stderr.strip()) == (2, message)
    assert not (tmp_path / "out").exists()


def test_json_errors(tmp_path: Path) -> None:
    result = invoke("render", "--issuer-url", "http://x.example.com", "--public-key", "x", "--out-dir", str(tmp_path), "-o", "json")
    assert result.exit_code == 2
    assert result.json() == {"error": {"type": "InputError", "message": "issuer URL 'http://x.example.com' is not https",
                                       "hint": "IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)"}}


def test_keys_generate_rsa(tmp_path: Path) -> None:
    result = invoke("keys", "generate", "--out-dir", str(tmp_path), "--issuer-url", ISSUER, "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    key, pub = tmp_path / "sa-signer.key", tmp_path / "sa-signer.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()
    [public] = load_public_keys_pem(pub.read_bytes(), "pub")
    assert (public.kid, public.alg) == (body["kid"], "RS256")
    assert body["kube_apiserver_flags"] == [
        f"--service-account-issuer={ISSUER}",
        f"--service-account-jwks-uri={ISSUER}/openid/v1/jwks",
        f"--service-account-key-file={pub}",
        f"--service-account-signing-key-file={key}",
        f"--api-audiences={ISSUER}",
    ]
    # The private key never reaches stdout.
    assert "PRIVATE" not in result.stdout


def test_keys_generate_never_overwrites_without_force(tmp_path: Path) -> None:
    assert invoke("keys", "generate", "--out-dir", str(tmp_path)).exit_code == 0
    before = (tmp_path / "sa-signer.key").read_bytes()
    again = invoke("keys", "generate", "--out-dir", str(tmp_path))
    assert again.exit_code == 2
    assert again.stderr.strip() == f"error: {tmp_path.resolve() / 'sa-signer.key'} already exists; refusing to overwrite a key; use --force to replace it"
    assert (tmp_path / "sa-signer.key").read_bytes() == before
    forced = invoke("keys", "generate", "--out-dir", str(tmp_path), "--force", "--type", "ec", "--bits", "384")
    assert forced.exit_code == 0
    assert (tmp_path / "sa-signer.key").read_bytes() != before
    assert stat.S_IMODE((tmp_path / "sa-signer.key").stat().st_mode) == 0o600
    assert load_public_keys_pem((tmp_path / "sa-signer.pub").read_bytes(), "p")[0].alg == "ES384"


@pytest.mark.parametrize("args,message", [
    (["--bits", "1024"], "error: --bits 1024 is too short for RSA; use 2048 or more (4096 is fine too)"),
    (["--type", "ec", "--bits", "255"], "error: --bits 255 is not an EC curve size STS accepts; use 256, 384 or 521 with --type ec"),
    (["--issuer-url", "http://x.example.com"], "error: issuer URL 'http://x.example.com' is not https; IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)"),
])
def test_keys_generate_bad_input_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("keys", "generate", "--out-dir", str(tmp_path / "k"), *args)
    assert (result.exit_code, result.stderr.strip()) == (2, message)
    assert not (tmp_path / "k").exists()


def test_help_and_version_do_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from oidc_publisher.cli import main\n"
        "sys.argv = ['oidc-publisher', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('boto3', 'botocore', 'kubernetes', 'cryptography', 'requests', 'jwcrypto') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"})
    assert "HEAVY=\n" in out.stdout, out.stdout[-300:]
    assert "render" in out.stdout


def test_every_command_has_help() -> None:
    import typer.main

    from oidc_publisher.cli import app

    root = typer.main.get_command(app)
    seen = []

    def walk(cmd: object, path: list[str]) -> None:
        seen.append(" ".join(path))
        result = invoke(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage:" in result.stdout
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    assert "render" in seen and "keys generate" in seen


def test_module_entry_point_and_version() -> None:
    from oidc_publisher import __version__

    result = run("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"oidc-publisher {__version__}")


def test_an_unreadable_key_file_is_one_line_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permissions cannot be taken away from root (the tests' user), so the read itself is refused."""
    import os

    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    original = os.open

    def refuse(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
        if Path(path) == pub:
            raise PermissionError(13, "Permission denied", str(path))
        return original(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    out = tmp_path / "out"
    result = invoke("render", "--issuer-url", ISSUER, "--public-key", str(pub), "--out-dir", str(out))
    assert (result.exit_code, result.stderr) == (
        2, f"error: public key file {pub} is not readable; check its permissions (run as a user who can read it)\n"
    )
    assert not out.exists()


TYPER_USAGE_ERRORS = [
    (["render", "--zzz"], "error: No such option: --zzz; run 'oidc-publisher render --help' for the options"),
    (["thumbprint"], "error: no issuer given; give --issuer-url URL (or the URL as the argument)"),
    (["render", "--issuer-url"], "error: Option '--issuer-url' requires an argument; run 'oidc-publisher"),
    (["keys", "generate", "--out-dir", "x", "--type", "dsa"], "error: Invalid value for '--type'"),
    (["no-such-command"], "error: No such command 'no-such-command'; run 'oidc-publisher --help' for the options"),
]


@pytest.mark.parametrize(("args", "line"), TYPER_USAGE_ERRORS)
def test_typers_own_usage_errors_are_one_line_too(tmp_path: Path, args: list[str], line: str) -> None:
    """An unknown or missing option, a bad choice: one line on stderr, exit 2, nothing on stdout, no box.
    In-process (as the tests run) and as a process (as a shell runs it) alike."""
    for outcome in (invoke(*args), run(*args)):
        assert outcome.exit_code == 2, outcome
        assert outcome.stdout == ""
        assert len(outcome.stderr.splitlines()) == 1, outcome.stderr
        assert outcome.stderr.startswith(line), outcome.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_arguments_prints_the_help_and_exits_2() -> None:
    outcome = run()
    assert outcome.exit_code == 2
    assert "Usage: oidc-publisher" in outcome.stdout and "bootstrap" in outcome.stdout
    assert "error" not in outcome.stderr
