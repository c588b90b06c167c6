"""``bootstrap``: bucket, (distribution,) documents and IAM provider in one idempotent step.

The same pieces the single commands use, in the order that keeps every moment consistent: the bucket
and its read policy, then the documents (JWKS first), then the IAM provider, which is what makes AWS
trust the issuer. With ``dry_run`` every piece reads current state and reports what it would change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher import __version__
from oidc_publisher.commands.publish import (
    PublishReport,
    PublishSettings,
    plan_bucket,
    publish_documents,
    set_up_bucket,
)
from oidc_publisher.concurrency import together
from oidc_publisher.core.documents import check_publishable
from oidc_publisher.core.errors import ConflictError, InputError
from oidc_publisher.core.issuer import ObjectKeys, normalise_prefix, object_keys_for, parse_issuer
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan
from oidc_publisher.core.rotation import DEFAULT_RETAIN
from oidc_publisher.core.target import Target, resolve_target
from oidc_publisher.core.waiting import Polled, Waiter, duration
from oidc_publisher.sources import KeySource, check_cluster_issuer, load_keys

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.core.front import Front

MANAGED_TAGS = dict([MANAGED_BY])


@dataclass(frozen=True)
class BootstrapSettings:
    bucket: str
    source: KeySource
    issuer_url: str | None = None
    prefix: str | None = None
    region: str | None = None
    jwks_uri: str | None = None
    cloudfront: bool = False
    front: Front | None = None  # --front: a front the user manages serves the bucket
    acm_certificate_arn: str | None = None
    client_ids: tuple[str, ...] = ()
    thumbprints: tuple[str, ...] = ()
    no_thumbprint: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    retain: dt.timedelta = DEFAULT_RETAIN
    adopt_bucket: bool = False
    dry_run: bool = False
    member: str | None = None  # --member: joins (or starts) an issuer shared by several clusters


@dataclass
class BootstrapReport:
    issuer: str | None
    bucket: str
    plan: Plan
    dry_run: bool
    publish: PublishReport | None = None
    provider_arn: str | None = None
    distribution_id: str | None = None
    region: str | None = None
    notes: list[str] = field(default_factory=list)
    waited: str | None = None  # with --wait: how long, for what (or what is left when it gave up)
    gave_up: bool = False  # --wait timed out before the distribution deployed
    front_notes: list[str] = field(default_factory=list)  # --front: what the tool does not manage
    member: str | None = None

    @property
    def exit_code(self) -> int:
        if self.gave_up:
            return 1
        return EXIT_CHANGES_PENDING if self.dry_run and self.plan.has_changes else 0

    def rotation_job_command(self) -> list[str]:
        """The 'templates render' command line for this issuer's rotation job, complete (two lines)."""
        issuer = self.issuer or "<ISSUER_URL>"
        # The provider's ARN names the partition and account the job's role will live in.
        partition, account = "aws", "ACCOUNT"
        if self.provider_arn and self.provider_arn.count(":") >= 5:
            partition, account = self.provider_arn.split(":")[1], self.provider_arn.split(":")[4]
        options = f" --region {self.region}" if self.region else ""
        if self.member:
            options += f" --member {self.member}"
        if self.distribution_id:
            options += f" --distribution-id {self.distribution_id}"
        return [
            f"oidc-publisher templates render --distribution rotation-job --issuer-url {issuer} --bucket {self.bucket}{options} \\",
            f"  --role-arn arn:{partition}:iam::{account}:role/oidc-publisher --image REGISTRY/oidc-publisher:{__version__} --out ./rotation-job",
        ]

    def next_steps(self) -> list[str]:
        issuer = self.issuer or "<ISSUER_URL>"
        return [
            "Next:",
            "  1. Point kube-apiserver at the issuer (the new issuer first; keep an old one as a second",
            "     --service-account-issuer while pods still hold its tokens):",
            f"       --service-account-issuer={issuer}",
            f"       --service-account-jwks-uri={issuer.rstrip('/')}/openid/v1/jwks",
            f"     per distribution: oidc-publisher templates render --distribution kubeadm --issuer-url {issuer}",
            "  2. Install the pod identity webhook (it injects AWS_ROLE_ARN and the projected token):",
            f"       oidc-publisher templates render --distribution pod-identity-webhook --issuer-url {issuer} | kubectl apply -f -",
            "  3. Create a role for a service account:",
            f"       oidc-publisher role create --issuer-url {issuer} --namespace default --service-account my-app \\",
            "         --policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess",
            "  4. Check the whole chain the way STS will:",
            f"       oidc-publisher verify --issuer-url {issuer} --from-cluster",
            "  5. Keep the keys in step: run 'oidc-publisher publish --from-cluster' every few minutes, as this",
            "     CronJob does (then create its role with the iam-policy.json it writes; see docs/templates.md):",
            *(f"       {line}" for line in self.rotation_job_command()),
        ]

    def to_text(self) -> str:
        lines = [self.plan.to_text(dry_run=self.dry_run)]
        lines += self.notes
        lines += self.front_notes
        if self.issuer:
            lines.append(f"Issuer: {self.issuer}")
        if self.provider_arn:
            lines.append(f"IAM OIDC provider: {self.provider_arn}")
        if self.publish:
            lines.append(self.publish.summary())
        if self.waited:
            lines.append(self.waited)
        if not self.dry_run:
            lines += ["", *self.next_steps()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "bucket": self.bucket,
            "dry_run": self.dry_run,
            "changed": self.plan.has_changes,
            "changes": self.plan.to_json(),
            "provider_arn": self.provider_arn,
            "distribution_id": self.distribution_id,
            "keys": self.publish.kids if self.publish else [],
            "notes": [*self.notes, *self.front_notes],
            "waited": self.waited,
        }


