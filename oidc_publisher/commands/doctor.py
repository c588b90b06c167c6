"""``doctor``: why can't this pod get AWS credentials? The IRSA chain checked from the pod's side.

It reads the pod, its service account, the pod identity webhook (configuration, Service, Endpoints)
and the cluster's issuer from the API server; the provider and the role from IAM; the published
documents over HTTPS as STS reads them; and it makes the real exchange. The decisions are the pure
checks of :mod:`oidc_publisher.core.diagnosis`. It writes nothing: every Kubernetes call is a GET except one
TokenRequest (a ``create`` that stores nothing), every AWS call a read except AssumeRoleWithWebIdentity.

A check whose read is refused (403 from the API server, AccessDenied from IAM) fails with the
permission it needs, and the others go on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from oidc_publisher.core import diagnosis as dx
from oidc_publisher.core.checks import FAIL, PASS, Check, Checklist, check_lines, summary_line
from oidc_publisher.core.errors import Error, InputError, SourceError
from oidc_publisher.core.issuer import STS_AUDIENCE
from oidc_publisher.core.trust import Finding

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.kube import ClusterReader

T = TypeVar("T")
TOKEN_SECONDS = 600  # the minted token's life: the shortest TokenRequest allows


@dataclass(frozen=True)
class DoctorSettings:
    namespace: str
    pod: str | None = None
    service_account: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    timeout: float = 5.0
    # Set by --insecure-skip-tls-verify: accept a kubeconfig that skips TLS verification, saying so.
    insecure_ok: Callable[[str], None] | None = field(default=None, compare=False, repr=False)


@dataclass
class DoctorReport(Checklist):
    target: str
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def to_text(self) -> str:
        lines = [
            f"Checking the IRSA chain of {self.target}:",
            *check_lines(self.checks),
            summary_line(self.checks, passed="All checks passed: this pod can trade its token for the role's credentials.",
                         failed="fix the first one first, then run doctor again."),
            "Hints (what the API cannot show):",
            *(f"  - {hint}" for hint in self.hints),
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
            "findings": [f.to_json() for f in self.findings],
            "hints": self.hints,
        }


class _Doctor:
    """The reads, in order, each feeding the pure check it is for."""

    def __init__(self, settings: DoctorSettings, cluster: ClusterReader, clients: AwsClients, report: DoctorReport) -> None:
        self.settings = settings
        self.cluster = cluster
        self.clients = clients
        self.report = report

    def attempt(self, name: str, read: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, the answer), or (False, None) after a failed check that says what stopped the read."""
        from oidc_publisher.kube import KubeForbidden

        try:
            return True, read()
        except SourceError as exc:
            if not isinstance(exc, KubeForbidden):
                raise  # the API server cannot be used at all (unreachable, credentials refused): one line, not a failure per check
            self.report.add(Check(name, FAIL, f"cannot check: {exc.message}", exc.hint or ""))
            return False, None
        except Error as exc:
            self.report.add(Check(name, FAIL, f"cannot check: {exc.message}", exc.hint or ""))
            return False, None

    def run(self) -> None:
        from oidc_publisher.core.issuer import parse_issuer

        s, report, cluster = self.settings, self.report, self.cluster
        namespace = s.namespace
        pod: dict[str, Any] | None = None
        sa_name = s.service_account
        if s.pod is not None:
            ok, pod = self.attempt("pod", lambda: cluster.pod(namespace, s.pod or ""))
            if ok and pod is None:
                report.add(Check("pod", FAIL, f"pod {namespace}/{s.pod} does not exist", f"kubectl -n {namespace} get pods (or give --service-account)"))
            elif pod is not None:
                sa_name = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
                report.add(Check("pod", PASS, f"{namespace}/{s.pod} runs as service account {sa_name}"))

        ok, discovery = self.attempt("cluster issuer", cluster.discovery)
        issuer: str | None = None
        if ok:
            value = (discovery or {}).get("issuer")
            if isinstance(value, str) and value:
                issuer = value
                report.add(Check("cluster issuer", PASS, f"the API server signs service-account tokens for {issuer}"))
            else:
                report.add(Check("cluster issuer", FAIL, "the API server serves no discovery document with an issuer",
                                 "set kube-apiserver's --service-account-issuer (Kubernetes 1.21+)"))

        sa: dict[str, Any] | None = None
        intent: dx.Intent | None = None
        if sa_name is None:
            report.add(dx.skipped("service account", "the pod could not be read"))
        else:
            ok, sa = self.attempt("service account", lambda: cluster.service_account(namespace, sa_name or ""))
            if ok:
                check, intent = dx.check_service_account(sa, namespace, sa_name, issuer)
                report.add(check)

        self.webhook()
        if pod is None:
            report.add(dx.skipped("pod mutated", "no pod to look at (give --pod NAME)" if s.pod is None else "no pod"))
        elif intent is None or sa is None:
            report.add(dx.skipped("pod mutated", "the service account asks for no role"))
        else:
            report.add(dx.check_mutation(pod, sa, intent))

        audience, source = (intent.audience, "the service account's") if intent else (STS_AUDIENCE, "default")
        token_seconds = intent.token_seconds if intent else dx.DEFAULT_TOKEN_SECONDS
        if pod is not None and (projected := dx.pod_token(pod)) is not None:
            (audience, token_seconds), source = projected, "the pod's projected token"

        path = None
        if issuer is not None:
            try:
                path = parse_issuer(issuer).provider_path
            except Error as exc:
                report.add(Check("IAM provider", FAIL, f"the cluster's issuer is not one IAM accepts: {exc.message}", exc.hint or ""))
        client_ids: tuple[str, ...] | None = None
        if intent is None or path is None or issuer is None:
            if path is not None or issuer is None:  # (an issuer IAM refuses has failed the check already)
                report.add(dx.skipped("IAM provider", "no role annotation or no cluster issuer to look it up with"))
            report.add(dx.skipped("token audience", "no provider to compare with"))
        else:
            from oidc_publisher.aws.iam import get_provider

            arn = dx.provider_arn(intent, path)
            ok, provider = self.attempt("IAM provider", lambda: get_provider(self.clients, arn))
            if ok:
                report.add(dx.check_provider(provider is not None, arn, issuer, intent.account))
                client_ids = provider.client_ids if provider else None
            if client_ids is None:
                report.add(dx.skipped("token audience", "no provider to compare with"))
            else:
                report.add(dx.check_audience(audience, client_ids, issuer, source))

        token = self.published_keys(issuer, sa_name if sa is not None else None, audience)
        self.role(intent, issuer, path, audience, token_seconds)
        self.exchange(intent, token)
        report.hints = dx.hints(pod)

    def webhook(self) -> None:
        cluster = self.cluster
        ok, configurations = self.attempt("pod identity webhook", cluster.mutating_webhooks)
        if not ok:
            return
        found = dx.find_webhook(configurations or [])
        service = endpoints = None
        where = dx.webhook_service(found[1]) if found else None
        if where is not None:
            namespace, name = where
            ok, service = self.attempt("pod identity webhook", lambda: cluster.service(namespace, name))
            if not ok:
                return
            ok, endpoints = self.attempt("pod identity webhook", lambda: cluster.endpoints(namespace, name))
            if not ok:
                return
        self.report.add(dx.check_webhook(found, service, endpoints))

    def published_keys(self, issuer: str | None, sa_name: str | None, audience: str) -> str | None:
        """Mint a token for the service account and verify it against the published issuer as STS would."""
        from oidc_publisher.commands.verify import VerifySettings, verify

        name = "published keys"
        if issuer is None or sa_name is None:
            self.report.add(dx.skipped(name, "no cluster issuer or no service account"))
            return None
        namespace = self.settings.namespace
        ok, token = self.attempt(name, lambda: self.cluster.token(namespace, sa_name, audience, TOKEN_SECONDS))
        if not ok or token is None:
            if ok:
                self.report.add(dx.skipped(name, f"the API server has no service account {namespace}/{sa_name} to mint for"))
            return None
        result = verify(VerifySettings(issuer_url=issuer, token=token, client_id=audience, check_iam=False, timeout=self.settings.timeout), None)
        failed = [c for c in result.checks if c.status == FAIL]
        if failed:
            first = failed[0]
            self.report.add(Check(name, FAIL, f"a token minted for {namespace}/{sa_name} fails at STS ({first.name}): {first.detail}", first.fix))
            return None
        token_check = next(c for c in result.checks if c.name == "token")
        self.report.add(Check(name, PASS, f"a token minted for {namespace}/{sa_name} (aud {audience}) verifies against {issuer} "
                              f"as STS verifies it ({token_check.detail.split(': ', 1)[-1]})"))
        return token

    def role(self, intent: dx.Intent | None, issuer: str | None, path: str | None, audience: str, token_seconds: int) -> None:
        from oidc_publisher.core.issuer import parse_issuer
        from oidc_publisher.core.trust import trust_policy

        names = ("trust policy", "session duration", "role policies")
        if intent is None or issuer is None or path is None:
            for name in names:
                self.report.add(dx.skipped(name, "no role annotation or no cluster issuer"))
            return
        from oidc_publisher.aws.doctor import get_role, role_policies

        ok, answer = self.attempt("trust policy", lambda: get_role(self.clients, intent.role_name))
        if not ok:
            for name in names[1:]:
                self.report.add(dx.skipped(name, "the role could not be read"))
            return
        role = (answer or {}).get("Role") or {}
        if answer is None or role.get("Arn") != intent.role_arn:
            self.report.add(dx.check_role_found(role.get("Arn"), intent, issuer))
            for name in names[1:]:
                self.report.add(dx.skipped(name, "no role"))
            return
        from oidc_publisher.commands.role import policy_document

        provider = dx.provider_arn(intent, path)
        fixed = trust_policy(provider, parse_issuer(issuer), intent.namespace, intent.name, audience)["Statement"][0]
        tags = {t["Key"]: t["Value"] for t in role.get("Tags") or []}
        check, findings = dx.check_trust(policy_document(role.get("AssumeRolePolicyDocument") or {}), intent.role_name, tags,
                                         provider, path, intent, audience, fixed, issuer)
        self.report.add(check)
        self.report.findings.extend(findings)
        self.report.add(dx.check_session(int(role.get("MaxSessionDuration") or 3600), token_seconds))

        ok, lists = self.attempt("role policies", lambda: role_policies(self.clients, intent.role_name))
        if ok and lists is not None:
            self.report.add(dx.check_policies(intent.role_name, lists[0], lists[1], issuer, intent))

    def exchange(self, intent: dx.Intent | None, token: str | None) -> None:
        name = "exchange"
        if intent is None or token is None:
            self.report.add(dx.skipped(name, "no role or no token that verifies"))
            return
        # The exchange uses doctor's own token: the pod's mutation, the webhook and the role's policies do not
        # decide it, every other failure does.
        blocking = [c.name for c in self.report.checks if c.status == FAIL and c.name not in dx.NOT_BLOCKING_EXCHANGE]
        if blocking:
            self.report.add(dx.skipped(name, f"STS would refuse: see {', '.join(blocking)}"))
            return
        from oidc_publisher.aws.doctor import exchange

        emulated = bool(os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_STS"))
        try:
            answer = exchange(self.clients, intent.role_arn, token, "oidc-publisher-doctor")
        except Error as failure:
            self.report.add(Check(name, FAIL, failure.message, failure.hint or ""))
            return
        if answer.assumed is None:
            self.report.add(dx.check_exchange(answer.code, answer.message, intent.role_arn, emulated))
            return
        self.report.add(dx.check_exchange(None, "", answer.assumed, emulated))


_POD_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def check_target(settings: DoctorSettings) -> None:
    """The names go into API paths: refuse anything that is not a Kubernetes name before any call."""
    from oidc_publisher.core.trust import check_names

    check_names(settings.namespace, settings.service_account or "x", allow_wildcard=False)
    if settings.pod is not None and (len(settings.pod) > 253 or not _POD_NAME.match(settings.pod)):
        raise InputError(f"pod {settings.pod!r} is not a valid Kubernetes name", "give the name 'kubectl get pods' shows")


def doctor(settings: DoctorSettings, clients: AwsClients) -> DoctorReport:
    from oidc_publisher.kube import cluster_reader

    check_target(settings)
    target = f"pod {settings.namespace}/{settings.pod}" if settings.pod else f"service account {settings.namespace}/{settings.service_account}"
    report = DoctorReport(target)
    _Doctor(settings, cluster_reader(settings.kubeconfig, settings.context, insecure_ok=settings.insecure_ok), clients, report).run()
    return report

