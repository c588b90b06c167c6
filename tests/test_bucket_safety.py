"""A bucket shared with others, against moto's server: the tool never widens access beyond the two documents,
changes a bucket it did not create only when told to (--adopt-bucket), never replaces another issuer's
documents, never mixes a public and a private issuer in one bucket, and marks the buckets it creates in the
creating call itself (so a fault after it never leaves the tool's bucket unrecognised)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

BUCKET = "adopted-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
S3_HOSTS = ("*.s3.us-east-1.amazonaws.com",)
LEGACY = {"Sid": "LegacyPublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
          "Resource": f"arn:aws:s3:::{BUCKET}/*"}
ALL_BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def settings(aws: AwsWorld, bucket: str = BUCKET) -> dict[str, Any]:
    s3 = aws.client("s3")
    out: dict[str, Any] = {}
    for call, member in (("get_bucket_policy", "Policy"), ("get_public_access_block", "PublicAccessBlockConfiguration"),
                         ("get_bucket_versioning", "Status"), ("get_bucket_tagging", "TagSet"),
                         ("get_bucket_ownership_controls", "OwnershipControls")):
        try:
            out[call] = getattr(s3, call)(Bucket=bucket).get(member)
        except s3.exceptions.ClientError as exc:
            out[call] = exc.response["Error"]["Code"]
    return out


def their_bucket(aws: AwsWorld, *, policy: dict[str, Any] | None = None, pab: dict[str, bool] | None = None) -> None:
    """A bucket someone else made (no managed-by tag), with versioning suspended and ACLs enabled."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, ObjectOwnership="ObjectWriter")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=BUCKET, Key="private/report.csv", Body=b"not for the world")
    if pab is not None:
        s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=pab)
    if policy is not None:
        s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def test_a_legacy_public_statement_is_refused_by_name_and_nothing_changes(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """The reproduction: a neutralised 'Allow * GetObject bucket/*' would go live once Block Public Access
    is relaxed for the documents (today bootstrap turned two settings off and made every object public)."""
    front(BUCKET, S3_HOSTS)
    their_bucket(aws, policy={"Version": "2012-10-17", "Statement": [LEGACY]}, pab=ALL_BLOCKED)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    before = settings(aws)
    expected = (
        f"error: the bucket policy of s3://{BUCKET} has a public statement that is not oidc-publisher's "
        "(Sid 'LegacyPublicRead'): with the documents public it would make every object it names public; remove "
        "that statement (or restrict it to named principals) and re-run; oidc-publisher adds its own read on "
        "exactly the two documents"
    )
    for extra in (["--dry-run"], [], ["--adopt-bucket"]):
        aws.recorder.reset()
        result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), *extra)
        assert result.exit_code == 1, (extra, result.stdout)
        assert result.stderr.strip() == expected, extra
        assert aws.recorder.writes == [], (extra, aws.recorder.writes)
        assert settings(aws) == before
    aws.recorder.reset()
    created = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--create-bucket", "--adopt-bucket")
    assert created.exit_code == 1 and created.stderr.strip() == expected
    assert aws.recorder.writes == []


