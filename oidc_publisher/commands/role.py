"""``role create`` and ``role trust-policy``: the IAM edge for roles and the pipeline that converges one.

What the tool may change on an existing role is decided by its tags: only a role tagged
``managed-by=oidc-publisher`` is converged, and only the managed policies it recorded attaching (the
``oidc-publisher:attached`` tag) are ever detached. That mark and the issuer the role was made for
(``oidc-publisher:issuer``) are written only by CreateRole, never added later; a role made for another
issuer is refused, never repointed.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.clients import aws_error
from oidc_publisher.aws.clients import translated as _translated
from oidc_publisher.core.errors import ConflictError, InputError, UsageError
from oidc_publisher.core.issuer import STS_AUDIENCE, Issuer, parse_issuer
from oidc_publisher.core.limits import load_json
from oidc_publisher.core.marks import ISSUER_TAG, MANAGED_BY
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan
from oidc_publisher.core.trust import (
    ATTACHED_TAG,
    CREATION_TAGS,
    ROLE_ARN_ANNOTATION,
    attached_tag_value,
    check_names,
    default_role_name,
    detachable,
    is_wildcard,
    legacy_role_name,
    other_issuer,
    service_account_manifest,
    trust_policy,
    trusted_provider_paths,
)

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients

INLINE_POLICY_NAME = "oidc-publisher"
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]{1,}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


def _code(exc: Exception) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def policy_document(value: Any) -> dict[str, Any]:
    """IAM returns policy documents URL-encoded JSON (boto3 usually decodes them already)."""
    if isinstance(value, str):
        return dict(json.loads(urllib.parse.unquote(value)))
    return dict(value)


def normalise(document: dict[str, Any]) -> str:
    from oidc_publisher.aws.s3 import normalise_policy

    return json.dumps(normalise_policy(document), sort_keys=True)


@dataclass(frozen=True)
class RoleSettings:
    issuer_url: str
    namespace: str
    service_account: str
    policy_arns: tuple[str, ...] = ()
    policy_file: Path | None = None
    role_name: str | None = None
    permissions_boundary: str | None = None
    max_session_duration: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    audience: str = STS_AUDIENCE
    allow_wildcard: bool = False
    out: Path | None = None
    force: bool = False
    dry_run: bool = False
    account_role: str | None = None  # --account-role: the role is made in that role's account


@dataclass
class RoleReport:
    role_name: str
    role_arn: str
    plan: Plan
    dry_run: bool
    manifest: str
    trust_policy: dict[str, Any]
    written: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CHANGES_PENDING if self.dry_run and self.plan.has_changes else 0

    def to_text(self) -> str:
        lines = [self.plan.to_text(dry_run=self.dry_run), f"Role: {self.role_arn}", *self.notes]
        if self.written:
            lines.append(f"Wrote the ServiceAccount manifest to {self.written}")
        else:
            lines += ["", self.manifest.rstrip()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "role_name": self.role_name,
            "role_arn": self.role_arn,
            "dry_run": self.dry_run,
            "changed": self.plan.has_changes,
            "changes": self.plan.to_json(),
            "trust_policy": self.trust_policy,
            "service_account_manifest": self.manifest,
            "notes": self.notes,
        }


def provider_arn_for(clients: AwsClients, issuer: Issuer) -> str:
    """The provider's ARN, from the session's partition and account (sts:GetCallerIdentity)."""
    from oidc_publisher.aws.iam import provider_arn

    return provider_arn(clients.partition, clients.account_id, issuer)


def require_provider(clients: AwsClients, issuer: Issuer, account_role: str | None = None) -> str:
    """The registered provider's ARN; a clear refusal when the issuer is not registered in this account."""
    from oidc_publisher.aws.iam import get_provider

    arn = provider_arn_for(clients, issuer)
    if get_provider(clients, arn) is None:
        if account_role is not None:
            raise ConflictError(
                f"no IAM OIDC provider is registered for {issuer.url} in account {clients.account_id} (a role can "
                "only trust a provider of its own account)",
                f"register it there first: oidc-publisher register --issuer-url {issuer.url} --account-role {account_role}",
            )
        raise ConflictError(
            f"no IAM OIDC provider is registered for {issuer.url}",
            f"register it first: oidc-publisher register --issuer-url {issuer.url} (or bootstrap)",
        )
    return arn


