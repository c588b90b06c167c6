"""IAM roles for service accounts: the trust policy, the default name, and what makes a trust policy
unsafe. Pure."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oidc_publisher.core.errors import InputError, UsageError
from oidc_publisher.core.issuer import STS_AUDIENCE, Issuer
from oidc_publisher.core.marks import ISSUER_TAG, MANAGED_BY

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
AUDIENCE_ANNOTATION = "eks.amazonaws.com/audience"
# Role tag recording which managed policies this tool attached (digests: the tag value holds 256 characters).
ATTACHED_TAG = "oidc-publisher:attached"
# Written only by CreateRole: the ownership mark, and the issuer the role was made for (a role is never
# repointed to another).
CREATION_TAGS = (MANAGED_BY[0], ISSUER_TAG)
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_WILDCARD_CHARS = re.compile(r"^[-a-z0-9.*?]+$")


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
            if len(value) > limit or not _WILDCARD_CHARS.match(value):
                raise InputError(f"{what} {value!r} is not a valid Kubernetes name pattern", "use lower-case letters, digits, '-' and '*'")
            continue
        if len(value) > limit or not pattern.match(value):
            raise InputError(f"{what} {value!r} is not a valid Kubernetes name", "use lower-case letters, digits and '-'")


def subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def is_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def policy_digest(policy_arn: str) -> str:
    """A short stable name for a policy ARN, for the role tag that records what this tool attached."""
    return hashlib.sha256(policy_arn.encode()).hexdigest()[:10]


def attached_tag_value(policy_arns: Iterable[str]) -> str:
    return " ".join(sorted({policy_digest(arn) for arn in policy_arns}))


def recorded_attachments(tags: dict[str, str]) -> set[str]:
    return set(tags.get(ATTACHED_TAG, "").split())


def detachable(attached: Iterable[str], wanted: Iterable[str], tags: dict[str, str]) -> tuple[list[str], list[str]]:
    """(policies to detach, policies to keep) among those attached but no longer asked for.

    Only a policy this tool recorded attaching, on a role tagged managed-by=oidc-publisher, is detached:
    anything attached by hand or by other tooling stays.
    """
    extra = sorted(set(attached) - set(wanted))
    if tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
        return [], extra
    recorded = recorded_attachments(tags)
    return [a for a in extra if policy_digest(a) in recorded], [a for a in extra if policy_digest(a) not in recorded]


def trust_policy(provider_arn: str, issuer: Issuer, namespace: str, service_account: str, audience: str = STS_AUDIENCE) -> dict[str, Any]:
    """Federated to the provider; StringEquals on both :sub and :aud (StringLike on :sub for a wildcard)."""
    sub = subject(namespace, service_account)
    wildcard = is_wildcard(sub)
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
    """irsa-HOSTLABEL-NS-SA-HASH, at most 64 characters and deterministic.

    The readable part names only the host's first label, so it is the same for https://oidc.example.com/a
    and /b, or oidc.dev.example.com and oidc.prod.example.com; the hash is over the full provider path
    (HOST/PATH, as IAM names the provider), the namespace and the service account, so two issuers never
    share a default name. The readable part is cut to 55 characters to leave room for it.
    """
    cluster = issuer.host.split(".")[0]
    readable = re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", f"irsa-{cluster}-{namespace}-{service_account}")
    digest = hashlib.sha256(f"{issuer.provider_path}|{namespace}|{service_account}".encode()).hexdigest()[:8]
    return f"{readable[:55]}-{digest}"


def legacy_role_name(issuer: Issuer, namespace: str, service_account: str) -> str:
    """The default name of the previous release (0.1.0): irsa-HOSTLABEL-NS-SA (cut to 55 plus a hash past 64).

    It can collide across issuers, so a role found under it is converged only when it was made for this
    issuer (see :func:`other_issuer`); it is looked up so that an upgrade does not duplicate the role.
    """
    cluster = issuer.host.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", f"irsa-{cluster}-{namespace}-{service_account}")
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(f"{issuer.url}|{namespace}|{service_account}".encode()).hexdigest()[:8]
    return f"{name[:55]}-{digest}"


def trusted_provider_paths(document: dict[str, Any]) -> list[str]:
    """HOST/PATH of every OIDC provider a trust policy's statements federate to (any account's)."""
    paths: list[str] = []
    for statement in _as_list(document.get("Statement", [])):
        if isinstance(statement, dict):
            for arn in federated_arns(statement):
                if ":oidc-provider/" in arn:
                    paths.append(arn.split(":oidc-provider/", 1)[1].strip("/"))
    return list(dict.fromkeys(paths))


def other_issuer(tags: dict[str, str], document: dict[str, Any], issuer: Issuer) -> str | None:
    """The issuer an existing role belongs to when that is not ``issuer``, else None.

    The role's recorded issuer (the tag written at creation) decides; a role without one (made by hand, or
    by an old release) is judged by the providers its trust policy federates to. Issuers are compared the
    way IAM compares providers: HOST/PATH, without the scheme or a trailing '/'.
    """
    recorded = tags.get(ISSUER_TAG)
    if recorded is not None and recorded.removeprefix("https://").strip("/") != issuer.provider_path:
        return recorded
    for path in trusted_provider_paths(document):
        if path != issuer.provider_path:
            return f"https://{path}"
    return None


def service_account_manifest(namespace: str, service_account: str, role_arn: str, audience: str = STS_AUDIENCE) -> str:
    """The ServiceAccount, annotated for the pod identity webhook (names are DNS-1123: no YAML quoting needed)."""
    if is_wildcard(namespace) or is_wildcard(service_account):
        return ""
    # JSON strings are YAML double-quoted scalars: the values are quoted safely whatever they hold.
    annotations = [f"    {ROLE_ARN_ANNOTATION}: {json.dumps(role_arn)}"]
    if audience != STS_AUDIENCE:
        annotations.append(f"    {AUDIENCE_ANNOTATION}: {json.dumps(audience)}")
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


WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"


def allows_web_identity(statement: dict[str, Any]) -> bool:
    """Whether the statement's actions include sts:AssumeRoleWithWebIdentity: an ``Action`` pattern that
    matches it, or a ``NotAction`` that does not exclude it (IAM action names are case-insensitive)."""
    action = WEB_IDENTITY_ACTION.lower()
    if "NotAction" in statement:
        return not any(subject_matches(str(a).lower(), action) for a in _as_list(statement["NotAction"]))
    return any(subject_matches(str(a).lower(), action) for a in _as_list(statement.get("Action", [])))


def open_principal(statement: dict[str, Any]) -> str | None:
    """How the statement lets any principal in (``Principal "*"``, ``{"AWS": "*"}``, ``{"Federated": "*"}``,
    or a ``NotPrincipal``, which allows everyone it does not name), or None when it names its principals."""
    if "NotPrincipal" in statement:
        # Only a NotPrincipal that names every principal (or every federated one) keeps web identities out.
        excluded = statement["NotPrincipal"]
        federated = [str(v) for v in _as_list(excluded.get("Federated", []))] if isinstance(excluded, dict) else []
        return None if excluded == "*" or "*" in federated else "NotPrincipal"
    principal = statement.get("Principal")
    if principal == "*":
        return 'Principal "*"'
    if isinstance(principal, dict):
        for kind, values in sorted(principal.items()):
            if "*" in [str(v) for v in _as_list(values)]:
                return f'Principal {{"{kind}": "*"}}'
    return None


def federated_statements(document: dict[str, Any], provider_suffix: str) -> list[dict[str, Any]]:
    """The Allow statements of a trust policy that let web identities of this provider assume the role:
    those federated to it, and those open to any principal. Each is judged on its own."""
    found = []
    for statement in _as_list(document.get("Statement", [])):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or not allows_web_identity(statement):
            continue
        if any(f.endswith(provider_suffix) for f in federated_arns(statement)) or open_principal(statement):
            found.append(statement)
    return found


# Condition operators that pin a key to the values listed. Negated ones (StringNotEquals ...) and
# non-string ones (Null ...) pin nothing: a trust policy that only has those is treated as unpinned.
_PINNING = ("stringequals", "stringequalsignorecase", "stringlike")


def _operator(name: str) -> str:
    base = name.split(":", 1)[1] if name.lower().startswith(("foranyvalue:", "forallvalues:")) else name
    base = base.lower()
    return base[: -len("ifexists")] if base.endswith("ifexists") else base


def condition_values(statement: dict[str, Any], key: str) -> list[tuple[str, str]]:
    """(operator, value) for every pinning condition on ``key`` (condition keys are case-insensitive)."""
    found: list[tuple[str, str]] = []
    condition = statement.get("Condition") or {}
    if not isinstance(condition, dict):
        return found
    for operator, entries in condition.items():
        op = _operator(str(operator))
        if op not in _PINNING or not isinstance(entries, dict):
            continue
        for name, value in entries.items():
            if str(name).lower() == key.lower():
                found.extend((op, str(v)) for v in _as_list(value))
    return found


def subjects_of(statement: dict[str, Any], provider_path: str) -> tuple[list[str], bool]:
    """(subjects named, whether any is matched loosely: with StringLike). A '*' in a StringEquals value is
    a literal character, not a wildcard."""
    pairs = condition_values(statement, f"{provider_path}:sub")
    values = [v for _, v in pairs]
    loose = any(op == "stringlike" for op, _ in pairs)
    return values, loose


def subject_patterns(statement: dict[str, Any], provider_path: str) -> list[str]:
    """The statement's :sub values as StringLike patterns: a StringEquals value's '*' and '?' are literal,
    so they are left out (no service account name can hold them)."""
    return [v for op, v in condition_values(statement, f"{provider_path}:sub") if op == "stringlike" or not is_wildcard(v)]


def matches_everything(operator: str, value: str) -> bool:
    """A StringLike value made of wildcards alone ('*', '?*'): it pins nothing."""
    return operator == "stringlike" and "*" in value and set(value) <= {"*", "?"}


def subject_matches(pattern: str, sub: str) -> bool:
    """IAM's StringLike: '*' any run of characters (':' included), '?' one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, sub) is not None


