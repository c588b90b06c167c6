"""The CloudFront distribution's planner, pure: what bootstrap --cloudfront creates or converges, from a
snapshot of the OAC, the cache policy and the distribution as read.

Plain cases for the drift the end-to-end tests (test_cloudfront.py) cover, each pinning the exact
operations; and properties over arbitrary snapshots: a tiny model of CloudFront applies the planned
operations (resolving the references to ids made in an earlier phase, checking every IfMatch), and planning
again from what it left gives no steps; a distribution that exists is never re-made or re-tagged, and only
the fields the tool owns change on it."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.distribution_plan import (
    CACHE_POLICY_STEP,
    NEW_CACHE_POLICY_ID,
    NEW_OAC_ID,
    OAC_STEP,
    CachePolicy,
    Distribution,
    DistributionPlan,
    DistributionSettings,
    DistributionSnapshot,
    FoundDistribution,
    cache_policy_comment,
    cache_policy_config,
    distribution_after,
    new_config,
    oac_config,
    plan_distribution,
)
from oidc_publisher.core.errors import ConflictError, InputError
from oidc_publisher.core.operations import Ref
from oidc_publisher.core.plan import Plan

BUCKET = "private-issuer"
REGION = "eu-west-1"
ALIAS = "oidc.example.com"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1f8d2c-5a3e-4c6f-9d7a-1e2f3a4b5c6d"
OTHER_CERT = CERT.replace("0b1f8d2c", "1c2e9e3d")
TAGS = {"managed-by": "oidc-publisher", "team": "platform"}
POLICY = f"oidc-publisher-{BUCKET}"
OAC_ID, POLICY_ID, DIST_ID = "E1OAC", "cp-1", "E2DIST"


def wanted(aliases: tuple[str, ...] = (), certificate: str | None = None) -> DistributionSettings:
    return DistributionSettings(BUCKET, REGION, "oidc-publisher-private-issuer-1", aliases, certificate, TAGS)


def ours(config: dict[str, Any] | None = None, etag: str = "P1") -> CachePolicy:
    config = config or cache_policy_config(BUCKET)
    return CachePolicy(POLICY_ID, str(config["Comment"]), config, etag)


def found(config: dict[str, Any], etag: str = "D1") -> FoundDistribution:
    dist = Distribution(DIST_ID, f"arn:aws:cloudfront::123456789012:distribution/{DIST_ID}", "d1.cloudfront.net", (), None, "Deployed")
    return FoundDistribution(dist, config, etag)


def made(aliases: tuple[str, ...] = (), certificate: str | None = None, oac: str = OAC_ID, policy: str = POLICY_ID) -> dict[str, Any]:
    """A distribution's config as the tool makes it (GetDistributionConfig's answer of one)."""
    return new_config(BUCKET, REGION, oac, aliases, certificate, policy, "oidc-publisher-private-issuer-0")


def calls(plan: DistributionPlan) -> list[tuple[int, str]]:
    return [(s.phase, s.operation.method) for s in plan.changes if s.operation is not None]


def converged() -> DistributionSnapshot:
    return DistributionSnapshot(OAC_ID, ours(), found(made()))


# ---------------------------------------------------------------- plain cases


def test_from_nothing_the_oac_then_the_policy_then_the_distribution_naming_both_by_reference() -> None:
    plan = plan_distribution(DistributionSnapshot(), wanted((ALIAS,), CERT))

    assert calls(plan) == [
        (0, "create_origin_access_control"), (1, "create_cache_policy"), (2, "create_distribution_with_tags"),
    ]  # fmt: skip
    oac, policy, dist = plan.changes
    assert oac.operation is not None and oac.operation.params == {"OriginAccessControlConfig": oac_config(BUCKET)}
    assert oac_config(BUCKET)["Description"] == f"managed-by oidc-publisher: signs CloudFront's reads of s3://{BUCKET}"
    assert policy.operation is not None and policy.operation.params == {"CachePolicyConfig": cache_policy_config(BUCKET)}
    assert dist.operation is not None
    sent = dist.operation.params["DistributionConfigWithTags"]
    config = sent["DistributionConfig"]
    assert config["Origins"]["Items"][0]["OriginAccessControlId"] == Ref(OAC_STEP, "OriginAccessControl.Id")
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == Ref(CACHE_POLICY_STEP, "CachePolicy.Id")
    assert config["CallerReference"] == "oidc-publisher-private-issuer-1"
    assert config["Aliases"] == {"Quantity": 1, "Items": [ALIAS]}
    assert config["ViewerCertificate"] == {"ACMCertificateArn": CERT, "SSLSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"}
    # Its marks, set by the call that creates it: the only tags the plan ever writes.
    assert sent["Tags"] == {"Items": [
        {"Key": "managed-by", "Value": "oidc-publisher"}, {"Key": "oidc-publisher:bucket", "Value": BUCKET},
        {"Key": "team", "Value": "platform"},
    ]}  # fmt: skip
    assert (plan.existing, plan.oac_id, plan.kept_cache_policy) == (None, None, None)


def test_dry_run_json_shows_the_references_not_made_up_ids() -> None:
    plan = Plan(plan_distribution(DistributionSnapshot(), wanted()).changes)
    shown = json.dumps(plan.to_json())
    assert '"OriginAccessControlId": {"ref": "origin-access-control", "path": "OriginAccessControl.Id"}' in shown
    assert '"CachePolicyId": {"ref": "cache-policy", "path": "CachePolicy.Id"}' in shown
    assert [c.get("key") for c in plan.to_json()] == ["origin-access-control", "cache-policy", "distribution"]


def test_a_converged_distribution_plans_nothing() -> None:
    plan = plan_distribution(converged(), wanted())
    assert plan.changes == []
    assert plan.existing == found(made()).distribution and plan.oac_id == OAC_ID


def test_an_origin_signed_by_another_oac_is_pointed_back_at_ours() -> None:
    config = made(oac="E9STALE")
    plan = plan_distribution(DistributionSnapshot(OAC_ID, ours(), found(config, "D7")), wanted())

    [step] = plan.changes
    assert (step.resource, step.action, step.reason) == (f"cloudfront:distribution/{DIST_ID}", "update", f"origin access control -> {OAC_ID}")
    assert step.operation is not None and step.operation.method == "update_distribution"
    assert (step.operation.params["Id"], step.operation.params["IfMatch"]) == (DIST_ID, "D7")
    assert step.operation.params["DistributionConfig"] == made()


def test_a_missing_oac_is_made_and_the_distribution_pointed_at_it_in_the_same_run() -> None:
    plan = plan_distribution(DistributionSnapshot(None, ours(), found(made(oac="E9GONE"))), wanted())

    assert calls(plan) == [(0, "create_origin_access_control"), (2, "update_distribution")]
    update = plan.changes[1]
    assert update.reason == f"origin access control -> the new oidc-publisher-{BUCKET}"
    assert update.operation is not None
    assert update.operation.params["DistributionConfig"]["Origins"]["Items"][0]["OriginAccessControlId"] == NEW_OAC_ID


def test_an_origin_without_the_field_is_not_drift() -> None:
    """moto drops the field: absent is not taken for drift (CloudFront always answers it, "" when none)."""
    config = made()
    del config["Origins"]["Items"][0]["OriginAccessControlId"]
    assert plan_distribution(DistributionSnapshot(OAC_ID, ours(), found(config)), wanted()).changes == []


def test_a_drifted_cache_policy_is_updated_with_its_etag_and_nothing_else() -> None:
    drifted = {**cache_policy_config(BUCKET), "DefaultTTL": 86400, "MaxTTL": 31536000}
    drifted["ParametersInCacheKeyAndForwardedToOrigin"] = {
        **drifted["ParametersInCacheKeyAndForwardedToOrigin"], "QueryStringsConfig": {"QueryStringBehavior": "all"},
    }  # fmt: skip
    plan = plan_distribution(DistributionSnapshot(OAC_ID, ours(drifted, "P9"), found(made())), wanted())

    [step] = plan.changes
    assert (step.resource, step.action, step.reason, step.phase) == (
        f"cloudfront:cache-policy/{POLICY}", "update",
        "TTL 0-86400-31536000s -> 0-300-3600s; cache key -> the path only (no headers, cookies or query strings)", 1,
    )  # fmt: skip
    assert step.operation is not None and step.operation.method == "update_cache_policy"
    assert step.operation.params == {"Id": POLICY_ID, "IfMatch": "P9", "CachePolicyConfig": cache_policy_config(BUCKET)}


def test_aliases_and_certificate_change_in_one_update_keeping_what_the_tool_does_not_own() -> None:
    config = {**made(), "Enabled": False, "PriceClass": "PriceClass_All", "Logging": {"Enabled": True, "Bucket": "logs"}}
    config["DefaultCacheBehavior"] = {**config["DefaultCacheBehavior"], "ViewerProtocolPolicy": "allow-all"}
    plan = plan_distribution(DistributionSnapshot(OAC_ID, ours(), found(config)), wanted((ALIAS,), CERT))

    [step] = plan.changes
    assert step.reason == f"enable it; aliases -> {ALIAS}; certificate -> {CERT}; viewer protocol -> https-only"
    assert step.operation is not None
    sent = step.operation.params["DistributionConfig"]
    assert sent == {
        **config, "Enabled": True, "Aliases": {"Quantity": 1, "Items": [ALIAS]},
        "ViewerCertificate": {"ACMCertificateArn": CERT, "SSLSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"},
        "DefaultCacheBehavior": {**config["DefaultCacheBehavior"], "ViewerProtocolPolicy": "https-only"},
    }  # fmt: skip

    back = plan_distribution(DistributionSnapshot(OAC_ID, ours(), found(made((ALIAS,), CERT))), wanted())
    assert [s.reason for s in back.changes] == ["aliases -> none; certificate -> the default *.cloudfront.net one"]
    other = plan_distribution(DistributionSnapshot(OAC_ID, ours(), found(made((ALIAS,), CERT))), wanted((ALIAS,), OTHER_CERT))
    assert [s.reason for s in other.changes] == [f"certificate -> {OTHER_CERT}"]
    weak = made((ALIAS,), CERT)
    weak["ViewerCertificate"] = {**weak["ViewerCertificate"], "MinimumProtocolVersion": "TLSv1"}
    assert [s.reason for s in plan_distribution(DistributionSnapshot(OAC_ID, ours(), found(weak)), wanted((ALIAS,), CERT)).changes] == [
        "viewer TLS -> sni-only, TLSv1.2_2021"
    ]


def test_a_distribution_the_tool_did_not_make_is_converged_only_in_what_was_asked_and_never_re_tagged() -> None:
    """The Terraform module's: its own cache policy (the tool's name, another comment), another comment on
    the distribution. Only the asked-for fields change; the policies are left alone; no tag is written."""
    terraforms = CachePolicy("cp-tf", "oidc-publisher issuer for private-issuer: short TTLs", {**cache_policy_config(BUCKET), "Comment": "tf"}, "T1")
    config = {**made(policy="cp-tf"), "Comment": "made by terraform", "Enabled": False}
    plan = plan_distribution(DistributionSnapshot(OAC_ID, terraforms, found(config)), wanted())

    assert plan.kept_cache_policy == "cp-tf"
    assert calls(plan) == [(2, "update_distribution")]
    [step] = plan.changes
    assert step.reason == "enable it"
    assert step.operation is not None and step.operation.params["DistributionConfig"] == {**config, "Enabled": True}

    # Our own policy, unused because the behaviour names another: kept as it is, not converged.
    unused = ours({**cache_policy_config(BUCKET), "MaxTTL": 7200})
    assert plan_distribution(DistributionSnapshot(OAC_ID, unused, found(made(policy="cp-tf"))), wanted()).changes == []


def test_a_policy_of_the_tools_name_it_did_not_make_is_refused_when_the_distribution_would_need_it() -> None:
    terraforms = CachePolicy("cp-tf", "oidc-publisher issuer for private-issuer: short TTLs", cache_policy_config(BUCKET), "T1")
    for snapshot in (DistributionSnapshot(OAC_ID, terraforms), DistributionSnapshot(OAC_ID, terraforms, found(made(policy="")))):
        with pytest.raises(ConflictError) as caught:
            plan_distribution(snapshot, wanted())
        assert caught.value.message == (
            f"the cache policy {POLICY} (cp-tf) was not made by oidc-publisher for s3://{BUCKET} (its comment is "
            "'oidc-publisher issuer for private-issuer: short TTLs'), and the distribution would need that name"
        )


def test_a_legacy_distribution_moves_onto_a_new_cache_policy() -> None:
    config = made()
    behaviour = {k: v for k, v in config["DefaultCacheBehavior"].items() if k != "CachePolicyId"}
    behaviour.update(ForwardedValues={"QueryString": False}, MinTTL=0, DefaultTTL=300, MaxTTL=3600)
    config["DefaultCacheBehavior"] = behaviour
    plan = plan_distribution(DistributionSnapshot(OAC_ID, None, found(config)), wanted())

    assert calls(plan) == [(1, "create_cache_policy"), (2, "update_distribution")]
    assert plan.changes[1].reason == f"cache policy -> {POLICY} (instead of the legacy TTL fields)"
    assert plan.changes[1].operation is not None
    sent = plan.changes[1].operation.params["DistributionConfig"]["DefaultCacheBehavior"]
    assert sent["CachePolicyId"] == NEW_CACHE_POLICY_ID
    assert not {"ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"} & set(sent)


def test_a_certificate_that_cannot_serve_the_aliases_is_refused_with_the_settings() -> None:
    with pytest.raises(InputError, match="needs a certificate"):
        wanted((ALIAS,))
    with pytest.raises(InputError, match="only uses certificates in us-east-1"):
        wanted((ALIAS,), CERT.replace("us-east-1", "eu-west-1"))
    with pytest.raises(InputError, match="without a custom --issuer-url"):
        wanted((), CERT)


def test_the_distribution_after_the_plan_ran() -> None:
    fresh = plan_distribution(DistributionSnapshot(), wanted())
    answers = {
        "origin-access-control": {"OriginAccessControl": {"Id": "E1NEW"}},
        "cache-policy": {"CachePolicy": {"Id": "cp-new"}},
        "distribution": {"Distribution": {"Id": "E3", "ARN": "arn:aws:cloudfront::1:distribution/E3",
                                          "DomainName": "e3.cloudfront.net", "Status": "InProgress"}},
    }  # fmt: skip
    assert distribution_after(fresh, answers) == Distribution("E3", "arn:aws:cloudfront::1:distribution/E3", "e3.cloudfront.net", (), "E1NEW", "InProgress")
    same = plan_distribution(converged(), wanted())
    assert distribution_after(same, {}) == found(made()).distribution


# ---------------------------------------------------------------- properties


@dataclass
class Cloud:
    """A tiny CloudFront: the three things the planner reads, changed only by the planned calls, with
    CloudFront's rules the tool relies on (IfMatch, no legacy fields next to a cache policy)."""

    snapshot: DistributionSnapshot
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def run(self, plan: DistributionPlan) -> None:
        answers: dict[str, dict[str, Any]] = {}
        for phase in Plan(plan.changes).phases:
            for step in phase:
                assert step.operation is not None
                for ref in _refs(step.operation.params):  # only what an earlier phase answered
                    assert ref.step in answers, (step, ref)
                answer = self.call(step.operation.method, dict(step.operation.resolved(answers).params))
                if step.key is not None:
                    answers[step.key] = answer

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        snap, n = self.snapshot, next(self.ids)
        assert not list(_refs(params)), params
        if method == "create_origin_access_control":
            assert snap.oac_id is None
            self.snapshot = replace(snap, oac_id=f"E{n}OAC")
            return {"OriginAccessControl": {"Id": f"E{n}OAC"}}
        if method == "create_cache_policy":
            assert snap.cache_policy is None
            config = params["CachePolicyConfig"]
            self.snapshot = replace(snap, cache_policy=CachePolicy(f"cp-{n}", config["Comment"], config, f"P{n}"))
            return {"CachePolicy": {"Id": f"cp-{n}"}}
        if method == "update_cache_policy":
            assert snap.cache_policy is not None and params["IfMatch"] == snap.cache_policy.etag
            assert params["Id"] == snap.cache_policy.id
            config = params["CachePolicyConfig"]
            self.snapshot = replace(snap, cache_policy=replace(snap.cache_policy, config=config, comment=config["Comment"], etag=f"P{n}"))
            return {}
        if method == "create_distribution_with_tags":
            assert snap.found is None
            config = params["DistributionConfigWithTags"]["DistributionConfig"]
            _cloudfront_accepts(config)
            dist = Distribution(f"E{n}", f"arn:aws:cloudfront::1:distribution/E{n}", f"e{n}.cloudfront.net", (), None, "InProgress")
            self.snapshot = replace(snap, found=FoundDistribution(dist, config, f"D{n}"))
            return {"Distribution": {"Id": dist.id, "ARN": dist.arn, "DomainName": dist.domain_name, "Status": "InProgress",
                                     "DistributionConfig": config}}  # fmt: skip
        if method == "update_distribution":
            assert snap.found is not None and params["IfMatch"] == snap.found.etag and params["Id"] == snap.found.distribution.id
            _cloudfront_accepts(params["DistributionConfig"])
            self.snapshot = replace(snap, found=replace(snap.found, config=params["DistributionConfig"], etag=f"D{n}"))
            return {"Distribution": {"Id": params["Id"], "ARN": "", "DomainName": "d.cloudfront.net", "DistributionConfig": params["DistributionConfig"]}}
        raise AssertionError(f"not a call of the set-up: {method}")