def bootstrap(settings: BootstrapSettings, clients: AwsClients, waiter: Waiter | None = None) -> BootstrapReport:
    """Converge everything; with ``waiter`` (``--wait --cloudfront``, not in a dry run), then wait until the
    distribution has deployed: it serves the issuer only from then on."""
    from oidc_publisher.commands.register import RegisterSettings, apply_registration, prepare_registration
    from oidc_publisher.core.thumbprint import merge_thumbprints
    from oidc_publisher.core.validation import check_user_tags, validate_client_ids, validate_tags

    plan = Plan()
    tags = {**dict(settings.tags), **MANAGED_TAGS}
    # Everything the user gave is checked, and the keys are loaded, before the first call that writes.
    check_user_tags(settings.tags)
    validate_tags(tuple(tags.items()))
    validate_client_ids(settings.client_ids)
    if settings.thumbprints:
        if settings.no_thumbprint:
            raise InputError("--thumbprint and --no-thumbprint were both given", "give one of them")
        merge_thumbprints(settings.thumbprints)
    source = load_keys(settings.source, None)
    if settings.issuer_url and source.cluster_issuer is not None:
        check_cluster_issuer(source.cluster_issuer, parse_issuer(settings.issuer_url))
    check_publishable(source.keys, settings.jwks_uri)
    if settings.prefix is not None:
        normalise_prefix(settings.prefix)
    if settings.front is not None and settings.cloudfront:
        raise InputError(
            "--front and --cloudfront were both given",
            "--cloudfront makes a distribution; --front says a front made elsewhere serves the bucket: give one",
        )
    if settings.cloudfront:
        target, distribution = _cloudfront_target(settings, clients, plan, tags)
    else:
        if settings.acm_certificate_arn:
            raise InputError("--acm-certificate-arn only applies with --cloudfront", "add --cloudfront or drop it")
        target = resolve_target(
            bucket=settings.bucket,
            issuer_url=settings.issuer_url,
            prefix=settings.prefix,
            region=settings.region,
            default_region=clients.region_or_none(),
        )
        if settings.front is not None:
            if target.issuer.s3_origin() is not None:
                raise InputError(
                    f"--front with the bucket's own S3 URL ({target.issuer.url})",
                    "give the custom domain the front serves as --issuer-url, or drop --front",
                )
        elif target.issuer.s3_origin() is None:
            raise InputError(
                f"issuer {target.issuer.url} is not the bucket's S3 URL, and neither --cloudfront nor --front was given",
                "serve a custom domain through CloudFront (--cloudfront --acm-certificate-arn ARN), through a front "
                "you manage (--front external, or --front cloudfront-arn:ARN), or drop --issuer-url",
            )
        distribution = None

    report = BootstrapReport(issuer=None, bucket=settings.bucket, plan=plan, dry_run=settings.dry_run,
                             member=settings.member)
    report.distribution_id = distribution.id if distribution else None
    if target is None:
        # Dry run of a CloudFront issuer whose distribution does not exist yet: its URL is not known.
        # Not steps: their calls (the bucket policy names the distribution, the provider its URL) are not known.
        report.notes.append(
            f"once the distribution exists, the run also sets up s3://{settings.bucket} and its documents and "
            "creates the IAM OIDC provider for https://<new distribution>.cloudfront.net (not planned here: "
            "their calls name the distribution)"
        )
        return report
    report.issuer = target.issuer.url
    report.region = target.region
    if source.cluster_issuer is not None:
        check_cluster_issuer(source.cluster_issuer, target.issuer)

    distribution_arn = None
    if distribution is not None:
        from oidc_publisher.core.distribution_plan import distribution_arn as make_arn

        distribution_arn = make_arn(clients.partition, clients.account_id, distribution.id)
    elif settings.front is not None:
        from oidc_publisher.core.front import unmanaged_notes

        distribution_arn = settings.front.distribution_arn
        report.front_notes = unmanaged_notes(
            settings.front, host=target.issuer.host, bucket=target.bucket, region=target.region
        )
    register_settings = RegisterSettings(
        issuer_url=target.issuer.url,
        client_ids=settings.client_ids,
        thumbprints=settings.thumbprints,
        no_thumbprint=settings.no_thumbprint,
        tags=settings.tags,  # the user's: registration adds the ownership mark only when it creates the provider
        # The documents about to be published name it: no need to fetch them to find its host.
        jwks_uri=settings.jwks_uri or target.issuer.default_jwks_uri,
        dry_run=settings.dry_run,
    )

    publish_settings = PublishSettings(
        bucket=target.bucket,
        source=settings.source,
        issuer_url=target.issuer.url,
        prefix=target.keys.prefix,
        region=target.region,
        jwks_uri=settings.jwks_uri,
        retain=settings.retain,
        distribution_id=distribution.id if distribution else None,
        dry_run=settings.dry_run,
        member=settings.member,
    )

    def documents(missing: bool) -> None:
        # A bucket still to be made (a dry run) is read as empty: the plan shows the writes a real run makes.
        report.publish = publish_documents(target, source, publish_settings, clients, new_bucket=missing)

    def publish_side() -> None:
        bucket_plan = plan_bucket(
            target, clients, distribution_arn=distribution_arn, adopt=settings.adopt_bucket, front=settings.front
        )
        bucket_missing = bucket_plan.creates_bucket
        if settings.dry_run:
            documents(bucket_missing)
        else:
            set_up_bucket(bucket_plan, clients, documents=lambda: documents(bucket_missing))
        plan.extend(bucket_plan.changes)
        report.notes.extend(bucket_plan.notes)
        if report.publish is not None:
            plan.extend(report.publish.plan.changes)

    # The provider's reads (the host's certificate chain, the provider in IAM) go on while the bucket is
    # set up and the documents written; the provider itself is written only after the documents are.
    # The S3 client and the partition are made before the threads start. The IAM client is made on the
    # registration side, after its TLS handshake, while S3's first calls wait on the network: AwsClients
    # makes clients one at a time under its lock, and a client in use is safe to share.
    clients.s3(target.region), clients.partition
    _, prepared = together([publish_side, lambda: prepare_registration(register_settings, clients)])
    registration = apply_registration(prepared, clients)
    plan.extend(list(registration.plan.changes))
    report.provider_arn = registration.provider_arn
    if waiter is not None and distribution is not None and not settings.dry_run:
        _wait_until_deployed(clients, report, distribution.id, waiter)
    return report


