"""The IRSA role's planner: from the role as IAM has it (a :class:`RoleSnapshot`) and the role as it is wanted
(a :class:`RoleSpec`), the steps that converge it. Pure.

What the tool may change on an existing role is decided by its tags: only a role tagged
``managed-by=oidc-publisher`` is converged, and only the managed policies it recorded attaching (the
``oidc-publisher:attached`` tag) are ever detached. That mark and the issuer the role was made for
(``oidc-publisher:issuer``) are written only by CreateRole, never added later; a role made for another
issuer is refused, never repointed.

Writes run one after another, in an order that keeps a failure half-way safe: the trust policy first;
attachments before the tag that records them, detachments before the tag forgets them.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from oidc_publisher.core.bucket_plan import normalise_policy
from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.issuer import Issuer
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.plan import Step, step
from oidc_publisher.core.trust import CREATION_TAGS, detachable, other_issuer, trusted_provider_paths

# The one inline policy the tool writes (--policy-file) and may delete.
INLINE_POLICY_NAME = "oidc-publisher"


def policy_document(value: Any) -> dict[str, Any]:
    """IAM returns policy documents URL-encoded JSON (boto3 usually decodes them already)."""
    if isinstance(value, str):
        return dict(json.loads(urllib.parse.unquote(value)))
    return dict(value)


def normalise(document: Mapping[str, Any]) -> str:
    """A policy document in one canonical form: two that IAM treats alike compare equal."""
    return json.dumps(normalise_policy(dict(document)), sort_keys=True)


@dataclass(frozen=True)
class RoleSnapshot:
    """A role as IAM has it: GetRole, its attached managed policies, and the tool's inline policy."""

    name: str
    arn: str
    tags: Mapping[str, str]
    trust_policy: Mapping[str, Any]
    max_session_duration: int | None = None
    permissions_boundary: str | None = None
    attached: frozenset[str] = frozenset()
    inline_policy: Mapping[str, Any] | None = None  # INLINE_POLICY_NAME's document, None when there is none

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_BY[0]) == MANAGED_BY[1]


@dataclass(frozen=True)
class RoleSpec:
    """The role as it is wanted."""

    issuer: Issuer
    namespace: str
    service_account: str
    audience: str
    trust_policy: Mapping[str, Any]
    tags: Mapping[str, str]  # everything CreateRole tags with, the mark and the issuer included
    policy_arns: tuple[str, ...] = ()
    inline_policy: Mapping[str, Any] | None = None
    inline_source: str | None = None  # where the inline policy came from (the --policy-file), for the reason
    permissions_boundary: str | None = None
    max_session_duration: int | None = None

    @property
    def description(self) -> str:
        return f"IRSA role for {self.namespace}/{self.service_account} on {self.issuer.url}"[:1000]


@dataclass(frozen=True)
class RolePlan:
    name: str
    steps: list[Step]
    notes: list[str] = field(default_factory=list)


def legacy_lookup(given_name: str | None, name: str, legacy_name: str, named: RoleSnapshot | None) -> str | None:
    """The previous release's default name to read too, or None: only with no --role-name, when no role has
    the default name, and when the names differ."""
    if given_name or named is not None or legacy_name == name:
        return None
    return legacy_name


def choose_role(
    issuer: Issuer, name: str, named: RoleSnapshot | None, legacy: RoleSnapshot | None
) -> tuple[str, RoleSnapshot | None, list[str]]:
    """(the role's name, the role to converge or None to create one, notes).

    A role under the previous release's name is converged (not duplicated) when this tool made it for this
    issuer; one made for another issuer is left alone and the new name is used instead.
    """
    if named is not None or legacy is None:
        return name, named, []
    if legacy.managed and other_issuer(dict(legacy.tags), dict(legacy.trust_policy), issuer) is None and (
        issuer.provider_path in trusted_provider_paths(dict(legacy.trust_policy))
    ):
        note = f"converged {legacy.name}, the name an earlier release gave this role (new roles are named like {name})"
        return legacy.name, legacy, [note]
    return name, None, []