def _refs(value: Any) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    return []


def _cloudfront_accepts(config: dict[str, Any]) -> None:
    behaviour = config["DefaultCacheBehavior"]
    if behaviour.get("CachePolicyId"):
        assert not {"ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"} & set(behaviour), behaviour


SETTINGS = st.sampled_from([((), None), ((ALIAS,), CERT), ((ALIAS,), OTHER_CERT)])


@st.composite
def policies(draw: st.DrawFn) -> CachePolicy | None:
    kind = draw(st.sampled_from(["none", "ours", "theirs"]))
    if kind == "none":
        return None
    config = copy.deepcopy(cache_policy_config(BUCKET))
    config["MinTTL"], config["DefaultTTL"], config["MaxTTL"] = draw(st.sampled_from([(0, 300, 3600), (0, 86400, 31536000), (60, 300, 3600)]))
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    key["QueryStringsConfig"]["QueryStringBehavior"] = draw(st.sampled_from(["none", "all"]))
    key["EnableAcceptEncodingBrotli"] = draw(st.booleans())
    comment = cache_policy_comment(BUCKET) if kind == "ours" else "oidc-publisher issuer for private-issuer: short TTLs"
    return CachePolicy(POLICY_ID, comment, {**config, "Comment": comment}, "P0")


@st.composite
def distributions(draw: st.DrawFn) -> FoundDistribution | None:
    if draw(st.booleans()):
        return None
    aliases, certificate = draw(SETTINGS)
    config = copy.deepcopy(made(aliases, certificate))
    config["Enabled"] = draw(st.booleans())
    config["PriceClass"] = draw(st.sampled_from(["PriceClass_100", "PriceClass_All"]))
    config["Comment"] = draw(st.sampled_from([config["Comment"], "made by someone else"]))
    if certificate and draw(st.booleans()):
        config["ViewerCertificate"]["MinimumProtocolVersion"] = "TLSv1"
    behaviour = config["DefaultCacheBehavior"]
    behaviour["ViewerProtocolPolicy"] = draw(st.sampled_from(["https-only", "redirect-to-https", "allow-all"]))
    named = draw(st.sampled_from(["ours", "another", "legacy"]))
    if named == "another":
        behaviour["CachePolicyId"] = "cp-another"
    elif named == "legacy":
        del behaviour["CachePolicyId"]
        behaviour.update(ForwardedValues={"QueryString": False}, MinTTL=0, DefaultTTL=300, MaxTTL=3600)
    origin = config["Origins"]["Items"][0]
    oac = draw(st.sampled_from(["ours", "", "E9STALE", "absent"]))
    if oac == "absent":
        del origin["OriginAccessControlId"]
    elif oac != "ours":
        origin["OriginAccessControlId"] = oac
    return found(config, "D0")


