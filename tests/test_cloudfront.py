"""The CloudFront edge against moto's server, reached through AWS_ENDPOINT_URL and the recording proxy.

moto's CloudFront gaps, and what these tests do about them:
- moto drops an origin's OriginAccessControlId (and its S3OriginConfig): a distribution reads back with
  no OAC on its origin. The tests assert what moto keeps, and check the OAC itself separately (it exists,
  with the signing settings asked for). `origins_keep_their_oac` makes moto (in this process) keep the
  field, as CloudFront does, for the tests that need it: what the tool sends, and the OAC drift repair.
- moto implements no cache-policy call. The `aws` fixture puts a stand-in in front of it
  (demo/oidc_publisher_demo/emulator_cache_policies.py, also the demo's) that stores and echoes each policy, with
  CloudFront's ETags, names, pages and CachePolicyInUse, and refuses a behaviour that names an unknown
  policy or sits next to ForwardedValues; moto is patched to read such a behaviour back without legacy
  fields, as CloudFront does.
- moto ignores IfMatch values and deletes an enabled distribution; the tool checks Enabled and Status
  itself before deleting, so that is what is tested.
What moto never shows: CloudFront serving anything, OAC signing, or the certificate covering the alias.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import pytest

from oidc_publisher.aws import cloudfront as cf_edge
from oidc_publisher.aws.clients import AwsClients
from oidc_publisher.aws.cloudfront import (
    Distribution,
    delete_distribution_if_disabled,
    delete_origin_access_control,
    disable_distribution,
    distribution_arn,
    execute_distribution_plan,
    find_distribution,
    invalidate,
    read_distribution,
)
from oidc_publisher.core import distribution_plan as planner
from oidc_publisher.core.distribution_plan import DistributionPlan, DistributionSettings, caller_reference
from oidc_publisher.core.errors import AWSError, ConflictError, InputError
from oidc_publisher.core.plan import Change, Step
from tests.support.deployments import finish_deployments
from tests.support.motoserver import AwsWorld

BUCKET = "private-issuer"
REGION = "eu-west-1"
ORIGIN = f"{BUCKET}.s3.{REGION}.amazonaws.com"
ACCOUNT = "123456789012"
CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0b1f8d2c-5a3e-4c6f-9d7a-1e2f3a4b5c6d"
ALIAS = "oidc.example.com"
TAGS = {"managed-by": "oidc-publisher", "team": "platform"}

CREATE_OAC = Change(
    f"cloudfront:origin-access-control/oidc-publisher-{BUCKET}",
    "create",
    "the distribution signs its requests to the private bucket (SigV4, always)",
)
POLICY_NAME = f"oidc-publisher-{BUCKET}"
CREATE_POLICY = Change(
    f"cloudfront:cache-policy/{POLICY_NAME}",
    "create",
    "TTL 0-300-3600s, only the path in the cache key, gzip and brotli",
)
CREATE_DEFAULT = Change(
    f"cloudfront:distribution for s3://{BUCKET}",
    "create",
    f"https-only, GET/HEAD, cache policy {POLICY_NAME}, private bucket through OAC, on the default *.cloudfront.net name",
)
# The tool's cache policy, field by field, as the Terraform module's aws_cloudfront_cache_policy.
POLICY_CONFIG = {
    "Name": POLICY_NAME,
    "Comment": f"managed-by oidc-publisher: short TTLs for the issuer in s3://{BUCKET}",
    "MinTTL": 0,
    "DefaultTTL": 300,
    "MaxTTL": 3600,
    "ParametersInCacheKeyAndForwardedToOrigin": {
        "EnableAcceptEncodingGzip": True,
        "EnableAcceptEncodingBrotli": True,
        "HeadersConfig": {"HeaderBehavior": "none"},
        "CookiesConfig": {"CookieBehavior": "none"},
        "QueryStringsConfig": {"QueryStringBehavior": "none"},
    },
}


@pytest.fixture
def clients(aws: AwsWorld) -> AwsClients:
    return AwsClients()


@pytest.fixture
def origins_keep_their_oac(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (in this process) keeps the origin's OriginAccessControlId, as CloudFront does."""
    from moto.cloudfront import models

    origin_init = models.Origin.__init__

    def keep(self: Any, origin: dict[str, Any]) -> None:
        origin_init(self, origin)
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""

    monkeypatch.setattr(models.Origin, "__init__", keep)


def said(steps: Sequence[Step]) -> list[Change]:
    """The plan's lines, as --dry-run prints them (what these tests pin; the operations are pinned by
    test_distribution_plan.py and by what reaches moto)."""
    return [Change(s.resource, s.action, s.reason) for s in steps]


def plan_distribution(clients: AwsClients, *, bucket: str, region: str, **kwargs: Any) -> DistributionPlan:
    """bootstrap --cloudfront's read, then plan (its lines as said())."""
    wanted = DistributionSettings(bucket, region, caller_reference(bucket, time.time_ns()), tags=TAGS, **kwargs)
    planned = planner.plan_distribution(read_distribution(clients, bucket=bucket, region=region), wanted)
    return dataclasses.replace(planned, changes=said(planned.changes))


def ensure(clients: AwsClients, *, dry_run: bool = False, aliases: tuple[str, ...] = (),
           acm_certificate_arn: str | None = None) -> tuple[Distribution | None, list[Change]]:
    """bootstrap --cloudfront's set-up: read, plan, then execute the plan or (dry run) only show it."""
    wanted = DistributionSettings(BUCKET, REGION, caller_reference(BUCKET, time.time_ns()), aliases, acm_certificate_arn, TAGS)
    planned = planner.plan_distribution(read_distribution(clients, bucket=BUCKET, region=REGION), wanted)
    dist = planned.existing if dry_run else execute_distribution_plan(planned, clients)
    return dist, said(planned.changes)