def build_trust_policy(settings: RoleSettings, clients: AwsClients, *, require_registered: bool = False) -> dict[str, Any]:
    """The pinned trust policy; with ``require_registered``, only once the provider exists."""
    from oidc_publisher.core.validation import check_audience

    check_audience(settings.audience, "--audience")
    check_names(settings.namespace, settings.service_account, allow_wildcard=settings.allow_wildcard)
    issuer = parse_issuer(settings.issuer_url)
    arn = require_provider(clients, issuer, settings.account_role) if require_registered else provider_arn_for(clients, issuer)
    return trust_policy(arn, issuer, settings.namespace, settings.service_account, settings.audience)


def _inline_policy(settings: RoleSettings) -> dict[str, Any] | None:
    if settings.policy_file is None:
        return None
    from oidc_publisher.sources import read_file

    raw = read_file(settings.policy_file, "policy file")
    try:
        document = load_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"policy file {settings.policy_file} is not JSON", "give an IAM policy document") from None
    if not isinstance(document, dict) or "Statement" not in document or "Version" not in document:
        raise InputError(
            f"policy file {settings.policy_file} is not an IAM policy document (no Version/Statement)",
            'write it like {"Version": "2012-10-17", "Statement": [...]}',
        )
    return document


def _check(settings: RoleSettings) -> None:
    """Every input refusal, before any AWS call."""
    from oidc_publisher.core.validation import check_audience, check_user_tags

    check_names(settings.namespace, settings.service_account, allow_wildcard=settings.allow_wildcard)
    check_audience(settings.audience, "--audience")
    check_user_tags(settings.tags)
    if not settings.policy_arns and settings.policy_file is None:
        raise UsageError(
            "give --policy-arn (repeatable), --policy-file, or both", "they say what the role may do"
        )
    for arn in (*settings.policy_arns, *([settings.permissions_boundary] if settings.permissions_boundary else [])):
        if not _POLICY_ARN.match(arn):
            raise InputError(f"{arn!r} is not an IAM policy ARN", "e.g. arn:aws:iam::aws:policy/ReadOnlyAccess")
    if settings.max_session_duration is not None and not 3600 <= settings.max_session_duration <= 43200:
        raise InputError("--max-session-duration must be 3600 to 43200 seconds", "IAM's limits")
    if settings.role_name is not None and not _ROLE_NAME.match(settings.role_name):
        raise InputError(f"role name {settings.role_name!r} is not valid for IAM", "use 1-64 letters, digits and +=,.@_-")
    if settings.out is not None and (is_wildcard(settings.namespace) or is_wildcard(settings.service_account)):
        raise UsageError("--out writes one ServiceAccount, and a wildcard matches many", "annotate the matching ServiceAccounts yourself")
    if settings.out is not None:
        # Found out here, not after IAM was changed: the manifest is written last.
        blocking = next((p for p in (settings.out, *settings.out.parents) if p.exists()), None)
        if settings.out.is_dir():
            raise InputError(
                f"--out {settings.out} is a directory",
                f"give the file to write the ServiceAccount manifest to, e.g. {settings.out / (settings.service_account + '-serviceaccount.yaml')}",
            )
        if blocking is not None and blocking != settings.out and not blocking.is_dir():
            raise InputError(f"--out {settings.out}: {blocking} is not a directory", "check the path")
        if settings.out.exists() and not settings.force:
            raise InputError(f"--out {settings.out} already exists", "use --force to overwrite it, or another --out file")


def _desired_tags(settings: RoleSettings, issuer: Issuer) -> dict[str, str]:
    from oidc_publisher.core.validation import validate_tags

    return validate_tags(
        (
            *settings.tags,
            MANAGED_BY,
            (ISSUER_TAG, issuer.url[:256]),
            # IAM tag values cannot hold '*': a wildcard is recorded as ANY.
            ("kubernetes.io/namespace", settings.namespace.replace("*", "ANY").replace("?", "ANY")),
            ("kubernetes.io/service-account", settings.service_account.replace("*", "ANY").replace("?", "ANY")),
            (ATTACHED_TAG, attached_tag_value(settings.policy_arns)),
        )
    )


def _get(call: Any, action: str, resource: str, **kwargs: Any) -> Any:
    """The answer of an IAM read, or None when the entity does not exist."""
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            return None
        raise aws_error(exc, action, resource) from None
    except Exception as exc:  # noqa: BLE001 - BotoCoreError and friends, translated
        raise aws_error(exc, action, resource) from None


def _attached_policies(iam: Any, name: str) -> set[str]:
    with _translated("iam:ListAttachedRolePolicies", name):
        pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        return {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}


