"""``audit``: every IAM role that trusts the issuer's provider, and what is wrong with its trust policy.

The rules are pure (``oidc_publisher.core.trust``); this module reads IAM through ``aws/iam.py`` (and, with
``--from-cluster``, the cluster's ServiceAccounts) and applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.core.errors import UsageError
from oidc_publisher.core.issuer import Issuer, parse_issuer
from oidc_publisher.core.trust import (
    SEVERITIES,
    Finding,
    TrustingRole,
    at_or_above,
    audit_role,
    federated_arns,
    is_wildcard,
    shared_finding,
    subject,
    subject_matches,
    subject_patterns,
    subjects_of,
    trusting,
)
from oidc_publisher.sources import KeySource

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.kube import ServiceAccountRef


@dataclass(frozen=True)
class AuditSettings:
    issuer_url: str
    source: KeySource | None = None
    fail_on: str = "high"
    bucket: str | None = None  # the issuer's bucket: its state names the clusters sharing the issuer (members)


@dataclass
class AuditReport:
    issuer: str
    provider_arn: str | None
    roles: list[str]
    findings: list[Finding]
    fail_on: str
    notes: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[Finding]:
        return at_or_above(self.findings, self.fail_on)

    @property
    def exit_code(self) -> int:
        return 1 if self.failing else 0

    def to_text(self) -> str:
        import io
        import shutil

        from rich import box
        from rich.console import Console
        from rich.table import Table

        count = len(self.roles)
        lines = [f"{count} role{'s' if count != 1 else ''} trust {self.issuer}: {', '.join(self.roles) or '-'}"]
        if not self.provider_arn:
            lines.append(f"No IAM OIDC provider is registered for {self.issuer}.")
        if self.findings:
            # Rows wrap between words only: an ARN (a role, a provider) is one word, copied whole from the
            # table; the table grows wider than the terminal rather than cut one.
            roles, details = [f.role for f in self.findings], [f.detail for f in self.findings]
            longest_role, longest_word = _longest_word(roles), _longest_word(details)
            table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            table.add_column("ROLE", no_wrap=True, min_width=longest_role)
            table.add_column("SEVERITY", no_wrap=True)
            table.add_column("FINDING", no_wrap=True)
            table.add_column("DETAIL", overflow="fold", min_width=longest_word)
            for f in sorted(self.findings, key=lambda f: (-SEVERITIES.index(f.severity), f.role, f.finding, f.detail)):
                table.add_row(f.role, f.severity, f.finding, f.detail)
            buffer = io.StringIO()
            finding = max(len(f.finding) for f in self.findings)
            needed = longest_role + len("SEVERITY") + finding + longest_word + 12  # the gaps between columns
            width = max(100, shutil.get_terminal_size((120, 24)).columns, needed)
            Console(file=buffer, width=width, color_system=None, highlight=False, emoji=False).print(table)
            lines.extend(line.rstrip() for line in buffer.getvalue().rstrip().splitlines())
            failing = len(self.failing)
            lines.append(f"{len(self.findings)} finding(s), {failing} at or above --fail-on {self.fail_on}.")
        else:
            lines.append("No findings.")
        lines += self.notes
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "provider_arn": self.provider_arn,
            "roles": self.roles,
            "findings": [f.to_json() for f in self.findings],
            "fail_on": self.fail_on,
            "failed": self.exit_code != 0,
            "notes": self.notes,
        }


def _longest_word(texts: list[str]) -> int:
    return max((len(word) for text in texts for word in text.split()), default=0)


def role_findings(role: TrustingRole, provider_path: str, provider_arn: str | None) -> list[Finding]:
    findings: list[Finding] = []
    subjects: list[str] = []
    for statement in role.statements:
        findings.extend(audit_role(role.name, statement, provider_path))
        subjects.extend(subjects_of(statement, provider_path)[0])
        for arn in federated_arns(statement):
            if arn.endswith(f":oidc-provider/{provider_path}") and arn != provider_arn:
                findings.append(
                    Finding(role.name, "high", "provider not registered", f"{arn} is not a registered provider: the role can never be assumed")
                )
    shared = shared_finding(role.name, subjects)
    if shared:
        findings.append(shared)
    return list(dict.fromkeys(findings))  # one statement per service account repeats findings: keep each once


def cluster_findings(
    roles: list[TrustingRole], all_roles: list[dict[str, Any]], accounts: list[ServiceAccountRef], provider_path: str, account_id: str
) -> tuple[list[Finding], list[str]]:
    """Annotations that point at missing roles or roles that do not trust the annotated service account,
    and roles that trust service accounts the cluster does not have."""
    findings: list[Finding] = []
    notes: list[str] = []
    arns = {r["Arn"] for r in all_roles}
    by_arn = {r.arn: r for r in roles}
    patterns = {r.name: [s for st in r.statements for s in subject_patterns(st, provider_path)] for r in roles}
    for ref in accounts:
        if not ref.role_arn:
            continue
        who = f"{ref.namespace}/{ref.name}"
        if f":{account_id}:" not in ref.role_arn:
            notes.append(f"{who} is annotated with {ref.role_arn}, a role of another account: not checked")
        elif ref.role_arn not in arns:
            findings.append(Finding(ref.role_arn, "high", "annotated role does not exist", f"{who} is annotated with it"))
        elif ref.role_arn not in by_arn:
            findings.append(Finding(ref.role_arn, "high", "annotated role does not trust this issuer", f"{who} is annotated with it"))
        elif not any(subject_matches(p, subject(ref.namespace, ref.name)) for p in patterns[by_arn[ref.role_arn].name]):
            findings.append(
                Finding(by_arn[ref.role_arn].name, "high", "annotated role does not trust the service account", f"{who} is annotated with it")
            )
    present = {subject(ref.namespace, ref.name) for ref in accounts}
    for name, subs in sorted(patterns.items()):
        for sub in sorted(set(subs)):
            if not is_wildcard(sub) and sub not in present:
                findings.append(Finding(name, "low", "trusts a service account that does not exist", sub))
    return findings, notes


def audit(settings: AuditSettings, clients: AwsClients) -> AuditReport:
    from oidc_publisher.aws.iam import get_provider, list_roles, provider_arn_for

    if settings.fail_on not in (*SEVERITIES, "none"):
        raise UsageError(f"--fail-on {settings.fail_on!r} is not a severity", "use high, medium, low or none")
    issuer = parse_issuer(settings.issuer_url)
    path = issuer.provider_path
    provider = get_provider(clients, provider_arn_for(clients, issuer))
    provider_arn = provider.arn if provider else None
    all_roles = list_roles(clients)
    roles = trusting(all_roles, path)
    findings = [f for role in roles for f in role_findings(role, path, provider_arn)]
    report = AuditReport(issuer.url, provider_arn, [r.name for r in roles], findings, settings.fail_on)
    if settings.source is not None and settings.source.from_cluster:
        from oidc_publisher.kube import service_accounts

        accounts = service_accounts(
            settings.source.kubeconfig, settings.source.context, insecure_ok=settings.source.insecure_ok
        )
        more, notes = cluster_findings(roles, all_roles, accounts, path, clients.account_id)
        report.findings.extend(more)
        report.notes.extend(notes)
    report.notes.extend(_members_note(settings, issuer, clients))
    return report


def _members_note(settings: AuditSettings, issuer: Issuer, clients: AwsClients) -> list[str]:
    """With --bucket, a note when several clusters share the issuer (members): every member is one trust zone.
    Read from the issuer's state object (s3:GetObject, a permission an auditor may not otherwise need)."""
    from oidc_publisher.aws.s3 import AwsTime
    from oidc_publisher.commands.members import MembersSettings, issuer_target, read_state
    from oidc_publisher.core.members import member_names

    if settings.bucket is None:
        return []
    target = issuer_target(MembersSettings(bucket=settings.bucket, issuer_url=issuer.url), clients)
    state, _, _ = read_state(target, clients, AwsTime())
    names = member_names(state)
    if len(names) < 2:
        return []
    return [
        f"{len(names)} clusters share this issuer as members ({', '.join(names)}): a service account ns/sa in any "
        "of them can assume a role that trusts system:serviceaccount:ns:sa; share an issuer only between clusters "
        "of one trust zone (docs/shared-issuer.md)"
    ]
