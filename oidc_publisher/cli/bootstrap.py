"""``oidc-publisher bootstrap``: bucket + publish + register in one step."""

from typing import TYPE_CHECKING, Annotated

import typer

from oidc_publisher.cli.common import (
    ClientIdOpt,
    ContextOpt,
    DryRunOpt,
    FromClusterOpt,
    InsecureSkipTlsVerifyOpt,
    JwksFileOpt,
    JwksUriOpt,
    KubeconfigOpt,
    MemberOpt,
    NoThumbprintOpt,
    OptionalIssuerUrlOpt,
    OutputFormat,
    OutputOpt,
    PublicKeyOpt,
    TagOpt,
    ThumbprintOpt,
    guard,
    parse_tags,
    run,
    source_options,
    warn_short_retention,
)
from oidc_publisher.cli.publish import AdoptBucketOpt, BucketOpt, FrontOpt, PrefixOpt, RegionOpt, RetainOpt
from oidc_publisher.cli.waiting import WaitTimeoutOpt, waiter
from oidc_publisher.core.errors import UsageError

if TYPE_CHECKING:
    from oidc_publisher.core.waiting import Waiter


def bootstrap(
    bucket: BucketOpt,
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
    cloudfront: Annotated[
        bool,
        typer.Option("--cloudfront", help="Keep the bucket private and serve the issuer through CloudFront (OAC)."),
    ] = False,
    acm_certificate_arn: Annotated[
        str | None,
        typer.Option("--acm-certificate-arn", help="ACM certificate (us-east-1) for a custom --issuer-url domain."),
    ] = None,
    front: FrontOpt = None,
    client_id: ClientIdOpt = None,
    thumbprint: ThumbprintOpt = None,
    no_thumbprint: NoThumbprintOpt = False,
    tag: TagOpt = None,
    retain_removed_keys: RetainOpt = "48h",
    member: MemberOpt = None,
    adopt_bucket: AdoptBucketOpt = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="With --cloudfront: wait until the distribution has deployed (minutes) before reporting; it serves "
            "the issuer only from then on. Progress on stderr.",
        ),
    ] = False,
    wait_timeout: WaitTimeoutOpt = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Create or converge the bucket, publish the documents, register the IAM OIDC provider; then say what's next."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.bootstrap import BootstrapReport, BootstrapSettings
    from oidc_publisher.commands.bootstrap import bootstrap as do_bootstrap
    from oidc_publisher.core.front import parse_front
    from oidc_publisher.core.rotation import parse_duration

    chosen_front = guard(lambda: parse_front(front), output) if front is not None else None
    source = guard(lambda: source_options(from_cluster, kubeconfig, context, jwks, public_key, insecure_skip_tls_verify=insecure_skip_tls_verify), output)
    retain = guard(lambda: parse_duration(retain_removed_keys), output)
    if member is not None:
        from oidc_publisher.core.members import check_member_name

        guard(lambda: check_member_name(member), output)
    tags = guard(lambda: parse_tags(tag), output)
    waits = guard(lambda: _waiter(wait, wait_timeout, cloudfront), output)
    settings = BootstrapSettings(
        bucket=bucket,
        source=source,
        issuer_url=issuer_url,
        prefix=prefix,
        region=region,
        jwks_uri=jwks_uri,
        cloudfront=cloudfront,
        front=chosen_front,
        acm_certificate_arn=acm_certificate_arn,
        client_ids=tuple(client_id or ()),
        thumbprints=tuple(thumbprint or ()),
        no_thumbprint=no_thumbprint,
        tags=tags,
        retain=retain,
        adopt_bucket=adopt_bucket,
        dry_run=dry_run,
        member=member,
    )

    def work() -> BootstrapReport:
        report = do_bootstrap(settings, AwsClients(region=region), waits)
        warn_short_retention(retain)
        return report

    run(work, output)


def _waiter(wait: bool, wait_timeout: str | None, cloudfront: bool) -> "Waiter | None":
    """An S3-direct issuer serves as soon as its documents are written: nothing to wait for."""
    if wait and not cloudfront:
        raise UsageError(
            "--wait only applies with --cloudfront (an S3-direct issuer is served as soon as it is written)",
            "add --cloudfront or drop --wait",
        )
    return waiter(wait, wait_timeout)
