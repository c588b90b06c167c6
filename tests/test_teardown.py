"""``teardown`` against moto's server: everything the tool created goes, nothing else is touched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from oidc_publisher.cli import teardown as teardown_cli
from oidc_publisher.commands.teardown import _settle, _without_keys, tombstone_tag_value
from oidc_publisher.core.plan import Change, Plan
from oidc_publisher.core.policies import CLOUDFRONT_READ_SID, DENY_INSECURE_SID, PUBLIC_READ_SID
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.deployments import finish_deployments
from tests.support.fronts import Front
from tests.support.irsa import ACCOUNT, BUCKET, HOST, ISSUER, PROVIDER, READONLY, seed_issuer
from tests.support.motoserver import AwsWorld
from tests.test_cloudfront import origins_keep_their_oac  # noqa: F401 - a fixture

OTHER_ACCOUNT = "111111111111"
JWKS, DISCOVERY, STATE = "openid/v1/jwks", ".well-known/openid-configuration", ".oidc-publisher/state.json"
OTHER_ACCOUNTS_WARNING = (f"warning: IAM OIDC providers in other accounts cannot be seen from here: if one trusts {ISSUER}, "
                          f"whoever re-creates s3://{BUCKET} can mint tokens for the roles that trust it")
TOMBSTONE_NOTE = (f"kept s3://{BUCKET} as a tombstone (empty, private, tagged oidc-publisher:tombstone): its name is the "
                  f"issuer's host, and whoever re-created it could mint tokens for every role that trusts {ISSUER} through "
                  "an IAM provider in any account; delete it with --delete-bucket once no provider trusts the issuer")


@pytest.fixture
def issuer(aws: AwsWorld, front: Front, tmp_path: Path) -> AwsWorld:
    return seed_issuer(aws, front, tmp_path)


def versions(world: AwsWorld, bucket: str) -> list[tuple[str, bool]]:
    """(key, is a delete marker) for every version in the bucket."""
    listing = world.client("s3").list_object_versions(Bucket=bucket)
    return sorted([(v["Key"], False) for v in listing.get("Versions", [])] + [(m["Key"], True) for m in listing.get("DeleteMarkers", [])])


def test_teardown_removes_what_the_tool_made_and_nothing_else(issuer: AwsWorld, tmp_path: Path) -> None:
    s3, iam = issuer.client("s3"), issuer.client("iam")
    # Things that are not the tool's.
    s3.create_bucket(Bucket="unrelated-bucket")
    s3.put_object(Bucket="unrelated-bucket", Key="keep", Body=b"x")
    iam.create_open_id_connect_provider(Url="https://unrelated.example.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    iam.create_role(RoleName="unrelated-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    # A role for the issuer (kept: roles are their owners' to delete).
    assert invoke("role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-arn", READONLY,
                  "--role-name", "irsa-roles-issuer-d-a").exit_code == 0
    # History in the versioned bucket: a second version of the JWKS, and a delete marker under the discovery document.
    s3.put_object(Bucket=BUCKET, Key=JWKS, Body=s3.get_object(Bucket=BUCKET, Key=JWKS)["Body"].read())
    body = s3.get_object(Bucket=BUCKET, Key=DISCOVERY)["Body"].read()
    s3.delete_object(Bucket=BUCKET, Key=DISCOVERY)
    s3.put_object(Bucket=BUCKET, Key=DISCOVERY, Body=body)
    assert (DISCOVERY, True) in versions(issuer, BUCKET)
    issuer.recorder.reset()

    refused = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET)
    assert (refused.exit_code, refused.stderr) == (2, "error: refusing to tear down without confirmation: no terminal is attached; "
                                                      "re-run with --yes (or --dry-run to see what would go)\n")
    assert issuer.recorder.calls == []

    dry = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert [(c["action"], c["resource"]) for c in dry.json()["changes"]] == [
        ("delete", f"iam:oidc-provider/{HOST}"),
        ("delete", f"s3://{BUCKET}/{STATE}"),
        ("delete", f"s3://{BUCKET}/{DISCOVERY}"),
        ("delete", f"s3://{BUCKET}/{JWKS}"),
        ("delete", f"s3://{BUCKET}"),
    ]
    assert issuer.recorder.writes == []
    text = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--dry-run")
    assert text.stdout.startswith(f"Would change:\n  delete     iam:oidc-provider/{HOST}: created by oidc-publisher\n")

    done = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["notes"] == ["roles that trust this issuer are kept (delete them yourself): irsa-roles-issuer-d-a",
                                    OTHER_ACCOUNTS_WARNING]
    # Nothing of the tool's is left ...
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["unrelated-bucket"]
    assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/unrelated.example.com"]
    # ... and everything else is as it was.
    assert s3.get_object(Bucket="unrelated-bucket", Key="keep")["Body"].read() == b"x"
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == ["irsa-roles-issuer-d-a", "unrelated-role"]
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="irsa-roles-issuer-d-a")["AttachedPolicies"]] == [READONLY]
    deletes = [op for service, op in issuer.recorder.writes]
    assert deletes == ["DeleteOpenIDConnectProvider", "DeleteObjects", "DeleteBucket"]

    issuer.recorder.reset()
    again = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--yes")
    assert again.exit_code == 0
    assert again.stdout == (f"Nothing of this issuer's to remove.\nno IAM OIDC provider is registered for {ISSUER}\n"
                            "roles that trust this issuer are kept (delete them yourself): irsa-roles-issuer-d-a\n"
                            f"s3://{BUCKET} does not exist\n")
    assert issuer.recorder.writes == []


def test_a_bucket_holding_other_objects_is_kept(issuer: AwsWorld) -> None:
    s3 = issuer.client("s3")
    s3.put_object(Bucket=BUCKET, Key="other-cluster/openid/v1/jwks", Body=b"{}")
    done = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["notes"] == [f"kept s3://{BUCKET}: it holds 1 other object(s)"]
    assert versions(issuer, BUCKET) == [("other-cluster/openid/v1/jwks", False)]
    assert issuer.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_what_the_tool_did_not_create_is_kept(aws: AwsWorld, tmp_path: Path) -> None:
    """A bucket and a provider made by someone else: only the issuer's own objects (and its lines in the
    bucket policy) go."""
    s3, iam = aws.client("s3"), aws.client("iam")
    s3.create_bucket(Bucket="theirs")
    s3.put_object(Bucket="theirs", Key="data.csv", Body=b"a,b")
    issuer = "https://issuer.example.com/prod"
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    published = invoke("publish", "--issuer-url", issuer, "--bucket", "theirs", "--public-key", str(pub))
    assert published.exit_code == 0, published.stderr
    theirs_statement = {"Sid": "Theirs", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::theirs/data.csv"}
    read = {"Sid": PUBLIC_READ_SID, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::theirs/prod/{JWKS}", f"arn:aws:s3:::theirs/prod/{DISCOVERY}", "arn:aws:s3:::theirs/other/x"]}
    s3.put_bucket_policy(Bucket="theirs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs_statement, read]}))
    arn = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["b" * 40])["OpenIDConnectProviderArn"]
    keys = sorted(key for key, _ in versions(aws, "theirs"))
    assert keys == ["data.csv", f"prod/{STATE}", f"prod/{DISCOVERY}", f"prod/{JWKS}"]
    aws.recorder.reset()
    done = invoke("teardown", "--issuer-url", issuer, "--bucket", "theirs", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    body = done.json()
    assert body["notes"] == [f"kept the IAM provider {arn}: it is not tagged managed-by=oidc-publisher",
                             "kept s3://theirs: it is not tagged managed-by=oidc-publisher"]
    assert [(c["action"], c["resource"]) for c in body["changes"]] == [
        ("delete", f"s3://theirs/prod/{STATE}"), ("delete", f"s3://theirs/prod/{DISCOVERY}"), ("delete", f"s3://theirs/prod/{JWKS}"),
        ("update", "s3://theirs"),
    ]
    assert versions(aws, "theirs") == [("data.csv", False)]
    assert json.loads(s3.get_bucket_policy(Bucket="theirs")["Policy"])["Statement"] == [
        theirs_statement, {**read, "Resource": ["arn:aws:s3:::theirs/other/x"]}]
    assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [arn]
    # Their bucket is listed key by key (it may be large), not as a whole.
    assert aws.recorder.operations("s3").count("ListObjectVersions") == 3


def test_another_issuers_objects_are_refused_before_any_write(issuer: AwsWorld) -> None:
    """A mistyped --issuer-url whose object keys land on another issuer's documents (the same bucket root)."""
    s3 = issuer.client("s3")
    before = versions(issuer, BUCKET)
    wrong = "https://oidc.example.com"
    for extra in ((), ("--dry-run",)):
        result = invoke("teardown", "--issuer-url", wrong, "--bucket", BUCKET, "--yes", *extra)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", (
            f"error: s3://{BUCKET}/{STATE} belongs to issuer {ISSUER}, not {wrong}: the host differs "
            f"({ISSUER.removeprefix('https://')} vs oidc.example.com); nothing was removed; if the cluster's "
            f"--service-account-issuer is {ISSUER}, give --issuer-url {ISSUER}; a different issuer needs its own "
            "--prefix or bucket (teardown removes only this issuer's objects)\n"))
    # Documents uploaded without the tool's state object (Terraform): the discovery document names its issuer.
    for version in s3.list_object_versions(Bucket=BUCKET, Prefix=STATE)["Versions"]:
        s3.delete_object(Bucket=BUCKET, Key=STATE, VersionId=version["VersionId"])
    before = versions(issuer, BUCKET)
    result = invoke("teardown", "--issuer-url", wrong, "--bucket", BUCKET, "--yes")
    assert (result.exit_code, result.stderr) == (1, (
        f"error: s3://{BUCKET}/{DISCOVERY} belongs to issuer {ISSUER}, not {wrong}: the host differs "
        f"({ISSUER.removeprefix('https://')} vs oidc.example.com); nothing was removed; if the cluster's "
        f"--service-account-issuer is {ISSUER}, give --issuer-url {ISSUER}; a different issuer needs its own "
        "--prefix or bucket (teardown removes only this issuer's objects)\n"))
    assert issuer.recorder.writes == []
    assert versions(issuer, BUCKET) == before
    assert issuer.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] != []
    # The right issuer still tears down.
    assert invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--yes").exit_code == 0
    assert s3.list_buckets()["Buckets"] == []