def _wait_until_deployed(clients: AwsClients, report: BootstrapReport, distribution_id: str, waiter: Waiter) -> None:
    from oidc_publisher.aws.cloudfront import distribution_status

    def poll() -> Polled:
        found = distribution_status(clients, distribution_id)
        if found is None:
            raise ConflictError(
                f"distribution {distribution_id} was deleted while bootstrap waited for it to deploy",
                "re-run bootstrap to create it again",
            )
        return Polled(found[0], found[0] == "Deployed")

    waited = waiter.wait(f"distribution {distribution_id}", poll)
    if waited.done:
        report.waited = waited.summary()
    else:
        report.gave_up = True
        report.waited = (
            f"gave up waiting after {duration(waited.elapsed)}: distribution {distribution_id} is still {waited.last}, "
            "and serves the issuer only once Deployed; everything else is in place: re-run bootstrap with --wait to wait again"
        )


def _cloudfront_target(
    settings: BootstrapSettings, clients: AwsClients, plan: Plan, tags: dict[str, str]
) -> tuple[Target | None, Any]:
    import time

    from oidc_publisher.aws.cloudfront import execute_distribution_plan, read_distribution
    from oidc_publisher.core.distribution_plan import DistributionSettings, caller_reference, plan_distribution
    from oidc_publisher.core.issuer import validate_bucket_name

    validate_bucket_name(settings.bucket, s3_direct=False)
    region = settings.region or clients.region_or_none()
    if not region:
        raise InputError("no region for the bucket", "give --region, or set AWS_REGION")
    aliases: tuple[str, ...] = ()
    issuer = None
    if settings.issuer_url is not None:
        issuer = parse_issuer(settings.issuer_url)
        if issuer.s3_origin() is not None:
            raise InputError(
                "--cloudfront with an S3 issuer URL", "give the custom domain as --issuer-url, or drop --issuer-url"
            )
        aliases = (issuer.host,)
    # Before the distribution is made for it: can this bucket serve one more issuer privately?
    from oidc_publisher.aws.s3 import check_bucket_can_serve

    # Without --issuer-url the issuer is https://DISTRIBUTION.cloudfront.net: no path, so --prefix or the root.
    keys = (
        object_keys_for(issuer, settings.bucket, settings.prefix)
        if issuer
        else ObjectKeys(normalise_prefix(settings.prefix or ""))
    )
    check_bucket_can_serve(
        clients.s3(region), settings.bucket, partition=clients.partition, keys=keys.published, private=True
    )
    wanted = DistributionSettings(  # refuses a certificate that cannot serve the aliases, before any CloudFront call
        bucket=settings.bucket,
        region=region,
        caller_reference=caller_reference(settings.bucket, time.time_ns()),
        aliases=aliases,
        acm_certificate_arn=settings.acm_certificate_arn,
        tags=tags,
    )
    planned = plan_distribution(read_distribution(clients, bucket=settings.bucket, region=region), wanted)
    plan.extend(planned.changes)
    distribution = planned.existing if settings.dry_run else execute_distribution_plan(planned, clients)
    if distribution is None:
        return None, None
    if issuer is None:
        issuer = parse_issuer(f"https://{distribution.domain_name}")
    keys = object_keys_for(issuer, settings.bucket, settings.prefix)
    return Target(issuer, settings.bucket, region, keys), distribution
