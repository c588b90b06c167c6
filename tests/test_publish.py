"""``publish`` against moto's server: real bytes in the bucket, counted calls, conditional writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oidc_publisher.core.documents import build_documents
from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.keys import load_public_keys_pem
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.motoserver import AwsWorld

BUCKET = "demo-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"


@pytest.fixture
def bucket(aws: AwsWorld) -> AwsWorld:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    return aws


def read(aws: AwsWorld, key: str) -> dict:
    obj = aws.client("s3").get_object(Bucket=BUCKET, Key=key)
    return {"body": obj["Body"].read(), "type": obj["ContentType"], "cache": obj.get("CacheControl")}


def keyfile(tmp_path: Path, name: str, pem: bytes) -> Path:
    return k.write(tmp_path / name, pem)


def test_publish_writes_documents_then_is_a_no_op(bucket: AwsWorld, tmp_path: Path) -> None:
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    first = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "-o", "json")
    assert first.exit_code == 0, first.stderr
    expected = build_documents(parse_issuer(ISSUER), load_public_keys_pem(k.K8S_RSA_PUBLIC_KEY, "x"))
    jwks = read(bucket, "openid/v1/jwks")
    discovery = read(bucket, ".well-known/openid-configuration")
    assert jwks == {"body": expected.jwks, "type": "application/json", "cache": "public, max-age=300"}
    assert discovery == {"body": expected.discovery, "type": "application/json", "cache": "public, max-age=300"}
    assert json.loads(discovery["body"])["issuer"] == ISSUER
    state = json.loads(read(bucket, ".oidc-publisher/state.json")["body"])
    assert list(state["keys"]) == [k.K8S_RSA_KID]
    # JWKS before discovery, then the private state.
    puts = [op for op in bucket.recorder.operations("s3") if op == "PutObject"]
    assert len(puts) == 3
    assert first.json()["changed"] is True

    bucket.recorder.reset()
    again = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "-o", "json")
    assert again.exit_code == 0
    assert again.json()["changed"] is False
    assert bucket.recorder.writes == []
    assert bucket.recorder.calls == [("s3", "GetObject"), ("s3", "GetObject")]  # the budget: two reads


def test_write_order_is_jwks_discovery_state(bucket: AwsWorld, tmp_path: Path) -> None:
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    invoke("publish", "--bucket", BUCKET, "--public-key", str(pub))
    assert bucket.recorder.puts() == [
        f"/{BUCKET}/openid/v1/jwks",
        f"/{BUCKET}/.well-known/openid-configuration",
        f"/{BUCKET}/.oidc-publisher/state.json",
    ]


def test_adding_a_key_rewrites_only_the_jwks_and_state(bucket: AwsWorld, tmp_path: Path) -> None:
    one = keyfile(tmp_path, "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = keyfile(tmp_path, "two.pub", k.public_pem(k.rsa_key()))
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(one)).exit_code == 0
    bucket.recorder.reset()
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two), "-o", "json")
    assert result.exit_code == 0, result.stderr
    writes = [c["resource"] for c in result.json()["changes"]]
    assert writes == [f"s3://{BUCKET}/openid/v1/jwks", f"s3://{BUCKET}/.oidc-publisher/state.json"]
    assert bucket.recorder.writes == [("s3", "PutObject"), ("s3", "PutObject")]
    assert len(json.loads(read(bucket, "openid/v1/jwks")["body"])["keys"]) == 2


def test_dry_run_writes_nothing_and_exits_3(bucket: AwsWorld, tmp_path: Path) -> None:
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--dry-run")
    assert result.exit_code == 3
    assert "Would change:" in result.stdout
    assert bucket.recorder.writes == []
    assert "Contents" not in bucket.client("s3").list_objects_v2(Bucket=BUCKET)
    invoke("publish", "--bucket", BUCKET, "--public-key", str(pub))
    bucket.recorder.reset()
    clean = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub), "--dry-run")
    assert clean.exit_code == 0
    assert bucket.recorder.writes == []


def test_prefix_and_custom_issuer(bucket: AwsWorld, tmp_path: Path) -> None:
    pub = keyfile(tmp_path, "sa.pub", k.K8S_EC_PUBLIC_KEY)
    result = invoke("publish", "--bucket", BUCKET, "--issuer-url", "https://oidc.example.com/prod", "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    body = json.loads(read(bucket, "prod/.well-known/openid-configuration")["body"])
    assert body["issuer"] == "https://oidc.example.com/prod"
    assert body["jwks_uri"] == "https://oidc.example.com/prod/openid/v1/jwks"
    assert body["id_token_signing_alg_values_supported"] == ["ES256"]


def test_missing_bucket_is_a_clear_error(aws: AwsWorld, tmp_path: Path) -> None:
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", "nope-bucket", "--public-key", str(pub))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: bucket nope-bucket does not exist; create it with 'oidc-publisher bootstrap' or "
        "'publish --create-bucket', or check --bucket and the region"
    )


def test_a_failure_between_writes_never_leaves_discovery_ahead(bucket: AwsWorld, tmp_path: Path) -> None:
    one = keyfile(tmp_path, "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = keyfile(tmp_path, "two.pub", k.K8S_EC_PUBLIC_KEY)  # adds ES256: the discovery document changes too
    invoke("publish", "--bucket", BUCKET, "--public-key", str(one))
    # The JWKS write goes through; the discovery write (the second) fails on every attempt botocore makes.
    bucket.proxy.fail_next("PutObject", 500, times=5, after=1)
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: s3:PutObject on s3://{BUCKET}/.well-known/openid-configuration failed (InternalError: injected by the test); "
        "AWS kept failing after retries: re-run later (the next run converges)"
    )
    # The JWKS already holds both keys; the discovery document is the old one, whose JWKS still has k1.
    jwks = json.loads(read(bucket, "openid/v1/jwks")["body"])
    assert {key["kid"] for key in jwks["keys"]} == {k.K8S_RSA_KID, k.K8S_EC_KID}
    assert json.loads(read(bucket, ".well-known/openid-configuration")["body"])["id_token_signing_alg_values_supported"] == ["RS256"]
    retry = invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two), "-o", "json")
    assert retry.exit_code == 0, retry.stderr
    assert json.loads(read(bucket, ".well-known/openid-configuration")["body"])["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    bucket.recorder.reset()
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two)).exit_code == 0
    assert bucket.recorder.writes == []


def test_transient_faults_are_retried(bucket: AwsWorld, tmp_path: Path) -> None:
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    bucket.proxy.fail_next("GetObject", 503, "SlowDown", times=2)
    bucket.proxy.fail_next("PutObject", 500, times=2)
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    assert read(bucket, "openid/v1/jwks")["body"] == build_documents(
        parse_issuer(ISSUER), load_public_keys_pem(k.K8S_RSA_PUBLIC_KEY, "x")
    ).jwks


def test_concurrent_writer_is_detected_and_merged(bucket: AwsWorld, tmp_path: Path) -> None:
    """Two job pods: the other one writes the JWKS between our read and our write. Our conditional
    write fails, we re-read, and the other writer's key is kept (retained), never lost."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.publish import PublishSettings, publish
    from oidc_publisher.sources import KeySource

    one = keyfile(tmp_path, "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = keyfile(tmp_path, "two.pub", k.K8S_EC_PUBLIC_KEY)
    three = keyfile(tmp_path, "three.pub", k.public_pem(k.rsa_key()))
    invoke("publish", "--bucket", BUCKET, "--public-key", str(one))
    clients = AwsClients(region="us-east-1")
    s3 = clients.s3("us-east-1")
    original_put = s3.put_object
    raced = []

    def racing_put(**kwargs):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            # The other pod, which already sees key two, publishes first.
            other = invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two))
            assert other.exit_code == 0
        return original_put(**kwargs)

    s3.put_object = racing_put  # type: ignore[method-assign]
    # This pod sees keys one and three (the API servers it and the other pod asked disagree for a moment).
    report = publish(PublishSettings(bucket=BUCKET, source=KeySource(public_keys=(one, three))), clients)
    assert raced
    kids = {key["kid"] for key in json.loads(read(bucket, "openid/v1/jwks")["body"])["keys"]}
    assert k.K8S_EC_KID in kids, "the other writer's key was lost"
    assert len(kids) == 3
    assert [r.kid for r in report.retained] == [k.K8S_EC_KID]