def refusal(role: RoleSnapshot, issuer: Issuer) -> ConflictError | None:
    """Why an existing role may not be converged for this issuer, or None."""
    if not role.managed:
        return ConflictError(
            f"role {role.name} exists and was not created by oidc-publisher (no managed-by=oidc-publisher tag)",
            "choose another --role-name, or tag the role managed-by=oidc-publisher to let the tool manage it",
        )
    other = other_issuer(dict(role.tags), dict(role.trust_policy), issuer)
    if other is not None:
        # Repointing it would cut the other cluster off.
        return ConflictError(
            f"role {role.name} was made for issuer {other}, not {issuer.url}: refusing to repoint it",
            f"pass --role-name to make a role for {issuer.url}, or use --issuer-url {other} to converge this one",
        )
    return None


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def plan_role(spec: RoleSpec, name: str, role: RoleSnapshot | None) -> RolePlan:
    """The steps that make the role ``name`` what ``spec`` asks (one phase each, in the order they run).

    Raises the :func:`refusal` of a role that may not be converged, with nothing planned."""
    resource = f"iam:role/{name}"
    steps: list[Step] = []
    notes: list[str] = []

    def add(action: str, reason: str, method: str, **params: Any) -> None:
        steps.append(step(resource, action, reason, "iam", method, phase=len(steps), subject=name, RoleName=name, **params))

    trust = json.dumps(dict(spec.trust_policy))
    inline_reason = f"inline policy {INLINE_POLICY_NAME} from {spec.inline_source}"
    if role is None:
        create: dict[str, Any] = {
            "AssumeRolePolicyDocument": trust,
            "Description": spec.description,
            "Tags": _tag_list(spec.tags),  # the mark and the issuer: only ever written here
        }
        if spec.permissions_boundary:
            create["PermissionsBoundary"] = spec.permissions_boundary
        if spec.max_session_duration:
            create["MaxSessionDuration"] = spec.max_session_duration
        add("create", f"trust pinned to {spec.namespace}/{spec.service_account} and audience {spec.audience}",
            "create_role", **create)
        for arn in spec.policy_arns:
            add("update", f"attach {arn}", "attach_role_policy", PolicyArn=arn)
        if spec.inline_policy is not None:
            add("update", inline_reason, "put_role_policy", PolicyName=INLINE_POLICY_NAME,
                PolicyDocument=json.dumps(dict(spec.inline_policy)))
        return RolePlan(name, steps, notes)

    refused = refusal(role, spec.issuer)
    if refused is not None:
        raise refused
    if normalise(role.trust_policy) != normalise(spec.trust_policy):
        add("update", "trust policy differs from the pinned one", "update_assume_role_policy", PolicyDocument=trust)
    if spec.max_session_duration and role.max_session_duration != spec.max_session_duration:
        add("update", f"max session duration {spec.max_session_duration}s", "update_role",
            MaxSessionDuration=spec.max_session_duration)
    if spec.permissions_boundary and role.permissions_boundary != spec.permissions_boundary:
        add("update", f"permissions boundary {spec.permissions_boundary}", "put_role_permissions_boundary",
            PermissionsBoundary=spec.permissions_boundary)
    for arn in spec.policy_arns:
        if arn not in role.attached:
            add("update", f"attach {arn}", "attach_role_policy", PolicyArn=arn)
    detach, keep = detachable(role.attached, spec.policy_arns, dict(role.tags))
    for arn in detach:
        add("update", f"detach {arn} (attached by an earlier run, no longer asked for)", "detach_role_policy", PolicyArn=arn)
    if keep:
        notes.append(f"kept attached policies this tool did not attach: {', '.join(keep)} (detach them by hand if unwanted)")
    current = role.inline_policy
    if spec.inline_policy is not None and (current is None or normalise(current) != normalise(spec.inline_policy)):
        add("update", inline_reason, "put_role_policy", PolicyName=INLINE_POLICY_NAME,
            PolicyDocument=json.dumps(dict(spec.inline_policy)))
    elif spec.inline_policy is None and current is not None:
        add("update", f"delete inline policy {INLINE_POLICY_NAME} (written by an earlier run with --policy-file, no longer asked for)",
            "delete_role_policy", PolicyName=INLINE_POLICY_NAME)
    # The mark and the recorded issuer are CreateRole's alone: never added to a role that exists.
    changed = {k: v for k, v in spec.tags.items() if k not in CREATION_TAGS and role.tags.get(k) != v}
    if changed:
        add("update", f"tags {', '.join(sorted(changed))}", "tag_role", Tags=_tag_list(changed))
    return RolePlan(name, steps, notes)


def policies_to_check(steps: Iterable[Step]) -> list[tuple[str, str]]:
    """(option, policy ARN) for every policy the steps attach or set as the boundary: each must exist
    before the first write (a mistyped ARN must not leave a role with its trust and no permissions)."""
    wanted: list[tuple[str, str]] = []
    for s in steps:
        if s.operation is None:
            continue
        params = s.operation.params
        if s.operation.method == "attach_role_policy":
            wanted.append(("--policy-arn", str(params["PolicyArn"])))
        if params.get("PermissionsBoundary"):
            wanted.append(("--permissions-boundary", str(params["PermissionsBoundary"])))
    return wanted


def created_arn(responses: Iterable[Mapping[str, Any]]) -> str | None:
    """The ARN CreateRole answered, among the executed steps' responses."""
    for response in responses:
        role = response.get("Role")
        if isinstance(role, Mapping) and "Arn" in role:
            return str(role["Arn"])
    return None