def config_of(aws: AwsWorld, distribution_id: str) -> dict[str, Any]:
    return dict(aws.client("cloudfront").get_distribution_config(Id=distribution_id)["DistributionConfig"])


def oacs(aws: AwsWorld) -> list[dict[str, Any]]:
    return list(aws.client("cloudfront").list_origin_access_controls()["OriginAccessControlList"].get("Items") or [])


def distributions(aws: AwsWorld) -> list[dict[str, Any]]:
    return list(aws.client("cloudfront").list_distributions()["DistributionList"].get("Items") or [])


def cache_policies(aws: AwsWorld) -> dict[str, dict[str, Any]]:
    """name -> {Id, CachePolicyConfig} of every custom cache policy (through the stand-in, not recorded)."""
    listed = aws.client("cloudfront").list_cache_policies(Type="custom")["CachePolicyList"]
    return {i["CachePolicy"]["CachePolicyConfig"]["Name"]: i["CachePolicy"] for i in listed.get("Items") or []}


def legacy_distribution(aws: AwsWorld, oac_id: str) -> str:
    """A distribution as the tool made them before it had a cache policy: legacy ForwardedValues and TTLs."""
    config = planner.new_config(BUCKET, REGION, oac_id, (), None, "unused", f"oidc-publisher-{BUCKET}-legacy")
    behaviour = {k: v for k, v in config["DefaultCacheBehavior"].items() if k != "CachePolicyId"}
    behaviour["ForwardedValues"] = {"QueryString": False, "Cookies": {"Forward": "none"}, "Headers": {"Quantity": 0}}
    behaviour.update(MinTTL=0, DefaultTTL=300, MaxTTL=3600)
    made = aws.client("cloudfront").create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": {**config, "DefaultCacheBehavior": behaviour},
            "Tags": {"Items": [{"Key": "managed-by", "Value": "oidc-publisher"}]},
        }
    )
    return str(made["Distribution"]["Id"])


# ---------------------------------------------------------------- create, converge, dry run


def test_create_from_nothing(aws: AwsWorld, clients: AwsClients) -> None:
    dist, changes = ensure(clients)

    assert changes == [CREATE_OAC, CREATE_POLICY, CREATE_DEFAULT]
    assert aws.recorder.writes == [
        ("cloudfront", "CreateOriginAccessControl"),
        ("cloudfront", "CreateCachePolicy"),
        ("cloudfront", "CreateDistributionWithTags"),
    ]
    [sent] = aws.recorder.sent("ListCachePolicies")
    assert "Type=custom" in sent.query.split("&")
    policy = cache_policies(aws)[POLICY_NAME]
    assert policy["CachePolicyConfig"] == POLICY_CONFIG
    [oac] = oacs(aws)
    assert oac == {
        "Id": oac["Id"],
        "Name": f"oidc-publisher-{BUCKET}",
        "Description": f"managed-by oidc-publisher: signs CloudFront's reads of s3://{BUCKET}",  # its mark
        "SigningProtocol": "sigv4",
        "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3",
    }
    assert dist is not None
    assert dist == Distribution(
        id=dist.id,
        arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/{dist.id}",
        domain_name=dist.domain_name,
        aliases=(),
        origin_access_control_id=oac["Id"],
        status="InProgress",
    )
    assert dist.domain_name.endswith(".cloudfront.net")
    assert dist.arn == distribution_arn("aws", ACCOUNT, dist.id)

    config = config_of(aws, dist.id)
    assert config["CallerReference"].startswith(f"oidc-publisher-{BUCKET}-")
    assert config["Comment"] == f"oidc-publisher issuer for {BUCKET}"
    assert config["Enabled"] is True
    assert config["Aliases"] == {"Quantity": 0}
    # moto keeps the origin's id and domain, drops OriginAccessControlId and S3OriginConfig (see the
    # module docstring): the OAC is checked above, and what is sent in test_the_origin_is_sent_with_its_oac.
    [origin] = config["Origins"]["Items"]
    assert (origin["Id"], origin["DomainName"], origin["OriginPath"]) == ("oidc-publisher-s3", ORIGIN, "")
    assert origin.get("OriginAccessControlId") in (None, oac["Id"])
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == "oidc-publisher-s3"
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert behaviour["AllowedMethods"] == {
        "Quantity": 2,
        "Items": ["GET", "HEAD"],
        "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
    }
    assert behaviour["Compress"] is True
    assert behaviour["CachePolicyId"] == policy["Id"]
    for legacy in ("ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"):
        assert legacy not in behaviour
    [create] = aws.recorder.sent("CreateDistributionWithTags")
    assert b"<CachePolicyId>" + policy["Id"].encode() + b"</CachePolicyId>" in create.body
    assert b"ForwardedValues" not in create.body and b"TTL>" not in create.body
    assert behaviour["TrustedSigners"]["Enabled"] is False
    assert config["PriceClass"] == "PriceClass_100"
    assert config["HttpVersion"] == "http2"
    assert config["IsIPV6Enabled"] is True
    assert config["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True
    assert config["ViewerCertificate"]["ACMCertificateArn"] == ""
    tags = aws.client("cloudfront").list_tags_for_resource(Resource=dist.arn)["Tags"]["Items"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [
        ("managed-by", "oidc-publisher"),
        ("oidc-publisher:bucket", BUCKET),
        ("team", "platform"),
    ]


def test_the_origin_is_sent_with_its_oac(aws: AwsWorld, clients: AwsClients, origins_keep_their_oac: None) -> None:
    dist, _ = ensure(clients)
    assert dist is not None
    [oac] = oacs(aws)
    [origin] = config_of(aws, dist.id)["Origins"]["Items"]
    assert origin["OriginAccessControlId"] == oac["Id"]
    assert find_distribution(clients, bucket=BUCKET, region=REGION) == Distribution(
        dist.id, dist.arn, dist.domain_name, (), oac["Id"], "Deployed"
    )
    aws.recorder.reset()
    assert ensure(clients)[1] == []
    assert aws.recorder.writes == []


def test_custom_domain_with_certificate(aws: AwsWorld, clients: AwsClients) -> None:
    dist, changes = ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)
    assert dist is not None and dist.aliases == (ALIAS,)
    assert changes[-1].reason.endswith(f"on {ALIAS} with the ACM certificate")
    config = config_of(aws, dist.id)
    assert config["Aliases"] == {"Quantity": 1, "Items": [ALIAS]}
    viewer = config["ViewerCertificate"]
    assert (viewer["ACMCertificateArn"], viewer["SSLSupportMethod"], viewer["MinimumProtocolVersion"]) == (
        CERT,
        "sni-only",
        "TLSv1.2_2021",
    )


def test_ensure_again_makes_no_write_call(aws: AwsWorld, clients: AwsClients) -> None:
    first, _ = ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)
    assert first is not None
    aws.recorder.reset()

    again, changes = ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)

    assert changes == []
    assert aws.recorder.writes == []
    assert aws.recorder.operations() == [
        "ListOriginAccessControls", "ListDistributions", "GetDistributionConfig", "ListCachePolicies",
    ]  # fmt: skip
    assert again == Distribution(first.id, first.arn, first.domain_name, (ALIAS,), None, "Deployed")  # moto: no OAC id
    assert len(distributions(aws)) == 1 and len(oacs(aws)) == 1 and len(cache_policies(aws)) == 1


