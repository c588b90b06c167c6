"""``doctor``'s checks, pure: each takes what was read (Kubernetes objects in the API's own JSON shapes,
IAM answers as plain values) and returns one checklist item, with the exact fix when it fails.

No Kubernetes client, no boto3, no clock, no network here: ``doctoring`` reads, these decide.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from oidc_publisher.core.checks import FAIL, PASS, SKIP, Check
from oidc_publisher.core.issuer import STS_AUDIENCE
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.trust import (
    AUDIENCE_ANNOTATION,
    ROLE_ARN_ANNOTATION,
    Finding,
    audit_role,
    federated_arns,
    subject,
    subject_matches,
)

# The checklist, in the order doctor runs it (docs/troubleshooting.md and docs/doctor.md name these).
CHECKS = ("pod", "cluster issuer", "service account", "pod identity webhook", "pod mutated", "IAM provider", "token audience",
          "published keys", "trust policy", "session duration", "role policies", "exchange")
TOKEN_EXPIRATION_ANNOTATION = "eks.amazonaws.com/token-expiration"  # noqa: S105 - a name, not a secret
REGIONAL_STS_ANNOTATION = "eks.amazonaws.com/sts-regional-endpoints"
WEBHOOK_NAME = "pod-identity-webhook.amazonaws.com"
TOKEN_VOLUME = "aws-iam-token"  # noqa: S105 - the volume the webhook adds
DEFAULT_TOKEN_SECONDS = 86400  # the pod identity webhook's --token-expiration default
# The webhook refuses a token-expiration annotation outside these bounds (and TokenRequest's minimum is 600 s).
MIN_TOKEN_SECONDS, MAX_TOKEN_SECONDS = 600, 2**32
SDK_SESSION_SECONDS = 3600  # what the AWS SDKs ask AssumeRoleWithWebIdentity for
_ROLE_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$")


@dataclass(frozen=True)
class Intent:
    """What the service account asks the webhook for."""

    namespace: str
    name: str
    role_arn: str
    partition: str
    account: str
    role_name: str
    audience: str
    token_seconds: int

    @property
    def subject(self) -> str:
        return subject(self.namespace, self.name)


def _annotations(obj: dict[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("annotations") or {})


def _annotate_fix(namespace: str, name: str, issuer: str | None) -> str:
    role = "arn:aws:iam::ACCOUNT:role/ROLE"
    create = (
        f"oidc-publisher role create --issuer-url {issuer} --namespace {namespace} --service-account {name} --policy-arn POLICY"
        if issuer else "oidc-publisher role create --issuer-url ISSUER ..."
    )
    return (
        f"kubectl annotate serviceaccount -n {namespace} {name} {ROLE_ARN_ANNOTATION}={role} "
        f"(no role yet? {create} makes one and prints the annotated ServiceAccount)"
    )


def check_service_account(sa: dict[str, Any] | None, namespace: str, name: str, issuer: str | None) -> tuple[Check, Intent | None]:
    label = "service account"
    if sa is None:
        return Check(label, FAIL, f"service account {namespace}/{name} does not exist",
                     f"kubectl create serviceaccount -n {namespace} {name}, then {_annotate_fix(namespace, name, issuer)}"), None
    annotations = _annotations(sa)
    arn = annotations.get(ROLE_ARN_ANNOTATION, "")
    if not arn:
        return Check(label, FAIL, f"{namespace}/{name} has no {ROLE_ARN_ANNOTATION} annotation: the webhook leaves its pods alone "
                     "and the SDKs fall back on the node's role", _annotate_fix(namespace, name, issuer)), None
    match = _ROLE_ARN.match(arn.strip())
    if not match or arn != arn.strip():
        return Check(label, FAIL, f"{ROLE_ARN_ANNOTATION} {arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                     f"kubectl annotate --overwrite serviceaccount -n {namespace} {name} {ROLE_ARN_ANNOTATION}=arn:aws:iam::ACCOUNT:role/ROLE"), None
    problems = []
    audience = annotations.get(AUDIENCE_ANNOTATION, STS_AUDIENCE)
    if AUDIENCE_ANNOTATION in annotations and (not audience.strip() or audience != audience.strip()):
        problems.append((AUDIENCE_ANNOTATION, f"{audience!r} is empty or padded", STS_AUDIENCE))
    seconds = DEFAULT_TOKEN_SECONDS
    if TOKEN_EXPIRATION_ANNOTATION in annotations:
        raw = annotations[TOKEN_EXPIRATION_ANNOTATION]
        if not raw.isdigit() or not MIN_TOKEN_SECONDS <= int(raw) <= MAX_TOKEN_SECONDS:
            problems.append((TOKEN_EXPIRATION_ANNOTATION, f"{raw!r} is not a number of seconds from {MIN_TOKEN_SECONDS} to 2^32",
                             str(DEFAULT_TOKEN_SECONDS)))
        else:
            seconds = int(raw)
    regional = annotations.get(REGIONAL_STS_ANNOTATION)
    if regional is not None and regional not in ("true", "false"):
        problems.append((REGIONAL_STS_ANNOTATION, f"{regional!r} is neither \"true\" nor \"false\"", "true"))
    if problems:
        key, why, good = problems[0]
        return Check(label, FAIL, f"{namespace}/{name}: {key} {why}",
                     f"kubectl annotate --overwrite serviceaccount -n {namespace} {name} {key}={good}"), None
    partition, account, _, role_name = match.groups()
    intent = Intent(namespace, name, arn, partition, account, role_name, audience, seconds)
    return Check(label, PASS, f"{namespace}/{name} is annotated with {arn}"), intent


# --- the pod identity webhook ---------------------------------------------------------------------


def find_webhook(configurations: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """(configuration name, webhook) of the pod identity webhook, found by its webhook name."""
    for config in configurations:
        for hook in config.get("webhooks") or []:
            if hook.get("name") == WEBHOOK_NAME:
                return str((config.get("metadata") or {}).get("name", "")), hook
    return None


def webhook_service(hook: dict[str, Any]) -> tuple[str, str] | None:
    service = (hook.get("clientConfig") or {}).get("service")
    if not isinstance(service, dict):
        return None
    return str(service.get("namespace", "default")), str(service.get("name", ""))


def ready_addresses(endpoints: dict[str, Any] | None) -> int:
    return sum(len(subset.get("addresses") or []) for subset in (endpoints or {}).get("subsets") or [])


# The fix for a missing webhook: the command that renders it (the issuer and region are the cluster's).
WEBHOOK_INSTALL = (
    "oidc-publisher templates render --distribution pod-identity-webhook --issuer-url ISSUER --region REGION --out DIR, "
    "then kubectl apply -f DIR (cert-manager must be installed)"
)


def check_webhook(
    found: tuple[str, dict[str, Any]] | None, service: dict[str, Any] | None, endpoints: dict[str, Any] | None
) -> Check:
    label = "pod identity webhook"
    install = WEBHOOK_INSTALL
    if found is None:
        return Check(label, FAIL, f"no MutatingWebhookConfiguration has the webhook {WEBHOOK_NAME}: no pod gets AWS_ROLE_ARN or a token", install)
    config, hook = found
    client = hook.get("clientConfig") or {}
    if not client.get("caBundle"):
        return Check(label, FAIL, f"MutatingWebhookConfiguration {config} has no caBundle: the API server cannot call the webhook over TLS",
                     f"check cert-manager's CA injector (the cert-manager.io/inject-ca-from annotation), or set webhooks[].clientConfig.caBundle of {config}")
    where = webhook_service(hook)
    if where is None:
        return Check(label, PASS, f"{config} calls {client.get('url', 'a URL')} (not a Service: its health is not checked)")
    namespace, name = where
    lost = "pods created meanwhile get no AWS credentials" if hook.get("failurePolicy", "Fail") == "Ignore" else "pod creation fails"
    if service is None:
        return Check(label, FAIL, f"{config} calls the Service {namespace}/{name}, which does not exist: {lost}",
                     f"re-apply the webhook's manifests ({install})")
    ready = ready_addresses(endpoints)
    if not ready:
        return Check(label, FAIL, f"the Service {namespace}/{name} has no ready endpoints: the webhook cannot answer and {lost}",
                     f"kubectl -n {namespace} get pods,deploy -o wide (is the webhook running?); kubectl -n {namespace} logs deploy/{name}; "
                     "once it answers, recreate the pods created meanwhile")
    return Check(label, PASS, f"{config} (CA bundle set) -> Service {namespace}/{name} with {ready} ready endpoint{'s' if ready != 1 else ''}")


# --- the pod --------------------------------------------------------------------------------------


SKIP_CONTAINERS_ANNOTATION = "eks.amazonaws.com/skip-containers"


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers the webhook mutates: all of them (init containers too) but those the pod's
    skip-containers annotation names."""
    spec = pod.get("spec") or {}
    skipped = {n.strip() for n in _annotations(pod).get(SKIP_CONTAINERS_ANNOTATION, "").split(",") if n.strip()}
    return [c for c in (*(spec.get("initContainers") or []), *(spec.get("containers") or [])) if c.get("name") not in skipped]


