"""Rotation through ``publish`` against moto: retention of removed keys, revocation, refusal of an empty source."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.motoserver import AwsClock, AwsWorld

BUCKET = "rotating-issuer"


def live_kids(aws: AwsWorld) -> set[str]:
    body = aws.client("s3").get_object(Bucket=BUCKET, Key="openid/v1/jwks")["Body"].read()
    return {key["kid"] for key in json.loads(body)["keys"]}


def test_removed_key_is_retained_then_dropped(aws: AwsWorld, aws_clock: AwsClock, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)
    base = ["publish", "--bucket", BUCKET, "--retain-removed-keys", "3s", "-o", "json"]
    assert invoke(*base, "--public-key", str(one)).exit_code == 0
    assert invoke(*base, "--public-key", str(one), "--public-key", str(two)).exit_code == 0
    left = invoke(*base, "--public-key", str(two))
    assert left.exit_code == 0
    body = left.json()
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    assert [r["kid"] for r in body["retained"]] == [k.K8S_RSA_KID]
    assert 0 < body["retained"][0]["seconds_left"] <= 3
    # While retained, a run with nothing new writes nothing.
    aws.recorder.reset()
    assert invoke(*base, "--public-key", str(two)).json()["changed"] is False
    assert aws.recorder.writes == []
    aws_clock.advance(seconds=3.2)  # AWS's clock: the run times retention by the Date of AWS's answers
    dropped = invoke(*base, "--public-key", str(two))
    assert dropped.json()["removed"] == [k.K8S_RSA_KID]
    assert live_kids(aws) == {k.K8S_EC_KID}
    summary = dropped.json()["summary"]
    assert summary.startswith(f"https://{BUCKET}.s3.us-east-1.amazonaws.com: published 1 key; removed {k.K8S_RSA_KID}; wrote")


def test_revoke_drops_at_once_with_a_warning(aws: AwsWorld, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)
    invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two))
    invoke("publish", "--bucket", BUCKET, "--public-key", str(two))
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    aws.recorder.reset()
    planned = invoke("publish", "--bucket", BUCKET, "--public-key", str(two), "--revoke", k.K8S_RSA_KID, "--dry-run")
    assert planned.exit_code == 3, planned.stderr
    assert planned.stderr.strip() == (
        f"warning: would revoke {k.K8S_RSA_KID}: every token signed by it stops working as soon as caches expire (minutes)"
    )
    assert aws.recorder.writes == []
    assert live_kids(aws) == {k.K8S_RSA_KID, k.K8S_EC_KID}
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(two), "--revoke", k.K8S_RSA_KID)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == (
        f"warning: revoked {k.K8S_RSA_KID}: every token signed by it stops working as soon as caches expire (minutes)"
    )
    assert live_kids(aws) == {k.K8S_EC_KID}
    assert f"revoked {k.K8S_RSA_KID}" in result.stdout
    # It stays revoked: a later run does not bring it back.
    invoke("publish", "--bucket", BUCKET, "--public-key", str(two))
    assert live_kids(aws) == {k.K8S_EC_KID}


def test_revoking_a_served_key_is_refused_and_nothing_changes(aws: AwsWorld, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    invoke("publish", "--bucket", BUCKET, "--public-key", str(one))
    aws.recorder.reset()
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--revoke", k.K8S_RSA_KID)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [  # the error alone: no warning about a revocation that did not happen
        f"error: refusing to revoke {k.K8S_RSA_KID}: the cluster still serves it; "
        "remove it from the API server's --service-account-key-file first, then revoke"
    ]
    assert aws.recorder.writes == []
    assert live_kids(aws) == {k.K8S_RSA_KID}


def test_empty_source_is_refused_and_live_jwks_untouched(aws: AwsWorld, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    invoke("publish", "--bucket", BUCKET, "--public-key", str(one))
    before = aws.client("s3").get_object(Bucket=BUCKET, Key="openid/v1/jwks")["Body"].read()
    empty = k.write(tmp_path / "empty.json", b'{"keys": []}')
    aws.recorder.reset()
    result = invoke("publish", "--bucket", BUCKET, "--jwks", str(empty))
    assert result.exit_code == 2
    assert "holds no keys" in result.stderr
    assert aws.recorder.calls == []
    assert aws.client("s3").get_object(Bucket=BUCKET, Key="openid/v1/jwks")["Body"].read() == before


def test_a_retention_shorter_than_a_token_warns_and_still_publishes(aws: AwsWorld, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    one = k.write(tmp_path / "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two)).exit_code == 0
    short = invoke("publish", "--bucket", BUCKET, "--public-key", str(two), "--retain-removed-keys", "0s")
    assert short.exit_code == 0, short.stderr
    assert short.stderr.splitlines() == [
        "warning: --retain-removed-keys 0s is shorter than the 24h life of an IRSA token: a removed key leaves the "
        "JWKS while tokens it signed are still used, and STS refuses them (48h is the default; to drop a "
        "compromised key at once, use --revoke KID)"
    ]
    # A warning, not a refusal: what was asked for is done.
    assert live_kids(aws) == {k.K8S_EC_KID}
    assert "23h59m is shorter" in invoke("publish", "--bucket", BUCKET, "--public-key", str(two), "--retain-removed-keys", "23h59m").stderr
    for enough in ("24h", "1d", "48h"):
        quiet = invoke("publish", "--bucket", BUCKET, "--public-key", str(two), "--retain-removed-keys", enough)
        assert (quiet.exit_code, quiet.stderr) == (0, ""), enough
    # A refused run gets its one error line alone: the warning is for work that was done.
    aws.recorder.reset()
    refused = invoke("publish", "--bucket", "b", "--public-key", str(two), "--retain-removed-keys", "0s")
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        "error: bucket name 'b' is not a valid S3 bucket name; use 3-63 lower-case letters, digits, '-' (and '.' only behind CloudFront)"
    ]
    refused = invoke("bootstrap", "--bucket", "b", "--public-key", str(two), "--retain-removed-keys", "0s", "--no-thumbprint")
    assert refused.exit_code == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith("error: bucket name 'b'")
    assert aws.recorder.writes == []
    bootstrap = invoke("bootstrap", "--bucket", "short-retention", "--public-key", str(two), "--retain-removed-keys", "90m", "--no-thumbprint")
    assert bootstrap.exit_code == 0, bootstrap.stderr
    assert bootstrap.stderr.splitlines()[0].startswith("warning: --retain-removed-keys 1h30m is shorter than the 24h life")
