"""``oidc-publisher verify``: what STS will check, end to end."""

from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    ContextOpt,
    FromClusterOpt,
    InsecureSkipTlsVerifyOpt,
    IssuerUrlOpt,
    JwksFileOpt,
    KubeconfigOpt,
    OutputFormat,
    OutputOpt,
    PublicKeyOpt,
    fail,
    guard,
    run,
    source_options,
)
from oidc_publisher.cli.thumbprint import ConnectToOpt, TimeoutOpt
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
    )
    run(lambda: do_verify(settings, None if skip_iam else AwsClients()), output)