def test_create_bucket_sets_up_a_hardened_bucket(aws: AwsWorld, tmp_path: Path) -> None:
    from oidc_publisher.aws.s3 import normalise_policy
    from oidc_publisher.core.policies import bucket_policy

    bucket_name = "fresh-issuer"
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    dry = invoke("publish", "--bucket", bucket_name, "--region", "eu-west-1", "--public-key", str(pub), "--create-bucket", "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert aws.recorder.writes == []
    assert [c["action"] for c in dry.json()["changes"]][0] == "create"

    result = invoke("publish", "--bucket", bucket_name, "--region", "eu-west-1", "--public-key", str(pub), "--create-bucket")
    assert result.exit_code == 0, result.stderr
    s3 = aws.client("s3", "eu-west-1")
    assert s3.get_bucket_location(Bucket=bucket_name)["LocationConstraint"] == "eu-west-1"
    assert s3.get_bucket_ownership_controls(Bucket=bucket_name)["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert s3.get_public_access_block(Bucket=bucket_name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False,
    }
    assert s3.get_bucket_versioning(Bucket=bucket_name)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket_name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket_name)["TagSet"]}
    assert tags == {"managed-by": "oidc-publisher", "oidc-publisher:issuer": f"https://{bucket_name}.s3.eu-west-1.amazonaws.com"}
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket_name)["Policy"])
    assert normalise_policy(policy) == normalise_policy(bucket_policy("aws", bucket_name, ["openid/v1/jwks", ".well-known/openid-configuration"]))
    read_statement = normalise_policy(policy)["Statement"][0]
    # Public read names exactly the two documents: never the state object, never a wildcard.
    assert read_statement["Resource"] == [
        f"arn:aws:s3:::{bucket_name}/.well-known/openid-configuration",
        f"arn:aws:s3:::{bucket_name}/openid/v1/jwks",
    ]
    acl = s3.get_object_acl(Bucket=bucket_name, Key="openid/v1/jwks")
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]  # owner only: no ACL was written

    aws.recorder.reset()
    again = invoke("publish", "--bucket", bucket_name, "--region", "eu-west-1", "--public-key", str(pub), "--create-bucket", "-o", "json")
    assert again.exit_code == 0
    assert again.json()["changed"] is False
    assert aws.recorder.writes == []


