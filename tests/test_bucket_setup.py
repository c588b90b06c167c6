"""Bucket set-up and object writes, checked on what the tool *sent* (the recording proxy keeps every request)
as well as on what moto stored: moto enforces no ACL, Block Public Access or bucket-policy rule, and it takes
a LocationConstraint that AWS refuses, so the stored state alone cannot show that the tool got these right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.motoserver import AwsWorld

DOCUMENTS = ("openid/v1/jwks", ".well-known/openid-configuration")


def create(aws: AwsWorld, tmp_path: Path, bucket: str, region: str) -> None:
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", bucket, "--region", region, "--public-key", str(pub), "--create-bucket")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    "region,constraint",
    [("us-east-1", None), ("eu-west-1", "eu-west-1"), ("ap-southeast-2", "ap-southeast-2")],
)
def test_create_bucket_sends_a_location_constraint_except_in_us_east_1(
    aws: AwsWorld, tmp_path: Path, region: str, constraint: str | None
) -> None:
    create(aws, tmp_path, "regional-issuer", region)
    [sent] = aws.recorder.sent("CreateBucket")
    if constraint is None:
        # S3 answers InvalidLocationConstraint to a us-east-1 constraint; moto would accept it.
        assert b"LocationConstraint" not in sent.body, sent.body
    else:
        assert f"<LocationConstraint>{constraint}</LocationConstraint>".encode() in sent.body
    # ACLs disabled from creation on.
    assert sent.headers["x-amz-object-ownership"] == "BucketOwnerEnforced"
    location = aws.client("s3", region).get_bucket_location(Bucket="regional-issuer")["LocationConstraint"]
    assert location == constraint


def test_no_request_carries_an_acl(aws: AwsWorld, tmp_path: Path) -> None:
    """New buckets refuse ACLs (since April 2023): no x-amz-acl / x-amz-grant-* header, no ACL call, ever."""
    create(aws, tmp_path, "acl-free-issuer", "eu-west-1")
    two = k.write(tmp_path / "two.pub", k.K8S_EC_PUBLIC_KEY)
    one = tmp_path / "sa.pub"
    assert invoke("publish", "--bucket", "acl-free-issuer", "--region", "eu-west-1",
                  "--public-key", str(one), "--public-key", str(two)).exit_code == 0
    assert len(aws.recorder.sent("PutObject")) == 6  # 3 on creation; then all 3 again (an EC key adds ES256)
    for request in aws.recorder.requests:
        acl_headers = [name for name in request.headers if name == "x-amz-acl" or name.startswith("x-amz-grant-")]
        assert acl_headers == [], (request.operation, acl_headers)
        assert "acl" not in request.query.split("&"), request.operation
        assert not request.operation.endswith("Acl"), request.operation


def test_objects_are_written_as_json_with_a_short_cache_control_conditionally(aws: AwsWorld, tmp_path: Path) -> None:
    create(aws, tmp_path, "headers-issuer", "eu-west-1")
    puts = aws.recorder.sent("PutObject")
    assert [p.path for p in puts] == [f"/headers-issuer/{key}" for key in (*DOCUMENTS, ".oidc-publisher/state.json")]
    for put in puts[:2]:
        assert put.headers["content-type"] == "application/json"
        assert put.headers["cache-control"] == "public, max-age=300"
        # A conditional create: a concurrent publisher cannot be overwritten unseen.
        assert put.headers["if-none-match"] == "*"
    assert puts[2].headers["cache-control"] == "no-store"  # the private state is never cached
    s3 = aws.client("s3", "eu-west-1")
    for key in DOCUMENTS:
        head = s3.head_object(Bucket="headers-issuer", Key=key)
        assert (head["ContentType"], head["CacheControl"]) == ("application/json", "public, max-age=300")


def test_the_bucket_policy_reads_exactly_the_documents_and_denies_plain_http(aws: AwsWorld, tmp_path: Path) -> None:
    bucket = "policy-issuer"
    create(aws, tmp_path, bucket, "eu-west-1")
    policy = json.loads(aws.client("s3", "eu-west-1").get_bucket_policy(Bucket=bucket)["Policy"])
    # Written out in full (not rebuilt with the function under test): this is the contract.
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OidcPublisherPublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [
                    f"arn:aws:s3:::{bucket}/.well-known/openid-configuration",
                    f"arn:aws:s3:::{bucket}/openid/v1/jwks",
                ],
            },
            {
                "Sid": "OidcPublisherDenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def test_block_public_access_is_set_before_the_policy_that_needs_its_exception(aws: AwsWorld, tmp_path: Path) -> None:
    """A new bucket has Block Public Access fully on: S3 refuses a public-read policy until BlockPublicPolicy
    is off (moto does not), so the order of the set-up calls is what makes a real bootstrap work."""
    create(aws, tmp_path, "ordered-issuer", "eu-west-1")
    setup = [op for op in aws.recorder.operations("s3") if op.startswith(("Create", "Put")) and op != "PutObject"]
    assert setup[0] == "CreateBucket"
    assert setup.index("PutPublicAccessBlock") < setup.index("PutBucketPolicy")
    [pab] = aws.recorder.sent("PutPublicAccessBlock")
    body = pab.body.decode()
    for flag, value in (("BlockPublicAcls", "true"), ("IgnorePublicAcls", "true"),
                        ("BlockPublicPolicy", "false"), ("RestrictPublicBuckets", "false")):
        assert f"<{flag}>{value}</{flag}>" in body, body
    # The ownership tags ride on CreateBucket itself (test_the_tool_marks_its_bucket_in_the_creating_call).
    assert set(setup) == {
        "CreateBucket", "PutPublicAccessBlock", "PutBucketEncryption", "PutBucketVersioning", "PutBucketPolicy",
    }


@pytest.mark.parametrize(
    "issuer,extra",
    [
        ("https://render-issuer.s3.eu-west-1.amazonaws.com/clusters/prod", []),
        ("https://oidc.example.com/prod", ["--jwks-uri", "https://keys.example.net/prod/jwks"]),
    ],
)
def test_render_writes_the_bytes_publish_uploads(aws: AwsWorld, tmp_path: Path, issuer: str, extra: list[str]) -> None:
    """render's files are what publish puts in the bucket, byte for byte (a static host or Terraform
    serving render's output serves what the tool would)."""
    keys = ["--public-key", str(k.write(tmp_path / "rsa.pub", k.K8S_RSA_PUBLIC_KEY)),
            "--public-key", str(k.write(tmp_path / "ec.pub", k.K8S_EC_PUBLIC_KEY))]
    out = tmp_path / "rendered"
    assert invoke("render", "--issuer-url", issuer, *keys, *extra, "--out-dir", str(out)).exit_code == 0
    aws.client("s3", "eu-west-1").create_bucket(
        Bucket="render-issuer", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    published = invoke("publish", "--issuer-url", issuer, "--bucket", "render-issuer", "--region", "eu-west-1",
                       *keys, *extra)
    assert published.exit_code == 0, published.stderr
    prefix = issuer.split("/", 3)[3]
    s3 = aws.client("s3", "eu-west-1")
    for document in DOCUMENTS:
        body = s3.get_object(Bucket="render-issuer", Key=f"{prefix}/{document}")["Body"].read()
        assert body == (out / document).read_bytes(), document


def test_account_block_public_access_gets_its_own_fix_not_a_permission_to_grant(aws: AwsWorld, tmp_path: Path) -> None:
    """Account-level Block Public Access answers PutBucketPolicy with AccessDenied, naming the setting: granting
    s3:PutBucketPolicy would not help."""
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    blocked = (
        'User: arn:aws:iam::123456789012:user/admin is not authorized to perform: s3:PutBucketPolicy on resource: '
        '"arn:aws:s3:::bpa-issuer" because public policies are blocked by the BlockPublicPolicy block public access '
        "setting."
    )
    aws.proxy.fail_next("PutBucketPolicy", 403, "AccessDenied", message=blocked)
    result = invoke("publish", "--bucket", "bpa-issuer", "--region", "eu-west-1", "--public-key", str(pub), "--create-bucket")
    assert (result.exit_code, result.stderr) == (1, (
        f"error: s3:PutBucketPolicy on s3://bpa-issuer failed (AccessDenied: {blocked.rstrip('.')}); S3 Block Public "
        "Access refuses the public read policy an S3-direct issuer needs: turn off BlockPublicPolicy for the account "
        "(aws s3control put-public-access-block, or the S3 console's account settings), or keep the bucket private and "
        "serve the issuer through CloudFront (bootstrap --cloudfront)\n"))
    assert "grant" not in result.stderr
