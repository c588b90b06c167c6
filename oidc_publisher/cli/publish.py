"""``oidc-publisher publish``: the rotation job's command."""

from __future__ import annotations

from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    ContextOpt,
    DryRunOpt,
    FromClusterOpt,
    JwksFileOpt,
    JwksUriOpt,
    KubeconfigOpt,
    OptionalIssuerUrlOpt,
    OutputFormat,
    OutputOpt,
    PublicKeyOpt,
    guard,
    run,
    source_options,
)

BucketOpt = Annotated[str, typer.Option("--bucket", help="The S3 bucket that holds the issuer's documents.")]
PrefixOpt = Annotated[
    str | None,
    typer.Option("--prefix", help="Key prefix in the bucket (default: the issuer URL's path)."),
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="The bucket's region (default: the issuer URL's, or AWS_REGION).")
]
RetainOpt = Annotated[
    str,
    typer.Option(
        "--retain-removed-keys",
        help="Keep publishing a key this long after it left the source, so tokens it signed keep working "
        "(24 h IRSA token life + caches, doubled; see docs/rotation.md).",
    ),
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


def publish(
    bucket: BucketOpt,
    issuer_url: OptionalIssuerUrlOpt = None,
    prefix: PrefixOpt = None,
    region: RegionOpt = None,
    from_cluster: FromClusterOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    jwks: JwksFileOpt = None,
    public_key: PublicKeyOpt = None,
    jwks_uri: JwksUriOpt = None,
    retain_removed_keys: RetainOpt = "48h",
    revoke: RevokeOpt = None,
    distribution_id: DistributionOpt = None,
    create_bucket: Annotated[
        bool,
        typer.Option(
            "--create-bucket",
            help="Create or harden the bucket first (S3-direct: public read on the two documents only).",
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Converge the JWKS and discovery document in S3; writes nothing when nothing changed."""
    from oidc_publisher.aws import AwsClients
    from oidc_publisher.cli.common import warn
    from oidc_publisher.publishing import PublishSettings
    from oidc_publisher.publishing import publish as do_publish
    from oidc_publisher.rotation import parse_duration

    source = guard(lambda: source_options(from_cluster, kubeconfig, context, jwks, public_key), output)
    retain = guard(lambda: parse_duration(retain_removed_keys), output)
    for kid in revoke or ():
        warn(f"revoking {kid}: every token signed by it stops working as soon as caches expire (minutes)")
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
        dry_run=dry_run,
    )
    run(lambda: do_publish(settings, AwsClients(region=region)), output)
