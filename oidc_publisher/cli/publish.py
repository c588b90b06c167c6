"""``oidc-publisher publish``: the rotation job's command."""

from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    BUCKET_ENV,
    REGION_ENV,
    ContextOpt,
    DryRunOpt,
    FromClusterOpt,
    InsecureSkipTlsVerifyOpt,
    JwksFileOpt,
    JwksUriOpt,
    KubeconfigOpt,
    MemberOpt,
    OptionalIssuerUrlOpt,
    OutputFormat,
    OutputOpt,
    PublicKeyOpt,
    guard,
    run,
    source_options,
)
from oidc_publisher.core.errors import UsageError

BucketOpt = Annotated[
    str,
    typer.Option(
        "--bucket", envvar=BUCKET_ENV, show_envvar=True, help="The S3 bucket that holds the issuer's documents."
    ),
]
# publish takes --bucket, or --fleet FILE instead.
FleetBucketOpt = Annotated[
    str | None,
    typer.Option(
        "--bucket",
        envvar=BUCKET_ENV,
        show_envvar=True,
        help="The S3 bucket that holds the issuer's documents (required without --fleet).",
    ),
]
PrefixOpt = Annotated[
    str | None,
    typer.Option("--prefix", help="Key prefix in the bucket (default: the issuer URL's path)."),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        envvar=REGION_ENV,
        show_envvar=True,
        help="The bucket's region (default: the issuer URL's, AWS_REGION, or the bucket's own, asked of S3).",
    ),
]
RETAIN_HELP = (
    "Keep publishing a key this long after it left the source, so tokens it signed keep working "
    "(24 h IRSA token life + caches, doubled; see docs/rotation.md)."
)
RetainOpt = Annotated[str, typer.Option("--retain-removed-keys", help=RETAIN_HELP)]
# Unset (rather than 48h) in publish, so that --fleet can tell it was not given.
OptionalRetainOpt = Annotated[
    str | None, typer.Option("--retain-removed-keys", help=RETAIN_HELP.replace("(24 h", "(default 48h: 24 h"))
]
RevokeOpt = Annotated[
    list[str] | None,
    typer.Option("--revoke", help="Drop this kid at once (a compromised key); tokens it signed stop working now."),
]
DistributionOpt = Annotated[
    str | None,
    typer.Option(
        "--distribution-id", help="CloudFront distribution to invalidate on change (remembered in the state object)."
    ),
]

FrontOpt = Annotated[
    str | None,
    typer.Option(
        "--front",
        metavar="FRONT",
        help="A front you manage serves the custom --issuer-url from the bucket: 'external' (it reads S3 anonymously: "
        "public read on the two documents only) or 'cloudfront-arn:ARN' (that distribution, through its OAC: the "
        "bucket stays private). DNS, the front's certificate and its cache TTL stay yours.",
    ),
]
AdoptBucketOpt = Annotated[
    bool,
    typer.Option(
        "--adopt-bucket",
        help="Let the tool change versioning, object ownership and Block Public Access on an existing bucket "
        "it did not create (shown in the plan). Without it, those settings of such a bucket are left as they are.",
    ),
]

FleetOpt = Annotated[
    Path | None,
    typer.Option(
        "--fleet",
        help="Publish every cluster listed in this JSON file, concurrently (see docs/fleet.md). "
        "Exclusive with the single-cluster options.",
        rich_help_panel="Fleet",
    ),
]
MaxKeysOpt = Annotated[
    int,
    typer.Option(
        "--max-keys",
        min=1,
        help="Refuse to publish a JWKS of more keys than this (STS is reported to fail beyond about 100); warns from 80 %.",
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        min=1,
        max=32,
        help="With --fleet: how many clusters are read and published at once (default 8).",
        rich_help_panel="Fleet",
    ),
]


