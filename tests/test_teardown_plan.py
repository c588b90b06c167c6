"""Teardown's planner (core/teardown_plan.py), pure: its ownership rules held as properties over generated
snapshots, and the round trip through a tiny model of AWS (apply the planned calls, plan again: nothing left).
No AWS, no network: milliseconds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.bucket_plan import FRONT_TAG
from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.marks import ISSUER_TAG, MANAGED_BY
from oidc_publisher.core.operations import Operation
from oidc_publisher.core.policies import (
    CLOUDFRONT_READ_SID,
    DENY_INSECURE_SID,
    PUBLIC_READ_SID,
    object_arn,
    tombstone_policy,
)
from oidc_publisher.core.teardown_plan import (
    BLOCK_ALL,
    TOMBSTONE_TAG,
    BucketState,
    CloudFrontOutcome,
    CloudFrontRemoval,
    CloudFrontState,
    LiveDistribution,
    Named,
    TeardownPlan,
    TeardownSnapshot,
    Version,
    cloudfront_outcome,
    delete_distribution_operation,
    disable_operation,
    plan_bucket_deletion,
    plan_teardown,
)
from oidc_publisher.core.waiting import Waited

ACCOUNT, PARTITION, REGION, BUCKET = "123456789012", "aws", "us-east-1", "issuer-bucket"
S3_HOST = f"{BUCKET}.s3.{REGION}.amazonaws.com"
OURS = ("openid/v1/jwks", ".well-known/openid-configuration", ".oidc-publisher/state.json")
OTHER_KEYS = ("other/openid/v1/jwks", "data.csv")


def arn_for(host_path: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{host_path}"


@dataclass(frozen=True)
class Role:
    account_id: str


# --- generated snapshots ---------------------------------------------------------------------------


@st.composite
def bucket_states(draw: st.DrawFn, host: str, issuer: str) -> BucketState | None:
    if not draw(st.booleans()):
        return None
    managed = draw(st.booleans())
    tags: dict[str, str] = {MANAGED_BY[0]: MANAGED_BY[1], ISSUER_TAG: issuer} if managed else draw(
        st.sampled_from([{}, {"team": "x"}, {MANAGED_BY[0]: "terraform"}]))
    if draw(st.booleans()):
        tags[TOMBSTONE_TAG] = issuer
    if managed and draw(st.booleans()):
        tags[FRONT_TAG] = "external"
    # The reader lists a bucket the tool did not create only at the issuer's keys.
    keys = st.sampled_from(OURS + OTHER_KEYS) if managed else st.sampled_from(OURS)
    versions = tuple(draw(st.lists(st.builds(Version, keys, st.text("abc123", min_size=1, max_size=4)), max_size=8, unique=True)))
    ours_arns = [object_arn(PARTITION, BUCKET, key) for key in OURS[:2]]
    theirs = {"Sid": "Theirs", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/data.csv"}
    read_sid = draw(st.sampled_from([PUBLIC_READ_SID, CLOUDFRONT_READ_SID]))
    read = {"Sid": read_sid, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": draw(st.sampled_from([ours_arns, [*ours_arns, f"arn:aws:s3:::{BUCKET}/other/x"], ours_arns[0]]))}
    deny = {"Sid": DENY_INSECURE_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
    policy = draw(st.sampled_from([
        None,
        tombstone_policy(PARTITION, BUCKET, ACCOUNT),
        {"Version": "2012-10-17", "Statement": [read, deny]},
        {"Version": "2012-10-17", "Statement": [theirs, read]},
        {"Version": "2012-10-17", "Statement": [theirs]},
    ]))
    pab = draw(st.sampled_from([None, dict(BLOCK_ALL), {**BLOCK_ALL, "BlockPublicPolicy": False}])) if managed else None
    return BucketState(tags=tags, versions=versions, policy=policy, public_access_block=pab)


@st.composite
def cloudfront_states(draw: st.DrawFn) -> CloudFrontState:
    ids = draw(st.lists(st.sampled_from(["E1", "E2", "E3"]), max_size=3, unique=True))
    oac_id, policy_id = "OAC1", "CP1"
    live = tuple(LiveDistribution(i, draw(st.booleans()), frozenset(draw(st.sampled_from([[], [oac_id], ["OAC9"]]))),
                                  frozenset(draw(st.sampled_from([[], [policy_id]])))) for i in ids)
    distribution = draw(st.sampled_from([None, *ids]))
    managed = distribution is not None and draw(st.booleans())
    state = CloudFrontState(live=live, distribution=distribution, distribution_managed=managed,
                            cache_policy_name=f"oidc-publisher-{BUCKET}")
    if distribution is not None and not managed:
        return state  # the reader stops there: nothing of CloudFront's is removed
    oac = draw(st.sampled_from([None, Named(oac_id, f"oidc-publisher-{BUCKET}", "managed-by oidc-publisher: ...", True),
                                Named(oac_id, f"oidc-publisher-{BUCKET}", "Terraform's", False)]))
    policy = draw(st.sampled_from([None, Named(policy_id, f"oidc-publisher-{BUCKET}", "managed-by oidc-publisher: ...", True),
                                   Named(policy_id, f"oidc-publisher-{BUCKET}", "someone's", False)]))
    return dataclasses.replace(state, oac=oac, cache_policy=policy)


@st.composite
def snapshots(draw: st.DrawFn) -> TeardownSnapshot:
    s3_direct = draw(st.booleans())
    host = S3_HOST if s3_direct else draw(st.sampled_from(["d111.cloudfront.net", "oidc.example.com"]))
    path = draw(st.sampled_from(["", "/prod"]))
    issuer = f"https://{host}{path}"
    provider_path = f"{host}{path}"
    provider = draw(st.sampled_from([None, "owned", "theirs"]))
    provider_arn = arn_for(provider_path) if provider else None
    others = draw(st.lists(st.sampled_from([arn_for("unrelated.example.com"), arn_for(f"{host}/other"), arn_for(host)]),
                           max_size=2, unique=True))
    listed = tuple(draw(st.lists(st.sampled_from([(Role("111111111111"), None), (Role("222222222222"), arn_for(provider_path, "222222222222")),
                                                  (Role("333333333333"), None)]), max_size=2, unique_by=lambda p: p[0].account_id)))
    return TeardownSnapshot(
        issuer_url=issuer, host=host, provider_path=provider_path, bucket=BUCKET, region=REGION, partition=PARTITION,
        account_id=ACCOUNT, names_the_issuer=s3_direct, ours=OURS, provider_arn=provider_arn,
        provider_owned=provider == "owned", roles=tuple(draw(st.lists(st.sampled_from(["r1", "r2"]), unique=True))),
        bucket_state=draw(bucket_states(host, issuer)), cloudfront=draw(cloudfront_states()), account_providers=listed,
        provider_arns=tuple(dict.fromkeys([*([provider_arn] if provider_arn else []), *others])),
    )


def planned_or_refused(snapshot: TeardownSnapshot, delete_bucket: bool) -> TeardownPlan | None:
    try:
        return plan_teardown(snapshot, delete_bucket=delete_bucket)
    except ConflictError:
        return None


def every_operation(snapshot: TeardownSnapshot, planned: TeardownPlan) -> list[Operation]:
    """Every call the plan makes, the bucket's round included (nothing written meanwhile) and CloudFront's
    (the distribution deployed, as --wait or the next run finds it)."""
    ops = [step.operation for step in planned.steps if step.operation is not None]
    if planned.bucket_deletion is not None:
        rest = left_after(snapshot, ops).bucket_state
        assert rest is not None
        steps = plan_bucket_deletion(BUCKET, REGION, rest.versions, OURS)
        assert steps is not None
        ops.extend(step.operation for step in steps if step.operation is not None)
    ops.extend(line.operation for line in planned.cloudfront_lines if line.operation is not None)
    return ops


# --- the tiny model of AWS --------------------------------------------------------------------------


def left_after(snapshot: TeardownSnapshot, operations: list[Operation]) -> TeardownSnapshot:
    """The snapshot a re-read would give once these calls are made."""
    s = snapshot
    for op in operations:
        p: dict[str, Any] = dict(op.params)
        bucket = s.bucket_state
        if op.method == "delete_open_id_connect_provider":
            arn = p["OpenIDConnectProviderArn"]
            assert arn == s.provider_arn
            s = dataclasses.replace(s, provider_arn=None, provider_owned=False,
                                    provider_arns=tuple(a for a in s.provider_arns or () if a != arn))
        elif op.service == "s3":
            assert bucket is not None and p["Bucket"] == BUCKET
            if op.method == "delete_objects":
                gone = {(o["Key"], o["VersionId"]) for o in p["Delete"]["Objects"]}
                bucket = dataclasses.replace(bucket, versions=tuple(v for v in bucket.versions if (v.key, v.version_id) not in gone))
            elif op.method == "put_bucket_tagging":
                bucket = dataclasses.replace(bucket, tags={t["Key"]: t["Value"] for t in p["Tagging"]["TagSet"]})
            elif op.method == "put_public_access_block":
                bucket = dataclasses.replace(bucket, public_access_block=dict(p["PublicAccessBlockConfiguration"]))
            elif op.method == "put_bucket_policy":
                bucket = dataclasses.replace(bucket, policy=json.loads(p["Policy"]))
            elif op.method == "delete_bucket_policy":
                bucket = dataclasses.replace(bucket, policy=None)
            elif op.method == "delete_bucket":
                assert bucket.versions == (), "S3 refuses to delete a bucket that is not empty"
                bucket = None
            else:
                raise AssertionError(op)
            s = dataclasses.replace(s, bucket_state=bucket)
        elif op.service == "cloudfront":
            cf = s.cloudfront
            if op.method == "delete_distribution":
                cf = dataclasses.replace(cf, live=tuple(d for d in cf.live if d.id != p["Id"]), distribution=None,
                                         distribution_managed=False)
            elif op.method == "delete_origin_access_control":
                assert not any(p["Id"] in d.oac_ids for d in cf.live), "CloudFront refuses to delete an OAC in use"
                cf = dataclasses.replace(cf, oac=None)
            elif op.method == "delete_cache_policy":
                assert not any(p["Id"] in d.cache_policy_ids for d in cf.live), "CloudFront refuses: CachePolicyInUse"
                cf = dataclasses.replace(cf, cache_policy=None)
            else:
                raise AssertionError(op)
            s = dataclasses.replace(s, cloudfront=cf)
        else:
            raise AssertionError(op)
    return s


def applied(snapshot: TeardownSnapshot, planned: TeardownPlan) -> TeardownSnapshot:
    return left_after(snapshot, every_operation(snapshot, planned))


SETTINGS = settings(max_examples=300, deadline=None)


# --- the properties -------------------------------------------------------------------------------


@SETTINGS
@given(snapshots(), st.booleans())
def test_never_deletes_or_changes_what_the_tool_did_not_create(snapshot: TeardownSnapshot, delete_bucket: bool) -> None:
    planned = planned_or_refused(snapshot, delete_bucket)
    if planned is None:
        return
    bucket, cf = snapshot.bucket_state, snapshot.cloudfront
    others_of = [d for d in cf.live if d.id != cf.distribution]
    for op in every_operation(snapshot, planned):
        p = op.params
        if op.method == "delete_open_id_connect_provider":
            assert snapshot.provider_owned and p["OpenIDConnectProviderArn"] == snapshot.provider_arn
        elif op.method == "delete_objects":
            assert bucket is not None
            assert {o["Key"] for o in p["Delete"]["Objects"]} <= set(OURS), "only the issuer's own objects"
        elif op.method in ("put_bucket_policy", "delete_bucket_policy") and not (bucket and bucket.managed):
            # Their bucket: only the issuer's objects leave the tool's read statements; the rest stays as it was.
            assert bucket is not None and bucket.policy is not None
            before = [s for s in bucket.policy["Statement"] if s.get("Sid") not in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID)]
            after = json.loads(p["Policy"])["Statement"] if op.method == "put_bucket_policy" else []
            assert [s for s in after if s.get("Sid") not in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID)] == (
                before if op.method == "put_bucket_policy" else after)
            for statement in after:
                if statement.get("Sid") in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID):
                    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                    assert not {object_arn(PARTITION, BUCKET, key) for key in OURS} & set(resources)
        elif op.service == "s3":
            assert bucket is not None and bucket.managed, f"{op.method} on a bucket the tool did not create"
        elif op.method == "delete_distribution":
            assert p["Id"] == cf.distribution and cf.distribution_managed
        elif op.method == "delete_origin_access_control":
            assert cf.oac is not None and cf.oac.made_by_tool and p["Id"] == cf.oac.id
            assert not any(cf.oac.id in d.oac_ids for d in others_of)
        elif op.method == "delete_cache_policy":
            assert cf.cache_policy is not None and cf.cache_policy.made_by_tool and p["Id"] == cf.cache_policy.id
            assert not any(cf.cache_policy.id in d.cache_policy_ids for d in others_of)
        else:
            raise AssertionError(f"unexpected call {op}")


@SETTINGS
@given(snapshots(), st.booleans())
def test_never_frees_a_bucket_name_while_a_provider_of_a_listed_account_trusts_the_host(
    snapshot: TeardownSnapshot, delete_bucket: bool
) -> None:
    planned = planned_or_refused(snapshot, delete_bucket)
    deleted_now = snapshot.provider_arn if snapshot.provider_owned else None
    listed_left = [arn for _, arn in snapshot.account_providers if arn is not None and arn != deleted_now]
    if listed_left:
        assert planned is None, "a listed account still has a provider: nothing is removed"
        return
    if planned is None or planned.bucket_deletion is None:
        return
    host = snapshot.host
    trusting = [a for a in snapshot.provider_arns or () if a != deleted_now
                and (a.split(":oidc-provider/")[1] == host or a.split(":oidc-provider/")[1].startswith(f"{host}/"))]
    if snapshot.names_the_issuer:
        assert delete_bucket, "an S3-direct issuer's bucket goes only when asked for"
        assert not trusting, "freed while a provider of this account trusts the host"
    # A kept distribution fetching from it by name would serve whoever re-creates it.
    assert not [d for d in snapshot.cloudfront.live if d.origin_is_bucket and d.id != snapshot.cloudfront.deleted]


@SETTINGS
@given(snapshots(), st.booleans())
def test_a_kept_bucket_of_the_tools_ends_locked(snapshot: TeardownSnapshot, delete_bucket: bool) -> None:
    """The tool's bucket, holding nothing but the issuer's objects, that teardown keeps (its name may still be
    trusted) ends empty, tagged, Block Public Access all on, and the deny-all-but-the-owner policy."""
    planned = planned_or_refused(snapshot, delete_bucket)
    bucket = snapshot.bucket_state
    if planned is None or bucket is None or not bucket.managed or any(v.key not in OURS for v in bucket.versions):
        return
    after = applied(snapshot, planned).bucket_state
    if after is None:
        assert planned.bucket_deletion is not None
        return
    assert after.versions == ()
    assert after.public_access_block == BLOCK_ALL
    assert after.policy == tombstone_policy(PARTITION, BUCKET, ACCOUNT)
    assert after.tags[TOMBSTONE_TAG] == snapshot.issuer_url and after.tags[MANAGED_BY[0]] == MANAGED_BY[1]


@SETTINGS
@given(snapshots(), st.booleans())
def test_applying_the_plan_then_planning_again_leaves_nothing_to_do(snapshot: TeardownSnapshot, delete_bucket: bool) -> None:
    planned = planned_or_refused(snapshot, delete_bucket)
    if planned is None:
        return
    again = plan_teardown(applied(snapshot, planned), delete_bucket=delete_bucket)
    assert again.lines == [] and again.steps == [] and again.bucket_deletion is None and again.cloudfront is None


# --- examples -------------------------------------------------------------------------------------


def s3_direct(**changes: Any) -> TeardownSnapshot:
    base = TeardownSnapshot(
        issuer_url=f"https://{S3_HOST}", host=S3_HOST, provider_path=S3_HOST, bucket=BUCKET, region=REGION,
        partition=PARTITION, account_id=ACCOUNT, names_the_issuer=True, ours=OURS, provider_arn=arn_for(S3_HOST),
        provider_owned=True, provider_arns=(arn_for(S3_HOST),),
        bucket_state=BucketState({MANAGED_BY[0]: MANAGED_BY[1]}, tuple(Version(k, "v1") for k in OURS), None, None),
    )
    return dataclasses.replace(base, **changes)


def test_an_s3_direct_bucket_becomes_a_tombstone_in_order() -> None:
    planned = plan_teardown(s3_direct())
    assert [(line.action, line.resource) for line in planned.lines] == [
        ("delete", f"iam:oidc-provider/{S3_HOST}"), *[("delete", f"s3://{BUCKET}/{k}") for k in sorted(OURS)],
        ("update", f"s3://{BUCKET}")]
    assert [(s.operation.method, s.phase) for s in planned.steps if s.operation] == [
        ("delete_open_id_connect_provider", 0), ("delete_objects", 1), ("put_bucket_tagging", 2),
        ("put_public_access_block", 3), ("put_bucket_policy", 4)]
    assert planned.bucket_deletion is None


def test_the_versions_go_in_batches_of_a_thousand() -> None:
    many = tuple(Version(OURS[0], f"v{i}") for i in range(2500))
    planned = plan_teardown(s3_direct(bucket_state=BucketState({MANAGED_BY[0]: MANAGED_BY[1]}, many)))
    batches = [s.operation.params["Delete"]["Objects"] for s in planned.steps if s.operation and s.operation.method == "delete_objects"]
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert [line.resource for line in planned.lines if line.action == "delete" and line.resource.startswith("s3://")] == [
        f"s3://{BUCKET}/{OURS[0]}"]


def test_delete_bucket_is_refused_while_another_provider_trusts_the_host() -> None:
    other = arn_for(f"{S3_HOST}/other")
    with pytest.raises(ConflictError, match=f"the IAM OIDC provider {other} still trusts it"):
        plan_teardown(s3_direct(provider_arns=(arn_for(S3_HOST), other)), delete_bucket=True)
    planned = plan_teardown(s3_direct(), delete_bucket=True)  # its own provider goes in this run: it does not count
    assert planned.bucket_deletion is not None
    with pytest.raises(ValueError, match="lacks this account's providers"):
        plan_teardown(s3_direct(provider_arns=None), delete_bucket=True)


def test_a_listed_account_with_a_provider_refuses_everything() -> None:
    listed = ((Role("222222222222"), arn_for(S3_HOST, "222222222222")),)
    with pytest.raises(ConflictError, match=r"refusing to tear down .* account 222222222222"):
        plan_teardown(s3_direct(account_providers=listed))


def test_the_bucket_round_keeps_a_bucket_written_to_meanwhile() -> None:
    assert plan_bucket_deletion(BUCKET, REGION, [Version("new", "v")], OURS) is None
    steps = plan_bucket_deletion(BUCKET, REGION, [], OURS)
    assert steps is not None and [s.operation.method for s in steps if s.operation] == ["delete_bucket"]


def test_cloudfront_round_decisions() -> None:
    assert disable_operation("E1", {"Enabled": False}, "etag") is None
    disable = disable_operation("E1", {"Enabled": True, "Comment": "c"}, "etag")
    assert disable is not None and dict(disable.params) == {"Id": "E1", "IfMatch": "etag", "DistributionConfig": {"Enabled": False, "Comment": "c"}}
    assert delete_distribution_operation("E1", {"Status": "InProgress", "DistributionConfig": {"Enabled": False}}, "e") is None
    assert delete_distribution_operation("E1", {"Status": "Deployed", "DistributionConfig": {"Enabled": True}}, "e") is None
    deleted = delete_distribution_operation("E1", {"Status": "Deployed", "DistributionConfig": {"Enabled": False}}, "e")
    assert deleted is not None and dict(deleted.params) == {"Id": "E1", "IfMatch": "e"}


def test_a_distribution_still_deploying_leaves_the_rest_for_a_rerun() -> None:
    from oidc_publisher.core.plan import Plan, Step

    removal = CloudFrontRemoval("E1", "OAC1", "CP1", "oidc-publisher-b")
    plan = Plan([Step("cloudfront:distribution/E1", "delete", "x"), Step("cloudfront:origin-access-control/OAC1", "delete", "y"),
                 Step("cloudfront:cache-policy/oidc-publisher-b", "delete", "z")])
    notes, waited, gave_up = cloudfront_outcome(plan, removal, CloudFrontOutcome(disabled_now=True))
    assert [(c.action, c.resource) for c in plan.changes] == [("update", "cloudfront:distribution/E1")]
    assert notes == ["distribution E1 is disabled; CloudFront deletes it only once deployed: re-run teardown in about 15 "
                     "minutes to delete it, then its origin access control OAC1 and its cache policy oidc-publisher-b"]
    assert (waited, gave_up) == (None, False)
    waited_out = Waited("distribution E1", False, 60.0, ("InProgress",))
    _, line, gave_up = cloudfront_outcome(Plan(), removal, CloudFrontOutcome(waited=waited_out))
    assert gave_up and line is not None and line.startswith("gave up waiting after 1m0s: distribution E1 is disabled but still InProgress")