def test_confirmation(issuer: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teardown_cli, "stdin_is_terminal", lambda: True)
    no = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", input="n\n")
    assert no.exit_code == 1
    assert no.stdout.endswith("\nCancelled: nothing was removed.\n")  # CliRunner echoes the answer to stdout
    assert f"delete     s3://{BUCKET}: created by oidc-publisher" in no.stderr
    assert f"\n{OTHER_ACCOUNTS_WARNING}\nRemove all of this? [y/N]" in no.stderr  # the warning comes before the question
    assert issuer.recorder.writes == []
    yes = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", input="y\n")
    assert yes.exit_code == 0, yes.stderr
    assert "\nChanged:\n" in yes.stdout
    assert issuer.client("s3").list_buckets()["Buckets"] == []


def cloudfront_name_note(issuer_url: str) -> str:
    host = issuer_url.removeprefix("https://")
    return (f"the issuer's host {host} is the distribution's own name: nobody can claim it once the distribution is deleted "
            "(a new distribution gets another name), so the distribution and its bucket can go")


def other_account(world: AwsWorld, service: str) -> Any:
    """A client of another AWS account (moto scopes AssumeRole's credentials to the role's account)."""
    import boto3

    creds = world.client("sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/x", RoleSessionName="stranger")["Credentials"]
    return boto3.client(service, region_name="us-east-1", endpoint_url=world.moto_endpoint, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def refused(call: Callable[[], object]) -> tuple[int, str]:
    """The HTTP status and error code of a call that fails (moto answers a policy's Deny with a bare 403)."""
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["ResponseMetadata"]["HTTPStatusCode"], str(caught.value.response["Error"]["Code"])


TOMBSTONE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "OidcPublisherTombstone", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
     "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}},
    {"Sid": DENY_INSECURE_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
]}