def test_a_bucket_it_did_not_create_keeps_its_settings_without_adopt_bucket(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, S3_HOSTS)
    their_bucket(aws)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "-o", "json")
    assert result.exit_code == 0, result.stderr
    after = settings(aws)
    assert after["get_bucket_versioning"] == "Suspended"
    assert after["get_bucket_ownership_controls"]["Rules"] == [{"ObjectOwnership": "ObjectWriter"}]
    assert after["get_bucket_tagging"] == "NoSuchTagSet"  # never marked as the tool's
    ops = aws.recorder.operations("s3")
    for setting in ("PutBucketVersioning", "PutBucketOwnershipControls", "PutPublicAccessBlock", "PutBucketTagging"):
        assert setting not in ops
    notes = result.json()["notes"]
    assert f"s3://{BUCKET}: versioning (Suspended) left as it is: oidc-publisher did not create the bucket " \
           "(--adopt-bucket lets it change this)" in notes
    # The documents are served all the same: the policy names exactly them.
    policy = json.loads(after["get_bucket_policy"])
    [read] = [s for s in policy["Statement"] if s["Sid"] == "OidcPublisherPublicRead"]
    assert read["Resource"] == [f"arn:aws:s3:::{BUCKET}/.well-known/openid-configuration", f"arn:aws:s3:::{BUCKET}/openid/v1/jwks"]

    # With --adopt-bucket the plan shows each change and why; then they are made.
    dry = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "--adopt-bucket", "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    reasons = [c["reason"] for c in dry.json()["changes"] if c["resource"] == f"s3://{BUCKET}"]
    assert reasons == [
        "object ownership is not BucketOwnerEnforced (ACLs must be disabled) (--adopt-bucket: the bucket was not created by oidc-publisher)",
        "Block Public Access: on, except what the read policy on the two documents needs (--adopt-bucket: the bucket was not created by oidc-publisher)",
        "versioning, so a bad publish can be rolled back (--adopt-bucket: the bucket was not created by oidc-publisher)",
    ]
    adopted = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "--adopt-bucket")
    assert adopted.exit_code == 0, adopted.stderr
    after = settings(aws)
    assert after["get_bucket_versioning"] == "Enabled"
    assert after["get_bucket_tagging"] == "NoSuchTagSet"  # adopted, still not the tool's to delete


def test_locked_block_public_access_on_their_bucket_is_refused_without_adopt(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, S3_HOSTS)
    their_bucket(aws, pab=ALL_BLOCKED)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    aws.recorder.reset()
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--create-bucket", "--dry-run")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: Block Public Access on s3://{BUCKET} (BlockPublicPolicy, RestrictPublicBuckets) blocks the public "
        "read on the two documents, and oidc-publisher did not create the bucket; re-run with --adopt-bucket to let "
        "it turn those off (the bucket policy then grants public read on the two documents only), or serve the "
        "issuer through CloudFront (--cloudfront)"
    )
    assert aws.recorder.writes == []
    adopted = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--create-bucket", "--adopt-bucket")
    assert adopted.exit_code == 0, adopted.stderr
    assert settings(aws)["get_public_access_block"]["BlockPublicPolicy"] is False
    assert settings(aws)["get_bucket_versioning"] == "Enabled"
    # Once in shape, a run without the flag has nothing to change and nothing to say.
    aws.recorder.reset()
    again = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--create-bucket", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert (again.json()["changed"], again.json()["notes"]) == (False, [])
    assert aws.recorder.writes == []


def test_publish_create_bucket_reports_what_it_left_alone(aws: AwsWorld, tmp_path: Path) -> None:
    their_bucket(aws)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--create-bucket", "-o", "json")
    assert result.exit_code == 0, result.stderr
    left = "left as it is: oidc-publisher did not create the bucket (--adopt-bucket lets it change this)"
    assert result.json()["notes"] == [
        f"s3://{BUCKET}: object ownership (ObjectWriter) {left}",
        f"s3://{BUCKET}: Block Public Access {left}",
        f"s3://{BUCKET}: versioning (Suspended) {left}",
    ]
    assert settings(aws)["get_bucket_versioning"] == "Suspended"


def test_adopt_bucket_only_with_create_bucket(aws: AwsWorld, tmp_path: Path) -> None:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--adopt-bucket")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --adopt-bucket only applies with --create-bucket; add --create-bucket or drop it"


def test_a_widened_own_statement_is_rewritten(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """Today a read statement of the tool's widened to bucket/* was reported as "No changes"."""
    front(BUCKET, S3_HOSTS)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    s3 = aws.client("s3")
    exact = s3.get_bucket_policy(Bucket=BUCKET)["Policy"]
    widened = json.loads(exact)
    widened["Statement"][0]["Resource"] = f"arn:aws:s3:::{BUCKET}/*"
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(widened))
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [c["reason"] for c in result.json()["changes"]] == [
        "bucket policy: public read on exactly the published documents, TLS only"
    ]
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == json.loads(exact)


