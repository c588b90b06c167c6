"""A private-CA issuer host whose intermediate certificate changes (the CA rotates it; the root stays): ``verify``
fails until the rotation job's second command (``register``, docs/thumbprint.md) converges the provider's
thumbprints from the live chain, and passes after; ``--dry-run`` shows the change first; a run with nothing to
change makes the two reads and no IAM write. Real TLS (a local front over moto's bucket), moto's IAM state."""

from __future__ import annotations

from pathlib import Path

import pytest
from oidc_publisher_demo.emulator import HTTPSFront, s3_fetcher

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld
from tests.support.pki import make_chain
from tests.support.servers import stop_promptly

BUCKET = "rotating-ca-issuer"
HOST = f"{BUCKET}.s3.us-east-1.amazonaws.com"
ISSUER = f"https://{HOST}"
ARN = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"
RESOURCE = f"iam:oidc-provider/{HOST}"
READS = [("iam", "ListOpenIDConnectProviders"), ("iam", "GetOpenIDConnectProvider")]


def thumbprints(aws: AwsWorld) -> list[str]:
    got = aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=ARN)
    return list(got["ThumbprintList"])


def checks(result: object) -> dict[str, dict]:
    return {c["check"]: c for c in result.json()["checks"]}  # type: ignore[attr-defined]


def test_a_new_intermediate_fails_verify_until_the_rotation_job_converges_the_thumbprints(
    aws: AwsWorld, front: Front, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, old = front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    pub = k.write(tmp_path / "sa.pub", k.public_pem(k.rsa_key()))
    boot = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert boot.exit_code == 0, boot.stderr
    assert thumbprints(aws) == [old.expected_thumbprint]
    # The CronJob sets the issuer in the environment; its second command takes no other argument.
    monkeypatch.setenv("OIDC_PUBLISHER_ISSUER_URL", ISSUER)

    # The CA issues a new intermediate (same root, still trusted through SSL_CERT_FILE) and the host serves it.
    new = make_chain(("*.s3.us-east-1.amazonaws.com",), root=old.root).write(tmp_path / "renewed")
    assert new.expected_thumbprint != old.expected_thumbprint
    stop_promptly(server.stop, server.port)
    renewed = HTTPSFront(new, s3_fetcher(aws.client("s3"), BUCKET))
    try:
        monkeypatch.setenv("OIDC_PUBLISHER_CONNECT_TO", f"::127.0.0.1:{renewed.port}")

        before = invoke("verify", "-o", "json")
        assert before.exit_code == 1
        assert [name for name, c in checks(before).items() if c["status"] == "fail"] == ["IAM thumbprint"]
        assert checks(before)["IAM thumbprint"] == {
            "check": "IAM thumbprint",
            "status": "fail",
            "detail": f"the host now presents {new.expected_thumbprint}, the provider has {old.expected_thumbprint}, "
            f"and IAM does not trust the CA of {HOST}",
            "fix": f"oidc-publisher register --issuer-url {ISSUER} (recomputes the thumbprints)",
        }

        aws.recorder.reset()
        dry = invoke("register", "--dry-run")
        assert dry.exit_code == 3, dry.stderr
        assert (
            f"  update     {RESOURCE}: thumbprints {old.expected_thumbprint} -> {new.expected_thumbprint}\n" in dry.stdout
        )
        assert f"  {HOST}: private or uncommon CA: IAM accepts the host only by a registered thumbprint\n" in dry.stdout
        assert aws.recorder.writes == []
        assert thumbprints(aws) == [old.expected_thumbprint]

        aws.recorder.reset()
        converge = invoke("register")
        assert converge.exit_code == 0, converge.stderr
        assert aws.recorder.calls == [*READS, ("iam", "UpdateOpenIDConnectProviderThumbprint")]
        assert thumbprints(aws) == [new.expected_thumbprint]

        after = invoke("verify", "-o", "json")
        assert after.exit_code == 0, after.stdout
        assert checks(after)["IAM thumbprint"]["detail"] == f"{new.expected_thumbprint} is registered"

        # The steady state of the job: two reads, no write.
        aws.recorder.reset()
        again = invoke("register", "-o", "json")
        assert again.exit_code == 0, again.stderr
        assert again.json()["changed"] is False
        assert aws.recorder.calls == READS
        assert aws.recorder.writes == []
    finally:
        stop_promptly(renewed.stop, renewed.port)