def publish(
    ctx: typer.Context,
    bucket: FleetBucketOpt = None,
    issuer_url: OptionalIssuerUrlOpt = None,
    prefix: PrefixOpt = None,
    region: RegionOpt = None,
    from_cluster: FromClusterOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    insecure_skip_tls_verify: InsecureSkipTlsVerifyOpt = False,
    jwks: JwksFileOpt = None,
    public_key: PublicKeyOpt = None,
    jwks_uri: JwksUriOpt = None,
    retain_removed_keys: OptionalRetainOpt = None,
    revoke: RevokeOpt = None,
    distribution_id: DistributionOpt = None,
    create_bucket: Annotated[
        bool,
        typer.Option(
            "--create-bucket",
            help="Create or harden the bucket first (S3-direct: public read on the two documents only).",
        ),
    ] = False,
    front: FrontOpt = None,
    adopt_bucket: AdoptBucketOpt = False,
    member: MemberOpt = None,
    max_keys: MaxKeysOpt = 100,
    fleet: FleetOpt = None,
    concurrency: ConcurrencyOpt = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Converge the JWKS and discovery document in S3; writes nothing when nothing changed."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.cli.common import warn, warn_short_retention
    from oidc_publisher.commands.publish import PublishReport, PublishSettings
    from oidc_publisher.commands.publish import publish as do_publish
    from oidc_publisher.core.front import parse_front
    from oidc_publisher.core.rotation import parse_duration

    single = {
        "--bucket": bucket is not None,
        "--issuer-url": issuer_url is not None,
        "--prefix": prefix is not None,
        "--region": region is not None,
        "--from-cluster": from_cluster,
        "--kubeconfig": kubeconfig is not None,
        "--context": context is not None,
        "--insecure-skip-tls-verify": insecure_skip_tls_verify,
        "--jwks": jwks is not None,
        "--public-key": bool(public_key),
        "--jwks-uri": jwks_uri is not None,
        "--retain-removed-keys": retain_removed_keys is not None,
        "--revoke": bool(revoke),
        "--distribution-id": distribution_id is not None,
        "--create-bucket": create_bucket,
        "--front": front is not None,
        "--adopt-bucket": adopt_bucket,
        "--member": member is not None,
        "--max-keys": max_keys != 100,
    }
    if fleet is not None:
        # A shell's OIDC_PUBLISHER_* variables name one issuer; the fleet file names its own: not a conflict.
        from_env = {f"--{p.replace('_', '-')}" for p in ("bucket", "issuer_url", "region")
                    if getattr(ctx.get_parameter_source(p), "name", None) == "ENVIRONMENT"}
        guard(lambda: fleet_only([name for name, given in single.items() if given and name not in from_env]), output)
        from oidc_publisher.commands.fleet import DEFAULT_CONCURRENCY, FleetSettings, publish_fleet

        workers = concurrency or DEFAULT_CONCURRENCY
        fleet_settings = FleetSettings(path=fleet, concurrency=workers, dry_run=dry_run)
        run(lambda: publish_fleet(fleet_settings, AwsClients(max_pool_connections=workers), warn=warn), output)
    if concurrency is not None:
        guard(lambda: _usage("--concurrency only applies with --fleet", "add --fleet FILE or drop --concurrency"), output)
    if bucket is None:
        guard(lambda: _usage("--bucket is required", "give --bucket BUCKET, or --fleet FILE for many clusters"), output)
        return
    if adopt_bucket and not create_bucket:
        guard(lambda: _usage("--adopt-bucket only applies with --create-bucket", "add --create-bucket or drop it"), output)
    if front is not None and not create_bucket:
        guard(lambda: _usage("--front only applies with --create-bucket", "add --create-bucket or drop --front"), output)
    chosen_front = guard(lambda: parse_front(front), output) if front is not None else None
    if member is not None:
        from oidc_publisher.core.members import check_member_name

        guard(lambda: check_member_name(member), output)
    source = guard(lambda: source_options(from_cluster, kubeconfig, context, jwks, public_key, insecure_skip_tls_verify=insecure_skip_tls_verify), output)
    retain = guard(lambda: parse_duration(retain_removed_keys or "48h"), output)
    settings = PublishSettings(
        bucket=bucket,
        source=source,
        issuer_url=issuer_url,
        prefix=prefix,
        region=region,
        jwks_uri=jwks_uri,
        retain=retain,
        revoke=tuple(revoke or ()),
        distribution_id=distribution_id,
        create_bucket=create_bucket,
        front=chosen_front,
        adopt_bucket=adopt_bucket,
        dry_run=dry_run,
        member=member,
        max_keys=max_keys,
    )

    def work() -> PublishReport:
        report = do_publish(settings, AwsClients(region=region))
        # Only once it is done (or planned): a refused or mistyped --revoke gets its one error line alone.
        for kid in report.revoked:
            what = "would revoke" if report.dry_run else "revoked"
            warn(f"{what} {kid}: every token signed by it stops working as soon as caches expire (minutes)")
        for note in report.notes:
            warn(note)
        warn_short_retention(retain)
        return report

    run(work, output)


def _usage(message: str, hint: str) -> None:
    raise UsageError(message, hint)


def fleet_only(given: list[str]) -> None:
    """--fleet takes everything per cluster from the file: a single-cluster option beside it is a mistake."""
    if given:
        raise UsageError(
            f"--fleet and {', '.join(given)} were both given",
            "the fleet file gives each cluster's bucket, issuer and keys: put them there (defaults for shared ones)",
        )