def test_two_issuers_share_one_bucket_policy(aws: AwsWorld, tmp_path: Path) -> None:
    bucket_name = "fleet-issuers"
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    for prefix in ("prod", "staging"):
        result = invoke("publish", "--bucket", bucket_name, "--prefix", prefix, "--public-key", str(pub), "--create-bucket")
        assert result.exit_code == 0, result.stderr
    policy = json.loads(aws.client("s3").get_bucket_policy(Bucket=bucket_name)["Policy"])
    assert [s for s in policy["Statement"] if s["Effect"] == "Allow"][0]["Resource"] == sorted(
        f"arn:aws:s3:::{bucket_name}/{p}/{doc}" for p in ("prod", "staging") for doc in (".well-known/openid-configuration", "openid/v1/jwks")
    )


def test_s3_direct_bucket_with_dots_is_refused(aws: AwsWorld, tmp_path: Path) -> None:
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", "my.issuer", "--public-key", str(pub), "--create-bucket")
    assert (result.exit_code, result.stderr.strip()) == (
        2,
        "error: bucket name 'my.issuer' contains dots, which S3's wildcard certificate does not cover; "
        "choose a name without dots, or serve the issuer through CloudFront (--cloudfront)",
    )
    assert aws.recorder.calls == []


def test_a_mistyped_issuer_is_explained_not_called_another_issuer(bucket: AwsWorld, tmp_path: Path) -> None:
    """A wrong --region or a trailing slash lands on the same issuer's state: say what differs, and the fix."""
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    two = keyfile(tmp_path, "two.pub", k.K8S_EC_PUBLIC_KEY)
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    bucket.recorder.reset()
    wrong_region = invoke("publish", "--bucket", BUCKET, "--region", "eu-west-1", "--public-key", str(pub), "--public-key", str(two))
    eu = f"https://{BUCKET}.s3.eu-west-1.amazonaws.com"
    assert (wrong_region.exit_code, wrong_region.stderr) == (1, (
        f"error: s3://{BUCKET}/.oidc-publisher/state.json belongs to issuer {ISSUER}, not {eu}: the region differs "
        f"(us-east-1 recorded, eu-west-1 here); nothing was written; give --region us-east-1 (the region the issuer was published for), "
        f"or --issuer-url {ISSUER}\n"))
    slash = invoke("publish", "--bucket", BUCKET, "--issuer-url", ISSUER + "/", "--public-key", str(pub), "--public-key", str(two))
    assert (slash.exit_code, slash.stderr) == (1, (
        f"error: s3://{BUCKET}/.oidc-publisher/state.json belongs to issuer {ISSUER}, not {ISSUER}/: only a trailing "
        "slash differs (this one ends with '/' and the recorded one does not); nothing was written; the issuer must match the tokens' iss "
        f"byte for byte: if the cluster's --service-account-issuer is {ISSUER}, give --issuer-url {ISSUER}, slash and all\n"))
    assert bucket.recorder.writes == []


