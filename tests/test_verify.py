"""``verify`` breaks one thing at a time and names it, the way STS would fail."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from oidc_publisher.core.keys import load_public_keys_pem
from oidc_publisher.core.tokens import mint_token
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.kube_api import KubeAPI
from tests.support.motoserver import AwsWorld
from tests.support.servers import stop_promptly

BUCKET = "verified-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
HOSTS = ("*.s3.us-east-1.amazonaws.com",)
HOST = urlsplit(ISSUER).hostname
SUB = "system:serviceaccount:default:app"


@pytest.fixture
def world(aws: AwsWorld, front: Front, tmp_path: Path) -> dict:
    _, chain = front(BUCKET, HOSTS)
    private = k.rsa_key()
    pub = k.write(tmp_path / "sa.pub", k.public_pem(private))
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    kid = load_public_keys_pem(pub.read_bytes(), "x")[0].kid
    token = k.write(tmp_path / "token", mint_token(private, kid=kid, issuer=ISSUER, subject=SUB).encode())
    return {"aws": aws, "pub": pub, "token": token, "private": private, "kid": kid, "chain": chain, "front": front, "tmp": tmp_path}


def checks(result: object) -> dict[str, dict]:
    return {c["check"]: c for c in result.json()["checks"]}  # type: ignore[attr-defined]


def failed(result: object) -> list[str]:
    return [name for name, c in checks(result).items() if c["status"] == "fail"]


def test_everything_passes(world: dict) -> None:
    result = invoke("verify", "--issuer-url", ISSUER, "--public-key", str(world["pub"]), "--token", str(world["token"]), "-o", "json")
    assert result.exit_code == 0, result.stdout
    assert failed(result) == []
    assert [c["check"] for c in result.json()["checks"]] == [
        "issuer URL", "HTTPS", "discovery document", "JWKS", "cluster keys published",
        "IAM provider", "IAM client ID", "IAM thumbprint", "token",
    ]
    text = invoke("verify", "--issuer-url", ISSUER, "--token", str(world["token"]))
    assert text.exit_code == 0
    assert text.stdout.strip().endswith("All checks passed: STS will accept this issuer's tokens.")


def test_trailing_slash_issuer_mismatch(world: dict) -> None:
    result = invoke("verify", "--issuer-url", ISSUER + "/", "-o", "json")
    assert result.exit_code == 1
    assert failed(result) == ["discovery document"]
    assert checks(result)["discovery document"]["detail"] == (
        f"its issuer '{ISSUER}' is not '{ISSUER}/' (STS compares byte for byte)"
    )


def test_token_with_a_kid_that_is_not_published(world: dict) -> None:
    stranger = mint_token(k.rsa_key(), kid="unpublished-kid", issuer=ISSUER, subject=SUB)
    token = k.write(world["tmp"] / "stranger", stranger.encode())
    result = invoke("verify", "--issuer-url", ISSUER, "--token", str(token), "-o", "json")
    assert result.exit_code == 1
    assert failed(result) == ["token"]
    assert checks(result)["token"]["detail"].startswith(
        "Couldn't retrieve verification key from your identity provider: the token's kid 'unpublished-kid'"
    )


def test_cluster_key_missing_from_the_published_jwks(world: dict) -> None:
    other = k.write(world["tmp"] / "other.pub", k.K8S_EC_PUBLIC_KEY)
    result = invoke("verify", "--issuer-url", ISSUER, "--public-key", str(other), "-o", "json")
    assert failed(result) == ["cluster keys published"]


def test_jwks_with_a_private_member(world: dict) -> None:
    s3 = world["aws"].client("s3")
    jwks = json.loads(s3.get_object(Bucket=BUCKET, Key="openid/v1/jwks")["Body"].read())
    jwks["keys"][0]["d"] = "AQAB"
    s3.put_object(Bucket=BUCKET, Key="openid/v1/jwks", Body=json.dumps(jwks).encode(), ContentType="application/json")
    result = invoke("verify", "--issuer-url", ISSUER, "-o", "json")
    assert result.exit_code == 1
    assert failed(result) == ["JWKS"]
    assert "contains private key members (d)" in checks(result)["JWKS"]["detail"]


def test_discovery_served_with_the_wrong_issuer(world: dict) -> None:
    s3 = world["aws"].client("s3")
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=".well-known/openid-configuration")["Body"].read())
    body["issuer"] = "https://kubernetes.default.svc.cluster.local"
    s3.put_object(Bucket=BUCKET, Key=".well-known/openid-configuration", Body=json.dumps(body).encode(), ContentType="application/json")
    result = invoke("verify", "--issuer-url", ISSUER, "-o", "json")
    assert failed(result) == ["discovery document"]
    assert checks(result)["JWKS"]["status"] == "skip"


def test_stale_thumbprint(world: dict) -> None:
    iam = world["aws"].client("iam")
    arn = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["f" * 40])
    result = invoke("verify", "--issuer-url", ISSUER, "-o", "json")
    assert failed(result) == ["IAM thumbprint"]
    assert checks(result)["IAM thumbprint"]["detail"] == (
        f"the host now presents {world['chain'].expected_thumbprint}, the provider has {'f' * 40}, "
        f"and IAM does not trust the CA of {HOST}"
    )
    assert checks(result)["IAM thumbprint"]["fix"] == (
        f"oidc-publisher register --issuer-url {ISSUER} (recomputes the thumbprints)"
    )
    assert result.json()["ca"] == {HOST: "private"}


def test_a_stale_thumbprint_is_harmless_when_the_ca_is_public(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The front's root stands for a public CA: IAM checks the chain itself and ignores the thumbprints."""
    monkeypatch.setenv("OIDC_PUBLISHER_PUBLIC_CA_BUNDLE", str(world["chain"].files["ca"]))
    iam = world["aws"].client("iam")
    arn = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["f" * 40])
    result = invoke("verify", "--issuer-url", ISSUER, "-o", "json")
    assert result.exit_code == 0, result.stdout
    assert result.json()["ca"] == {HOST: "public"}
    assert checks(result)["IAM thumbprint"] == {
        "check": "IAM thumbprint",
        "status": "pass",
        "detail": f"the host now presents {world['chain'].expected_thumbprint}, the provider has {'f' * 40}: unused, "
        f"IAM trusts the host's CA itself (oidc-publisher register --issuer-url {ISSUER} (recomputes the thumbprints) refreshes them)",
    }
    assert "CA likely in IAM's trusted library" in checks(result)["HTTPS"]["detail"]