def _check_policies_exist(iam: Any, calls: list[tuple[str, dict[str, Any]]]) -> None:
    """Every policy about to be attached or set as the boundary exists: a mistyped ARN is refused before
    the first write, not after the role was created. Reads only what the plan is about to use."""
    wanted: list[tuple[str, str]] = []
    for call, kwargs in calls:
        if call == "attach_role_policy":
            wanted.append(("--policy-arn", kwargs["PolicyArn"]))
        if kwargs.get("PermissionsBoundary"):
            wanted.append(("--permissions-boundary", kwargs["PermissionsBoundary"]))
    for option, arn in wanted:
        if _get(iam.get_policy, "iam:GetPolicy", arn, PolicyArn=arn) is None:
            raise InputError(
                f"{option} {arn}: no such policy in IAM",
                "check the ARN (AWS managed policies are arn:aws:iam::aws:policy/NAME; yours have your account ID)",
            )


def _find_role(iam: Any, settings: RoleSettings, issuer: Issuer, notes: list[str]) -> tuple[str, dict[str, Any] | None]:
    """(the role's name, the role as IAM has it, or None when it is to be created).

    With no --role-name, the default name; when no role has it, the previous release's default name is
    looked up too, and a role there is converged (not duplicated) when this tool made it for this issuer.
    A role under the old name made for another issuer is left alone: the new name is used instead.
    """
    name = settings.role_name or default_role_name(issuer, settings.namespace, settings.service_account)
    got = _get(iam.get_role, "iam:GetRole", name, RoleName=name)
    if got is not None or settings.role_name:
        return name, got["Role"] if got else None
    legacy = legacy_role_name(issuer, settings.namespace, settings.service_account)
    old = _get(iam.get_role, "iam:GetRole", legacy, RoleName=legacy) if legacy != name else None
    if old is None:
        return name, None
    role: dict[str, Any] = old["Role"]
    tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
    document = policy_document(role.get("AssumeRolePolicyDocument") or {})
    if (
        tags.get(MANAGED_BY[0]) == MANAGED_BY[1]
        and other_issuer(tags, document, issuer) is None
        and issuer.provider_path in trusted_provider_paths(document)
    ):
        notes.append(f"converged {legacy}, the name an earlier release gave this role (new roles are named like {name})")
        return legacy, role
    return name, None


def _refuse_other_issuer(name: str, role: dict[str, Any], tags: dict[str, str], issuer: Issuer) -> None:
    """A role made for another issuer is never repointed to this one (that would cut the other cluster off)."""
    other = other_issuer(tags, policy_document(role.get("AssumeRolePolicyDocument") or {}), issuer)
    if other is not None:
        raise ConflictError(
            f"role {name} was made for issuer {other}, not {issuer.url}: refusing to repoint it",
            f"pass --role-name to make a role for {issuer.url}, or use --issuer-url {other} to converge this one",
        )


def create_role_in_account(settings: RoleSettings, clients: AwsClients) -> RoleReport:
    """``role create --account-role``: every input checked first, then the role assumed, then the role made
    there, trusting that account's provider."""
    _check(settings)
    _inline_policy(settings)
    assert settings.account_role is not None
    return create_role(settings, clients.assume(settings.account_role))