def test_without_any_region_the_bucket_says_where_it_is(aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --region and no AWS_REGION: S3 says the bucket's region (one HeadBucket); with --region, no extra call."""
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    aws.client("s3", "eu-west-1").create_bucket(
        Bucket="far-issuer", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    pub = keyfile(tmp_path, "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", "far-issuer", "--public-key", str(pub), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["issuer"] == "https://far-issuer.s3.eu-west-1.amazonaws.com"
    assert aws.recorder.operations("s3").count("HeadBucket") == 1
    aws.recorder.reset()
    again = invoke("publish", "--bucket", "far-issuer", "--public-key", str(pub), env={"OIDC_PUBLISHER_REGION": "eu-west-1"})
    assert again.exit_code == 0, again.stderr
    assert aws.recorder.operations("s3") == ["GetObject", "GetObject"]  # the rotation job's steady state
    missing = invoke("publish", "--bucket", "no-such-issuer", "--public-key", str(pub))
    assert (missing.exit_code, missing.stderr) == (1, (
        "error: s3:ListBucket on s3://no-such-issuer failed (NoSuchBucket): it does not exist, so its region is "
        "unknown; check --bucket, or create it with 'oidc-publisher bootstrap' (give --region)\n"))


@pytest.mark.parametrize(("status", "code"), [(412, "PreconditionFailed"), (409, "ConditionalRequestConflict"),
                                              (409, "OperationAborted"), (404, "NoSuchKey"),
                                              (412, "SomeNewPreconditionCode")])
def test_a_conditional_write_that_lost_a_race_is_retried_from_a_fresh_read(
    bucket: AwsWorld, tmp_path: Path, status: int, code: str
) -> None:
    """Whatever way S3 says another writer won (a failed If-Match, a concurrent conditional write, the object
    deleted since it was read, or just the status of one: 409/412), the run reads again and converges
    (aws/s3.lost_race, through the executor)."""
    one = keyfile(tmp_path, "one.pub", k.K8S_RSA_PUBLIC_KEY)
    two = keyfile(tmp_path, "two.pub", k.public_pem(k.rsa_key()))
    assert invoke("publish", "--bucket", BUCKET, "--public-key", str(one)).exit_code == 0
    bucket.recorder.reset()
    bucket.proxy.fail_next("PutObject", status, code)
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two))
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(read(bucket, "openid/v1/jwks")["body"])["keys"]) == 2
    # The JWKS write refused, then the three reads again, the JWKS and the state written.
    assert bucket.recorder.operations() == ["GetObject"] * 3 + ["PutObject"] + ["GetObject"] * 3 + ["PutObject"] * 2


def test_a_missing_object_on_a_write_that_expected_none_is_an_error(bucket: AwsWorld, tmp_path: Path) -> None:
    """NoSuchKey means a lost race only on an If-Match write; on a first write (If-None-Match) it is S3's error."""
    one = keyfile(tmp_path, "one.pub", k.K8S_RSA_PUBLIC_KEY)
    bucket.proxy.fail_next("PutObject", 404, "NoSuchKey")
    result = invoke("publish", "--bucket", BUCKET, "--public-key", str(one))
    assert (result.exit_code, result.stderr.splitlines()[0].split(" failed ")[0]) == (
        1, f"error: s3:PutObject on s3://{BUCKET}/openid/v1/jwks")
    assert "NoSuchKey" in result.stderr and len(result.stderr.splitlines()) == 1
    assert bucket.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