def pod_token(pod: dict[str, Any]) -> tuple[str, int] | None:
    """(audience, lifetime in seconds) of the projected token volume the webhook adds, if there is one."""
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("name") != TOKEN_VOLUME:
            continue
        for source in (volume.get("projected") or {}).get("sources") or []:
            token = source.get("serviceAccountToken")
            if isinstance(token, dict):
                return str(token.get("audience") or ""), int(token.get("expirationSeconds") or 3600)
    return None


def recreate_command(pod: dict[str, Any]) -> str:
    """The command that gets the pod re-created (so the webhook mutates the new one)."""
    meta = pod.get("metadata") or {}
    namespace, name = meta.get("namespace", "default"), meta.get("name", "")
    for owner in meta.get("ownerReferences") or []:
        kind, owner_name = owner.get("kind"), str(owner.get("name", ""))
        if kind == "ReplicaSet" and "-" in owner_name:
            return f"kubectl -n {namespace} rollout restart deployment/{owner_name.rsplit('-', 1)[0]}"
        if kind in ("StatefulSet", "DaemonSet"):
            return f"kubectl -n {namespace} rollout restart {kind.lower()}/{owner_name}"
        if kind in ("ReplicaSet", "Job"):
            return f"kubectl -n {namespace} delete pod {name} (its {kind} {owner_name} creates a new one)"
    return f"kubectl -n {namespace} get pod {name} -o yaml > pod.yaml && kubectl -n {namespace} replace --force -f pod.yaml"


