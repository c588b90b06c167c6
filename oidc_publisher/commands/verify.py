"""``verify``: check, end to end, what STS will check when a pod trades its token for credentials.

A checklist, each item passed, failed (with the fix) or skipped (when an earlier failure makes it
meaningless). It reads over HTTPS exactly what STS reads (the issuer's discovery document, then the
JWKS at ``jwks_uri``), reads the IAM provider, and checks a token if one is given or can be minted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.core.checks import FAIL, PASS, SKIP, WARN, Check, Checklist, check_lines, summary_line
from oidc_publisher.core.errors import Error
from oidc_publisher.core.issuer import STS_AUDIENCE, Issuer, parse_issuer
from oidc_publisher.core.limits import load_json
from oidc_publisher.core.thumbprint import CA_PRIVATE, ca_case, describe_ca_case, unregistered_pinned
from oidc_publisher.sources import KeySource

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.core.keys import SigningKey
    from oidc_publisher.tls import PresentedChain

@dataclass(frozen=True)
class VerifySettings:
    issuer_url: str
    source: KeySource | None = None
    token: str | None = None
    client_id: str = STS_AUDIENCE
    mint_namespace: str | None = None
    mint_service_account: str | None = None
    timeout: float = 5.0
    check_iam: bool = True
    connect_to: tuple[str, ...] = ()
    # An issuer shared by several clusters (docs/shared-issuer.md): where its state object is, and the member
    # to check (None: every member is listed). ``members_bucket`` None: the state is not read.
    member: str | None = None
    members_bucket: str | None = None
    members_prefix: str | None = None
    members_region: str | None = None


@dataclass
class VerifyReport(Checklist):
    issuer: str
    checks: list[Check] = field(default_factory=list)
    published_kids: list[str] = field(default_factory=list)
    thumbprints: dict[str, str] = field(default_factory=dict)
    ca_cases: dict[str, str] = field(default_factory=dict)  # host -> thumbprint.ca_case
    members: list[dict[str, Any]] | None = None  # read from the state object, when it was

    def add(self, name: str, status: str, detail: str, fix: str = "") -> Check:
        check = Check(name, status, detail, fix)
        self.checks.append(check)
        return check

    def to_text(self) -> str:
        return "\n".join([
            f"Verifying {self.issuer} the way STS will:",
            *check_lines(self.checks),
            summary_line(self.checks, passed="All checks passed: STS will accept this issuer's tokens.",
                         failed="STS would reject tokens for this issuer."),
        ])

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
            "published_kids": self.published_kids,
            "thumbprints": self.thumbprints,
            "ca": self.ca_cases,
            **({"members": self.members} if self.members is not None else {}),
        }


def _fetch_json(url: str, timeout: float, connect_to: tuple[str, ...]) -> tuple[Any, Any]:
    """(response, parsed JSON or None); raises TLSError for transport failures."""
    from oidc_publisher.tls import https_get

    response = https_get(url, timeout=timeout, connect_to=connect_to)
    try:
        return response, load_json(response.body)
    except (ValueError, UnicodeDecodeError):
        return response, None


def verify(settings: VerifySettings, clients: AwsClients | None) -> VerifyReport:
    from oidc_publisher.core.keys import parse_jwks
    from oidc_publisher.tls import fetch_chain

    report = VerifyReport(issuer=settings.issuer_url)
    try:
        issuer = parse_issuer(settings.issuer_url)
    except Error as exc:
        report.add("issuer URL", FAIL, exc.message, exc.hint or "")
        return report
    report.add("issuer URL", PASS, "https, no port, query or fragment")

    # 1. The issuer's host serves HTTPS with a chain that verifies.
    try:
        chain = fetch_chain(issuer.host, timeout=settings.timeout, connect_to=settings.connect_to)
        _note_chain(report, chain)
        report.add(
            "HTTPS",
            PASS,
            f"{issuer.host} presents a chain that verifies (thumbprint {chain.thumbprint}; "
            f"{describe_ca_case(report.ca_cases[issuer.host])})",
        )
    except Error as exc:
        report.add("HTTPS", FAIL, exc.message, exc.hint or "")
        return report

    # 2. The discovery document.
    published: list[SigningKey] = []
    try:
        response, discovery = _fetch_json(issuer.discovery_url, settings.timeout, settings.connect_to)
    except Error as exc:
        report.add("discovery document", FAIL, exc.message, exc.hint or "")
        return report
    jwks_uri = None
    if response.status != 200:
        report.add(
            "discovery document",
            FAIL,
            f"{issuer.discovery_url} answered HTTP {response.status}",
            "publish it (oidc-publisher publish); for S3-direct issuers check the bucket policy allows GetObject on it",
        )
    elif not isinstance(discovery, dict):
        report.add(
            "discovery document",
            FAIL,
            f"{issuer.discovery_url} is not a JSON object",
            "republish it with oidc-publisher publish",
        )
    elif discovery.get("issuer") != issuer.url:
        report.add(
            "discovery document",
            FAIL,
            f"its issuer {discovery.get('issuer')!r} is not {issuer.url!r} (STS compares byte for byte)",
            "republish for exactly the issuer in the tokens' iss (mind the trailing slash)",
        )
    elif not isinstance(discovery.get("jwks_uri"), str) or not discovery["jwks_uri"].startswith("https://"):
        report.add(
            "discovery document",
            FAIL,
            "its jwks_uri is missing or not https",
            "republish it with oidc-publisher publish",
        )
    else:
        jwks_uri = discovery["jwks_uri"]
        report.add("discovery document", PASS, f"at {issuer.discovery_url}, issuer matches, jwks_uri {jwks_uri}")
        _check_cache(report, "discovery document", response)

    # 3. The JWKS.
    if jwks_uri is None:
        report.add("JWKS", SKIP, "no usable discovery document")
    else:
        try:
            response, _ = _fetch_json(jwks_uri, settings.timeout, settings.connect_to)
            if response.status != 200:
                report.add(
                    "JWKS", FAIL, f"{jwks_uri} answered HTTP {response.status}", "publish it (oidc-publisher publish)"
                )
            else:
                published = parse_jwks(response.body, jwks_uri)
                report.published_kids = [k.kid for k in published]
                report.add(
                    "JWKS",
                    PASS,
                    f"{len(published)} key{'s' if len(published) != 1 else ''} ({', '.join(report.published_kids)}), algorithms STS accepts, no private members",
                )
                _check_cache(report, "JWKS", response)
        except Error as exc:
            report.add("JWKS", FAIL, exc.message, exc.hint or "")
        from urllib.parse import urlsplit

        jwks_host = urlsplit(jwks_uri).hostname or ""
        if jwks_host and jwks_host != issuer.host:
            try:
                _note_chain(report, fetch_chain(jwks_host, timeout=settings.timeout, connect_to=settings.connect_to))
            except Error as exc:
                report.add("JWKS host HTTPS", FAIL, exc.message, exc.hint or "")

    # 4. The source's keys are all published.
    source_kids: list[str] | None = None
    if settings.source is not None and settings.source.given:
        from oidc_publisher.sources import load_keys

        try:
            source = load_keys(settings.source, issuer)
            source_kids = source.kids
            missing = [kid for kid in source.kids if kid not in report.published_kids]
            if not published:
                report.add("cluster keys published", SKIP, "no published JWKS to compare with")
            elif missing:
                report.add(
                    "cluster keys published",
                    FAIL,
                    f'{", ".join(missing)} from {source.description} not in the published JWKS: tokens it signs get "Couldn\'t retrieve verification key"',
                    "oidc-publisher publish --from-cluster (or with the same key source)",
                )
            else:
                report.add("cluster keys published", PASS, f"every key of {source.description} is published")
        except Error as exc:
            report.add("cluster keys published", FAIL, exc.message, exc.hint or "")

    # 4b. The members of a shared issuer.
    if settings.members_bucket is not None and clients is not None:
        _check_members(report, settings, clients, source_kids)

    # 5. The IAM provider.
    client_ids: list[str] = []
    if settings.check_iam and clients is not None:
        client_ids = _check_provider(report, issuer, clients, settings.client_id)

    # 6. A token.
    token = settings.token
    if token is None and settings.mint_service_account and settings.source is not None and settings.source.from_cluster:
        from oidc_publisher.kube import request_token

        try:
            token = request_token(
                settings.source.kubeconfig,
                settings.source.context,
                namespace=settings.mint_namespace or "default",
                service_account=settings.mint_service_account,
                audience=settings.client_id,
                insecure_ok=settings.source.insecure_ok,
            )
        except Error as exc:
            report.add("token", FAIL, f"could not mint a token: {exc.message}", exc.hint or "")
    if token is not None:
        from oidc_publisher.core.tokens import check_token

        audiences = client_ids if client_ids else [settings.client_id]
        if not published:
            report.add("token", SKIP, "no published JWKS to verify it with")
        else:
            try:
                claims = check_token(token, issuer=issuer.url, keys=published, audiences=audiences)
                report.add(
                    "token", PASS, f"{claims.subject}: iss, kid {claims.kid}, signature and audience as STS checks them"
                )
            except Error as exc:
                report.add("token", FAIL, exc.message, exc.hint or "")
    return report


def _check_members(report: VerifyReport, settings: VerifySettings, clients: AwsClients, source_kids: list[str] | None) -> None:
    from oidc_publisher.commands.members import MembersSettings, member_checks

    assert settings.members_bucket is not None
    where = MembersSettings(bucket=settings.members_bucket, issuer_url=settings.issuer_url,
                            prefix=settings.members_prefix, region=settings.members_region)
    checks, report.members = member_checks(where, clients, member=settings.member, source_kids=source_kids,
                                           published=report.published_kids)
    for check in checks:
        report.add(check.name, check.status, check.detail, check.fix)


def _check_cache(report: VerifyReport, document: str, response: Any) -> None:
    """A warning when whatever serves the document (a front the user manages, a CDN) lets caches keep it longer
    than the retention allows (front.cache_warning); nothing when it does not."""
    from oidc_publisher.core.front import cache_warning

    headers = {name: response.headers.get(name) for name in ("Cache-Control", "Age") if response.headers.get(name)}
    warning = cache_warning(document, headers)
    if warning:
        report.add(
            f"{document} cache",
            WARN,
            warning,
            "set the front's TTL for the two documents to minutes (oidc-publisher writes Cache-Control: public, max-age=300)",
        )


def _note_chain(report: VerifyReport, chain: PresentedChain) -> None:
    """The host's thumbprint and IAM's case for it (does its chain verify against the public CAs alone?)."""
    from oidc_publisher.tls import public_ca_bundle, verifies_with_public_roots

    report.thumbprints[chain.host] = chain.thumbprint
    report.ca_cases[chain.host] = ca_case(verifies_with_public_roots(chain, public_ca_bundle()))


def _check_provider(report: VerifyReport, issuer: Issuer, clients: AwsClients, client_id: str) -> list[str]:
    from oidc_publisher.aws.iam import find_provider

    try:
        provider = find_provider(clients, issuer)
    except Error as exc:
        report.add("IAM provider", FAIL, exc.message, exc.hint or "")
        return []
    if provider is None:
        report.add(
            "IAM provider",
            FAIL,
            f"No OpenIDConnect provider found in your account for {issuer.provider_path}",
            f"oidc-publisher register --issuer-url {issuer.url}",
        )
        return []
    report.add("IAM provider", PASS, provider.arn)
    if client_id in provider.client_ids:
        report.add("IAM client ID", PASS, f"{client_id} is a client ID of the provider")
    else:
        report.add(
            "IAM client ID",
            FAIL,
            f"Incorrect token audience: {client_id} is not a client ID of the provider ({', '.join(provider.client_ids) or 'none'})",
            f"oidc-publisher register --issuer-url {issuer.url} --client-id {client_id}",
        )
    presented = set(report.thumbprints.values())
    registered = set(provider.thumbprints)
    live = {host: (thumb, report.ca_cases.get(host, CA_PRIVATE)) for host, thumb in report.thumbprints.items()}
    refused = unregistered_pinned(live, registered)
    fix = f"oidc-publisher register --issuer-url {issuer.url} (recomputes the thumbprints)"
    if refused:
        report.add(
            "IAM thumbprint",
            FAIL,
            f"the host now presents {', '.join(sorted(set(refused.values())))}, the provider has "
            f"{', '.join(sorted(registered)) or 'none'}, and IAM does not trust the CA of {', '.join(refused)}",
            fix,
        )
    elif not registered:
        report.add("IAM thumbprint", PASS, "none registered: IAM relies on its own trust store for the host's CA")
    elif presented <= registered:
        report.add("IAM thumbprint", PASS, f"{', '.join(sorted(presented))} is registered")
    else:
        report.add(
            "IAM thumbprint",
            PASS,
            f"the host now presents {', '.join(sorted(presented - registered))}, the provider has "
            f"{', '.join(sorted(registered))}: unused, IAM trusts the host's CA itself ({fix} refreshes them)",
        )
    return list(provider.client_ids)