def test_an_existing_oac_of_that_name_is_reused(aws: AwsWorld, clients: AwsClients) -> None:
    made = aws.client("cloudfront").create_origin_access_control(
        OriginAccessControlConfig={
            "Name": f"oidc-publisher-{BUCKET}",
            "SigningProtocol": "sigv4",
            "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3",
        }
    )["OriginAccessControl"]["Id"]
    dist, changes = ensure(clients)
    assert changes == [CREATE_POLICY, CREATE_DEFAULT]
    assert aws.recorder.writes == [("cloudfront", "CreateCachePolicy"), ("cloudfront", "CreateDistributionWithTags")]
    assert dist is not None and dist.origin_access_control_id == made
    assert [o["Id"] for o in oacs(aws)] == [made]


def test_dry_run_on_nothing_writes_nothing(aws: AwsWorld, clients: AwsClients) -> None:
    dist, changes = ensure(clients, dry_run=True, aliases=(ALIAS,), acm_certificate_arn=CERT)
    assert dist is None
    assert changes == [
        CREATE_OAC,
        CREATE_POLICY,
        Change(
            f"cloudfront:distribution for s3://{BUCKET}",
            "create",
            f"https-only, GET/HEAD, cache policy {POLICY_NAME}, private bucket through OAC, on {ALIAS} with the ACM certificate",
        ),
    ]
    assert aws.recorder.writes == []
    assert aws.recorder.operations() == ["ListOriginAccessControls", "ListDistributions", "ListCachePolicies"]
    assert distributions(aws) == [] and oacs(aws) == [] and cache_policies(aws) == {}


def test_dry_run_on_an_existing_distribution_writes_nothing(aws: AwsWorld, clients: AwsClients) -> None:
    made, _ = ensure(clients)
    assert made is not None
    before = config_of(aws, made.id)
    aws.recorder.reset()

    same, changes = ensure(clients, dry_run=True)
    assert (same is not None and same.id, changes) == (made.id, [])

    found, changes = ensure(clients, dry_run=True, aliases=(ALIAS,), acm_certificate_arn=CERT)
    assert found is not None and found.id == made.id
    assert changes == [
        Change(f"cloudfront:distribution/{made.id}", "update", f"aliases -> {ALIAS}; certificate -> {CERT}")
    ]
    assert aws.recorder.writes == []
    assert config_of(aws, made.id) == before


def test_plan_distribution_reads_only(aws: AwsWorld, clients: AwsClients) -> None:
    plan = plan_distribution(clients, bucket=BUCKET, region=REGION)
    assert (plan.existing, plan.oac_id, plan.changes) == (None, None, [CREATE_OAC, CREATE_POLICY, CREATE_DEFAULT])
    assert aws.recorder.writes == []


