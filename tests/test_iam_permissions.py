"""docs/iam-permissions.md against what each command really calls, and against the declaration it is made from.

Each command runs against moto's server through the recording proxy, through the paths that make it call
the most (create from nothing, converge drift, change keys behind CloudFront, tear down), and every AWS
operation it made is mapped to the IAM action(s) that authorise it. The page must list each of them under
that command; and every action the page lists for a command must be one that command was seen calling,
or one of the few named below that these runs cannot reach. Every call a command makes must also be one
its section in core/permissions.py declares, and the page must be exactly what that declaration renders
(``python -m tests.test_iam_permissions`` regenerates it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from oidc_publisher.core.operations import SURFACE
from oidc_publisher.core.permissions import COMMANDS, render_page
from tests.support import keys as k
from tests.support.cli import invoke

if TYPE_CHECKING:  # annotations only: python -m tests.test_iam_permissions runs without the demo package
    from tests.support.fronts import Front
    from tests.support.motoserver import AwsWorld

PAGE = Path(__file__).resolve().parents[1] / "docs" / "iam-permissions.md"
BUCKET = "perm-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
PRIVATE = "perm-private-issuer"

# Operations whose IAM action has another name (or that need two actions), as core/operations.py must declare them.
SPECIAL_ACTIONS = {
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    # It sets ObjectOwnership, and the tags that mark the bucket as the tool's.
    ("s3", "CreateBucket"): ("s3:CreateBucket", "s3:PutBucketOwnershipControls", "s3:TagResource"),
    ("s3", "GetBucketEncryption"): ("s3:GetEncryptionConfiguration",),
    ("s3", "PutBucketEncryption"): ("s3:PutEncryptionConfiguration",),
    ("s3", "GetPublicAccessBlock"): ("s3:GetBucketPublicAccessBlock",),
    ("s3", "PutPublicAccessBlock"): ("s3:PutBucketPublicAccessBlock",),
    ("s3", "ListObjectVersions"): ("s3:ListBucketVersions",),
    ("s3", "DeleteObjects"): ("s3:DeleteObjectVersion",),  # teardown deletes versions by id
    ("cloudfront", "CreateDistributionWithTags"): ("cloudfront:CreateDistribution", "cloudfront:TagResource"),
    # The tool always creates its provider with tags (managed-by), which IAM authorises with both actions.
    ("iam", "CreateOpenIDConnectProvider"): ("iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider"),
    ("sts", "GetCallerIdentity"): (),  # no permission: IAM lets every caller ask who it is
    ("sts", "AssumeRoleWithWebIdentity"): (),  # unsigned: the role's trust policy allows it
}
BY_API = {(call.service, call.api): call for call in SURFACE.values()}

# Listed, and needed, on paths these runs do not take.
UNREACHED = {
    # GetObject on a missing key answers 404 only with ListBucket: an authorisation rule, not a call.
    "publish": {"s3:ListBucket"},
    "publish --create-bucket": {
        "cloudfront:CreateInvalidation",  # only with --distribution-id
        "s3:PutBucketOwnershipControls",  # an existing bucket with ACLs enabled (moto sets ownership on create)
    },
    "publish --fleet": {
        "s3:ListBucket",  # as for publish
        "cloudfront:CreateInvalidation",  # a cluster behind CloudFront: publish's own run shows it
        "iam:AddClientIDToOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",  # as for register
    },
    "register": set(),
    "bootstrap": {"iam:AddClientIDToOpenIDConnectProvider"},
    "bootstrap --cloudfront": {
        "iam:AddClientIDToOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
        "s3:PutBucketOwnershipControls", "cloudfront:ListTagsForResource",
    },
    "verify": {"s3:GetObject"},  # with --bucket or --member (a shared issuer's members)
    "role create": set(),
    "audit": {"s3:GetObject"},  # with --bucket
    "members list": {"s3:ListBucket"},
    "members remove": {"s3:ListBucket", "cloudfront:CreateInvalidation"},  # behind CloudFront
    "doctor": set(),
    "teardown": {"s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketPolicy"},  # a bucket it did not create
}


def documented() -> dict[str, set[str]]:
    """Each '## `command`' section's actions."""
    sections = re.split(r"^## `([^`]+)`.*$", PAGE.read_text(), flags=re.M)
    return {
        command: set(re.findall(r"`((?:s3|iam|sts|cloudfront):[A-Z][A-Za-z]+)`", body))  # actions, not condition keys
        for command, body in zip(sections[1::2], sections[2::2])
    }


def actions(aws: AwsWorld) -> set[str]:
    """The IAM actions of the calls recorded, as core/operations.py declares them (the ``aws`` fixture fails
    a test whose command made a call it does not declare)."""
    found: set[str] = set()
    for service, operation in aws.recorder.calls:
        declared = BY_API.get((service, operation))
        found.update(declared.actions if declared else (f"{service}:{operation}",))
    return found


def calls(aws: AwsWorld) -> set[tuple[str, str]]:
    """The calls recorded, as (service, boto3 method)."""
    return {(BY_API[c].service, BY_API[c].method) if c in BY_API else c for c in aws.recorder.calls}