def _annotated_at(sa: dict[str, Any]) -> str | None:
    """When the role annotation was last written, from the managed fields (None when they do not say)."""
    times = []
    for entry in (sa.get("metadata") or {}).get("managedFields") or []:
        fields = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {}
        if f"f:{ROLE_ARN_ANNOTATION}" in fields and entry.get("time"):
            times.append(str(entry["time"]))
    return max(times) if times else None


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {str(e.get("name")): str(e.get("value", "")) for e in container.get("env") or [] if isinstance(e, dict)}


def check_mutation(pod: dict[str, Any], sa: dict[str, Any], intent: Intent) -> Check:
    label = "pod mutated"
    meta = pod.get("metadata") or {}
    who = f"pod {meta.get('namespace')}/{meta.get('name')}"
    token = pod_token(pod)
    missing = []
    for container in _containers(pod):
        env = _env(container)
        mounts = {m.get("name") for m in container.get("volumeMounts") or []}
        lacks = [v for v in ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE") if v not in env]
        if TOKEN_VOLUME not in mounts:
            lacks.append(f"the {TOKEN_VOLUME} volume mount")
        if lacks:
            missing.append(f"{container.get('name')} lacks {', '.join(lacks)}")
    restart = recreate_command(pod)
    if token is None or missing:
        created = str(meta.get("creationTimestamp") or "")
        annotated = _annotated_at(sa)
        if annotated and created and annotated > created:
            why = f"it was created at {created}, before the service account was annotated at {annotated}"
        else:
            why = "it was created before the annotation, or while the webhook could not answer"
        what = "; ".join(missing) if missing else f"no projected {TOKEN_VOLUME} volume"
        return Check(label, FAIL, f"{who} was not mutated ({what}): {why}; the SDKs fall back on the node's role "
                     "(WebIdentityErr if AWS_ROLE_ARN is set by hand)", f"recreate it: {restart}")
    stale = sorted({_env(c)["AWS_ROLE_ARN"] for c in _containers(pod)} - {intent.role_arn})
    if stale:
        return Check(label, FAIL, f"{who} has AWS_ROLE_ARN {', '.join(stale)}, the service account is now annotated with {intent.role_arn}",
                     f"recreate it: {restart}")
    count = len(_containers(pod))
    return Check(label, PASS, f"{who}: AWS_ROLE_ARN {intent.role_arn}, AWS_WEB_IDENTITY_TOKEN_FILE and the {TOKEN_VOLUME} volume "
                 f"(aud {token[0]}, {token[1]}s) in {'all ' if count > 1 else ''}{count} container{'s' if count != 1 else ''}")


# --- IAM ------------------------------------------------------------------------------------------


def provider_arn(intent: Intent, provider_path: str) -> str:
    return f"arn:{intent.partition}:iam::{intent.account}:oidc-provider/{provider_path}"


def check_provider(found: bool, arn: str, issuer: str, account: str) -> Check:
    if found:
        return Check("IAM provider", PASS, f"{arn}, in the role's account")
    return Check("IAM provider", FAIL,
                 f"No OpenIDConnect provider found in your account for {arn.split(':oidc-provider/', 1)[1]} (account {account}, the role's)",
                 f"oidc-publisher register --issuer-url {issuer} (with credentials of account {account})")


def check_audience(audience: str, client_ids: tuple[str, ...], issuer: str, source: str) -> Check:
    if audience in client_ids:
        return Check("token audience", PASS, f"{audience} ({source}) is a client ID of the provider")
    return Check("token audience", FAIL,
                 f"Incorrect token audience: the pod's tokens are for {audience} ({source}), the provider accepts "
                 f"{', '.join(client_ids) or 'no client ID'}",
                 f"oidc-publisher register --issuer-url {issuer} --client-id {audience}"
                 + (f" (or annotate the service account with {AUDIENCE_ANNOTATION}={STS_AUDIENCE})" if audience != STS_AUDIENCE else ""))


# Condition operators on the token's keys, evaluated the way IAM does for a single-valued key.
def _op_matches(operator: str, values: list[str], actual: str | None) -> bool | None:
    name = operator.lower()
    if ":" in name:
        name = name.split(":", 1)[1]  # ForAnyValue: / ForAllValues: on a single value
    if_exists = name.endswith("ifexists")
    name = name.removesuffix("ifexists")
    if actual is None:
        return bool(if_exists or "not" in name)
    base = name.replace("not", "")
    if base == "stringequals":
        hit = actual in values
    elif base == "stringequalsignorecase":
        hit = actual.lower() in {v.lower() for v in values}
    elif base == "stringlike":
        hit = any(subject_matches(v, actual) for v in values)
    else:
        return None  # not an operator on strings this check evaluates
    return not hit if "not" in name else hit


def evaluate_statement(statement: dict[str, Any], provider_path: str, context: dict[str, str]) -> list[str]:
    """Why this statement's conditions refuse the token ([] when they admit it)."""
    refusals = []
    condition = statement.get("Condition") or {}
    for operator, entries in (condition.items() if isinstance(condition, dict) else []):
        for key, value in (entries.items() if isinstance(entries, dict) else []):
            short = str(key).lower()
            if not short.startswith(provider_path.lower() + ":"):
                continue  # keys of the request (aws:SourceIp...) are not the token's: not judged here
            actual = context.get(short.split(":")[-1])
            values = [str(v) for v in (value if isinstance(value, list) else [value])]
            if _op_matches(str(operator), values, actual) is False:
                refusals.append(f"{operator} {key} {', '.join(values)} does not admit {actual!r}")
    return refusals


def _actions_admit(statement: dict[str, Any]) -> bool:
    actions = statement.get("Action", [])
    return any(subject_matches(str(a).lower(), "sts:assumerolewithwebidentity") for a in (actions if isinstance(actions, list) else [actions]))


def check_trust(
    document: dict[str, Any], role_name: str, role_tags: dict[str, str], provider: str, provider_path: str, intent: Intent, audience: str,
    fixed_statement: dict[str, Any], issuer: str,
) -> tuple[Check, list[Finding]]:
    """Does the trust policy admit this provider, this sub and this aud? Wildcards that admit are audit findings."""
    context = {"sub": intent.subject, "aud": audience}
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    ours = [s for s in statements if isinstance(s, dict) and _actions_admit(s)
            and any(subject_matches(f, provider) for f in federated_arns(s))]
    for deny in (s for s in ours if s.get("Effect") == "Deny"):
        if not evaluate_statement(deny, provider_path, context):
            return Check("trust policy", FAIL, f"Not authorized to perform sts:AssumeRoleWithWebIdentity: a Deny statement of {role_name} matches {intent.subject}",
                         "remove or narrow that Deny statement"), []
    allows = [s for s in ours if s.get("Effect") == "Allow"]
    admitting = [s for s in allows if not evaluate_statement(s, provider_path, context)]
    if admitting:
        findings = list(dict.fromkeys(f for s in admitting for f in audit_role(role_name, s, provider_path)))
        detail = f"{role_name} admits {provider.split('/', 1)[1]}, sub {intent.subject}, aud {audience}"
        if findings:
            detail += "; audit finding" + ("s" if len(findings) > 1 else "") + ": " + "; ".join(
                f"{f.finding} ({f.severity}): {f.detail}" for f in findings)
        return Check("trust policy", PASS, detail), findings
    if not allows:
        others = sorted({f for s in statements if isinstance(s, dict) for f in federated_arns(s)})
        difference = f"it trusts {', '.join(others) or 'no web identity provider'}, not {provider}"
    else:
        difference = "; ".join(r for s in allows for r in evaluate_statement(s, provider_path, context))
    managed = role_tags.get(MANAGED_BY[0]) == MANAGED_BY[1]
    command = (f"oidc-publisher role create --issuer-url {issuer} --namespace {intent.namespace} --service-account {intent.name} "
               f"--role-name {role_name}")
    fix = (f"{command} converges it (the tool made this role)" if managed else
           f"add this statement to the trust policy of {role_name} (aws iam update-assume-role-policy --role-name {role_name} "
           "--policy-document file://trust.json)")
    return Check("trust policy", FAIL, f"Not authorized to perform sts:AssumeRoleWithWebIdentity: {role_name}'s trust policy does not "
                 f"admit the token: {difference}", f"{fix}:\n{json.dumps(fixed_statement, indent=2, sort_keys=True)}"), []


def check_role_found(found_arn: str | None, intent: Intent, issuer: str) -> Check:
    """The annotated role is not what GetRole found: missing (from the credentials' account), or another path."""
    if found_arn:
        return Check("trust policy", FAIL, f"the annotation names {intent.role_arn}, but the role {intent.role_name} is {found_arn}: "
                     "STS looks the role up by the exact ARN",
                     f"kubectl annotate --overwrite serviceaccount -n {intent.namespace} {intent.name} {ROLE_ARN_ANNOTATION}={found_arn}")
    return Check("trust policy", FAIL, f"the role {intent.role_arn} does not exist (looked up in the account of the credentials doctor runs "
                 f"with: for a role of another account, run doctor with that account's credentials)",
                 f"oidc-publisher role create --issuer-url {issuer} --namespace {intent.namespace} --service-account {intent.name} "
                 f"--role-name {intent.role_name} --policy-arn POLICY_ARN")


# Failures that do not decide doctor's own exchange (it mints its own token, and a role without policies is assumed fine).
NOT_BLOCKING_EXCHANGE = ("pod identity webhook", "pod mutated", "session duration", "role policies")


def check_session(max_session: int, token_seconds: int) -> Check:
    if max_session < SDK_SESSION_SECONDS:
        return Check("session duration", FAIL, f"the role allows {max_session}s sessions, the SDKs ask for {SDK_SESSION_SECONDS}s",
                     "aws iam update-role --role-name ROLE --max-session-duration 3600")
    return Check("session duration", PASS, f"the SDKs ask for {SDK_SESSION_SECONDS}s sessions, the role allows up to {max_session}s; "
                 f"the token lives {token_seconds}s and kubelet renews it at 80% of that")


def check_policies(role_name: str, attached: list[str], inline: list[str], issuer: str, intent: Intent) -> Check:
    if attached or inline:
        names = [a.rsplit("/", 1)[-1] for a in attached] + [f"{n} (inline)" for n in inline]
        return Check("role policies", PASS, f"{role_name} has {', '.join(names)}")
    return Check("role policies", FAIL, f"{role_name} has no policy: the exchange works, and every AWS call is then denied",
                 f"aws iam attach-role-policy --role-name {role_name} --policy-arn POLICY_ARN (or oidc-publisher role create --issuer-url "
                 f"{issuer} --namespace {intent.namespace} --service-account {intent.name} --role-name {role_name} --policy-arn POLICY_ARN)")


EXCHANGE_FIXES = {
    "AccessDenied": "see the trust policy check: the role does not trust this provider, sub and aud",
    "InvalidIdentityToken": "see the IAM provider and published keys checks",
    "IDPCommunicationError": "STS could not read the issuer in time: see verify --issuer-url",
    "ExpiredTokenException": "a fresh token is needed (kubelet renews them)",
}


def check_exchange(code: str | None, message: str, arn: str, emulated: bool) -> Check:
    if code is not None:
        return Check("exchange", FAIL, f"AssumeRoleWithWebIdentity failed: {code}: {message}",
                     EXCHANGE_FIXES.get(code, "see the AWS message"))
    detail = f"STS returned credentials for {arn}"
    if emulated:
        detail += " (AWS_ENDPOINT_URL is set: a local emulator's STS ignores the token, so this is not proof; run doctor against AWS)"
    else:
        detail += ": the pod's SDK will get them the same way"
    return Check("exchange", PASS, detail)


def skipped(name: str, why: str) -> Check:
    return Check(name, SKIP, why)


# --- what the API cannot tell ----------------------------------------------------------------------

SDK_MINIMUMS = ("boto3 1.9.220", "botocore 1.12.200", "AWS CLI 1.16.232", "Java v2 2.10.11", "Java v1 1.11.704",
                "Go v1 1.23.13", "JavaScript v2 2.525.0", "JavaScript v3 3.27.0", ".NET 3.3.659.1", "Ruby 3.58.0",
                "PHP 3.110.7", "C++ 1.7.174")


def hints(pod: dict[str, Any] | None) -> list[str]:
    images = sorted({str(c.get("image")) for c in _containers(pod) if c.get("image")}) if pod else []
    return [
        "A pod whose SDK does not use web identity falls back on the node's instance role through the instance "
        "metadata service. On EC2 nodes, stop pods reaching it: aws ec2 modify-instance-metadata-options --instance-id ID "
        "--http-tokens required --http-put-response-hop-limit 1 (inside the pod, aws sts get-caller-identity then shows which role it uses).",
        "SDKs older than these do not read AWS_WEB_IDENTITY_TOKEN_FILE (WebIdentityErr, or the node's role): "
        + ", ".join(SDK_MINIMUMS) + "."
        + (f" This pod runs {', '.join(images)}: check the SDK version inside." if images else ""),
    ]