def test_drift_is_converged_in_place(aws: AwsWorld, clients: AwsClients) -> None:
    made, _ = ensure(clients)
    assert made is not None
    cf = aws.client("cloudfront")
    # Someone changes what the tool owns, and what it does not (price class, logging): the tool puts back
    # its own fields only.
    current = cf.get_distribution_config(Id=made.id)
    config = dict(current["DistributionConfig"])
    config["Enabled"] = False
    config["PriceClass"] = "PriceClass_All"
    config["DefaultCacheBehavior"] = {**config["DefaultCacheBehavior"], "ViewerProtocolPolicy": "allow-all"}
    cf.update_distribution(Id=made.id, IfMatch=current["ETag"], DistributionConfig=config)
    aws.recorder.reset()

    dist, changes = ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)

    assert changes == [
        Change(
            f"cloudfront:distribution/{made.id}",
            "update",
            f"enable it; aliases -> {ALIAS}; certificate -> {CERT}; viewer protocol -> https-only",
        )
    ]
    assert aws.recorder.writes == [("cloudfront", "UpdateDistribution")]
    assert dist is not None and (dist.id, dist.aliases) == (made.id, (ALIAS,))
    after = config_of(aws, made.id)
    assert after["Enabled"] is True
    assert after["Aliases"] == {"Quantity": 1, "Items": [ALIAS]}
    assert after["ViewerCertificate"]["ACMCertificateArn"] == CERT
    assert after["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert after["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only"
    assert after["PriceClass"] == "PriceClass_All"  # not the tool's to change
    assert after["CallerReference"] == config["CallerReference"]
    assert (after["DefaultCacheBehavior"]["CachePolicyId"], after["Comment"]) == (
        cache_policies(aws)[POLICY_NAME]["Id"],
        f"oidc-publisher issuer for {BUCKET}",
    )
    assert "ForwardedValues" not in after["DefaultCacheBehavior"]

    # Back to the default name: aliases and certificate go, in one update.
    aws.recorder.reset()
    _, changes = ensure(clients)
    assert [c.reason for c in changes] == ["aliases -> none; certificate -> the default *.cloudfront.net one"]
    assert config_of(aws, made.id)["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True
    assert config_of(aws, made.id)["Aliases"] == {"Quantity": 0}
    aws.recorder.reset()
    assert ensure(clients)[1] == [] and aws.recorder.writes == []


def test_a_distribution_the_tool_did_not_make_is_converged_without_its_mark(aws: AwsWorld, clients: AwsClients) -> None:
    """The Terraform module's distribution (the tool's comment, its own managed-by tag) is converged only in the
    fields asked for: the tool's mark is set only by the call that creates a distribution, never added here."""
    made, _ = ensure(clients)
    assert made is not None
    cf = aws.client("cloudfront")
    cf.untag_resource(Resource=made.arn, TagKeys={"Items": ["managed-by", "oidc-publisher:bucket", "team"]})
    cf.tag_resource(Resource=made.arn, Tags={"Items": [{"Key": "managed-by", "Value": "terraform-oidc-issuer"}]})
    current = cf.get_distribution_config(Id=made.id)
    cf.update_distribution(Id=made.id, IfMatch=current["ETag"], DistributionConfig={**current["DistributionConfig"], "Enabled": False})
    aws.recorder.reset()

    dist, changes = ensure(clients)

    assert dist is not None and dist.id == made.id
    assert [c.reason for c in changes] == ["enable it"]
    assert aws.recorder.writes == [("cloudfront", "UpdateDistribution")]  # no TagResource
    assert cf.list_tags_for_resource(Resource=made.arn)["Tags"]["Items"] == [{"Key": "managed-by", "Value": "terraform-oidc-issuer"}]


def test_an_origin_without_the_oac_gets_it_back(
    aws: AwsWorld, clients: AwsClients, origins_keep_their_oac: None
) -> None:
    made, _ = ensure(clients)
    assert made is not None
    [oac] = oacs(aws)
    cf = aws.client("cloudfront")
    current = cf.get_distribution_config(Id=made.id)
    config = dict(current["DistributionConfig"])
    [origin] = config["Origins"]["Items"]
    config["Origins"] = {"Quantity": 1, "Items": [{**origin, "OriginAccessControlId": ""}]}
    cf.update_distribution(Id=made.id, IfMatch=current["ETag"], DistributionConfig=config)
    aws.recorder.reset()

    _, changes = ensure(clients)

    assert changes == [Change(f"cloudfront:distribution/{made.id}", "update", f"origin access control -> {oac['Id']}")]
    assert config_of(aws, made.id)["Origins"]["Items"][0]["OriginAccessControlId"] == oac["Id"]
    assert aws.recorder.writes == [("cloudfront", "UpdateDistribution")]


def test_a_deleted_oac_is_made_again_and_the_origin_pointed_at_it_in_one_run(
    aws: AwsWorld, clients: AwsClients, origins_keep_their_oac: None
) -> None:
    """Someone took the OAC off the origin and deleted it (CloudFront allows that once nothing uses it): one
    run makes it again and signs the origin with it (the origin stayed unsigned until a second run before)."""
    made, _ = ensure(clients)
    assert made is not None
    [oac] = oacs(aws)
    cf = aws.client("cloudfront")
    current = cf.get_distribution_config(Id=made.id)
    config = dict(current["DistributionConfig"])
    [origin] = config["Origins"]["Items"]
    config["Origins"] = {"Quantity": 1, "Items": [{**origin, "OriginAccessControlId": ""}]}
    cf.update_distribution(Id=made.id, IfMatch=current["ETag"], DistributionConfig=config)
    cf.delete_origin_access_control(Id=oac["Id"], IfMatch=cf.get_origin_access_control(Id=oac["Id"])["ETag"])
    aws.recorder.reset()

    _, changes = ensure(clients)

    assert changes == [
        CREATE_OAC,
        Change(f"cloudfront:distribution/{made.id}", "update", f"origin access control -> the new oidc-publisher-{BUCKET}"),
    ]
    assert aws.recorder.writes == [("cloudfront", "CreateOriginAccessControl"), ("cloudfront", "UpdateDistribution")]
    [again] = oacs(aws)
    assert again["Id"] != oac["Id"]
    assert config_of(aws, made.id)["Origins"]["Items"][0]["OriginAccessControlId"] == again["Id"]
    aws.recorder.reset()
    assert ensure(clients)[1] == [] and aws.recorder.writes == []


# ---------------------------------------------------------------- the cache policy


def test_a_drifted_cache_policy_is_converged(aws: AwsWorld, clients: AwsClients) -> None:
    made, _ = ensure(clients)
    assert made is not None
    cf = aws.client("cloudfront")
    policy = cache_policies(aws)[POLICY_NAME]
    current = cf.get_cache_policy(Id=policy["Id"])
    drifted = {**POLICY_CONFIG, "DefaultTTL": 86400, "MaxTTL": 31536000}
    drifted["ParametersInCacheKeyAndForwardedToOrigin"] = {
        **POLICY_CONFIG["ParametersInCacheKeyAndForwardedToOrigin"],  # type: ignore[dict-item]
        "QueryStringsConfig": {"QueryStringBehavior": "all"},
    }
    cf.update_cache_policy(Id=policy["Id"], IfMatch=current["ETag"], CachePolicyConfig=drifted)  # type: ignore[arg-type]
    before = config_of(aws, made.id)
    aws.recorder.reset()

    update = Change(
        f"cloudfront:cache-policy/{POLICY_NAME}",
        "update",
        "TTL 0-86400-31536000s -> 0-300-3600s; cache key -> the path only (no headers, cookies or query strings)",
    )
    assert ensure(clients, dry_run=True)[1] == [update]
    assert aws.recorder.writes == []
    assert cache_policies(aws)[POLICY_NAME]["CachePolicyConfig"] == drifted

    dist, changes = ensure(clients)

    assert changes == [update]
    assert aws.recorder.writes == [("cloudfront", "UpdateCachePolicy")]
    assert cache_policies(aws)[POLICY_NAME] == {**policy, "CachePolicyConfig": POLICY_CONFIG}
    assert dist is not None and config_of(aws, made.id) == before  # the distribution already names it
    aws.recorder.reset()
    assert ensure(clients)[1] == [] and aws.recorder.writes == []


def test_the_policy_update_is_conditional_on_its_etag(aws: AwsWorld, clients: AwsClients) -> None:
    ensure(clients)
    cf = aws.client("cloudfront")
    policy = cache_policies(aws)[POLICY_NAME]
    etag = cf.get_cache_policy(Id=policy["Id"])["ETag"]
    cf.update_cache_policy(Id=policy["Id"], IfMatch=etag, CachePolicyConfig={**POLICY_CONFIG, "MinTTL": 60})  # type: ignore[arg-type]
    aws.recorder.reset()
    aws.proxy.fail_next("UpdateCachePolicy", status=412, code="PreconditionFailed")
    with pytest.raises(AWSError) as caught:
        ensure(clients)
    assert str(caught.value) == (
        f"cloudfront:UpdateCachePolicy on {POLICY_NAME} failed (PreconditionFailed: injected by the test); "
        "the cache policy changed while this run was reading it: re-run to converge it"
    )
    [sent] = aws.recorder.sent("UpdateCachePolicy")
    assert sent.headers["if-match"] == cf.get_cache_policy(Id=policy["Id"])["ETag"]
    assert ensure(clients)[1][0].action == "update"
    assert cache_policies(aws)[POLICY_NAME]["CachePolicyConfig"]["MinTTL"] == 0


def test_a_legacy_distribution_moves_onto_the_cache_policy(aws: AwsWorld, clients: AwsClients) -> None:
    oac_id = aws.client("cloudfront").create_origin_access_control(
        OriginAccessControlConfig={
            "Name": f"oidc-publisher-{BUCKET}",
            "SigningProtocol": "sigv4",
            "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3",
        }
    )["OriginAccessControl"]["Id"]
    made = legacy_distribution(aws, oac_id)
    assert config_of(aws, made)["DefaultCacheBehavior"]["DefaultTTL"] == 300
    aws.recorder.reset()

    dist, changes = ensure(clients)

    assert changes == [
        CREATE_POLICY,
        Change(
            f"cloudfront:distribution/{made}",
            "update",
            f"cache policy -> {POLICY_NAME} (instead of the legacy TTL fields)",
        ),
    ]
    assert aws.recorder.writes == [("cloudfront", "CreateCachePolicy"), ("cloudfront", "UpdateDistribution")]
    assert dist is not None and dist.id == made
    behaviour = config_of(aws, made)["DefaultCacheBehavior"]
    assert behaviour["CachePolicyId"] == cache_policies(aws)[POLICY_NAME]["Id"]
    for legacy in ("ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"):
        assert legacy not in behaviour
    [update] = aws.recorder.sent("UpdateDistribution")
    assert b"ForwardedValues" not in update.body and b"TTL>" not in update.body
    aws.recorder.reset()
    assert ensure(clients)[1] == [] and aws.recorder.writes == []


def test_a_distribution_naming_another_cache_policy_keeps_it(aws: AwsWorld, clients: AwsClients) -> None:
    """As the Terraform module makes it: its own policy, of the same name and another comment."""
    made, _ = ensure(clients)
    assert made is not None
    cf = aws.client("cloudfront")
    ours = cache_policies(aws)[POLICY_NAME]
    terraforms = {**POLICY_CONFIG, "Name": f"{POLICY_NAME}-tf", "Comment": f"oidc-publisher issuer for {BUCKET}: short TTLs", "DefaultTTL": 60}
    other = cf.create_cache_policy(CachePolicyConfig=terraforms)["CachePolicy"]["Id"]  # type: ignore[arg-type]
    current = cf.get_distribution_config(Id=made.id)
    config = dict(current["DistributionConfig"])
    config["DefaultCacheBehavior"] = {**config["DefaultCacheBehavior"], "CachePolicyId": other}
    cf.update_distribution(Id=made.id, IfMatch=current["ETag"], DistributionConfig=config)
    etag = cf.get_cache_policy(Id=ours["Id"])["ETag"]
    cf.update_cache_policy(Id=ours["Id"], IfMatch=etag, CachePolicyConfig={**POLICY_CONFIG, "MaxTTL": 7200})  # type: ignore[arg-type]
    aws.recorder.reset()

    plan = plan_distribution(clients, bucket=BUCKET, region=REGION)
    assert (plan.kept_cache_policy, plan.changes) == (other, [])
    dist, changes = ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)  # an update of its own fields

    assert [c.reason for c in changes] == [f"aliases -> {ALIAS}; certificate -> {CERT}"]
    assert aws.recorder.writes == [("cloudfront", "UpdateDistribution")]  # neither policy touched
    assert config_of(aws, made.id)["DefaultCacheBehavior"]["CachePolicyId"] == other
    assert cache_policies(aws)[f"{POLICY_NAME}-tf"]["CachePolicyConfig"]["DefaultTTL"] == 60
    assert cache_policies(aws)[POLICY_NAME]["CachePolicyConfig"]["MaxTTL"] == 7200  # unused: not converged


def test_a_terraform_policy_of_the_same_name_is_kept_and_never_taken(aws: AwsWorld, clients: AwsClients) -> None:
    terraforms = {**POLICY_CONFIG, "Comment": f"oidc-publisher issuer for {BUCKET}: short TTLs", "DefaultTTL": 60}
    cf = aws.client("cloudfront")
    other = cf.create_cache_policy(CachePolicyConfig=terraforms)["CachePolicy"]["Id"]  # type: ignore[arg-type]
    aws.recorder.reset()

    with pytest.raises(ConflictError) as caught:
        ensure(clients, dry_run=True)
    assert caught.value.message == (
        f"the cache policy {POLICY_NAME} ({other}) was not made by oidc-publisher for s3://{BUCKET} (its comment is "
        f"'oidc-publisher issuer for {BUCKET}: short TTLs'), and the distribution would need that name"
    )
    assert caught.value.hint.startswith("delete or rename that cache policy")
    assert aws.recorder.writes == []

    # Named by the distribution (as the Terraform module does), it is kept and left alone.
    oac_id = cf.create_origin_access_control(
        OriginAccessControlConfig={
            "Name": f"oidc-publisher-{BUCKET}", "SigningProtocol": "sigv4", "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3",
        }
    )["OriginAccessControl"]["Id"]  # fmt: skip
    config = planner.new_config(BUCKET, REGION, oac_id, (), None, other, f"oidc-publisher-{BUCKET}-terraform")
    made = cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"]  # type: ignore[arg-type]
    aws.recorder.reset()
    assert ensure(clients) == (find_distribution(clients, bucket=BUCKET, region=REGION), [])
    assert aws.recorder.writes == []
    assert config_of(aws, made)["DefaultCacheBehavior"]["CachePolicyId"] == other


def test_find_cache_policy_pages_through_the_list(
    aws: AwsWorld, clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    cf = aws.client("cloudfront")
    for n in range(3):
        cf.create_cache_policy(CachePolicyConfig={**POLICY_CONFIG, "Name": f"someone-else-{n}"})  # type: ignore[arg-type]
    ensure(clients)
    monkeypatch.setattr(cf_edge, "LIST_PAGE_SIZE", 2)
    aws.recorder.reset()
    found = cf_edge.find_cache_policy(clients, BUCKET)
    assert found is not None and found.id == cache_policies(aws)[POLICY_NAME]["Id"] and found.made_for(BUCKET)
    assert aws.recorder.operations() == ["ListCachePolicies", "ListCachePolicies"]
    assert [sorted(r.query.split("&")) for r in aws.recorder.sent("ListCachePolicies")] == [
        ["MaxItems=2", "Type=custom"], ["Marker=2", "MaxItems=2", "Type=custom"],
    ]  # fmt: skip
    assert cf_edge.find_cache_policy(clients, "another-bucket") is None


def test_cache_policy_names_follow_cloudfronts_rules() -> None:
    assert cf_edge.cache_policy_name("issuer.example.com") == "oidc-publisher-issuer-example-com"
    assert len(cf_edge.cache_policy_name("a" * 200)) == 128
    assert cf_edge.cache_policy_config("a.b")["Comment"] == "managed-by oidc-publisher: short TTLs for the issuer in s3://a.b"


def test_delete_cache_policy_waits_for_the_distribution(aws: AwsWorld, clients: AwsClients) -> None:
    made, _ = ensure(clients)
    assert made is not None
    policy_id = cache_policies(aws)[POLICY_NAME]["Id"]
    assert cf_edge.delete_cache_policy(clients, policy_id) is False  # CachePolicyInUse
    assert POLICY_NAME in cache_policies(aws)
    aws.client("cloudfront").delete_distribution(Id=made.id, IfMatch="any")
    assert cf_edge.delete_cache_policy(clients, policy_id) is True
    assert cache_policies(aws) == {}
    assert cf_edge.delete_cache_policy(clients, policy_id) is True  # already gone


def test_access_denied_on_the_cache_policy_names_the_action(aws: AwsWorld, clients: AwsClients) -> None:
    aws.proxy.fail_next("CreateCachePolicy", status=403, code="AccessDenied")
    with pytest.raises(AWSError) as caught:
        ensure(clients)
    assert str(caught.value).startswith(f"cloudfront:CreateCachePolicy on {POLICY_NAME} failed (AccessDenied")
    assert caught.value.hint == "grant cloudfront:CreateCachePolicy to the caller (see docs/iam-permissions.md)"
    assert distributions(aws) == []  # nothing made without its cache policy


# ---------------------------------------------------------------- input checks (before any call)


@pytest.mark.parametrize(
    ("aliases", "certificate", "message"),
    [
        (
            (ALIAS,),
            None,
            f"the custom issuer host {ALIAS} needs a certificate; give --acm-certificate-arn: an ACM certificate "
            "in us-east-1 that covers it (CloudFront requires us-east-1)",
        ),
        (
            (ALIAS,),
            CERT.replace("us-east-1", "eu-west-1"),
            "the ACM certificate is in eu-west-1, but CloudFront only uses certificates in us-east-1; "
            "request or import the certificate in us-east-1",
        ),
        (
            (ALIAS,),
            "arn:aws:iam::123456789012:server-certificate/oidc",
            "'arn:aws:iam::123456789012:server-certificate/oidc' is not an ACM certificate ARN; copy it from "
            "'aws acm list-certificates --region us-east-1' (arn:aws:acm:us-east-1:ACCOUNT:certificate/UUID)",
        ),
        (
            (),
            CERT,
            "--acm-certificate-arn without a custom --issuer-url; give the custom domain as --issuer-url",
        ),
    ],
)
def test_certificate_problems_are_refused_before_any_call(
    aws: AwsWorld, clients: AwsClients, aliases: tuple[str, ...], certificate: str | None, message: str
) -> None:
    for dry_run in (False, True):
        with pytest.raises(InputError) as caught:
            ensure(clients, dry_run=dry_run, aliases=aliases, acm_certificate_arn=certificate)
        assert str(caught.value) == message
    assert aws.recorder.calls == []


# ---------------------------------------------------------------- finding it


def _decoy(
    aws: AwsWorld, number: int, origin: str = "elsewhere.s3.eu-west-1.amazonaws.com", comment: str = ""
) -> dict[str, Any]:
    return dict(
        aws.client("cloudfront").create_distribution_with_tags(
            DistributionConfigWithTags={
                "DistributionConfig": {
                    "CallerReference": f"decoy-{number}",
                    "Comment": comment or f"decoy {number}",
                    "Enabled": True,
                    "Origins": {
                        "Quantity": 1,
                        "Items": [{"Id": "o", "DomainName": origin, "S3OriginConfig": {"OriginAccessIdentity": ""}}],
                    },
                    "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "https-only"},
                },
                "Tags": {"Items": []},
            }
        )["Distribution"]
    )


def test_find_pages_through_the_list(aws: AwsWorld, clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> None:
    for number in range(3):
        _decoy(aws, number)
    # The same comment on another region's bucket is not ours either.
    _decoy(aws, 3, origin=f"{BUCKET}.s3.us-west-2.amazonaws.com", comment=f"oidc-publisher issuer for {BUCKET}")
    made, _ = ensure(clients)
    assert made is not None
    monkeypatch.setattr(cf_edge, "LIST_PAGE_SIZE", 2)
    aws.recorder.reset()

    found = find_distribution(clients, bucket=BUCKET, region=REGION)

    assert found is not None and found.id == made.id
    assert aws.recorder.operations() == ["ListDistributions"] * 3
    assert find_distribution(clients, bucket="other-bucket", region=REGION) is None


def test_find_by_tag_when_the_comment_was_edited(aws: AwsWorld, clients: AwsClients) -> None:
    made, _ = ensure(clients)
    assert made is not None
    cf = aws.client("cloudfront")
    current = cf.get_distribution_config(Id=made.id)
    cf.update_distribution(
        Id=made.id, IfMatch=current["ETag"], DistributionConfig={**current["DistributionConfig"], "Comment": "edited"}
    )
    # Same origin, no tag, another comment: somebody else's distribution of the bucket, not ours.
    _decoy(aws, 0, origin=ORIGIN)
    aws.recorder.reset()

    found = find_distribution(clients, bucket=BUCKET, region=REGION)

    assert found is not None and found.id == made.id
    assert aws.recorder.operations() == ["ListDistributions", "ListTagsForResource"]
    cf.untag_resource(Resource=made.arn, TagKeys={"Items": ["oidc-publisher:bucket"]})
    aws.recorder.reset()
    assert find_distribution(clients, bucket=BUCKET, region=REGION) is None
    assert aws.recorder.operations() == ["ListDistributions", "ListTagsForResource", "ListTagsForResource"]


# ---------------------------------------------------------------- invalidation


def test_invalidate_exactly_the_given_paths(aws: AwsWorld, clients: AwsClients) -> None:
    made, _ = ensure(clients)
    assert made is not None
    aws.recorder.reset()
    paths = ["/openid/v1/jwks", "/.well-known/openid-configuration", "/openid/v1/jwks"]

    invalidation_id = invalidate(clients, made.id, paths)

    assert aws.recorder.operations() == ["CreateInvalidation"]
    cf = aws.client("cloudfront")
    batch = cf.get_invalidation(DistributionId=made.id, Id=invalidation_id)["Invalidation"]["InvalidationBatch"]
    assert batch["Paths"] == {"Quantity": 2, "Items": ["/openid/v1/jwks", "/.well-known/openid-configuration"]}
    assert len(batch["CallerReference"]) == 32
    [listed] = cf.list_invalidations(DistributionId=made.id)["InvalidationList"]["Items"]
    assert listed["Id"] == invalidation_id

    second = invalidate(clients, made.id, ["/openid/v1/jwks"])
    again = cf.get_invalidation(DistributionId=made.id, Id=second)["Invalidation"]["InvalidationBatch"]
    assert again["Paths"] == {"Quantity": 1, "Items": ["/openid/v1/jwks"]}
    assert again["CallerReference"] != batch["CallerReference"]


@pytest.mark.parametrize(
    ("paths", "message"),
    [([], "no paths to invalidate"), (["openid/v1/jwks"], "invalidation paths must each start with '/'")],
)
def test_invalidate_refuses_bad_paths_without_a_call(
    aws: AwsWorld, clients: AwsClients, paths: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        invalidate(clients, "E2EXAMPLE", paths)
    assert aws.recorder.calls == []


# ---------------------------------------------------------------- errors, one line each


def test_a_missing_distribution_is_one_line(aws: AwsWorld, clients: AwsClients) -> None:
    with pytest.raises(AWSError) as caught:
        invalidate(clients, "E2NOSUCHDIST", ["/openid/v1/jwks"])
    assert str(caught.value) == (
        "cloudfront:CreateInvalidation on E2NOSUCHDIST failed (NoSuchDistribution: The specified distribution "
        "does not exist); it does not exist (any more): re-run to find or create it"
    )


def test_access_denied_names_the_action(aws: AwsWorld, clients: AwsClients) -> None:
    aws.proxy.fail_next("ListDistributions", status=403, code="AccessDenied")
    with pytest.raises(AWSError) as caught:
        ensure(clients)
    assert str(caught.value) == (
        "cloudfront:ListDistributions failed (AccessDenied: injected by the test); "
        "grant cloudfront:ListDistributions to the caller (see docs/iam-permissions.md)"
    )
    assert aws.recorder.writes == []


def test_access_denied_on_create_names_the_iam_actions(aws: AwsWorld, clients: AwsClients) -> None:
    # CreateDistributionWithTags is authorised by two IAM actions, neither of which has its name.
    aws.proxy.fail_next("CreateDistributionWithTags", status=403, code="AccessDenied")
    with pytest.raises(AWSError) as caught:
        ensure(clients)
    assert str(caught.value) == (
        f"cloudfront:CreateDistributionWithTags on the distribution for {BUCKET} failed (AccessDenied: injected by "
        "the test); grant cloudfront:CreateDistribution and cloudfront:TagResource to the caller "
        "(see docs/iam-permissions.md)"
    )


def test_an_alias_used_elsewhere_says_so(aws: AwsWorld, clients: AwsClients) -> None:
    aws.proxy.fail_next("CreateDistributionWithTags", status=409, code="CNAMEAlreadyExists")
    with pytest.raises(AWSError) as caught:
        ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)
    assert str(caught.value) == (
        f"cloudfront:CreateDistributionWithTags on the distribution for {BUCKET} failed "
        f"(CNAMEAlreadyExists: injected by the test); the alias {ALIAS} is used by another CloudFront "
        "distribution: remove it there, or choose another issuer host"
    )
    assert "\n" not in str(caught.value)
    # The OAC was made before the failure; the next run reuses it and creates the distribution.
    assert [c.action for c in ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)[1]] == ["create"]
    assert len(oacs(aws)) == 1 and len(distributions(aws)) == 1


def test_a_concurrent_change_asks_for_a_rerun(aws: AwsWorld, clients: AwsClients) -> None:
    ensure(clients)
    aws.proxy.fail_next("UpdateDistribution", status=412, code="PreconditionFailed")
    with pytest.raises(AWSError) as caught:
        ensure(clients, aliases=(ALIAS,), acm_certificate_arn=CERT)
    assert str(caught.value).endswith(
        "failed (PreconditionFailed: injected by the test); the distribution changed while this run was "
        "reading it: re-run to converge it"
    )


# ---------------------------------------------------------------- teardown


def test_disable_then_delete_once_deployed(aws: AwsWorld, clients: AwsClients, slow_deployments: None) -> None:
    made, _ = ensure(clients)
    assert made is not None

    assert delete_distribution_if_disabled(clients, made) is False  # still enabled
    assert disable_distribution(clients, made) is True
    assert config_of(aws, made.id)["Enabled"] is False
    assert disable_distribution(clients, made) is False  # already disabled: no second update
    aws.recorder.reset()
    assert delete_distribution_if_disabled(clients, made) is False  # disabled, still deploying
    assert aws.recorder.writes == []
    assert [d["Id"] for d in distributions(aws)] == [made.id]

    finish_deployments(aws)
    assert delete_distribution_if_disabled(clients, made) is True
    assert distributions(aws) == []
    assert delete_distribution_if_disabled(clients, made) is True  # already gone


def test_delete_origin_access_control(aws: AwsWorld, clients: AwsClients) -> None:
    made, _ = ensure(clients)
    assert made is not None and made.origin_access_control_id is not None
    oac_id = made.origin_access_control_id
    # moto deletes an OAC still in use; CloudFront refuses, as injected here.
    aws.proxy.fail_next("DeleteOriginAccessControl", status=409, code="OriginAccessControlInUse")
    assert delete_origin_access_control(clients, oac_id) is False
    assert [o["Id"] for o in oacs(aws)] == [oac_id]
    assert delete_origin_access_control(clients, oac_id) is True
    assert oacs(aws) == []
    assert delete_origin_access_control(clients, oac_id) is True  # already gone


def test_distribution_arn_per_partition() -> None:
    assert distribution_arn("aws", ACCOUNT, "E2ABC") == f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2ABC"
    assert distribution_arn("aws-cn", ACCOUNT, "E2ABC") == f"arn:aws-cn:cloudfront::{ACCOUNT}:distribution/E2ABC"


def test_which_live_distributions_use_a_bucket_an_oac_or_a_cache_policy() -> None:
    """Pure: read from ListDistributions' summaries (origins and behaviours), so teardown never plans a delete
    CloudFront would refuse."""
    from oidc_publisher.aws.cloudfront import (
        serves_host,
        users_of_bucket,
        users_of_cache_policy,
        users_of_origin_access_control,
    )

    def summary(ident: str, origin: str, oac: str = "", policy: str = "", aliases: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"Id": ident, "DomainName": f"{ident.lower()}.cloudfront.net",
                "Aliases": {"Quantity": len(aliases), "Items": list(aliases)} if aliases else {"Quantity": 0},
                "Origins": {"Quantity": 1, "Items": [{"DomainName": origin, "OriginAccessControlId": oac}]},
                "DefaultCacheBehavior": {"CachePolicyId": policy}, "CacheBehaviors": {"Quantity": 0}}

    live = [summary("A", f"{BUCKET}.s3.{REGION}.amazonaws.com", "oac1", "p1", (ALIAS,)),
            summary("B", f"{BUCKET}.s3.us-east-1.amazonaws.com", "oac2"),
            summary("C", f"{BUCKET}-2.s3.{REGION}.amazonaws.com", "oac1"),
            {**summary("D", "elsewhere.example.com"), "CacheBehaviors": {"Quantity": 1, "Items": [{"CachePolicyId": "p1"}]}}]
    assert users_of_bucket(live, BUCKET) == ["A", "B"]  # any region; not another bucket sharing the prefix
    assert users_of_bucket(live, BUCKET, but="A") == ["B"]
    assert users_of_origin_access_control(live, "oac1") == ["A", "C"]
    assert users_of_cache_policy(live, "p1") == ["A", "D"]  # default behaviour or another
    assert users_of_cache_policy(live, "p2") == []
    assert serves_host(live[0], ALIAS) and serves_host(live[0], "a.cloudfront.net") and not serves_host(live[1], ALIAS)