# --- another issuer's documents --------------------------------------------------------------------

A = "https://a.oidc.example.com"
B = "https://b.oidc.example.com"


def hand_written_documents(aws: AwsWorld, issuer: str, bucket: str = BUCKET) -> dict[str, bytes]:
    """Issuer A's documents as Terraform or a person uploads them: no state object."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    discovery = json.dumps({"issuer": issuer, "jwks_uri": f"{issuer}/openid/v1/jwks"}).encode()
    s3.put_object(Bucket=bucket, Key=".well-known/openid-configuration", Body=discovery)
    s3.put_object(Bucket=bucket, Key="openid/v1/jwks", Body=b'{"keys": []}')
    return {"discovery": discovery}


def test_publish_refuses_to_replace_another_issuers_documents(aws: AwsWorld, tmp_path: Path) -> None:
    hand_written_documents(aws, A)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    for extra in (["--dry-run"], []):
        aws.recorder.reset()
        result = invoke("publish", "--issuer-url", B, "--bucket", BUCKET, "--prefix", "", "--public-key", str(pub), *extra)
        assert result.exit_code == 1, result.stdout
        assert result.stderr.strip() == (
            f"error: s3://{BUCKET}/.well-known/openid-configuration belongs to issuer {A}, not {B}: the host differs "
            f"(a.oidc.example.com vs b.oidc.example.com); nothing was written; if the cluster's --service-account-issuer "
            f"is {A}, give --issuer-url {A}; a different issuer needs its own --prefix or bucket"
        )
        assert aws.recorder.writes == []
    discovery = aws.client("s3").get_object(Bucket=BUCKET, Key=".well-known/openid-configuration")["Body"].read()
    assert json.loads(discovery)["issuer"] == A


def test_fleet_refuses_to_replace_another_issuers_documents(aws: AwsWorld, tmp_path: Path) -> None:
    hand_written_documents(aws, A)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"clusters": [
        {"name": "b", "issuer_url": B, "bucket": BUCKET, "prefix": "", "region": "us-east-1", "public_keys": [str(pub)]},
    ]}))
    aws.recorder.reset()
    result = invoke("publish", "--fleet", str(fleet))
    assert result.exit_code == 1, result.stdout
    assert f"belongs to issuer {A}, not {B}" in result.stdout + result.stderr
    assert aws.recorder.writes == []


def test_bootstrap_refuses_another_issuers_documents_before_changing_the_bucket(
    aws: AwsWorld, front: Front, tmp_path: Path
) -> None:
    front(BUCKET, S3_HOSTS)
    hand_written_documents(aws, "https://somebody-else.example.com")
    aws.client("s3").put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "managed-by", "Value": "oidc-publisher"}]})
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    aws.recorder.reset()
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(
        f"error: s3://{BUCKET}/.well-known/openid-configuration belongs to issuer https://somebody-else.example.com, "
        f"not {ISSUER}: the host differs (somebody-else.example.com vs {BUCKET}.s3.us-east-1.amazonaws.com); nothing was changed"
    )
    assert aws.recorder.writes == []


def test_the_steady_state_stays_two_reads(aws: AwsWorld, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    aws.recorder.reset()
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    assert aws.recorder.calls == [("s3", "GetObject"), ("s3", "GetObject")]


# --- mixed modes ---------------------------------------------------------------------------------------


def test_a_private_issuer_is_refused_in_a_bucket_that_serves_a_public_one(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, (*S3_HOSTS, "*.cloudfront.net"))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    assert invoke("bootstrap", "--bucket", BUCKET, "--prefix", "a", "--public-key", str(pub)).exit_code == 0
    aws.recorder.reset()
    for extra in (["--dry-run"], []):
        result = invoke("bootstrap", "--bucket", BUCKET, "--cloudfront", "--prefix", "b", "--public-key", str(pub), *extra)
        assert result.exit_code == 1, result.stdout
        assert result.stderr.strip() == (
            f"error: s3://{BUCKET} already serves another issuer under prefix 'a' publicly (S3-direct), and this "
            "issuer would be served through CloudFront with the bucket private: the two would switch each other's "
            "Block Public Access on every run; give this issuer its own bucket, or serve both issuers the same way"
        )
        assert aws.recorder.writes == [], aws.recorder.writes  # no distribution, no bucket change


def test_a_public_issuer_is_refused_in_a_bucket_that_serves_a_private_one(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, (*S3_HOSTS, "*.cloudfront.net"))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", BUCKET, "--cloudfront", "--prefix", "b", "--public-key", str(pub))
    assert boot.exit_code == 0, boot.stderr
    before = settings(aws)
    aws.recorder.reset()
    result = invoke("bootstrap", "--bucket", BUCKET, "--prefix", "a", "--public-key", str(pub))
    assert result.exit_code == 1
    assert "already serves another issuer under prefix 'b' through CloudFront with the bucket private" in result.stderr
    assert [w for w in aws.recorder.writes if w[0] == "s3"] == []
    assert settings(aws) == before


# --- the mark rides on the creating call ----------------------------------------------------------------


@pytest.mark.parametrize("operation", ["PutPublicAccessBlock", "PutBucketEncryption", "PutBucketVersioning", "PutBucketPolicy", "PutObject"])
def test_a_fault_after_creation_never_leaves_the_tools_bucket_unmarked(
    aws: AwsWorld, front: Front, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    """Today the tag was a separate call after CreateBucket: when it failed for good the bucket was never
    tagged, and teardown never recognised it. Now the tags are part of CreateBucket, and every setting is
    read back and converged on the next run."""
    front(BUCKET, S3_HOSTS)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    aws.proxy.fail_next(operation, times=5)
    failed = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert failed.exit_code == 1
    [create] = aws.recorder.sent("CreateBucket")
    assert b"<Key>managed-by</Key><Value>oidc-publisher</Value>" in create.body, create.body
    tags = {t["Key"]: t["Value"] for t in settings(aws)["get_bucket_tagging"]}
    assert tags == {"managed-by": "oidc-publisher", "oidc-publisher:issuer": ISSUER}
    again = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert again.exit_code == 0, again.stderr
    after = settings(aws)
    assert after["get_bucket_versioning"] == "Enabled"
    assert after["get_public_access_block"]["BlockPublicAcls"] is True
    aws.recorder.reset()
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "-o", "json").json()["changed"] is False


def test_a_stale_state_object_does_not_make_another_issuers_documents_ours(aws: AwsWorld, tmp_path: Path) -> None:
    """B published here once; then A's documents were uploaded over B's (Terraform, by hand). B's state
    object still names B, but the live discovery document names A: B's next run must not replace it."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    single = ["publish", "--issuer-url", B, "--bucket", BUCKET, "--prefix", "", "--public-key", str(pub)]
    assert invoke(*single).exit_code == 0
    theirs = json.dumps({"issuer": A, "jwks_uri": f"{A}/openid/v1/jwks"}).encode()
    aws.client("s3").put_object(Bucket=BUCKET, Key=".well-known/openid-configuration", Body=theirs)
    aws.recorder.reset()
    result = invoke(*single)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(
        f"error: s3://{BUCKET}/.well-known/openid-configuration belongs to issuer {A}, not {B}: the host differs "
        "(a.oidc.example.com vs b.oidc.example.com); nothing was written"
    )
    assert aws.recorder.writes == []
    assert aws.client("s3").get_object(Bucket=BUCKET, Key=".well-known/openid-configuration")["Body"].read() == theirs


def test_a_lost_reply_to_create_bucket_still_leaves_the_bucket_marked(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """S3 created the bucket (with its tags) but the answer never arrived: the retry finds it made, and the
    mark is there because it was part of the call that made it."""
    front(BUCKET, S3_HOSTS)
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    aws.proxy.fail_next("CreateBucket", kind="lost-reply")
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    assert len(aws.recorder.sent("CreateBucket")) == 2  # the lost one, and botocore's retry
    assert {t["Key"]: t["Value"] for t in settings(aws)["get_bucket_tagging"]}["managed-by"] == "oidc-publisher"
