"""``oidc-publisher verify``: what STS will check, end to end."""

from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    BUCKET_ENV,
    REGION_ENV,
    ConnectToOpt,
    ContextOpt,
    FromClusterOpt,
    InsecureSkipTlsVerifyOpt,
    IssuerUrlOpt,
    JwksFileOpt,
    KubeconfigOpt,
    MemberOpt,
    OutputFormat,
    OutputOpt,
    PublicKeyOpt,
    TimeoutOpt,
    fail,
    guard,
    run,
    source_options,
)
from oidc_publisher.core.issuer import STS_AUDIENCE


def verify(
    issuer_url: IssuerUrlOpt,
    from_cluster: FromClusterOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    insecure_skip_tls_verify: InsecureSkipTlsVerifyOpt = False,
    jwks: JwksFileOpt = None,
    public_key: PublicKeyOpt = None,
    token: Annotated[
        Path | None, typer.Option("--token", help="A service-account token to check as STS would (a file; '-' for stdin).")
    ] = None,
    service_account: Annotated[
        str,
        typer.Option(
            "--service-account",
            help="NAMESPACE/NAME to mint a token for through the TokenRequest API (with --from-cluster).",
        ),
    ] = "default/default",
    client_id: Annotated[str, typer.Option("--client-id", help="The audience STS will be asked for.")] = STS_AUDIENCE,
    skip_iam: Annotated[bool, typer.Option("--skip-iam", help="Do not read the IAM provider (no AWS credentials needed).")] = False,
    member: MemberOpt = None,
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", envvar=BUCKET_ENV, show_envvar=True, help="The issuer's bucket: list every member its state object records, with its status "
                     "(derived for an S3-direct issuer when --member is given)."),
    ] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="With --bucket: key prefix (default: the issuer's path).")] = None,
    region: Annotated[
        str | None, typer.Option("--region", envvar=REGION_ENV, show_envvar=True, help="With --bucket: the bucket's region.")
    ] = None,
    connect_to: ConnectToOpt = None,
    timeout: TimeoutOpt = 5.0,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Check the issuer the way STS will: HTTPS, discovery document, JWKS, the IAM provider, and a token."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.verify import VerifySettings
    from oidc_publisher.commands.verify import verify as do_verify
    from oidc_publisher.core.errors import InputError, UsageError
    from oidc_publisher.core.validation import check_audience
    from oidc_publisher.sources import read_text

    source = guard(lambda: source_options(from_cluster, kubeconfig, context, jwks, public_key, required=False, insecure_skip_tls_verify=insecure_skip_tls_verify), output)
    guard(lambda: check_audience(client_id, "--client-id"), output)
    raw_token = None
    if token is not None:
        raw_token = guard(lambda: read_text(token, "token file"), output)
        if not raw_token.strip():
            fail(InputError("the token file is empty", "give a service-account token"), output)
    members_bucket = guard(lambda: _members_bucket(issuer_url, member, bucket, prefix, region), output)
    namespace, _, name = service_account.partition("/")
    if not namespace or not name:
        fail(UsageError(f"--service-account {service_account!r} is not NAMESPACE/NAME", "e.g. --service-account default/my-app"), output)
    settings = VerifySettings(
        issuer_url=issuer_url,
        source=source if source.given else None,
        token=raw_token.strip() if raw_token else None,
        client_id=client_id,
        mint_namespace=namespace,
        mint_service_account=name if from_cluster and raw_token is None else None,
        timeout=timeout,
        check_iam=not skip_iam,
        connect_to=tuple(connect_to or ()),
        member=member,
        members_bucket=members_bucket,
        members_prefix=prefix,
        members_region=region,
    )
    needs_aws = not skip_iam or members_bucket is not None
    run(lambda: do_verify(settings, AwsClients(region=region) if needs_aws else None), output)


def _members_bucket(
    issuer_url: str, member: str | None, bucket: str | None, prefix: str | None, region: str | None
) -> str | None:
    """Where verify reads the members from: --bucket, or an S3-direct issuer's own bucket with --member."""
    from oidc_publisher.core.errors import InputError, UsageError
    from oidc_publisher.core.issuer import parse_issuer

    if member is not None:
        from oidc_publisher.core.members import check_member_name

        check_member_name(member)
    if bucket is None and prefix is not None:
        raise UsageError("--prefix only applies with --bucket", "add --bucket or drop it")
    if bucket is not None or member is None:
        return bucket
    try:
        origin = parse_issuer(issuer_url).s3_origin()
    except InputError:
        return None  # verify's first check names what is wrong with the URL
    if origin is None:
        raise UsageError(
            "verify --member needs --bucket for an issuer that is not the bucket's S3 URL",
            "give the issuer's --bucket (its state object records the members)",
        )
    return origin[0]