def federated_arns(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal", {})
    return [str(f) for f in _as_list(principal.get("Federated", []))] if isinstance(principal, dict) else []


def audit_role(role: str, statement: dict[str, Any], provider_path: str) -> list[Finding]:
    """Findings for one statement that lets this provider's web identities in (sharing is judged per role,
    not here). Every statement is judged alone: a pinned one beside it does not make an open one safe."""
    findings = []
    how = open_principal(statement)
    if how:
        actions = "NotAction" if "NotAction" in statement else "Action"
        findings.append(Finding(role, "high", "any principal", f"{how} with {actions} allowing {WEB_IDENTITY_ACTION}: "
                                "a web identity token from any identity provider can assume this role"))
    subs, loose = subjects_of(statement, provider_path)
    if not subs:
        findings.append(Finding(role, "high", "no :sub condition", "every service account of the cluster can assume this role"))
    elif loose:
        findings.append(Finding(role, "high", "wildcard subject", f"{', '.join(subs)} matches more than one service account"))
    pairs = condition_values(statement, f"{provider_path}:aud")
    auds = [v for op, v in pairs if not matches_everything(op, v)]
    if not auds:
        findings.append(Finding(role, "high", "no :aud condition", "a token minted for any audience of this issuer is accepted"))
    elif any(a != STS_AUDIENCE for a in auds):
        findings.append(Finding(role, "medium", "unexpected audience", f"{', '.join(auds)} (IRSA tokens carry {STS_AUDIENCE})"))
    return findings


def shared_finding(role: str, subjects: Iterable[str]) -> Finding | None:
    exact = sorted({s for s in subjects if not is_wildcard(s)})
    if len(exact) > 1:
        return Finding(role, "medium", "shared by several service accounts", ", ".join(exact))
    return None


def at_or_above(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    if threshold == "none":
        return []
    level = SEVERITIES.index(threshold)
    return [f for f in findings if SEVERITIES.index(f.severity) >= level]


@dataclass(frozen=True)
class TrustingRole:
    name: str
    arn: str
    statements: list[dict[str, Any]]


def trusting(roles: list[dict[str, Any]], provider_path: str) -> list[TrustingRole]:
    """The roles whose trust policy lets web identities of this provider (any account's) assume them."""
    from oidc_publisher.core.role_plan import policy_document

    found = []
    for role in roles:
        document = policy_document(role.get("AssumeRolePolicyDocument") or {})
        statements = federated_statements(document, f":oidc-provider/{provider_path}")
        if statements:
            found.append(TrustingRole(role["RoleName"], role["Arn"], statements))
    return sorted(found, key=lambda r: r.name)