def test_no_thumbprint_registered_fails_on_a_private_ca(world: dict) -> None:
    iam = world["aws"].client("iam")
    arn = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[])
    result = invoke("verify", "--issuer-url", ISSUER, "-o", "json")
    assert failed(result) == ["IAM thumbprint"]
    assert checks(result)["IAM thumbprint"]["detail"].endswith(f"the provider has none, and IAM does not trust the CA of {HOST}")


def test_missing_client_id(world: dict) -> None:
    iam = world["aws"].client("iam")
    arn = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    iam.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["some-other-audience"], ThumbprintList=[world["chain"].expected_thumbprint])
    result = invoke("verify", "--issuer-url", ISSUER, "--token", str(world["token"]), "-o", "json")
    assert failed(result) == ["IAM client ID", "token"]
    assert checks(result)["token"]["detail"].startswith("Incorrect token audience")


def test_no_provider(world: dict) -> None:
    iam = world["aws"].client("iam")
    for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=p["Arn"])
    result = invoke("verify", "--issuer-url", ISSUER, "-o", "json")
    assert failed(result) == ["IAM provider"]
    assert checks(result)["IAM provider"]["detail"] == f"No OpenIDConnect provider found in your account for {BUCKET}.s3.us-east-1.amazonaws.com"


def test_expired_certificate(world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oidc_publisher_demo.emulator import HTTPSFront, s3_fetcher
    from oidc_publisher_demo.localca import make_chain

    chain = make_chain(HOSTS, leaf_expired=True).write(tmp_path / "expired")
    server = HTTPSFront(chain, s3_fetcher(world["aws"].client("s3"), BUCKET))
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
        monkeypatch.setenv("OIDC_PUBLISHER_CONNECT_TO", f"::127.0.0.1:{server.port}")
        result = invoke("verify", "--issuer-url", ISSUER, "-o", "json")
    finally:
        stop_promptly(server.stop, server.port)
    assert result.exit_code == 1
    assert failed(result) == ["HTTPS"]
    assert checks(result)["HTTPS"]["detail"] == f"the certificate of {BUCKET}.s3.us-east-1.amazonaws.com has expired"


def test_from_cluster_mints_a_token_through_token_request(world: dict, kube_api: KubeAPI, tmp_path: Path) -> None:
    kube_api.issuer = ISSUER
    kube_api.keys[0] = world["private"]
    kube_api.service_accounts[("default", "app")] = {}
    config = kube_api.kubeconfig(tmp_path / "kubeconfig")
    result = invoke("verify", "--issuer-url", ISSUER, "--from-cluster", "--kubeconfig", str(config), "--service-account", "default/app", "-o", "json")
    assert result.exit_code == 0, result.stdout
    assert checks(result)["token"]["detail"].startswith(f"{SUB}: iss, kid {world['kid']}")
    assert checks(result)["cluster keys published"]["status"] == "pass"
    # The cluster now signs with a key that was never published: STS would refuse its tokens.
    kube_api.keys.append(k.rsa_key())
    kube_api.signing = 1
    broken = invoke("verify", "--issuer-url", ISSUER, "--from-cluster", "--kubeconfig", str(config), "--service-account", "default/app", "-o", "json")
    assert broken.exit_code == 1
    assert failed(broken) == ["cluster keys published", "token"]


def test_a_wildcard_or_empty_client_id_is_refused_before_any_call(aws: AwsWorld) -> None:
    for client_id in ("*", ""):
        result = invoke("verify", "--issuer-url", ISSUER, "--client-id", client_id)
        assert (result.exit_code, result.stderr) == (2, (
            f"error: --client-id {client_id!r} would accept any audience; give the audience the tokens carry, "
            "e.g. --client-id sts.amazonaws.com\n"))
    assert aws.recorder.calls == []


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """The tool's stdout when it is a terminal (a pseudo-terminal here)."""
    from tests.support.terminal import on_a_terminal

    return on_a_terminal(*args, stream="stdout", env=env)[1]


def test_fail_is_red_on_a_terminal_unless_no_color() -> None:
    from tests.support.cli import run

    args = ("verify", "--issuer-url", "https://oidc.example.com", "--skip-iam", "--connect-to", "oidc.example.com:443:127.0.0.1:1")
    line = "[FAIL] HTTPS: connection to oidc.example.com (via 127.0.0.1:1) refused\n"
    assert f"  \x1b[31m[FAIL]\x1b[0m{line[6:]}" in _on_a_terminal(*args, env={"NO_COLOR": ""})
    plain = _on_a_terminal(*args, env={"NO_COLOR": "1"})
    assert f"  {line}" in plain and "\x1b" not in plain
    piped = run(*args)
    assert f"  {line}" in piped.stdout and "\x1b" not in piped.stdout