def test_an_s3_direct_bucket_is_kept_as_a_locked_tombstone(issuer: AwsWorld) -> None:
    """The bucket's name is the issuer's host: deleting it would let anyone re-create it and serve their own
    JWKS to every provider that trusts the issuer. By default it is emptied and locked, never deleted."""
    s3 = issuer.client("s3")
    import requests

    assert requests.get(f"{issuer.moto_endpoint}/{BUCKET}/{JWKS}", timeout=10).status_code == 200  # public before
    dry = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    lock = ("update", f"s3://{BUCKET}", "keep as a locked tombstone, not deleted: tag oidc-publisher:tombstone="
            f"{ISSUER}; Block Public Access all on; bucket policy: public read gone, every S3 action denied to all but "
            f"account {ACCOUNT}")
    assert [(c["action"], c["resource"], c["reason"]) for c in dry.json()["changes"]][-1] == lock
    assert ("delete", f"s3://{BUCKET}") not in [(c["action"], c["resource"]) for c in dry.json()["changes"]]
    assert dry.json()["notes"][-1] == TOMBSTONE_NOTE
    assert issuer.recorder.writes == []

    done = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.endswith(f"\n{TOMBSTONE_NOTE}\n")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    assert versions(issuer, BUCKET) == []
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]} == {
        "managed-by": "oidc-publisher", "oidc-publisher:issuer": ISSUER, "oidc-publisher:tombstone": ISSUER}
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    [sent] = issuer.recorder.sent("PutBucketPolicy")
    assert sent.body == json.dumps(TOMBSTONE_POLICY, sort_keys=True).encode()  # what AWS gets, byte for byte
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == TOMBSTONE_POLICY
    # Locked: nobody outside the account reads, writes or re-creates it; the owner still reads it.
    assert requests.get(f"{issuer.moto_endpoint}/{BUCKET}/{JWKS}", timeout=10).status_code == 403
    stranger = other_account(issuer, "s3")
    assert refused(lambda: stranger.put_object(Bucket=BUCKET, Key=JWKS, Body=b"{}"))[0] == 403
    assert refused(lambda: stranger.get_object(Bucket=BUCKET, Key=STATE))[0] == 403
    assert refused(lambda: stranger.create_bucket(Bucket=BUCKET)) == (409, "BucketAlreadyExists")
    assert refused(lambda: s3.get_object(Bucket=BUCKET, Key=STATE)) == (404, "NoSuchKey")

    # A re-run on the tombstone has nothing to do.
    issuer.recorder.reset()
    again = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes")
    assert (again.exit_code, again.stdout) == (0, f"Nothing of this issuer's to remove.\nno IAM OIDC provider is registered for {ISSUER}\n"
                                                  f"{TOMBSTONE_NOTE}\n")
    assert issuer.recorder.writes == []
    # Asked for explicitly, with no provider left in this account, the tombstone goes (with the warning).
    gone = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--yes", "-o", "json")
    assert gone.exit_code == 0, gone.stderr
    assert [(c["action"], c["resource"]) for c in gone.json()["changes"]] == [("delete", f"s3://{BUCKET}")]
    assert OTHER_ACCOUNTS_WARNING in gone.json()["notes"]
    assert s3.list_buckets()["Buckets"] == []


