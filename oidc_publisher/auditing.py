"""``audit``: every IAM role that trusts the issuer's provider, and what is wrong with its trust policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.errors import InputError
from oidc_publisher.issuer import parse_issuer
from oidc_publisher.roles import SEVERITIES, Finding, at_or_above, audit_role, federated_statements, subjects_of
from oidc_publisher.sources import KeySource

if TYPE_CHECKING:
    from oidc_publisher.aws import AwsClients


@dataclass(frozen=True)
class AuditSettings:
    issuer_url: str
    source: KeySource | None = None
    fail_on: str = "high"


@dataclass
class AuditReport:
    issuer: str
    roles: list[str]
    findings: list[Finding]
    fail_on: str
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if at_or_above(self.findings, self.fail_on) else 0

    def to_text(self) -> str:
        lines = [f"{len(self.roles)} role{'s' if len(self.roles) != 1 else ''} trust {self.issuer}: {', '.join(self.roles) or '-'}"]
        if self.findings:
            width = max(len(f.role) for f in self.findings)
            lines.append(f"{'ROLE':<{width}}  {'SEVERITY':<8}  FINDING")
            for f in sorted(self.findings, key=lambda f: (-SEVERITIES.index(f.severity), f.role, f.finding)):
                lines.append(f"{f.role:<{width}}  {f.severity:<8}  {f.finding}: {f.detail}")
        else:
            lines.append("No findings.")
        lines += self.notes
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "roles": self.roles,
            "findings": [f.to_json() for f in self.findings],
            "fail_on": self.fail_on,
            "failed": self.exit_code != 0,
        }


def trusting_roles(clients: AwsClients, provider_path: str) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """role name -> (ARN, the statements that federate to this provider)."""
    from oidc_publisher.aws import translated as _translated
    from oidc_publisher.iam_roles import policy_document

    result: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    paginator = clients.iam().get_paginator("list_roles")
    with _translated("iam:ListRoles"):
        for page in paginator.paginate():
            for role in page["Roles"]:
                document = policy_document(role.get("AssumeRolePolicyDocument", {}))
                statements = federated_statements(document, f":oidc-provider/{provider_path}")
                if statements:
                    result[role["RoleName"]] = (role["Arn"], statements)
    return result


def audit(settings: AuditSettings, clients: AwsClients) -> AuditReport:
    from oidc_publisher.iam import find_provider

    if settings.fail_on not in (*SEVERITIES, "none"):
        raise InputError(f"--fail-on {settings.fail_on!r} is not a severity", "use high, medium, low or none")
    issuer = parse_issuer(settings.issuer_url)
    path = issuer.provider_path
    roles = trusting_roles(clients, path)
    provider = find_provider(clients, issuer)
    findings: list[Finding] = []
    subjects: dict[str, list[str]] = {}
    for name, (_, statements) in sorted(roles.items()):
        subs: list[str] = []
        for statement in statements:
            findings.extend(f for f in audit_role(name, statement, path) if f.finding != "shared by several service accounts")
            subs.extend(subjects_of(statement, path)[0])
        subjects[name] = subs
        exact = sorted({s for s in subs if "*" not in s and "?" not in s})
        if len(exact) > 1:
            findings.append(Finding(name, "medium", "shared by several service accounts", ", ".join(exact)))
        if provider is None:
            findings.append(Finding(name, "high", "provider not registered", f"no IAM OIDC provider for {path}: the role can never be assumed"))
    report = AuditReport(issuer.url, sorted(roles), findings, settings.fail_on)
    if settings.source is not None and settings.source.from_cluster:
        from oidc_publisher.kube import service_accounts

        accounts = service_accounts(settings.source.kubeconfig, settings.source.context)
        existing_arns = {arn for arn, _ in roles.values()}
        role_names_in_account = _all_role_arns(clients)
        for ref in accounts:
            if ref.role_arn and ref.role_arn not in role_names_in_account:
                findings.append(Finding(ref.role_arn, "high", "annotated role does not exist", f"{ref.namespace}/{ref.name} is annotated with it"))
            elif ref.role_arn and ref.role_arn not in existing_arns:
                findings.append(Finding(ref.role_arn, "high", "annotated role does not trust this issuer", f"{ref.namespace}/{ref.name} is annotated with it"))
        present = {f"system:serviceaccount:{ref.namespace}:{ref.name}" for ref in accounts}
        for name, subs in sorted(subjects.items()):
            for sub in subs:
                if "*" not in sub and "?" not in sub and sub not in present:
                    findings.append(Finding(name, "low", "trusts a service account that does not exist", sub))
    return report


def _all_role_arns(clients: AwsClients) -> set[str]:
    from oidc_publisher.aws import translated as _translated

    arns: set[str] = set()
    with _translated("iam:ListRoles"):
        for page in clients.iam().get_paginator("list_roles").paginate():
            arns.update(role["Arn"] for role in page["Roles"])
    return arns
