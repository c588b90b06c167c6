"""``register``: converge the IAM OIDC provider for an issuer: read it, plan (``core/provider_plan``, a pure
function of what exists and what is wanted), then print the plan (``--dry-run``) or run it (the executor).

Ownership: the ``managed-by=oidc-publisher`` mark is sent only with CreateOpenIDConnectProvider (the
planner's rule). ``--tag`` adds the user's own tags to any provider; the mark's key is reserved and
refused as a ``--tag``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.core.errors import ConflictError, InputError
from oidc_publisher.core.issuer import Issuer, parse_issuer
from oidc_publisher.core.limits import load_json
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan
from oidc_publisher.core.provider_plan import Desired, Provider, check_client_id_room, plan_provider
from oidc_publisher.core.validation import check_user_tags, validate_client_ids

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients


@dataclass(frozen=True)
class RegisterSettings:
    issuer_url: str
    client_ids: tuple[str, ...] = ()
    thumbprints: tuple[str, ...] = ()
    no_thumbprint: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    jwks_uri: str | None = None
    connect_to: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass
class RegistrationReport:
    issuer: str
    provider_arn: str | None
    plan: Plan
    dry_run: bool
    client_ids: list[str] = field(default_factory=list)
    thumbprints: list[str] = field(default_factory=list)
    # host -> "public" | "private" (thumbprint.ca_case), for the hosts whose chain was read
    ca_cases: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CHANGES_PENDING if self.dry_run and self.plan.has_changes else 0

    def to_text(self) -> str:
        lines = [self.plan.to_text(dry_run=self.dry_run)]
        if self.provider_arn:
            lines.append(f"IAM OIDC provider: {self.provider_arn}")
        lines.append(f"  client IDs: {', '.join(self.client_ids) or '-'}")
        lines.append(f"  thumbprints: {', '.join(self.thumbprints) or '- (IAM trusts the host CA itself)'}")
        from oidc_publisher.core.thumbprint import describe_ca_case

        lines.extend(f"  {host}: {describe_ca_case(case)}" for host, case in self.ca_cases.items())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "provider_arn": self.provider_arn,
            "dry_run": self.dry_run,
            "changed": self.plan.has_changes,
            "changes": self.plan.to_json(),
            "client_ids": self.client_ids,
            "thumbprints": self.thumbprints,
            "ca": self.ca_cases,
        }


def live_thumbprints(settings: RegisterSettings, issuer: Issuer) -> tuple[tuple[str, ...], dict[str, str]]:
    """Given thumbprints, or computed for the issuer's host and, when jwks_uri is elsewhere, that host too; and
    IAM's case (``thumbprint.ca_case``) for each host whose chain was read (none when given or not wanted)."""
    from urllib.parse import urlsplit

    from oidc_publisher.core.thumbprint import merge_thumbprints

    if settings.no_thumbprint:
        if settings.thumbprints:
            raise InputError("--thumbprint and --no-thumbprint were both given", "give one of them")
        return (), {}
    if settings.thumbprints:
        return tuple(merge_thumbprints(settings.thumbprints)), {}
    from oidc_publisher.core.errors import Error
    from oidc_publisher.core.thumbprint import ca_case
    from oidc_publisher.tls import fetch_chain, https_get, public_ca_bundle, verifies_with_public_roots

    hosts = [issuer.host]
    jwks_uri = settings.jwks_uri
    if jwks_uri is None:
        try:

            response = https_get(issuer.discovery_url, connect_to=settings.connect_to)
            if response.status == 200:
                jwks_uri = load_json(response.body).get("jwks_uri")
        except (Error, ValueError):
            jwks_uri = None  # not published yet: the issuer's own host is what there is to pin
    jwks_host = urlsplit(jwks_uri).hostname if isinstance(jwks_uri, str) else None
    if jwks_host and jwks_host not in hosts:
        hosts.append(jwks_host)
    chains = [fetch_chain(host, connect_to=settings.connect_to) for host in hosts]
    bundle = public_ca_bundle()
    cases = {chain.host: ca_case(verifies_with_public_roots(chain, bundle)) for chain in chains}
    return tuple(merge_thumbprints([chain.thumbprint for chain in chains])), cases


