"""IAM roles for service accounts: the trust policy, the default name, and what makes a trust policy
unsafe. Pure."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oidc_publisher.errors import InputError, UsageError
from oidc_publisher.issuer import Issuer

STS_AUDIENCE = "sts.amazonaws.com"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def check_names(namespace: str, service_account: str, *, allow_wildcard: bool) -> None:
    for what, value, pattern, limit in (
        ("namespace", namespace, _DNS1123, 63),
        ("service account", service_account, _DNS1123_SUBDOMAIN, 253),
    ):
        if "*" in value or "?" in value:
            if not allow_wildcard:
                raise UsageError(
                    f"{what} {value!r} is a wildcard",
                    "a wildcard lets every matching service account assume the role; add --allow-wildcard if you mean it",
                )
            continue
        if len(value) > limit or not pattern.match(value):
            raise InputError(f"{what} {value!r} is not a valid Kubernetes name", "use lower-case letters, digits and '-'")


def subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def trust_policy(provider_arn: str, issuer: Issuer, namespace: str, service_account: str, audience: str = STS_AUDIENCE) -> dict[str, Any]:
    """Federated to the provider; StringEquals on both :sub and :aud (StringLike on :sub for a wildcard)."""
    sub = subject(namespace, service_account)
    wildcard = "*" in sub or "?" in sub
    condition: dict[str, dict[str, str]] = {"StringEquals": {f"{issuer.provider_path}:aud": audience}}
    if wildcard:
        condition["StringLike"] = {f"{issuer.provider_path}:sub": sub}
    else:
        condition["StringEquals"][f"{issuer.provider_path}:sub"] = sub
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }


def default_role_name(issuer: Issuer, namespace: str, service_account: str) -> str:
    """irsa-HOSTLABEL-NS-SA, at most 64 characters; a stable hash suffix keeps truncated names unique."""
    cluster = issuer.host.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", f"irsa-{cluster}-{namespace}-{service_account}")
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(f"{issuer.url}|{namespace}|{service_account}".encode()).hexdigest()[:8]
    return f"{name[:55]}-{digest}"


def service_account_manifest(namespace: str, service_account: str, role_arn: str, audience: str = STS_AUDIENCE) -> str:
    annotations = [f'    {ROLE_ARN_ANNOTATION}: "{role_arn}"']
    if audience != STS_AUDIENCE:
        annotations.append(f'    eks.amazonaws.com/audience: "{audience}"')
    return "\n".join(
        [
            "apiVersion: v1",
            "kind: ServiceAccount",
            "metadata:",
            f"  name: {service_account}",
            f"  namespace: {namespace}",
            "  annotations:",
            *annotations,
            "",
        ]
    )


# --- audit ---------------------------------------------------------------------------------------

SEVERITIES = ("low", "medium", "high")


@dataclass(frozen=True)
class Finding:
    role: str
    severity: str
    finding: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "severity": self.severity, "finding": self.finding, "detail": self.detail}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def federated_statements(document: dict[str, Any], provider_suffix: str) -> list[dict[str, Any]]:
    """The statements of a trust policy that let web identities of this provider assume the role."""
    found = []
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        federated = _as_list(principal.get("Federated", [])) if isinstance(principal, dict) else []
        actions = _as_list(statement.get("Action", []))
        if any(str(f).endswith(provider_suffix) for f in federated) and any(
            a in ("sts:AssumeRoleWithWebIdentity", "sts:*", "*") for a in actions
        ):
            found.append(statement)
    return found


def subjects_of(statement: dict[str, Any], provider_path: str) -> tuple[list[str], bool]:
    """(subjects named, whether any is matched loosely: StringLike or a wildcard)."""
    key = f"{provider_path}:sub"
    values: list[str] = []
    loose = False
    for operator, entries in (statement.get("Condition") or {}).items():
        if key in entries:
            got = [str(v) for v in _as_list(entries[key])]
            values.extend(got)
            if "Like" in operator or any("*" in v or "?" in v for v in got):
                loose = True
    return values, loose


def audit_role(role: str, statement: dict[str, Any], provider_path: str) -> list[Finding]:
    findings = []
    condition = statement.get("Condition") or {}
    subs, loose = subjects_of(statement, provider_path)
    if not subs:
        findings.append(Finding(role, "high", "no :sub condition", "every service account of the cluster can assume this role"))
    elif loose:
        findings.append(Finding(role, "high", "wildcard subject", f"{', '.join(subs)} matches more than one service account"))
    aud_key = f"{provider_path}:aud"
    auds = [str(v) for entries in condition.values() if aud_key in entries for v in _as_list(entries[aud_key])]
    if not auds:
        findings.append(Finding(role, "high", "no :aud condition", "a token minted for any audience of this issuer is accepted"))
    elif STS_AUDIENCE not in auds:
        findings.append(Finding(role, "medium", "unexpected audience", f"{', '.join(auds)} (IRSA tokens carry {STS_AUDIENCE})"))
    if len([s for s in subs if "*" not in s]) > 1:
        findings.append(Finding(role, "medium", "shared by several service accounts", ", ".join(subs)))
    return findings


def at_or_above(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    if threshold == "none":
        return []
    level = SEVERITIES.index(threshold)
    return [f for f in findings if SEVERITIES.index(f.severity) >= level]
