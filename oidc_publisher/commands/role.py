"""``role create`` and ``role trust-policy``: read the role (``aws/iam.read_role``), plan
(``core/role_plan``: what the tool may change on an existing role, and how), then print the plan
(``--dry-run``) or run it (the executor), and write the ServiceAccount manifest last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oidc_publisher.core.errors import ConflictError, InputError, UsageError
from oidc_publisher.core.issuer import STS_AUDIENCE, Issuer, parse_issuer
from oidc_publisher.core.limits import load_json
from oidc_publisher.core.marks import ISSUER_TAG, MANAGED_BY
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan
from oidc_publisher.core.role_plan import policy_document as policy_document  # doctor's and the tests' name for it
from oidc_publisher.core.trust import (
    ATTACHED_TAG,
    ROLE_ARN_ANNOTATION,
    attached_tag_value,
    check_names,
    default_role_name,
    is_wildcard,
    legacy_role_name,
    service_account_manifest,
    trust_policy,
)

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients

_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]{1,}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


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


def require_provider(clients: AwsClients, issuer: Issuer, account_role: str | None = None) -> str:
    """The registered provider's ARN; a clear refusal when the issuer is not registered in this account."""
    from oidc_publisher.aws.iam import get_provider, provider_arn_for

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
    from oidc_publisher.aws.iam import provider_arn_for
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


def create_role_in_account(settings: RoleSettings, clients: AwsClients) -> RoleReport:
    """``role create --account-role``: every input checked first, then the role assumed, then the role made
    there, trusting that account's provider."""
    _check(settings)
    _inline_policy(settings)
    assert settings.account_role is not None
    return create_role(settings, clients.assume(settings.account_role))


def create_role(settings: RoleSettings, clients: AwsClients) -> RoleReport:
    """Create the role, or converge it: trust policy, policies, boundary, session duration, tags.

    Reads the role, plans (``core/role_plan``: refusals, the write order), checks that every policy about
    to be attached exists, then prints the plan or runs it; the manifest is written last.
    """
    from oidc_publisher.aws import iam
    from oidc_publisher.core.role_plan import RoleSpec, choose_role, legacy_lookup, plan_role, policies_to_check

    _check(settings)
    inline = _inline_policy(settings)
    issuer = parse_issuer(settings.issuer_url)
    document = build_trust_policy(settings, clients, require_registered=True)
    spec = RoleSpec(
        issuer=issuer,
        namespace=settings.namespace,
        service_account=settings.service_account,
        audience=settings.audience,
        trust_policy=document,
        tags=_desired_tags(settings, issuer),
        policy_arns=settings.policy_arns,
        inline_policy=inline,
        inline_source=str(settings.policy_file) if settings.policy_file is not None else None,
        permissions_boundary=settings.permissions_boundary,
        max_session_duration=settings.max_session_duration,
    )
    name = settings.role_name or default_role_name(issuer, settings.namespace, settings.service_account)
    named = iam.read_role(clients, name)
    legacy_name = legacy_lookup(settings.role_name, name, legacy_role_name(issuer, settings.namespace, settings.service_account), named)
    legacy = iam.read_role(clients, legacy_name) if legacy_name is not None else None
    name, role, notes = choose_role(issuer, name, named, legacy)
    planned = plan_role(spec, name, role)
    notes.extend(planned.notes)
    # A mistyped ARN is refused before the first write, not after the role was created.
    for option, policy in policies_to_check(planned.steps):
        if not iam.policy_exists(clients, policy):
            raise InputError(
                f"{option} {policy}: no such policy in IAM",
                "check the ARN (AWS managed policies are arn:aws:iam::aws:policy/NAME; yours have your account ID)",
            )
    plan = Plan(list(planned.steps))
    arn = role.arn if role else f"arn:{clients.partition}:iam::{clients.account_id}:role/{name}"
    if not settings.dry_run:
        from oidc_publisher.aws.executor import execute
        from oidc_publisher.core.role_plan import created_arn

        arn = created_arn(done.response for done in execute(plan, clients)) or arn
    manifest = service_account_manifest(settings.namespace, settings.service_account, arn, settings.audience)
    if not manifest:
        notes.append(f"annotate each ServiceAccount the pattern matches with {ROLE_ARN_ANNOTATION}: {arn}")
    report = RoleReport(name, arn, plan, settings.dry_run, manifest, document, notes=notes)
    if settings.out is not None and not settings.dry_run:
        from oidc_publisher.files import write_atomic

        write_atomic(settings.out, manifest.encode())
        report.written = settings.out
    return report