def test_a_tombstone_left_half_locked_is_finished_by_the_next_run(issuer: AwsWorld) -> None:
    """Each part of the lock is derived from the live state: a run that failed after the tag is finished."""
    issuer.proxy.fail_next("PutPublicAccessBlock", 403, "AccessDenied")
    failed = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes")
    assert failed.exit_code == 1
    issuer.recorder.reset()
    done = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert [(c["action"], c["reason"]) for c in done.json()["changes"]] == [
        ("update", "keep as a locked tombstone, not deleted: Block Public Access all on; bucket policy: public read gone, "
                   f"every S3 action denied to all but account {ACCOUNT}")]
    assert [op for _, op in issuer.recorder.writes] == ["PutPublicAccessBlock", "PutBucketPolicy"]
    assert json.loads(issuer.client("s3").get_bucket_policy(Bucket=BUCKET)["Policy"]) == TOMBSTONE_POLICY


def test_a_tombstone_serves_its_issuer_again_after_bootstrap(issuer: AwsWorld, tmp_path: Path) -> None:
    """The cluster comes back: bootstrap on the tombstone drops the tool's lock (a Deny would hide the documents
    from STS) and puts the public read back."""
    import requests

    assert invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes").exit_code == 0
    pub = k.write(tmp_path / "again.pub", k.K8S_RSA_PUBLIC_KEY)
    again = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert again.exit_code == 0, again.stderr
    sids = [st["Sid"] for st in json.loads(issuer.client("s3").get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]]
    assert sorted(sids) == sorted([PUBLIC_READ_SID, DENY_INSECURE_SID])
    assert requests.get(f"{issuer.moto_endpoint}/{BUCKET}/{JWKS}", timeout=10).status_code == 200


