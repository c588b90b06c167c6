"""``oidc-publisher render``."""

from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    ContextOpt,
    FromClusterOpt,
    InsecureSkipTlsVerifyOpt,
    IssuerUrlOpt,
    JwksFileOpt,
    JwksUriOpt,
    KubeconfigOpt,
    OutputFormat,
    OutputOpt,
    PublicKeyOpt,
    guard,
    run,
    source_options,
)


def render(
    issuer_url: IssuerUrlOpt,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Write DIR/.well-known/openid-configuration and DIR/openid/v1/jwks.")
    ],
    from_cluster: FromClusterOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    insecure_skip_tls_verify: InsecureSkipTlsVerifyOpt = False,
    jwks: JwksFileOpt = None,
    public_key: PublicKeyOpt = None,
    jwks_uri: JwksUriOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite documents in --out-dir that hold other content.")
    ] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Write the discovery document and JWKS to a directory: the same bytes 'publish' uploads."""
    from oidc_publisher.commands.render import RenderSettings
    from oidc_publisher.commands.render import render as do_render

    source = guard(lambda: source_options(from_cluster, kubeconfig, context, jwks, public_key, insecure_skip_tls_verify=insecure_skip_tls_verify), output)
    settings = RenderSettings(issuer_url=issuer_url, source=source, out_dir=out_dir, jwks_uri=jwks_uri, force=force)
    run(lambda: do_render(settings), output)
