"""``oidc-publisher register``."""

from __future__ import annotations

from oidc_publisher.cli.common import (
    ClientIdOpt,
    DryRunOpt,
    IssuerUrlOpt,
    JwksUriOpt,
    NoThumbprintOpt,
    OutputFormat,
    OutputOpt,
    TagOpt,
    ThumbprintOpt,
    guard,
    parse_tags,
    run,
)
from oidc_publisher.cli.thumbprint import ConnectToOpt


def register(
    issuer_url: IssuerUrlOpt,
    client_id: ClientIdOpt = None,
    thumbprint: ThumbprintOpt = None,
    no_thumbprint: NoThumbprintOpt = False,
    tag: TagOpt = None,
    jwks_uri: JwksUriOpt = None,
    connect_to: ConnectToOpt = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Create the IAM OIDC provider for the issuer, or converge it (client IDs, thumbprints, tags); never recreate it."""
    from oidc_publisher.aws import AwsClients
    from oidc_publisher.registration import RegisterSettings, register_provider

    tags = guard(lambda: parse_tags(tag), output)
    settings = RegisterSettings(
        issuer_url=issuer_url,
        client_ids=tuple(client_id or ()),
        thumbprints=tuple(thumbprint or ()),
        no_thumbprint=no_thumbprint,
        tags=(*tags, ("managed-by", "oidc-publisher")),
        jwks_uri=jwks_uri,
        connect_to=tuple(connect_to or ()),
        dry_run=dry_run,
    )
    run(lambda: register_provider(settings, AwsClients()), output)
