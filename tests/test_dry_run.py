"""``--dry-run`` writes nothing whatever the state, and a second bootstrap writes nothing, in both modes.

Each state is built for real (bootstrap, then the change a rotation or an operator makes), then the dry run
runs against it: no write call reaches AWS, everything in S3, IAM and CloudFront reads back the same
afterwards, and the exit code and JSON plan say whether there is something to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

BUCKET = "dry-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
PRIVATE = "dry-private-issuer"


def snapshot(aws: AwsWorld) -> dict[str, Any]:
    """Everything the tool could have changed, read straight from moto."""
    s3, iam, cf = aws.client("s3"), aws.client("iam"), aws.client("cloudfront")
    state: dict[str, Any] = {"buckets": {}, "providers": {}, "distributions": {}, "oacs": [], "cache_policies": {}}
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        versions = s3.list_object_versions(Bucket=name)
        entry: dict[str, Any] = {
            "versions": sorted((v["Key"], v["VersionId"]) for v in versions.get("Versions", [])),
            "markers": sorted((v["Key"], v["VersionId"]) for v in versions.get("DeleteMarkers", [])),
        }
        for call, member in (("get_bucket_policy", "Policy"), ("get_public_access_block", "PublicAccessBlockConfiguration"),
                             ("get_bucket_versioning", "Status"), ("get_bucket_tagging", "TagSet"),
                             ("get_bucket_encryption", "ServerSideEncryptionConfiguration")):
            try:
                entry[call] = getattr(s3, call)(Bucket=name).get(member)
            except s3.exceptions.ClientError as exc:
                entry[call] = exc.response["Error"]["Code"]
        state["buckets"][name] = entry
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
        state["providers"][provider["Arn"]] = (got["ClientIDList"], got["ThumbprintList"], got.get("Tags"))
    for summary in cf.list_distributions()["DistributionList"].get("Items", []) or []:
        config = cf.get_distribution_config(Id=summary["Id"])["DistributionConfig"]
        invalidations = cf.list_invalidations(DistributionId=summary["Id"])["InvalidationList"].get("Items", [])
        state["distributions"][summary["Id"]] = (json.dumps(config, sort_keys=True, default=str), len(invalidations or []))
    state["oacs"] = sorted(o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", []) or [])
    for item in cf.list_cache_policies(Type="custom")["CachePolicyList"].get("Items", []) or []:  # the stand-in's
        policy = item["CachePolicy"]
        etag = cf.get_cache_policy(Id=policy["Id"])["ETag"]
        state["cache_policies"][policy["Id"]] = (json.dumps(policy["CachePolicyConfig"], sort_keys=True), etag)
    return state


def keypair(tmp_path: Path, name: str) -> Path:
    return k.write(tmp_path / f"{name}.pub", k.public_pem(k.rsa_key()))


def bootstrap(*args: str) -> dict[str, Any]:
    result = invoke("bootstrap", *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.json()  # type: ignore[no-any-return]


# --- S3 direct --------------------------------------------------------------------------------------


def _nothing(aws: AwsWorld, one: Path) -> None:
    pass


def _bare_bucket(aws: AwsWorld, one: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)


def _no_provider(aws: AwsWorld, one: Path) -> None:
    bootstrap("--bucket", BUCKET, "--public-key", str(one))
    iam = aws.client("iam")
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])


def _documents_deleted(aws: AwsWorld, one: Path) -> None:
    bootstrap("--bucket", BUCKET, "--public-key", str(one))
    aws.client("s3").delete_object(Bucket=BUCKET, Key=".well-known/openid-configuration")


def _policy_and_versioning_drift(aws: AwsWorld, one: Path) -> None:
    bootstrap("--bucket", BUCKET, "--public-key", str(one))
    s3 = aws.client("s3")
    s3.delete_bucket_policy(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})


def _stale_thumbprint(aws: AwsWorld, one: Path) -> None:
    bootstrap("--bucket", BUCKET, "--public-key", str(one), "--thumbprint", "0" * 40)


def _clean(aws: AwsWorld, one: Path) -> None:
    bootstrap("--bucket", BUCKET, "--public-key", str(one))


S3_STATES: list[tuple[str, Callable[[AwsWorld, Path], None], bool]] = [
    ("nothing", _nothing, True),
    ("a bare bucket made elsewhere", _bare_bucket, True),
    ("published, provider deleted", _no_provider, True),
    ("discovery document deleted", _documents_deleted, True),
    ("bucket policy and versioning drifted", _policy_and_versioning_drift, True),
    ("stale thumbprint registered", _stale_thumbprint, True),
    ("everything in place", _clean, False),
]


@pytest.mark.parametrize("state", S3_STATES, ids=[s[0] for s in S3_STATES])
def test_bootstrap_dry_run_writes_nothing_whatever_the_state(
    aws: AwsWorld, front: Front, tmp_path: Path, state: tuple[str, Callable[[AwsWorld, Path], None], bool]
) -> None:
    name, build, changes = state
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    one = keypair(tmp_path, "one")
    build(aws, one)
    before = snapshot(aws)
    aws.recorder.reset()
    dry = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(one), "--dry-run", "-o", "json")
    assert dry.exit_code == (3 if changes else 0), (name, dry.stderr)
    assert aws.recorder.writes == [], (name, aws.recorder.writes)
    assert snapshot(aws) == before, name
    plan = dry.json()
    assert plan["dry_run"] is True
    assert plan["changed"] is changes
    assert bool(plan["changes"]) is changes
    assert all(set(c) >= {"resource", "action", "reason"} for c in plan["changes"])


@pytest.mark.parametrize("command", ["publish", "bootstrap"])
def test_the_json_plan_names_each_bucket_call_with_its_exact_parameters(
    aws: AwsWorld, front: Front, tmp_path: Path, command: str
) -> None:
    front(BUCKET, ("*.s3.us-east-1.amazonaws.com",))
    one = keypair(tmp_path, "one")
    create = ["--create-bucket"] if command == "publish" else []
    dry = invoke(command, "--bucket", BUCKET, "--public-key", str(one), *create, "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert aws.recorder.writes == []
    # Written out in full (not rebuilt with the planner): this is what the executor would send.
    assert [c["operation"] for c in dry.json()["changes"] if c["resource"] == f"s3://{BUCKET}"] == [
        {
            "call": "s3:CreateBucket",
            "params": {
                "Bucket": BUCKET,
                "ObjectOwnership": "BucketOwnerEnforced",
                "CreateBucketConfiguration": {
                    "Tags": [{"Key": "managed-by", "Value": "oidc-publisher"}, {"Key": "oidc-publisher:issuer", "Value": ISSUER}]
                },
            },
            "region": "us-east-1",
        },
        {
            "call": "s3:PutPublicAccessBlock",
            "params": {
                "Bucket": BUCKET,
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False,
                },
            },
            "region": "us-east-1",
        },
        {
            "call": "s3:PutBucketEncryption",
            "params": {
                "Bucket": BUCKET,
                "ServerSideEncryptionConfiguration": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            },
            "region": "us-east-1",
        },
        {
            "call": "s3:PutBucketVersioning",
            "params": {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}},
            "region": "us-east-1",
        },
        {
            "call": "s3:PutBucketPolicy",
            "params": {
                "Bucket": BUCKET,
                "Policy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "OidcPublisherPublicRead", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
                            "Resource": [f"arn:aws:s3:::{BUCKET}/.well-known/openid-configuration",
                                         f"arn:aws:s3:::{BUCKET}/openid/v1/jwks"],
                        },
                        {
                            "Sid": "OidcPublisherDenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": ["s3:*"],
                            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
            "region": "us-east-1",
        },
    ]


@pytest.mark.parametrize("state", ["nothing", "published", "a key added"])
def test_publish_dry_run_writes_nothing_whatever_the_state(aws: AwsWorld, tmp_path: Path, state: str) -> None:
    one, two = keypair(tmp_path, "one"), keypair(tmp_path, "two")
    aws.client("s3").create_bucket(Bucket=BUCKET)
    keys = ["--public-key", str(one)]
    if state != "nothing":
        assert invoke("publish", "--bucket", BUCKET, *keys).exit_code == 0
    if state == "a key added":
        keys += ["--public-key", str(two)]
    before = snapshot(aws)
    aws.recorder.reset()
    dry = invoke("publish", "--bucket", BUCKET, *keys, "--dry-run", "-o", "json")
    assert dry.exit_code == (0 if state == "published" else 3), dry.stderr
    assert aws.recorder.writes == []
    assert snapshot(aws) == before


# --- behind CloudFront ------------------------------------------------------------------------------


def test_cloudfront_bootstrap_again_writes_nothing_and_dry_runs_never_write(
    aws: AwsWorld, front: Front, tmp_path: Path
) -> None:
    front(PRIVATE, ("*.cloudfront.net",))
    one, two = keypair(tmp_path, "one"), keypair(tmp_path, "two")
    cloudfront = ["--bucket", PRIVATE, "--cloudfront"]

    # From nothing: the distribution's name is not known yet, and nothing is created to learn it.
    dry = invoke("bootstrap", *cloudfront, "--public-key", str(one), "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert aws.recorder.writes == []
    assert snapshot(aws) == {"buckets": {}, "providers": {}, "distributions": {}, "oacs": [], "cache_policies": {}}
    assert {"create"} <= {c["action"] for c in dry.json()["changes"]}
    assert ("create", f"cloudfront:cache-policy/oidc-publisher-{PRIVATE}") in [
        (c["action"], c["resource"]) for c in dry.json()["changes"]
    ]

    first = bootstrap(*cloudfront, "--public-key", str(one))
    assert first["changed"] is True

    # The second bootstrap: reads only.
    aws.recorder.reset()
    again = bootstrap(*cloudfront, "--public-key", str(one))
    assert again["changed"] is False
    assert again["distribution_id"] == first["distribution_id"]
    assert aws.recorder.writes == [], aws.recorder.writes

    # A key added, then the distribution disabled by hand: each time the dry run plans and writes nothing.
    before = snapshot(aws)
    aws.recorder.reset()
    added = invoke("bootstrap", *cloudfront, "--public-key", str(one), "--public-key", str(two), "--dry-run", "-o", "json")
    assert added.exit_code == 3, added.stderr
    assert [(c["action"], c["resource"]) for c in added.json()["changes"]] == [
        ("write", f"s3://{PRIVATE}/openid/v1/jwks"),
        ("write", f"s3://{PRIVATE}/.oidc-publisher/state.json"),
        ("invalidate", f"cloudfront:{first['distribution_id']}"),
    ]
    assert aws.recorder.writes == []
    assert snapshot(aws) == before

    cf = aws.client("cloudfront")
    current = cf.get_distribution_config(Id=first["distribution_id"])
    config = {**current["DistributionConfig"], "Enabled": False}
    cf.update_distribution(Id=first["distribution_id"], IfMatch=current["ETag"], DistributionConfig=config)
    before = snapshot(aws)
    aws.recorder.reset()
    disabled = invoke("bootstrap", *cloudfront, "--public-key", str(one), "--dry-run", "-o", "json")
    assert disabled.exit_code == 3, disabled.stderr
    assert [c["reason"] for c in disabled.json()["changes"]] == ["enable it"]
    assert aws.recorder.writes == []
    assert snapshot(aws) == before

    # The cache policy's TTL changed by hand: the dry run plans it back and writes nothing.
    [item] = cf.list_cache_policies(Type="custom")["CachePolicyList"]["Items"]
    policy_id, policy = item["CachePolicy"]["Id"], item["CachePolicy"]["CachePolicyConfig"]
    etag = cf.get_cache_policy(Id=policy_id)["ETag"]
    cf.update_cache_policy(Id=policy_id, IfMatch=etag, CachePolicyConfig={**policy, "DefaultTTL": 86400})
    before = snapshot(aws)
    aws.recorder.reset()
    drifted = invoke("bootstrap", *cloudfront, "--public-key", str(one), "--dry-run", "-o", "json")
    assert drifted.exit_code == 3, drifted.stderr
    assert [(c["action"], c["resource"], c["reason"]) for c in drifted.json()["changes"]] == [
        ("update", f"cloudfront:cache-policy/oidc-publisher-{PRIVATE}", "TTL 0-86400-3600s -> 0-300-3600s"),
        ("update", f"cloudfront:distribution/{first['distribution_id']}", "enable it"),
    ]
    assert aws.recorder.writes == []
    assert snapshot(aws) == before


def test_cloudfront_custom_domain_is_the_issuer(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """--issuer-url names a custom domain: the distribution gets it as an alias with the ACM certificate,
    and the documents, the provider and the thumbprint are for that host (not *.cloudfront.net)."""
    _, chain = front(PRIVATE, ("oidc.example.com",))
    one = keypair(tmp_path, "one")
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/0b1f8d2c-5a3e-4c6f-9d7a-1e2f3a4b5c6d"
    args = ("--bucket", PRIVATE, "--cloudfront", "--issuer-url", "https://oidc.example.com/prod",
            "--acm-certificate-arn", cert, "--public-key", str(one))
    first = bootstrap(*args)
    assert first["issuer"] == "https://oidc.example.com/prod"
    config = aws.client("cloudfront").get_distribution_config(Id=first["distribution_id"])["DistributionConfig"]
    assert config["Aliases"]["Items"] == ["oidc.example.com"]
    viewer = config["ViewerCertificate"]
    assert (viewer["ACMCertificateArn"], viewer["SSLSupportMethod"]) == (cert, "sni-only")
    discovery = json.loads(aws.client("s3").get_object(Bucket=PRIVATE, Key="prod/.well-known/openid-configuration")["Body"].read())
    assert (discovery["issuer"], discovery["jwks_uri"]) == ("https://oidc.example.com/prod", "https://oidc.example.com/prod/openid/v1/jwks")
    assert first["provider_arn"] == "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/prod"
    provider = aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=first["provider_arn"])
    assert provider["ThumbprintList"] == [chain.expected_thumbprint]
    aws.recorder.reset()
    assert bootstrap(*args)["changed"] is False
    assert aws.recorder.writes == []


@pytest.mark.parametrize("mode", ["s3-direct", "cloudfront"])
def test_the_printed_rotation_job_command_runs(aws: AwsWorld, front: Front, tmp_path: Path, mode: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """bootstrap's 'what comes next' ends with the rotation job's command: run as printed, it renders
    (for a CloudFront issuer it must carry --region and --distribution-id, or templates render refuses)."""
    import shlex

    bucket, extra = (BUCKET, []) if mode == "s3-direct" else (PRIVATE, ["--cloudfront", "--region", "eu-west-1"])
    front(bucket, ("*.s3.us-east-1.amazonaws.com", "*.cloudfront.net"))
    result = invoke("bootstrap", "--bucket", bucket, *extra, "--public-key", str(keypair(tmp_path, "one")))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "--distribution rotation-job" in line)
    command = " ".join(line.strip().rstrip("\\") for line in lines[start : start + 2])
    args = shlex.split(command)
    assert args[0] == "oidc-publisher"
    assert "arn:aws:iam::123456789012:role/oidc-publisher" in args
    monkeypatch.chdir(tmp_path)
    rendered = invoke(*args[1:])
    assert rendered.exit_code == 0, (command, rendered.stderr)
    policy = json.loads((tmp_path / "rotation-job" / "iam-policy.json").read_text())
    invalidates = [s for s in policy["Statement"] if s["Action"] == "cloudfront:CreateInvalidation"]
    assert len(invalidates) == (1 if mode == "cloudfront" else 0)