def create_role(settings: RoleSettings, clients: AwsClients) -> RoleReport:
    """Create the role, or converge it: trust policy, policies, boundary, session duration, tags.

    Writes happen in an order that keeps a failure half-way safe: the trust policy first; attachments
    before the tag that records them, detachments before the tag forgets them.
    """
    _check(settings)
    inline = _inline_policy(settings)
    issuer = parse_issuer(settings.issuer_url)
    tags = _desired_tags(settings, issuer)
    document = build_trust_policy(settings, clients, require_registered=True)
    iam = clients.iam()
    plan = Plan()
    notes: list[str] = []
    name, role = _find_role(iam, settings, issuer, notes)
    resource = f"iam:role/{name}"
    calls: list[tuple[str, dict[str, Any]]] = []
    if role is None:
        create: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": json.dumps(document),
            "Description": f"IRSA role for {settings.namespace}/{settings.service_account} on {issuer.url}"[:1000],
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        }
        if settings.permissions_boundary:
            create["PermissionsBoundary"] = settings.permissions_boundary
        if settings.max_session_duration:
            create["MaxSessionDuration"] = settings.max_session_duration
        plan.add(resource, "create", f"trust pinned to {settings.namespace}/{settings.service_account} and audience {settings.audience}")
        calls.append(("create_role", create))
        for arn in settings.policy_arns:
            plan.add(resource, "update", f"attach {arn}")
            calls.append(("attach_role_policy", {"RoleName": name, "PolicyArn": arn}))
        if inline is not None:
            plan.add(resource, "update", f"inline policy {INLINE_POLICY_NAME} from {settings.policy_file}")
            calls.append(("put_role_policy", {"RoleName": name, "PolicyName": INLINE_POLICY_NAME, "PolicyDocument": json.dumps(inline)}))
    else:
        have_tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        if have_tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
            raise ConflictError(
                f"role {name} exists and was not created by oidc-publisher (no managed-by=oidc-publisher tag)",
                "choose another --role-name, or tag the role managed-by=oidc-publisher to let the tool manage it",
            )
        _refuse_other_issuer(name, role, have_tags, issuer)
        if normalise(policy_document(role["AssumeRolePolicyDocument"])) != normalise(document):
            plan.add(resource, "update", "trust policy differs from the pinned one")
            calls.append(("update_assume_role_policy", {"RoleName": name, "PolicyDocument": json.dumps(document)}))
        if settings.max_session_duration and role.get("MaxSessionDuration") != settings.max_session_duration:
            plan.add(resource, "update", f"max session duration {settings.max_session_duration}s")
            calls.append(("update_role", {"RoleName": name, "MaxSessionDuration": settings.max_session_duration}))
        boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if settings.permissions_boundary and boundary != settings.permissions_boundary:
            plan.add(resource, "update", f"permissions boundary {settings.permissions_boundary}")
            calls.append(("put_role_permissions_boundary", {"RoleName": name, "PermissionsBoundary": settings.permissions_boundary}))
        attached = _attached_policies(iam, name)
        for arn in settings.policy_arns:
            if arn not in attached:
                plan.add(resource, "update", f"attach {arn}")
                calls.append(("attach_role_policy", {"RoleName": name, "PolicyArn": arn}))
        detach, keep = detachable(attached, settings.policy_arns, have_tags)
        for arn in detach:
            plan.add(resource, "update", f"detach {arn} (attached by an earlier run, no longer asked for)")
            calls.append(("detach_role_policy", {"RoleName": name, "PolicyArn": arn}))
        if keep:
            notes.append(f"kept attached policies this tool did not attach: {', '.join(keep)} (detach them by hand if unwanted)")
        got_inline = _get(iam.get_role_policy, "iam:GetRolePolicy", name, RoleName=name, PolicyName=INLINE_POLICY_NAME)
        current_inline = policy_document(got_inline["PolicyDocument"]) if got_inline else None
        if inline is not None and (current_inline is None or normalise(current_inline) != normalise(inline)):
            plan.add(resource, "update", f"inline policy {INLINE_POLICY_NAME} from {settings.policy_file}")
            calls.append(("put_role_policy", {"RoleName": name, "PolicyName": INLINE_POLICY_NAME, "PolicyDocument": json.dumps(inline)}))
        elif inline is None and current_inline is not None:
            plan.add(resource, "update", f"delete inline policy {INLINE_POLICY_NAME} (written by an earlier run with --policy-file, no longer asked for)")
            calls.append(("delete_role_policy", {"RoleName": name, "PolicyName": INLINE_POLICY_NAME}))
        # The mark and the recorded issuer are CreateRole's alone: never added to a role that exists.
        changed_tags = {k: v for k, v in tags.items() if k not in CREATION_TAGS and have_tags.get(k) != v}
        if changed_tags:
            plan.add(resource, "update", f"tags {', '.join(sorted(changed_tags))}")
            calls.append(("tag_role", {"RoleName": name, "Tags": [{"Key": k, "Value": v} for k, v in sorted(changed_tags.items())]}))
    _check_policies_exist(iam, calls)
    arn = role["Arn"] if role else f"arn:{clients.partition}:iam::{clients.account_id}:role/{name}"
    if not settings.dry_run:
        for call, kwargs in calls:
            with _translated(f"iam:{''.join(p.title() for p in call.split('_'))}", name):
                result = getattr(iam, call)(**kwargs)
            if call == "create_role":
                arn = result["Role"]["Arn"]
    manifest = service_account_manifest(settings.namespace, settings.service_account, arn, settings.audience)
    if not manifest:
        notes.append(f"annotate each ServiceAccount the pattern matches with {ROLE_ARN_ANNOTATION}: {arn}")
    report = RoleReport(name, arn, plan, settings.dry_run, manifest, document, notes=notes)
    if settings.out is not None and not settings.dry_run:
        from oidc_publisher.files import write_atomic

        write_atomic(settings.out, manifest.encode())
        report.written = settings.out
    return report
