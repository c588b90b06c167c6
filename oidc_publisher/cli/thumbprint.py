"""``oidc-publisher thumbprint``."""

from typing import Annotated

import typer

from oidc_publisher.cli.common import ISSUER_ENV, ConnectToOpt, OutputFormat, OutputOpt, TimeoutOpt, fail, run


def thumbprint(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Argument(help="The issuer URL (or just its host): the same as --issuer-url.", show_default=False)
    ] = None,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url", envvar=ISSUER_ENV, show_envvar=True, help="The issuer URL (or just its host)."
        ),
    ] = None,
    connect_to: ConnectToOpt = None,
    timeout: TimeoutOpt = 5.0,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Print the SHA-1 thumbprint IAM expects: of the last certificate the host presents, once the chain verifies."""
    from oidc_publisher.commands.thumbprint import compute
    from oidc_publisher.core.errors import UsageError

    # Typer may vendor click: compare the parameter source by name.
    explicit = getattr(ctx.get_parameter_source("issuer_url"), "name", None) == "COMMANDLINE"
    if url is not None and issuer_url is not None and explicit and url != issuer_url:
        fail(UsageError(f"URL {url!r} and --issuer-url {issuer_url!r} disagree", "give one of them"), output)
    chosen = url if url is not None else issuer_url  # the positional is as explicit as the option
    if chosen is None:
        fail(UsageError("no issuer given", "give --issuer-url URL (or the URL as the argument)"), output)
    run(lambda: compute(chosen, list(connect_to or ()), timeout), output)
