"""The bucket planner, pure: what the tool changes on a bucket, from a snapshot of its live settings.

Plain cases for each rule, and properties over arbitrary live settings and bucket policies: a bucket the
tool did not create is never loosened nor has its versioning or ownership changed without --adopt-bucket; the
statements the tool writes never grant more than s3:GetObject on exactly the issuers' two documents; the
bucket is created alone first and the policy goes after Block Public Access; and a plan applied (to a model
of S3) leaves nothing to plan."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.bucket_plan import (
    BLOCK_PUBLIC_ACCESS_FLAGS,
    OWN_SIDS,
    BucketPlan,
    BucketSnapshot,
    BucketSpec,
    document_prefix,
    is_public_statement,
    plan_bucket_setup,
    wanted_public_access_block,
)
from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.operations import Operation
from oidc_publisher.core.plan import Plan
from oidc_publisher.core.policies import CLOUDFRONT_READ_SID, DENY_INSECURE_SID, PUBLIC_READ_SID, bucket_policy

BUCKET = "shared-issuer"
DOCS = ("openid/v1/jwks", ".well-known/openid-configuration")
DISTRIBUTION = "arn:aws:cloudfront::123456789012:distribution/E1"
MANAGED = {"managed-by": "oidc-publisher"}
GOOD_PUBLIC = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}


def spec(prefix: str = "", *, private: bool = False) -> BucketSpec:
    keys = [f"{prefix}/{d}" if prefix else d for d in DOCS]
    return BucketSpec(
        name=BUCKET, region="us-east-1", partition="aws",
        public_policy=bucket_policy("aws", BUCKET, keys, distribution_arn=DISTRIBUTION if private else None),
        private=private, issuer_url=f"https://{BUCKET}.s3.us-east-1.amazonaws.com" + (f"/{prefix}" if prefix else ""),
    )


def settled(**overrides: Any) -> BucketSnapshot:
    """A bucket already in the shape the tool wants for an S3-direct issuer at the root."""
    values: dict[str, Any] = {
        "exists": True, "tags": MANAGED, "object_ownership": "BucketOwnerEnforced",
        "public_access_block": GOOD_PUBLIC, "encrypted": True, "versioning": "Enabled",
        "policy": bucket_policy("aws", BUCKET, DOCS),
    }
    values.update(overrides)
    return BucketSnapshot(**values)


def operations(plan: BucketPlan) -> list[Operation]:
    """The planned S3 calls in plan order: every step of a bucket plan carries one."""
    ops = [change.operation for change in plan.changes]
    assert all(op is not None and op.service == "s3" for op in ops), plan.changes
    return [op for op in ops if op is not None]


def calls(plan: BucketPlan) -> list[tuple[str, dict[str, Any]]]:
    """The planned S3 calls as (boto3 method, arguments), in plan order."""
    return [(op.method, dict(op.params)) for op in operations(plan)]


def written_policy(plan_calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    for name, kwargs in plan_calls:
        if name == "put_bucket_policy":
            return dict(json.loads(kwargs["Policy"]))
    return None


LEGACY = {"Sid": "LegacyPublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
          "Resource": f"arn:aws:s3:::{BUCKET}/*"}


def test_a_settled_bucket_needs_nothing() -> None:
    plan = plan_bucket_setup(settled(), spec(), adopt=False)
    assert (plan.changes, calls(plan), plan.notes) == ([], [], [])


def test_a_new_bucket_is_created_with_its_mark_in_the_same_call() -> None:
    plan = plan_bucket_setup(BucketSnapshot(exists=False), spec(), adopt=False)
    name, create = calls(plan)[0]
    assert name == "create_bucket"
    assert create["CreateBucketConfiguration"]["Tags"][0] == {"Key": "managed-by", "Value": "oidc-publisher"}
    assert "LocationConstraint" not in create["CreateBucketConfiguration"]  # us-east-1 takes none
    assert "put_bucket_tagging" not in [n for n, _ in calls(plan)]


@pytest.mark.parametrize("extra", [LEGACY, {**LEGACY, "Sid": None, "Principal": {"AWS": "*"}}])
def test_a_public_statement_that_is_not_the_tools_is_refused_by_name(extra: dict[str, Any]) -> None:
    policy = bucket_policy("aws", BUCKET, DOCS)
    policy["Statement"].insert(0, {k: v for k, v in extra.items() if v is not None})
    for tags, adopt in ((MANAGED, False), ({}, True)):
        with pytest.raises(ConflictError) as refused:
            plan_bucket_setup(settled(policy=policy, tags=tags), spec(), adopt=adopt)
        named = "Sid 'LegacyPublicRead'" if extra.get("Sid") else "statement 1, which has no Sid"
        assert str(refused.value) == (
            f"the bucket policy of s3://{BUCKET} has a public statement that is not oidc-publisher's ({named}): "
            "with the documents public it would make every object it names public; remove that statement (or "
            "restrict it to named principals) and re-run; oidc-publisher adds its own read on exactly the two documents"
        )


def test_restricted_or_denying_statements_are_not_public() -> None:
    assert not is_public_statement({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})
    assert not is_public_statement({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:*"})
    assert not is_public_statement(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}
    )
    assert is_public_statement(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}
    )
    assert is_public_statement({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:*"})


def test_a_widened_own_statement_is_rewritten_exactly() -> None:
    policy = bucket_policy("aws", BUCKET, DOCS)
    policy["Statement"][0] = {**policy["Statement"][0], "Resource": f"arn:aws:s3:::{BUCKET}/*", "Action": "s3:*"}
    plan = plan_bucket_setup(settled(policy=policy), spec(), adopt=False)
    assert written_policy(calls(plan)) == json.loads(json.dumps(_normal(bucket_policy("aws", BUCKET, DOCS))))


def _normal(policy: dict[str, Any]) -> dict[str, Any]:
    from oidc_publisher.core.bucket_plan import normalise_policy

    return normalise_policy(policy)


def test_other_issuers_documents_stay_in_the_read_statement() -> None:
    both = [*DOCS, *(f"b/{d}" for d in DOCS)]
    plan = plan_bucket_setup(settled(policy=bucket_policy("aws", BUCKET, both)), spec(), adopt=False)
    assert calls(plan) == []


def test_a_bucket_the_tool_did_not_create_keeps_versioning_ownership_and_a_tighter_block_without_adopt() -> None:
    foreign = settled(tags={}, versioning="Suspended", object_ownership="ObjectWriter",
                      public_access_block={flag: False for flag in BLOCK_PUBLIC_ACCESS_FLAGS})
    plan = plan_bucket_setup(foreign, spec(), adopt=False)
    assert calls(plan) == []
    assert len(plan.notes) == 3 and all("--adopt-bucket" in note for note in plan.notes)
    adopted = plan_bucket_setup(foreign, spec(), adopt=True)
    assert [n for n, _ in calls(adopted)] == ["put_bucket_ownership_controls", "put_public_access_block", "put_bucket_versioning"]
    assert all("(--adopt-bucket" in change.reason for change in adopted.changes)


def test_loosening_block_public_access_on_a_bucket_the_tool_did_not_create_is_refused_without_adopt() -> None:
    locked = settled(tags={}, public_access_block={flag: True for flag in BLOCK_PUBLIC_ACCESS_FLAGS})
    with pytest.raises(ConflictError, match=r"BlockPublicPolicy, RestrictPublicBuckets\) blocks the public read .*--adopt-bucket"):
        plan_bucket_setup(locked, spec(), adopt=False)
    assert calls(plan_bucket_setup(locked, spec(private=True), adopt=False))[-1][0] == "put_bucket_policy"


@pytest.mark.parametrize("private", [False, True])
def test_an_issuer_served_in_the_other_mode_in_the_same_bucket_is_refused(private: bool) -> None:
    other = bucket_policy("aws", BUCKET, [f"a/{d}" for d in DOCS], distribution_arn=None if private else DISTRIBUTION)
    with pytest.raises(ConflictError) as refused:
        plan_bucket_setup(settled(policy=other), spec("b", private=private), adopt=True)
    assert "already serves another issuer under prefix 'a'" in str(refused.value)
    assert str(refused.value).endswith("give this issuer its own bucket, or serve both issuers the same way")
    # The same issuer changing its own mode is not two issuers: its documents leave the other statement.
    own_before = bucket_policy("aws", BUCKET, [f"b/{d}" for d in DOCS], distribution_arn=None if private else DISTRIBUTION)
    written = written_policy(calls(plan_bucket_setup(settled(policy=own_before), spec("b", private=private), adopt=True)))
    assert written is not None
    assert {s["Sid"] for s in written["Statement"]} == {CLOUDFRONT_READ_SID if private else PUBLIC_READ_SID, DENY_INSECURE_SID}


def test_document_prefix_names_exact_documents_only() -> None:
    assert document_prefix(f"arn:aws:s3:::{BUCKET}/openid/v1/jwks", "aws", BUCKET) == ""
    assert document_prefix(f"arn:aws:s3:::{BUCKET}/a/b/.well-known/openid-configuration", "aws", BUCKET) == "a/b"
    for other in (f"arn:aws:s3:::{BUCKET}/*", f"arn:aws:s3:::{BUCKET}/a/*/openid/v1/jwks",
                  f"arn:aws:s3:::{BUCKET}/state.json", "arn:aws:s3:::other/openid/v1/jwks"):
        assert document_prefix(other, "aws", BUCKET) is None


# --- properties ----------------------------------------------------------------------------------

_flags = st.fixed_dictionaries({flag: st.booleans() for flag in BLOCK_PUBLIC_ACCESS_FLAGS})
_resources = st.sampled_from([
    f"arn:aws:s3:::{BUCKET}/*", f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/.oidc-publisher/state.json",
    *(f"arn:aws:s3:::{BUCKET}/{p}{d}" for p in ("", "a/", "b/") for d in DOCS),
])
_statement = st.fixed_dictionaries(
    {
        "Sid": st.sampled_from([*OWN_SIDS, "Theirs", "Legacy"]),
        "Effect": st.sampled_from(["Allow", "Deny"]),
        "Principal": st.sampled_from(["*", {"AWS": "*"}, {"AWS": "arn:aws:iam::1:root"},
                                      {"Service": "cloudfront.amazonaws.com"}]),
        "Action": st.sampled_from(["s3:GetObject", "s3:*", ["s3:GetObject", "s3:PutObject"]]),
        "Resource": st.lists(_resources, min_size=1, max_size=4, unique=True),
    },
    optional={"Condition": st.sampled_from([{"StringEquals": {"AWS:SourceArn": DISTRIBUTION}},
                                             {"StringEquals": {"aws:SourceVpce": "vpce-1"}}])},
)
_snapshot = st.builds(
    BucketSnapshot,
    exists=st.just(True),
    tags=st.sampled_from([{}, MANAGED, {"managed-by": "terraform"}]),
    object_ownership=st.sampled_from([None, "BucketOwnerEnforced", "ObjectWriter", "BucketOwnerPreferred"]),
    public_access_block=st.none() | _flags,
    encrypted=st.booleans(),
    versioning=st.sampled_from([None, "Enabled", "Suspended"]),
    policy=st.none() | st.lists(_statement, max_size=4).map(lambda s: {"Version": "2012-10-17", "Statement": s}),
)
_spec = st.builds(spec, st.sampled_from(["", "a", "b"]), private=st.booleans())


@settings(max_examples=400, deadline=None)
@given(snapshot=_snapshot, wanted=_spec)
def test_property_a_bucket_the_tool_did_not_create_is_never_loosened_nor_reset_without_adopt(
    snapshot: BucketSnapshot, wanted: BucketSpec
) -> None:
    if snapshot.created_by_tool:
        return
    try:
        plan = plan_bucket_setup(snapshot, wanted, adopt=False)
    except ConflictError:
        return
    names = [name for name, _ in calls(plan)]
    assert "put_bucket_versioning" not in names
    assert "put_bucket_ownership_controls" not in names
    assert "put_public_access_block" not in names  # neither loosened nor tightened: it is the owner's


@settings(max_examples=400, deadline=None)
@given(snapshot=_snapshot, wanted=_spec, adopt=st.booleans())
def test_property_the_policy_the_tool_writes_grants_nothing_beyond_the_documents(
    snapshot: BucketSnapshot, wanted: BucketSpec, adopt: bool
) -> None:
    try:
        plan = plan_bucket_setup(snapshot, wanted, adopt=adopt)
    except ConflictError:
        return
    written = written_policy(calls(plan))
    if written is None:
        written = dict(snapshot.policy or {})  # unchanged: it already is what the tool would write
    for statement in written.get("Statement", []):
        if statement.get("Sid") in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID):
            assert statement["Effect"] == "Allow"
            assert statement["Action"] in (["s3:GetObject"], "s3:GetObject")
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert resources and all(document_prefix(r, "aws", BUCKET) is not None for r in resources), resources
        elif statement.get("Sid") == DENY_INSECURE_SID:
            assert statement["Effect"] == "Deny"
        else:
            assert not is_public_statement(statement), statement
    # This issuer's documents are always readable the way its mode needs.
    sid = CLOUDFRONT_READ_SID if wanted.private else PUBLIC_READ_SID
    [read] = [s for s in written["Statement"] if s.get("Sid") == sid]
    mine = {f"arn:aws:s3:::{BUCKET}/{key}" for key in _keys(wanted)}
    assert mine <= set(read["Resource"])


def _keys(wanted: BucketSpec) -> list[str]:
    [read] = [s for s in wanted.public_policy["Statement"] if s["Sid"] in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID)]
    return [r.split(":::", 1)[1].split("/", 1)[1] for r in read["Resource"]]


# --- the plan's operations and phases ------------------------------------------------------------


def test_a_new_bucket_is_made_first_then_its_settings_side_by_side_then_its_policy() -> None:
    for private in (False, True):
        plan = plan_bucket_setup(BucketSnapshot(exists=False), spec(private=private), adopt=False)
        phases = [[(s.operation.method if s.operation else None) for s in phase] for phase in Plan(plan.changes).phases]
        assert phases == [
            ["create_bucket"],
            ["put_public_access_block", "put_bucket_encryption", "put_bucket_versioning"],
            ["put_bucket_policy"],
        ]
        assert all(op.region == "us-east-1" and op.params["Bucket"] == BUCKET for op in operations(plan))


def test_the_operations_carry_the_exact_arguments() -> None:
    wanted = BucketSpec(
        name="regional", region="eu-west-1", partition="aws", public_policy=bucket_policy("aws", "regional", DOCS),
        private=False, issuer_url="https://regional.s3.eu-west-1.amazonaws.com",
    )
    by_method = {op.method: op for op in operations(plan_bucket_setup(BucketSnapshot(exists=False), wanted, adopt=False))}
    assert by_method["create_bucket"] == Operation("s3", "create_bucket", {
        "Bucket": "regional",
        "ObjectOwnership": "BucketOwnerEnforced",
        "CreateBucketConfiguration": {
            "Tags": [{"Key": "managed-by", "Value": "oidc-publisher"},
                     {"Key": "oidc-publisher:issuer", "Value": "https://regional.s3.eu-west-1.amazonaws.com"}],
            "LocationConstraint": "eu-west-1",
        },
    }, "eu-west-1")
    assert by_method["put_public_access_block"] == Operation("s3", "put_public_access_block", {
        "Bucket": "regional", "PublicAccessBlockConfiguration": GOOD_PUBLIC,
    }, "eu-west-1")
    assert by_method["put_bucket_encryption"].params["ServerSideEncryptionConfiguration"] == {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert by_method["put_bucket_versioning"].params["VersioningConfiguration"] == {"Status": "Enabled"}
    assert json.loads(by_method["put_bucket_policy"].params["Policy"]) == _normal(bucket_policy("aws", "regional", DOCS))


def _phase(plan: BucketPlan, method: str) -> list[int]:
    return [s.phase for s in plan.changes if s.operation is not None and s.operation.method == method]


def _flags_are_all_on(op: Operation) -> bool:
    return all(op.params["PublicAccessBlockConfiguration"][flag] for flag in BLOCK_PUBLIC_ACCESS_FLAGS)


@settings(max_examples=400, deadline=None)
@given(snapshot=_snapshot, wanted=_spec, adopt=st.booleans())
def test_property_the_bucket_is_made_alone_first_and_the_policy_follows_block_public_access(
    snapshot: BucketSnapshot, wanted: BucketSpec, adopt: bool
) -> None:
    for start in (snapshot, BucketSnapshot(exists=False)):
        try:
            plan = plan_bucket_setup(start, wanted, adopt=adopt)
        except ConflictError:
            continue
        phases = Plan(plan.changes).phases
        creates = _phase(plan, "create_bucket")
        assert creates == ([0] if not start.exists else [])
        if creates:
            assert [s.operation.method for s in phases[0] if s.operation] == ["create_bucket"]  # alone
            assert all(s.phase > 0 for s in plan.changes[1:])
        for blocks in _phase(plan, "put_public_access_block"):
            assert all(blocks < policy for policy in _phase(plan, "put_bucket_policy"))
        # Each setting at most once; settings are independent of each other, so they share one phase.
        methods = [op.method for op in operations(plan)]
        assert len(methods) == len(set(methods))
        settings_phases = {s.phase for s in plan.changes if s.operation and s.operation.method not in
                           ("create_bucket", "put_bucket_policy")}
        assert len(settings_phases) <= 1


@settings(max_examples=400, deadline=None)
@given(snapshot=_snapshot, wanted=_spec)
def test_property_a_plan_for_a_bucket_the_tool_did_not_create_never_loosens_block_public_access(
    snapshot: BucketSnapshot, wanted: BucketSpec
) -> None:
    if snapshot.created_by_tool:
        return
    try:
        plan = plan_bucket_setup(snapshot, wanted, adopt=False)
    except ConflictError:
        return
    for op in operations(plan):
        if op.method == "put_public_access_block":
            assert _flags_are_all_on(op), op


# A model of S3 for the plan's operations: what each one leaves on the bucket, as read_bucket would read it.
# A new bucket has Block Public Access fully on and SSE-S3, as S3 makes every bucket since 2023.


def apply(snapshot: BucketSnapshot, plan: BucketPlan) -> BucketSnapshot:
    state = snapshot
    for phase in Plan(plan.changes).phases:
        for change in phase:
            assert change.operation is not None
            state = _apply_one(state, change.operation)
    return state


def _apply_one(state: BucketSnapshot, op: Operation) -> BucketSnapshot:
    from dataclasses import replace

    params = op.params
    if op.method == "create_bucket":
        assert not state.exists, "CreateBucket on a bucket that exists"
        tags = {t["Key"]: t["Value"] for t in params["CreateBucketConfiguration"]["Tags"]}
        return BucketSnapshot(
            exists=True, tags=tags, object_ownership=params["ObjectOwnership"],
            public_access_block={flag: True for flag in BLOCK_PUBLIC_ACCESS_FLAGS}, encrypted=True,
        )
    assert state.exists, f"{op.method} before the bucket exists"
    if op.method == "put_bucket_ownership_controls":
        [rule] = params["OwnershipControls"]["Rules"]
        return replace(state, object_ownership=rule["ObjectOwnership"])
    if op.method == "put_public_access_block":
        return replace(state, public_access_block=dict(params["PublicAccessBlockConfiguration"]))
    if op.method == "put_bucket_encryption":
        return replace(state, encrypted=bool(params["ServerSideEncryptionConfiguration"]["Rules"]))
    if op.method == "put_bucket_versioning":
        return replace(state, versioning=params["VersioningConfiguration"]["Status"])
    if op.method == "put_bucket_policy":
        return replace(state, policy=json.loads(params["Policy"]))
    raise AssertionError(f"the bucket planner planned {op.method}, which the model does not know")


@settings(max_examples=400, deadline=None)
@given(snapshot=_snapshot, wanted=_spec, adopt=st.booleans(), new=st.booleans())
def test_property_plan_apply_plan_again_gives_no_steps(
    snapshot: BucketSnapshot, wanted: BucketSpec, adopt: bool, new: bool
) -> None:
    """Planning again, after the plan was applied, plans nothing: for a new bucket, a bucket the tool owns,
    and (with or without --adopt-bucket) one it does not."""
    start = BucketSnapshot(exists=False) if new else snapshot
    try:
        plan = plan_bucket_setup(start, wanted, adopt=adopt)
    except ConflictError:
        return
    after = apply(start, plan)
    again = plan_bucket_setup(after, wanted, adopt=adopt)
    assert again.changes == [], (start, after, again.changes)
    assert again.notes == plan.notes  # what is left alone stays left alone, and is said again
    if start.created_by_tool or adopt or not start.exists:
        assert after.public_access_block == wanted_public_access_block(wanted.private)
        assert after.versioning == "Enabled" and after.object_ownership == "BucketOwnerEnforced"
    assert after.encrypted