def ok(*args: str) -> dict:
    result = invoke(*args, "-o", "json")
    assert result.exit_code == 0, (args, result.stderr)
    return result.json()  # type: ignore[no-any-return]


@pytest.fixture
def pubs(tmp_path: Path) -> tuple[Path, Path]:
    return (k.write(tmp_path / "one.pub", k.public_pem(k.rsa_key())), k.write(tmp_path / "two.pub", k.public_pem(k.rsa_key())))


def used_by(command: str, aws: AwsWorld, front: Front, pubs: tuple[Path, Path], tmp_path: Path, request: pytest.FixtureRequest) -> set[str]:
    one, two = pubs
    seen: set[str] = set()

    def collect() -> None:
        seen.update(actions(aws))
        undeclared = calls(aws) - set(COMMANDS[command])
        assert not undeclared, f"{command} made calls its section in core/permissions.py does not declare: {undeclared}"
        aws.recorder.reset()

    # One front answers for both kinds of host (the commands that use both need only its certificate).
    front(PRIVATE if command == "bootstrap --cloudfront" else BUCKET, ("*.s3.us-east-1.amazonaws.com", "*.cloudfront.net"))
    if command == "publish":
        ok("bootstrap", "--bucket", BUCKET, "--public-key", str(one))
        aws.recorder.reset()
        ok("publish", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two))
        collect()
        issuer = ok("bootstrap", "--bucket", PRIVATE, "--cloudfront", "--public-key", str(one))["issuer"]
        aws.recorder.reset()
        ok("publish", "--bucket", PRIVATE, "--issuer-url", issuer, "--public-key", str(one), "--public-key", str(two))
        collect()
        assert "cloudfront:CreateInvalidation" in seen
    elif command == "publish --create-bucket":
        for keys in ([one], [one, two]):
            ok("publish", "--bucket", BUCKET, "--create-bucket", *[a for p in keys for a in ("--public-key", str(p))])
            collect()
    elif command == "publish --fleet":
        aws.client("s3").create_bucket(Bucket=BUCKET)
        (tmp_path / "fleet.json").write_text(json.dumps({
            "defaults": {"bucket": BUCKET, "public_keys": [str(one)]},
            "clusters": [{"name": "a", "prefix": "a"}, {"name": "b", "prefix": "b"}],
            "accounts": ["arn:aws:iam::111111111111:role/oidc-publisher"],
        }))
        aws.recorder.reset()
        ok("publish", "--fleet", str(tmp_path / "fleet.json"))
        ok("publish", "--fleet", str(tmp_path / "fleet.json"))  # the providers exist: read, left as they are
        collect()
        assert {"sts:AssumeRole", "iam:CreateOpenIDConnectProvider", "iam:GetOpenIDConnectProvider"} <= seen
    elif command == "register":
        ok("register", "--issuer-url", ISSUER, "--thumbprint", "0" * 40)
        collect()
        ok("register", "--issuer-url", ISSUER, "--client-id", "sts.amazonaws.com", "--client-id", "vault", "--tag", "team=x")
        collect()
    elif command == "bootstrap":
        ok("bootstrap", "--bucket", BUCKET, "--public-key", str(one), "--thumbprint", "0" * 40)
        collect()
        ok("bootstrap", "--bucket", BUCKET, "--public-key", str(one), "--public-key", str(two), "--tag", "team=x")
        collect()
    elif command == "bootstrap --cloudfront":
        first = ok("bootstrap", "--bucket", PRIVATE, "--cloudfront", "--public-key", str(one))
        collect()
        cf = aws.client("cloudfront")
        current = cf.get_distribution_config(Id=first["distribution_id"])
        config = {**current["DistributionConfig"], "Enabled": False}
        cf.update_distribution(Id=first["distribution_id"], IfMatch=current["ETag"], DistributionConfig=config)
        [policy] = cf.list_cache_policies(Type="custom")["CachePolicyList"]["Items"]  # its TTL changed by hand
        etag = cf.get_cache_policy(Id=policy["CachePolicy"]["Id"])["ETag"]
        drifted = {**policy["CachePolicy"]["CachePolicyConfig"], "DefaultTTL": 86400}
        cf.update_cache_policy(Id=policy["CachePolicy"]["Id"], IfMatch=etag, CachePolicyConfig=drifted)
        # --wait: moto's distribution has deployed by the first look, so nothing sleeps.
        ok("bootstrap", "--bucket", PRIVATE, "--cloudfront", "--public-key", str(one), "--public-key", str(two), "--wait")
        collect()
        assert {"cloudfront:UpdateDistribution", "cloudfront:CreateInvalidation", "cloudfront:UpdateCachePolicy",
                "cloudfront:GetDistribution"} <= seen
    elif command == "verify":
        ok("bootstrap", "--bucket", BUCKET, "--public-key", str(one))
        aws.recorder.reset()
        ok("verify", "--issuer-url", ISSUER, "--public-key", str(one))
        collect()
    elif command in ("role create", "audit"):
        ok("bootstrap", "--bucket", BUCKET, "--public-key", str(one))
        aws.recorder.reset()
        policy = k.write(tmp_path / "policy.json", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}).encode())
        iam = aws.client("iam")
        first, second = (
            iam.create_policy(PolicyName=name, PolicyDocument=policy.read_text())["Policy"]["Arn"] for name in ("first", "second")
        )
        aws.recorder.reset()
        role = ("role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a")
        ok(*role, "--policy-file", str(policy))
        ok(*role, "--policy-arn", first)  # drops the inline policy no longer asked for
        name = next(r["RoleName"] for r in iam.list_roles()["Roles"] if "-d-a-" in r["RoleName"])  # irsa-BUCKET-d-a-HASH
        loose = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                                                         "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{BUCKET}.s3.us-east-1.amazonaws.com"}}]}
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(loose))  # loosened by hand
        ok(*role, "--policy-arn", second, "--permissions-boundary", first, "--max-session-duration", "7200")  # detaches first
        if command == "audit":
            aws.recorder.reset()
            ok("audit", "--issuer-url", ISSUER)
        collect()
    elif command in ("members list", "members remove"):
        ok("bootstrap", "--bucket", BUCKET, "--member", "blue", "--public-key", str(one))
        ok("publish", "--bucket", BUCKET, "--member", "green", "--public-key", str(two))
        aws.recorder.reset()
        if command == "members list":
            ok("members", "list", "--bucket", BUCKET)
        else:
            ok("members", "remove", "green", "--bucket", BUCKET, "--revoke")
        collect()
    elif command == "doctor":
        from tests.support.kube_api import KubeAPI

        kube: KubeAPI = request.getfixturevalue("kube_api")
        kube.issuer = ISSUER
        pem = k.write(tmp_path / "cluster.pub", k.public_pem(kube.keys[0]))
        ok("bootstrap", "--bucket", BUCKET, "--public-key", str(pem))
        policy = aws.client("iam").create_policy(PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))["Policy"]["Arn"]
        role = ok("role", "create", "--issuer-url", ISSUER, "--namespace", "d", "--service-account", "a", "--policy-arn", policy)["role_arn"]
        kube.service_accounts[("d", "a")] = {"eks.amazonaws.com/role-arn": role}
        kube.install_webhook()
        kube.add_pod("d", "a-1", "a", mutated_for=role)
        aws.recorder.reset()
        ok("doctor", "-n", "d", "--pod", "a-1", "--kubeconfig", str(kube.kubeconfig(tmp_path / "kubeconfig")))
        collect()
    elif command == "teardown":
        for bucket, extra in ((BUCKET, []), (PRIVATE, ["--cloudfront"])):
            issuer = ok("bootstrap", "--bucket", bucket, *extra, "--public-key", str(one))["issuer"]
            aws.recorder.reset()
            ok("teardown", "--issuer-url", issuer, "--bucket", bucket, "--yes")
            ok("teardown", "--issuer-url", issuer, "--bucket", bucket, "--yes", "--delete-bucket")  # the tombstone too
            collect()
        assert {"cloudfront:DeleteDistribution", "cloudfront:DeleteOriginAccessControl", "cloudfront:DeleteCachePolicy"} <= seen
    return seen


