"""``oidc-publisher register``."""

from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    AccountRoleOpt,
    ClientIdOpt,
    ConnectToOpt,
    DryRunOpt,
    IssuerUrlOpt,
    NoThumbprintOpt,
    OutputFormat,
    OutputOpt,
    TagOpt,
    ThumbprintOpt,
    guard,
    parse_tags,
    run,
)

# register publishes nothing: the JWKS URL only says which second host needs a thumbprint.
JwksUriOpt = Annotated[
    str | None,
    typer.Option(
        "--jwks-uri",
        help="The JWKS URL, if not the one the published discovery document names; when it is on another host, "
        "that host's thumbprint is registered too.",
    ),
]


def register(
    issuer_url: IssuerUrlOpt,
    client_id: ClientIdOpt = None,
    thumbprint: ThumbprintOpt = None,
    no_thumbprint: NoThumbprintOpt = False,
    tag: TagOpt = None,
    jwks_uri: JwksUriOpt = None,
    connect_to: ConnectToOpt = None,
    account_role: AccountRoleOpt = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Create the IAM OIDC provider for the issuer, or converge it (client IDs, thumbprints, your tags); never recreate it.

    Thumbprints are computed for the issuer's host and, when the published jwks_uri is on another host, that host too. Client IDs are only ever added. The managed-by=oidc-publisher mark is set only when the provider is created here, never on one that exists. --dry-run exits 3 when there is something to change. With --account-role, in every listed account (one result each; exit 1 when any failed).
    """
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.register import RegisterSettings, register_provider

    tags = guard(lambda: parse_tags(tag), output)
    settings = RegisterSettings(
        issuer_url=issuer_url,
        client_ids=tuple(client_id or ()),
        thumbprints=tuple(thumbprint or ()),
        no_thumbprint=no_thumbprint,
        tags=tags,
        jwks_uri=jwks_uri,
        connect_to=tuple(connect_to or ()),
        dry_run=dry_run,
    )
    if account_role:
        from oidc_publisher.commands.accounts import parse_account_roles, register_in_accounts

        roles = guard(lambda: parse_account_roles(account_role), output)
        run(lambda: register_in_accounts(settings, AwsClients(), roles), output)
    run(lambda: register_provider(settings, AwsClients()), output)