snapshots = st.builds(DistributionSnapshot, st.sampled_from([None, OAC_ID]), policies(), distributions())


@settings(max_examples=300, deadline=None)
@given(snapshot=snapshots, asked=SETTINGS)
def test_applying_the_plan_then_planning_again_plans_nothing(snapshot: DistributionSnapshot, asked: tuple[Any, Any]) -> None:
    settings_ = wanted(*asked)
    try:
        plan = plan_distribution(snapshot, settings_)
    except ConflictError:
        # Refused only for a policy of the tool's name it did not make, that the distribution would need.
        assert snapshot.cache_policy is not None and not snapshot.cache_policy.made_for(BUCKET)
        return
    cloud = Cloud(snapshot)
    cloud.run(plan)
    again = plan_distribution(cloud.snapshot, settings_)
    assert again.changes == [], [s.reason for s in again.changes]
    assert cloud.snapshot.found is not None and cloud.snapshot.oac_id is not None


@settings(max_examples=300, deadline=None)
@given(snapshot=snapshots, asked=SETTINGS)
def test_an_existing_distribution_is_never_re_made_nor_re_tagged_and_keeps_what_the_tool_does_not_own(
    snapshot: DistributionSnapshot, asked: tuple[Any, Any]
) -> None:
    try:
        plan = plan_distribution(snapshot, wanted(*asked))
    except ConflictError:
        return
    methods = {s.operation.method for s in plan.changes if s.operation is not None}
    if snapshot.found is None:
        assert "create_distribution_with_tags" in methods
        return
    assert methods <= {"create_origin_access_control", "create_cache_policy", "update_cache_policy", "update_distribution"}
    for step in plan.changes:
        assert step.operation is not None
        if step.operation.method == "update_distribution":
            before, after = snapshot.found.config, step.operation.params["DistributionConfig"]
            owned = {"Enabled", "Aliases", "ViewerCertificate", "DefaultCacheBehavior", "Origins"}
            assert {k: v for k, v in after.items() if k not in owned} == {k: v for k, v in before.items() if k not in owned}
            assert after["Origins"]["Items"][0]["DomainName"] == before["Origins"]["Items"][0]["DomainName"]
            kept = before["DefaultCacheBehavior"].get("CachePolicyId")
            if kept and kept != POLICY_ID:
                assert after["DefaultCacheBehavior"]["CachePolicyId"] == kept  # another party's policy stays
        if step.operation.method == "update_cache_policy":
            assert snapshot.cache_policy is not None and snapshot.cache_policy.made_for(BUCKET)