@dataclass
class PreparedRegistration:
    """What :func:`prepare_registration` read: the provider as it is, and as it should be."""

    issuer: Issuer
    desired: Desired
    current: Provider | None
    report: RegistrationReport


def check_registration(settings: RegisterSettings) -> tuple[Issuer, tuple[str, ...], dict[str, str]]:
    """Every input refusal of a registration, before any connection or AWS call: (issuer, client IDs, tags)."""
    issuer = parse_issuer(settings.issuer_url)
    if settings.jwks_uri is not None:
        from oidc_publisher.core.documents import validate_jwks_uri

        validate_jwks_uri(settings.jwks_uri)
    return issuer, validate_client_ids(settings.client_ids), check_user_tags(settings.tags)


def prepare_registration(
    settings: RegisterSettings, clients: AwsClients, *, live: tuple[tuple[str, ...], dict[str, str]] | None = None
) -> PreparedRegistration:
    """The reads of a registration (thumbprints over TLS, the provider in IAM) and its plan; writes nothing.

    Kept apart from :func:`apply_registration` so that ``bootstrap`` can do these reads while the bucket
    is being set up, and still make the provider only after the documents are published. ``live``: the
    thumbprints and CA cases :func:`live_thumbprints` already read (one read for many accounts).
    """
    from oidc_publisher.aws import iam

    issuer, client_ids, tags = check_registration(settings)
    thumbprints, cases = live if live is not None else live_thumbprints(settings, issuer)
    desired = Desired(client_ids=client_ids, thumbprints=thumbprints, tags=tags)
    current = iam.find_provider(clients, issuer, for_create=True)
    if current is not None:
        check_client_id_room(issuer, current, desired)
    plan = Plan(plan_provider(issuer, current, desired))
    report = RegistrationReport(
        issuer=issuer.url,
        provider_arn=current.arn if current else None,
        plan=plan,
        dry_run=settings.dry_run,
        client_ids=list(dict.fromkeys([*(current.client_ids if current else ()), *desired.client_ids])),
        thumbprints=list(desired.thumbprints or (current.thumbprints if current else ())),
        ca_cases=cases,
    )
    return PreparedRegistration(issuer, desired, current, report)


def register_provider(settings: RegisterSettings, clients: AwsClients) -> RegistrationReport:
    return apply_registration(prepare_registration(settings, clients), clients)


def apply_registration(prepared: PreparedRegistration, clients: AwsClients) -> RegistrationReport:
    """Run a prepared registration's plan (nothing on a dry run or when nothing differs)."""
    from oidc_publisher.aws import iam

    issuer, desired, report = prepared.issuer, prepared.desired, prepared.report
    plan = report.plan
    if report.dry_run or not plan.has_changes:
        return report
    try:
        created = iam.execute_provider_plan(plan.changes, clients, issuer)
    except iam.ProviderExists:
        # Created between our read and our create: by a concurrent run, or by this very call when IAM
        # did it but the answer was lost and botocore retried. Converge the one that exists.
        current = iam.find_provider(clients, issuer)
        if current is None:
            raise ConflictError(
                f"IAM says the OIDC provider for {issuer.url} exists, but it is not listed", "re-run in a minute"
            ) from None
        check_client_id_room(issuer, current, desired)
        report.provider_arn = current.arn
        report.client_ids = list(dict.fromkeys([*current.client_ids, *desired.client_ids]))
        report.thumbprints = list(desired.thumbprints or current.thumbprints)
        steps = plan_provider(issuer, current, desired)
        plan.extend(steps)
        iam.execute_provider_plan(steps, clients, issuer)
        return report
    if created is not None:
        report.provider_arn = created
    return report
