"""The IRSA role's planner, pure: plain cases, and properties over arbitrary roles as IAM has them.

A tiny model of IAM applies the planned operations to the snapshot: planning again then gives no steps. A role
of another issuer, or one the tool did not create, is refused with nothing planned; the mark and the
recorded issuer are written only by CreateRole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.marks import ISSUER_TAG, MANAGED_BY
from oidc_publisher.core.plan import Step
from oidc_publisher.core.role_plan import (
    INLINE_POLICY_NAME,
    RoleSnapshot,
    RoleSpec,
    choose_role,
    legacy_lookup,
    plan_role,
    policies_to_check,
)
from oidc_publisher.core.trust import (
    ATTACHED_TAG,
    CREATION_TAGS,
    attached_tag_value,
    policy_digest,
    recorded_attachments,
    trust_policy,
)

ISSUER = parse_issuer("https://oidc.example.com/cluster-a")
OTHER = parse_issuer("https://oidc.example.com/cluster-b")
ACCOUNT = "123456789012"
NAME = "irsa-oidc-payments-api-12345678"
ARN = f"arn:aws:iam::{ACCOUNT}:role/{NAME}"
POLICIES = [f"arn:aws:iam::aws:policy/P{i}" for i in range(4)]
INLINE = [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": a, "Resource": "*"}]} for a in ("s3:GetObject", "s3:ListBucket")]


def provider(issuer: Any) -> str:
    return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer.provider_path}"


def trust(issuer: Any = ISSUER, service_account: str = "api") -> dict[str, Any]:
    return trust_policy(provider(issuer), issuer, "payments", service_account)


def spec(policy_arns: tuple[str, ...] = (POLICIES[0],), inline: dict[str, Any] | None = None, boundary: str | None = None,
         duration: int | None = None, user_tags: dict[str, str] | None = None) -> RoleSpec:
    tags = {**(user_tags or {}), MANAGED_BY[0]: MANAGED_BY[1], ISSUER_TAG: ISSUER.url, ATTACHED_TAG: attached_tag_value(policy_arns)}
    return RoleSpec(ISSUER, "payments", "api", "sts.amazonaws.com", trust(), tags, policy_arns, inline,
                    "policy.json" if inline is not None else None, boundary, duration)


def apply(role: RoleSnapshot | None, steps: list[Step]) -> RoleSnapshot:
    """What IAM does with the operations (the model): the role after the plan ran."""
    fields: dict[str, Any] = role.__dict__.copy() if role is not None else {}
    for step in sorted(steps, key=lambda s: s.phase):
        assert step.operation is not None and step.operation.service == "iam"
        params: dict[str, Any] = dict(step.operation.params)
        method = step.operation.method
        if method == "create_role":
            assert role is None and not fields, "a role is never created twice"
            fields = {
                "name": params["RoleName"], "arn": f"arn:aws:iam::{ACCOUNT}:role/{params['RoleName']}",
                "tags": {t["Key"]: t["Value"] for t in params["Tags"]},
                "trust_policy": json.loads(params["AssumeRolePolicyDocument"]),
                "max_session_duration": params.get("MaxSessionDuration", 3600),
                "permissions_boundary": params.get("PermissionsBoundary"), "attached": frozenset(), "inline_policy": None,
            }
            continue
        assert fields and params["RoleName"] == fields["name"]
        if method == "update_assume_role_policy":
            fields["trust_policy"] = json.loads(params["PolicyDocument"])
        elif method == "update_role":
            fields["max_session_duration"] = params["MaxSessionDuration"]
        elif method == "put_role_permissions_boundary":
            fields["permissions_boundary"] = params["PermissionsBoundary"]
        elif method == "attach_role_policy":
            fields["attached"] = fields["attached"] | {params["PolicyArn"]}
        elif method == "detach_role_policy":
            assert params["PolicyArn"] in fields["attached"]
            fields["attached"] = fields["attached"] - {params["PolicyArn"]}
        elif method == "put_role_policy":
            assert params["PolicyName"] == INLINE_POLICY_NAME
            fields["inline_policy"] = json.loads(params["PolicyDocument"])
        elif method == "delete_role_policy":
            assert params["PolicyName"] == INLINE_POLICY_NAME and fields["inline_policy"] is not None
            fields["inline_policy"] = None
        elif method == "tag_role":
            fields["tags"] = {**fields["tags"], **{t["Key"]: t["Value"] for t in params["Tags"]}}
        else:
            raise AssertionError(f"unexpected call {method}")
    return RoleSnapshot(**fields)


def test_a_new_role_is_created_with_its_tags_then_its_policies_one_call_a_phase() -> None:
    planned = plan_role(spec(inline=INLINE[0], boundary=POLICIES[3]), NAME, None)
    assert [(s.action, s.operation.call.api if s.operation else None, s.phase, s.subject) for s in planned.steps] == [
        ("create", "CreateRole", 0, NAME), ("update", "AttachRolePolicy", 1, NAME), ("update", "PutRolePolicy", 2, NAME)]
    create = planned.steps[0].operation
    assert create is not None
    assert {t["Key"] for t in create.params["Tags"]} >= set(CREATION_TAGS)
    assert create.to_json()["params"]["AssumeRolePolicyDocument"] == trust()  # shown as the document
    assert policies_to_check(planned.steps) == [("--permissions-boundary", POLICIES[3]), ("--policy-arn", POLICIES[0])]


def test_a_role_not_made_by_the_tool_is_refused_with_nothing_planned() -> None:
    theirs = RoleSnapshot(NAME, ARN, {"team": "x"}, trust())
    with pytest.raises(ConflictError, match=f"role {NAME} exists and was not created by oidc-publisher"):
        plan_role(spec(), NAME, theirs)


def test_the_legacy_name_is_read_only_without_a_name_and_when_the_default_is_free() -> None:
    role = RoleSnapshot(NAME, ARN, {MANAGED_BY[0]: MANAGED_BY[1]}, trust())
    assert legacy_lookup(None, NAME, "irsa-old", None) == "irsa-old"
    assert legacy_lookup("given", NAME, "irsa-old", None) is None
    assert legacy_lookup(None, NAME, "irsa-old", role) is None
    assert legacy_lookup(None, NAME, NAME, None) is None
    legacy = RoleSnapshot("irsa-old", f"arn:aws:iam::{ACCOUNT}:role/irsa-old", {MANAGED_BY[0]: MANAGED_BY[1]}, trust())
    name, chosen, notes = choose_role(ISSUER, NAME, None, legacy)
    assert (name, chosen) == ("irsa-old", legacy) and notes[0].startswith("converged irsa-old")
    # Under the old name but made for another issuer (recorded, or by its trust): the new name, a new role.
    for other in (RoleSnapshot("irsa-old", legacy.arn, {MANAGED_BY[0]: MANAGED_BY[1]}, trust(OTHER)),
                  RoleSnapshot("irsa-old", legacy.arn, {MANAGED_BY[0]: MANAGED_BY[1], ISSUER_TAG: OTHER.url}, trust()),
                  RoleSnapshot("irsa-old", legacy.arn, {}, trust())):
        assert choose_role(ISSUER, NAME, None, other) == (NAME, None, [])


texts = st.sampled_from(["x", "y"])
user_tags = st.dictionaries(st.sampled_from(["team", "env"]), texts, max_size=2)
specs = st.builds(
    lambda arns, inline, boundary, duration, tags: spec(tuple(arns), inline, boundary, duration, tags),
    st.lists(st.sampled_from(POLICIES), max_size=3, unique=True),
    st.none() | st.sampled_from(INLINE),
    st.none() | st.sampled_from(POLICIES),
    st.none() | st.sampled_from([3600, 7200]),
    user_tags,
)
existing_roles = st.builds(
    lambda attached, recorded, inline, boundary, duration, tags, sa, issuer_tag: RoleSnapshot(
        NAME, ARN,
        {**tags, MANAGED_BY[0]: MANAGED_BY[1], ATTACHED_TAG: attached_tag_value(recorded),
         **({ISSUER_TAG: ISSUER.url} if issuer_tag else {})},
        trust(service_account=sa), duration, boundary, frozenset(attached), inline,
    ),
    st.lists(st.sampled_from(POLICIES), max_size=4, unique=True),
    st.lists(st.sampled_from(POLICIES), max_size=4, unique=True),
    st.none() | st.sampled_from(INLINE),
    st.none() | st.sampled_from(POLICIES),
    st.sampled_from([3600, 7200]),
    user_tags,
    st.sampled_from(["api", "old"]),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(role=st.none() | existing_roles, wanted=specs)
def test_applying_the_plan_then_planning_again_gives_no_steps(role: RoleSnapshot | None, wanted: RoleSpec) -> None:
    planned = plan_role(wanted, NAME, role)
    after = apply(role, planned.steps)
    assert plan_role(wanted, NAME, after).steps == []
    assert set(wanted.policy_arns) <= after.attached
    if role is not None:
        # Converged in place; what the tool did not record attaching stays attached.
        assert after.arn == role.arn
        recorded = recorded_attachments(dict(role.tags))
        assert {a for a in role.attached if policy_digest(a) not in recorded} <= after.attached


@settings(max_examples=300, deadline=None)
@given(role=existing_roles, wanted=specs)
def test_the_mark_and_the_issuer_are_never_written_on_a_role_that_exists(role: RoleSnapshot, wanted: RoleSpec) -> None:
    for step in plan_role(wanted, NAME, role).steps:
        assert step.operation is not None and step.operation.method != "create_role"
        keys = {t["Key"] for t in step.operation.params.get("Tags", [])}
        assert not keys & set(CREATION_TAGS), step


@settings(max_examples=200, deadline=None)
@given(role=existing_roles, wanted=specs, recorded=st.booleans(), their_tags=user_tags)
def test_a_role_of_another_issuer_or_not_the_tools_is_refused_with_nothing_planned(
    role: RoleSnapshot, wanted: RoleSpec, recorded: bool, their_tags: dict[str, str]
) -> None:
    # Another issuer's: recorded at creation, or (no record) by the provider its trust federates to.
    tags = {**role.tags, ISSUER_TAG: OTHER.url} if recorded else {k: v for k, v in role.tags.items() if k != ISSUER_TAG}
    theirs = RoleSnapshot(role.name, role.arn, tags, role.trust_policy if recorded else trust(OTHER), role.max_session_duration,
                          role.permissions_boundary, role.attached, role.inline_policy)
    with pytest.raises(ConflictError, match=f"made for issuer {OTHER.url}, not {ISSUER.url}: refusing to repoint it"):
        plan_role(wanted, NAME, theirs)
    # Not made by the tool at all (no mark): refused too, whatever else it carries.
    assume(their_tags.get(MANAGED_BY[0]) != MANAGED_BY[1])
    unmarked = RoleSnapshot(role.name, role.arn, their_tags, role.trust_policy, attached=role.attached)
    with pytest.raises(ConflictError, match="was not created by oidc-publisher"):
        plan_role(wanted, NAME, unmarked)
