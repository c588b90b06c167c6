"""The bucket planner, pure: what the tool changes on a bucket, from a snapshot of its live settings.

Plain cases for each rule, and two properties over arbitrary live settings and bucket policies: a bucket the
tool did not create is never loosened nor has its versioning or ownership changed without --adopt-bucket, and
the statements the tool writes never grant more than s3:GetObject on exactly the issuers' two documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.bucket_plan import (
    BLOCK_PUBLIC_ACCESS_FLAGS,
    OWN_SIDS,
    BucketSnapshot,
    BucketSpec,
    document_prefix,
    is_public_statement,
    plan_bucket_setup,
)
from oidc_publisher.core.errors import ConflictError
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


def written_policy(plan_calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    for name, kwargs in plan_calls:
        if name == "put_bucket_policy":
            return dict(json.loads(kwargs["Policy"]))
    return None


LEGACY = {"Sid": "LegacyPublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
          "Resource": f"arn:aws:s3:::{BUCKET}/*"}


def test_a_settled_bucket_needs_nothing() -> None:
    plan = plan_bucket_setup(settled(), spec(), adopt=False)
    assert (plan.changes, plan.calls, plan.notes) == ([], [], [])


def test_a_new_bucket_is_created_with_its_mark_in_the_same_call() -> None:
    plan = plan_bucket_setup(BucketSnapshot(exists=False), spec(), adopt=False)
    name, create = plan.calls[0]
    assert name == "create_bucket"
    assert create["CreateBucketConfiguration"]["Tags"][0] == {"Key": "managed-by", "Value": "oidc-publisher"}
    assert "LocationConstraint" not in create["CreateBucketConfiguration"]  # us-east-1 takes none
    assert "put_bucket_tagging" not in [n for n, _ in plan.calls]


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
    assert written_policy(plan.calls) == json.loads(json.dumps(_normal(bucket_policy("aws", BUCKET, DOCS))))


def _normal(policy: dict[str, Any]) -> dict[str, Any]:
    from oidc_publisher.core.bucket_plan import normalise_policy

    return normalise_policy(policy)


def test_other_issuers_documents_stay_in_the_read_statement() -> None:
    both = [*DOCS, *(f"b/{d}" for d in DOCS)]
    plan = plan_bucket_setup(settled(policy=bucket_policy("aws", BUCKET, both)), spec(), adopt=False)
    assert plan.calls == []


def test_a_bucket_the_tool_did_not_create_keeps_versioning_ownership_and_a_tighter_block_without_adopt() -> None:
    foreign = settled(tags={}, versioning="Suspended", object_ownership="ObjectWriter",
                      public_access_block={flag: False for flag in BLOCK_PUBLIC_ACCESS_FLAGS})
    plan = plan_bucket_setup(foreign, spec(), adopt=False)
    assert plan.calls == []
    assert len(plan.notes) == 3 and all("--adopt-bucket" in note for note in plan.notes)
    adopted = plan_bucket_setup(foreign, spec(), adopt=True)
    assert [n for n, _ in adopted.calls] == ["put_bucket_ownership_controls", "put_public_access_block", "put_bucket_versioning"]
    assert all("(--adopt-bucket" in change.reason for change in adopted.changes)


def test_loosening_block_public_access_on_a_bucket_the_tool_did_not_create_is_refused_without_adopt() -> None:
    locked = settled(tags={}, public_access_block={flag: True for flag in BLOCK_PUBLIC_ACCESS_FLAGS})
    with pytest.raises(ConflictError, match=r"BlockPublicPolicy, RestrictPublicBuckets\) blocks the public read .*--adopt-bucket"):
        plan_bucket_setup(locked, spec(), adopt=False)
    assert plan_bucket_setup(locked, spec(private=True), adopt=False).calls[-1][0] == "put_bucket_policy"


@pytest.mark.parametrize("private", [False, True])
def test_an_issuer_served_in_the_other_mode_in_the_same_bucket_is_refused(private: bool) -> None:
    other = bucket_policy("aws", BUCKET, [f"a/{d}" for d in DOCS], distribution_arn=None if private else DISTRIBUTION)
    with pytest.raises(ConflictError) as refused:
        plan_bucket_setup(settled(policy=other), spec("b", private=private), adopt=True)
    assert "already serves another issuer under prefix 'a'" in str(refused.value)
    assert str(refused.value).endswith("give this issuer its own bucket, or serve both issuers the same way")
    # The same issuer changing its own mode is not two issuers: its documents leave the other statement.
    own_before = bucket_policy("aws", BUCKET, [f"b/{d}" for d in DOCS], distribution_arn=None if private else DISTRIBUTION)
    written = written_policy(plan_bucket_setup(settled(policy=own_before), spec("b", private=private), adopt=True).calls)
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
    names = [name for name, _ in plan.calls]
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
    written = written_policy(plan.calls)
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