def test_delete_bucket_is_refused_while_a_provider_of_this_account_trusts_the_issuer(issuer: AwsWorld) -> None:
    iam = issuer.client("iam")
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER, TagKeys=["managed-by"])  # not the tool's: kept
    before = versions(issuer, BUCKET)
    refusal = (f"error: refusing to delete s3://{BUCKET}: the IAM OIDC provider {PROVIDER} still trusts it, and whoever "
               "re-created the bucket could mint tokens for every role that trusts that provider: nothing was removed; "
               f"delete that provider first (aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {PROVIDER}), "
               "or drop --delete-bucket to keep the bucket as a locked tombstone\n")
    for extra in (("--dry-run",), ("--yes",)):
        result = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", *extra)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", refusal)
    assert issuer.recorder.writes == []
    assert versions(issuer, BUCKET) == before
    # Another issuer under the same bucket (another path) shares its name: its provider counts too.
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER)
    other = iam.create_open_id_connect_provider(Url=f"{ISSUER}/other", ClientIDList=["sts.amazonaws.com"],
                                                ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    result = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--delete-bucket", "--yes")
    assert (result.exit_code, result.stderr.split(":", 2)[:2]) == (1, ["error", " refusing to delete s3"])
    assert other in result.stderr
    assert issuer.recorder.writes == []
    # Without --delete-bucket the tombstone is the way out.
    assert invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes").exit_code == 0
    assert [b["Name"] for b in issuer.client("s3").list_buckets()["Buckets"]] == [BUCKET]


def test_teardown_cloudfront(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    issuer_url = boot.json()["issuer"]
    cf = aws.client("cloudfront")
    [distribution] = cf.list_distributions()["DistributionList"]["Items"]
    aws.recorder.reset()
    dry = invoke("teardown", "--issuer-url", issuer_url, "--bucket", "cf-issuer", "--dry-run", "-o", "json")
    assert dry.exit_code == 3
    resources = [c["resource"] for c in dry.json()["changes"]]
    assert resources[-3:] == [f"cloudfront:distribution/{distribution['Id']}",
                              f"cloudfront:origin-access-control/{cf.list_origin_access_controls()['OriginAccessControlList']['Items'][0]['Id']}",
                              "cloudfront:cache-policy/oidc-publisher-cf-issuer"]
    assert aws.recorder.writes == []
    assert list(aws.cache_policies.by_name()) == ["oidc-publisher-cf-issuer"]
    done = invoke("teardown", "--issuer-url", issuer_url, "--bucket", "cf-issuer", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["notes"] == [cloudfront_name_note(issuer_url)]  # deleting a *.cloudfront.net issuer frees no name
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []
    assert cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", []) == []
    assert cf.list_cache_policies(Type="custom")["CachePolicyList"].get("Items", []) == []
    ops = aws.recorder.operations("cloudfront")
    assert ops.index("DeleteCachePolicy") > ops.index("DeleteDistribution")
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_teardown_cloudfront_waits_for_the_disabled_distribution(aws: AwsWorld, front: Front, tmp_path: Path,
                                                                  slow_deployments: None) -> None:
    """CloudFront deletes a distribution only once disabled *and deployed*, and an OAC only once no
    distribution uses it (moto deletes both at once: the tool checks the status itself). The first run
    disables and says to come back; the second run deletes the distribution, then the OAC."""
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    issuer_url, distribution_id = boot.json()["issuer"], boot.json()["distribution_id"]
    cf = aws.client("cloudfront")
    [oac] = [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]]
    args = ("teardown", "--issuer-url", issuer_url, "--bucket", "cf-issuer", "--yes", "-o", "json")

    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    assert first.json()["notes"] == [
        cloudfront_name_note(issuer_url),
        f"distribution {distribution_id} is disabled; CloudFront deletes it only once deployed: "
        f"re-run teardown in about 15 minutes to delete it, then its origin access control {oac} "
        "and its cache policy oidc-publisher-cf-issuer"
    ]
    assert list(aws.cache_policies.by_name()) == ["oidc-publisher-cf-issuer"]  # the distribution still uses it
    # Only what happened is reported as changed: the distribution was disabled, nothing of CloudFront's deleted.
    assert [(c["action"], c["resource"], c["reason"]) for c in first.json()["changes"] if c["resource"].startswith("cloudfront:")] == [
        ("update", f"cloudfront:distribution/{distribution_id}", "disabled; CloudFront deletes it once deployed")]
    assert cf.get_distribution_config(Id=distribution_id)["DistributionConfig"]["Enabled"] is False
    assert [d["Id"] for d in cf.list_distributions()["DistributionList"]["Items"]] == [distribution_id]
    assert [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]] == [oac]
    # Everything else went on the first run.
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []

    # Still deploying: a re-run changes nothing and says so again.
    aws.recorder.reset()
    early = invoke(*args)
    assert early.exit_code == 0, early.stderr
    assert early.json()["notes"][-1] == first.json()["notes"][-1]
    assert early.json()["changes"] == []
    assert aws.recorder.writes == []
    text = invoke(*args[:-2])
    assert text.stdout.startswith("Nothing was removed yet.\n") and text.stdout.endswith(f"\n{first.json()['notes'][-1]}\n")

    finish_deployments(aws)
    second = invoke(*args)
    assert second.exit_code == 0, second.stderr
    assert [(c["action"], c["resource"]) for c in second.json()["changes"]] == [
        ("delete", f"cloudfront:distribution/{distribution_id}"), ("delete", f"cloudfront:origin-access-control/{oac}"),
        ("delete", "cloudfront:cache-policy/oidc-publisher-cf-issuer")]
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []
    assert cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", []) == []
    assert aws.cache_policies.by_name() == {}
    aws.recorder.reset()
    done = invoke("teardown", "--issuer-url", issuer_url, "--bucket", "cf-issuer", "--yes")
    assert done.exit_code == 0 and done.stdout.startswith("Nothing of this issuer's to remove.\n")
    assert aws.recorder.writes == []


@pytest.mark.usefixtures("origins_keep_their_oac")  # moto keeps the OAC on the origin, as CloudFront does
def test_cloudfront_teardown_without_region_finds_the_distribution_by_its_host(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """Issue 17: the bucket is in eu-west-1, teardown runs without --region (as docs/teardown.md shows it) in
    us-east-1. The distribution is found by its domain (the issuer's host), not only by its origin, and the
    origin access control and cache policy it uses are deleted only after it."""
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--region", "eu-west-1", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    issuer_url, distribution_id = boot.json()["issuer"], boot.json()["distribution_id"]
    cf = aws.client("cloudfront")
    [oac] = [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]]
    aws.recorder.reset()
    dry = invoke("teardown", "--issuer-url", issuer_url, "--bucket", "cf-issuer", "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert [c["resource"] for c in dry.json()["changes"]][-3:] == [
        f"cloudfront:distribution/{distribution_id}", f"cloudfront:origin-access-control/{oac}",
        "cloudfront:cache-policy/oidc-publisher-cf-issuer"]
    assert aws.recorder.writes == []
    done = invoke("teardown", "--issuer-url", issuer_url, "--bucket", "cf-issuer", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert [c["resource"] for c in done.json()["changes"]][-3:] == [c["resource"] for c in dry.json()["changes"]][-3:]
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []
    assert cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", []) == []
    assert aws.cache_policies.by_name() == {}
    ops = aws.recorder.operations("cloudfront")
    assert ops.index("DeleteOriginAccessControl") > ops.index("DeleteDistribution")


@pytest.mark.usefixtures("origins_keep_their_oac")  # moto keeps the OAC on the origin, as CloudFront does
def test_an_oac_or_cache_policy_a_live_distribution_uses_is_never_deleted(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """Another distribution (not the issuer's, not the tool's) uses the tool's OAC and cache policy: checked
    from the live state before planning, kept with a note naming the user, never listed as a change."""
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    cf = aws.client("cloudfront")
    [oac] = [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]]
    policy_id = aws.cache_policies.by_name()["oidc-publisher-cf-issuer"]
    mine = cf.get_distribution_config(Id=boot.json()["distribution_id"])["DistributionConfig"]
    other = {**mine, "CallerReference": "someone-else", "Comment": "another site", "Origins": {"Quantity": 1, "Items": [
        {**mine["Origins"]["Items"][0], "DomainName": "another-bucket.s3.eu-west-1.amazonaws.com"}]}}
    other_id = cf.create_distribution(DistributionConfig=other)["Distribution"]["Id"]
    assert cf.get_distribution_config(Id=other_id)["DistributionConfig"]["Origins"]["Items"][0]["OriginAccessControlId"] == oac
    notes = [f"kept origin access control {oac}: still used by distribution {other_id}",
             f"kept cache policy oidc-publisher-cf-issuer ({policy_id}): still used by distribution {other_id}"]
    aws.recorder.reset()
    dry = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    resources = [c["resource"] for c in dry.json()["changes"]]
    assert resources[-1] == f"cloudfront:distribution/{boot.json()['distribution_id']}"
    assert not any(r.startswith(("cloudfront:origin-access-control", "cloudfront:cache-policy")) for r in resources)
    assert [n for n in dry.json()["notes"] if n.startswith("kept ")] == notes
    done = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--yes")
    assert done.exit_code == 0, done.stderr
    assert "origin-access-control" not in done.stdout.split("\n\n")[0] and "cache-policy/" not in done.stdout
    assert all(f"\n{note}\n" in done.stdout for note in notes)
    assert [d["Id"] for d in cf.list_distributions()["DistributionList"]["Items"]] == [other_id]
    assert [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]] == [oac]
    assert aws.cache_policies.by_name() == {"oidc-publisher-cf-issuer": policy_id}
    assert not {"DeleteOriginAccessControl", "DeleteCachePolicy"} & set(aws.recorder.operations("cloudfront"))


def test_a_distribution_not_tagged_by_the_tool_is_kept(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    cf = aws.client("cloudfront")
    [distribution] = cf.list_distributions()["DistributionList"]["Items"]
    cf.untag_resource(Resource=distribution["ARN"], TagKeys={"Items": ["managed-by"]})
    done = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert f"kept CloudFront distribution {distribution['Id']}: it is not tagged managed-by=oidc-publisher" in done.json()["notes"]
    assert [d["Id"] for d in cf.list_distributions()["DistributionList"]["Items"]] == [distribution["Id"]]
    assert len(cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]) == 1
    assert list(aws.cache_policies.by_name()) == ["oidc-publisher-cf-issuer"]
    # The kept distribution still fetches from the bucket by its name: the bucket is not freed either.
    assert (f"kept s3://cf-issuer as a tombstone (empty, private, tagged oidc-publisher:tombstone): it is the origin of "
            f"distribution {distribution['Id']}, which teardown keeps, and whoever re-created it could serve their own "
            "documents through it; delete it with --delete-bucket once no distribution uses it") in done.json()["notes"]
    assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == ["cf-issuer"]
    aws.recorder.reset()
    refused = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--delete-bucket", "--yes")
    assert (refused.exit_code, refused.stderr) == (1, (
        f"error: refusing to delete s3://cf-issuer: it is the origin of distribution {distribution['Id']}, and whoever "
        "re-created the bucket could serve their own documents through it: nothing was removed; delete or repoint that "
        "distribution first, or drop --delete-bucket to keep the bucket as a locked tombstone\n"))
    assert aws.recorder.writes == []


def test_a_custom_domain_issuer_warns_about_its_dns(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """The bucket and distribution of a custom-domain issuer go; the DNS record of the host is the user's,
    and must not be left pointing at them."""
    front("cf-custom", ("oidc.example.com",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    cert = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0b1f8d2c-5a3e-4c6f-9d7a-1e2f3a4b5c6d"
    boot = invoke("bootstrap", "--bucket", "cf-custom", "--cloudfront", "--issuer-url", "https://oidc.example.com/prod",
                  "--acm-certificate-arn", cert, "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    warning = ("warning: DNS for oidc.example.com must not be left pointing at the deleted distribution or bucket, which "
               "another party could claim and serve this issuer from: remove or repoint the record for oidc.example.com")
    args = ("teardown", "--issuer-url", "https://oidc.example.com/prod", "--bucket", "cf-custom")
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 3 and dry.stdout.endswith(f"\n{warning}\n")
    done = invoke(*args, "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["notes"][-1] == warning
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("cloudfront").list_distributions()["DistributionList"].get("Items", []) == []


def test_an_oac_the_tool_did_not_make_is_converged_without_a_mark_and_never_deleted(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """The Terraform module names its OAC as the tool does, with the description the tool once gave its own:
    bootstrap reuses it without writing to it (no mark added), and teardown keeps it."""
    cf = aws.client("cloudfront")
    terraforms = cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": "oidc-publisher-cf-issuer", "Description": "oidc-publisher issuer for cf-issuer", "SigningProtocol": "sigv4",
        "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"})["OriginAccessControl"]["Id"]
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    aws.recorder.reset()
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    assert not [op for op in aws.recorder.operations("cloudfront") if op.endswith("OriginAccessControl")]  # reused, untouched
    [oac] = cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]
    assert (oac["Id"], oac["Description"]) == (terraforms, "oidc-publisher issuer for cf-issuer")
    aws.recorder.reset()
    done = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert (f"kept origin access control {terraforms} (oidc-publisher-cf-issuer): it lacks oidc-publisher's mark (its "
            "description is 'oidc-publisher issuer for cf-issuer': Terraform's, someone else's, or from an older "
            "oidc-publisher); delete it yourself once nothing uses it, if it is yours") in done.json()["notes"]
    assert f"cloudfront:origin-access-control/{terraforms}" not in [c["resource"] for c in done.json()["changes"]]
    assert "DeleteOriginAccessControl" not in aws.recorder.operations("cloudfront")
    assert [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]] == [terraforms]
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []  # the tool's own distribution went


def test_a_cache_policy_still_in_use_is_kept_with_a_note(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """Another distribution (not this issuer's) was pointed at the tool's cache policy: CloudFront would answer
    CachePolicyInUse, so teardown keeps the policy and says which distribution uses it, instead of failing."""
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    cf = aws.client("cloudfront")
    policy_id = aws.cache_policies.by_name()["oidc-publisher-cf-issuer"]
    mine = cf.get_distribution_config(Id=boot.json()["distribution_id"])["DistributionConfig"]
    other = {**mine, "CallerReference": "someone-else", "Comment": "another site", "Origins": {"Quantity": 1, "Items": [
        {**mine["Origins"]["Items"][0], "DomainName": "another-bucket.s3.eu-west-1.amazonaws.com"}]}}
    other_id = cf.create_distribution(DistributionConfig=other)["Distribution"]["Id"]

    done = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--yes", "-o", "json")

    assert done.exit_code == 0, done.stderr
    assert "Traceback" not in done.stderr
    # Seen in the live state before planning (it was planned, tried and refused before): never under "Changed:".
    assert done.json()["notes"] == [f"kept cache policy oidc-publisher-cf-issuer ({policy_id}): still used by distribution {other_id}",
                                    cloudfront_name_note(boot.json()["issuer"])]
    assert "cloudfront:cache-policy/oidc-publisher-cf-issuer" not in [c["resource"] for c in done.json()["changes"]]
    assert [d["Id"] for d in cf.list_distributions()["DistributionList"]["Items"]] == [other_id]
    assert aws.cache_policies.by_name() == {"oidc-publisher-cf-issuer": policy_id}


def test_a_cache_policy_the_tool_did_not_make_is_kept(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """The Terraform module names its policy as the tool does, with another comment: never deleted here."""
    front("cf-issuer", ("*.cloudfront.net",))
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    boot = invoke("bootstrap", "--bucket", "cf-issuer", "--cloudfront", "--public-key", str(pub), "-o", "json")
    assert boot.exit_code == 0, boot.stderr
    cf = aws.client("cloudfront")
    policy_id = aws.cache_policies.by_name()["oidc-publisher-cf-issuer"]
    current = cf.get_cache_policy(Id=policy_id)
    config = {**current["CachePolicy"]["CachePolicyConfig"], "Comment": "oidc-publisher issuer for cf-issuer: short TTLs"}
    cf.update_cache_policy(Id=policy_id, IfMatch=current["ETag"], CachePolicyConfig=config)
    aws.recorder.reset()

    dry = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    assert "cloudfront:cache-policy/oidc-publisher-cf-issuer" not in [c["resource"] for c in dry.json()["changes"]]
    note = (f"kept cache policy oidc-publisher-cf-issuer ({policy_id}): oidc-publisher did not create it "
            "(its comment is 'oidc-publisher issuer for cf-issuer: short TTLs')")
    assert note in dry.json()["notes"]
    done = invoke("teardown", "--issuer-url", boot.json()["issuer"], "--bucket", "cf-issuer", "--yes", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert note in done.json()["notes"]
    assert aws.cache_policies.by_name() == {"oidc-publisher-cf-issuer": policy_id}
    assert ("cloudfront", "DeleteCachePolicy") not in aws.recorder.calls


def test_bucket_policy_trimming() -> None:
    ours = {f"arn:aws:s3:::b/{JWKS}", f"arn:aws:s3:::b/{DISCOVERY}"}
    deny = {"Sid": DENY_INSECURE_SID, "Effect": "Deny"}
    read = {"Sid": CLOUDFRONT_READ_SID, "Resource": sorted(ours)}
    assert _without_keys({"Statement": [deny, read]}, ours) is None
    assert _without_keys({"Statement": [deny]}, ours) == {"Statement": [deny]}  # nothing of this issuer's: unchanged
    shared = {"Sid": PUBLIC_READ_SID, "Resource": [*sorted(ours), "arn:aws:s3:::b/x/jwks"]}
    assert _without_keys({"Statement": [deny, shared]}, ours) == {"Statement": [deny, {"Sid": PUBLIC_READ_SID, "Resource": ["arn:aws:s3:::b/x/jwks"]}]}


def test_tombstone_tag_value_is_a_valid_s3_tag_value() -> None:
    assert tombstone_tag_value(ISSUER) == ISSUER
    assert tombstone_tag_value("https://b.s3.us-east-1.amazonaws.com/a~b%20c") == "https://b.s3.us-east-1.amazonaws.com/a_b_20c"
    assert len(tombstone_tag_value("https://h/" + "p" * 300)) == 256


def test_settle_reports_only_what_happened() -> None:
    plan = Plan()
    plan.add("a", "delete", "x")
    plan.add("b", "delete", "y")
    _settle(plan, "a", Change("a", "update", "disabled"))
    _settle(plan, "b", None)
    _settle(plan, "c", None)  # nothing planned for it: nothing changes
    assert plan.changes == [Change("a", "update", "disabled")]


def test_without_any_region_teardown_asks_s3_for_the_buckets(aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom-domain issuer, no --region and no AWS_REGION: the bucket's region comes from S3 (one HeadBucket)."""
    aws.client("s3", "eu-west-1").create_bucket(
        Bucket="far-away-issuer", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    issuer = "https://oidc.example.com/far"
    assert invoke("publish", "--bucket", "far-away-issuer", "--region", "eu-west-1", "--issuer-url", issuer,
                  "--public-key", str(pub)).exit_code == 0
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    aws.recorder.reset()
    env = {"OIDC_PUBLISHER_ISSUER_URL": issuer, "OIDC_PUBLISHER_BUCKET": "far-away-issuer"}
    dry = invoke("teardown", "--yes", "--dry-run", "-o", "json", env=env)
    assert dry.exit_code == 3, dry.stderr
    looked_up = aws.recorder.operations("s3").count("HeadBucket")
    aws.recorder.reset()
    given = invoke("teardown", "--yes", "--dry-run", "-o", "json", env={**env, "OIDC_PUBLISHER_REGION": "eu-west-1"})
    assert (given.exit_code, given.json()["changes"]) == (3, dry.json()["changes"])
    assert looked_up == aws.recorder.operations("s3").count("HeadBucket") + 1  # the one look-up, only without a region
    assert aws.recorder.writes == []
    resources = [change["resource"] for change in dry.json()["changes"]]
    assert "s3://far-away-issuer/far/openid/v1/jwks" in resources, resources


def test_dry_run_json_shows_the_planned_calls(issuer: AwsWorld) -> None:
    """The plan is the program: --output json lists the AWS calls a run would make, in order, and runs none."""
    dry = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    calls = [c["operation"]["call"] for c in dry.json()["operations"]]
    assert calls == ["iam:DeleteOpenIDConnectProvider", "s3:DeleteObjects", "s3:PutBucketTagging",
                     "s3:PutPublicAccessBlock", "s3:PutBucketPolicy"]
    [deleted] = [c["operation"]["params"] for c in dry.json()["operations"] if c["operation"]["call"] == "s3:DeleteObjects"]
    assert sorted({o["Key"] for o in deleted["Delete"]["Objects"]}) == sorted([JWKS, DISCOVERY, STATE])
    assert issuer.recorder.writes == []