def test_the_page_has_a_section_per_command() -> None:
    assert sorted(documented()) == sorted(COMMANDS)
    # Each section that a command of this tree has is run below (members' sections come with its branch).
    assert set(UNREACHED) <= set(COMMANDS) and set(COMMANDS) - set(UNREACHED) <= {"members list", "members remove"}


def test_the_page_is_generated_from_the_declared_surface() -> None:
    assert PAGE.read_text() == render_page(), "docs/iam-permissions.md is stale: run python -m tests.test_iam_permissions"


def test_the_calls_whose_action_has_another_name_are_declared_so() -> None:
    assert {call: BY_API[call].actions for call in SPECIAL_ACTIONS} == SPECIAL_ACTIONS


def test_every_declared_call_of_a_command_is_in_the_surface() -> None:
    for command, declared in COMMANDS.items():
        assert set(declared) <= set(SURFACE), command


def test_a_call_the_surface_does_not_declare_is_caught(aws: AwsWorld) -> None:
    """What makes the whole suite prove SURFACE complete: the proxy notes every call it does not declare,
    and the ``aws`` fixture fails the test that made one."""
    import boto3

    aws.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("s3", endpoint_url=aws.endpoint, region_name="us-east-1").get_bucket_acl(Bucket=BUCKET)
    assert aws.recorder.undeclared == [("s3", "GetBucketAcl")]
    aws.recorder.undeclared.clear()  # this test's own call: the fixture would fail it


@pytest.mark.parametrize("command", list(UNREACHED))
def test_the_page_lists_exactly_what_the_command_calls(
    command: str, aws: AwsWorld, front: Front, pubs: tuple[Path, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    used = used_by(command, aws, front, pubs, tmp_path, request)
    listed = documented()[command]
    assert used - listed == set(), f"{command} calls actions docs/iam-permissions.md does not list"
    assert listed - used - UNREACHED[command] == set(), f"{command}: listed but never called"
    assert UNREACHED[command] <= listed


if __name__ == "__main__":
    PAGE.write_text(render_page())
