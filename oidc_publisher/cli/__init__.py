"""The ``oidc-publisher`` command line: this module only wires the commands together."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from oidc_publisher import __version__
from oidc_publisher.cli import (
    audit,
    bootstrap,
    demo,
    keys,
    publish,
    register,
    render,
    role,
    teardown,
    templates,
    thumbprint,
    verify,
)

app = typer.Typer(
    name="oidc-publisher",
    help="Publish a self-managed Kubernetes cluster's service-account issuer (JWKS + OIDC discovery) "
    "to S3, register it in IAM, and prove that STS will accept its tokens (IRSA).",
    no_args_is_help=True,
    # Key material passes through locals: never print them in a traceback.
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oidc-publisher {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


app.add_typer(keys.app, name="keys")
app.add_typer(templates.app, name="templates")
app.add_typer(role.app, name="role")
app.command("render")(render.render)
app.command("publish")(publish.publish)
app.command("thumbprint")(thumbprint.thumbprint)
app.command("register")(register.register)
app.command("bootstrap")(bootstrap.bootstrap)
app.command("verify")(verify.verify)
app.command("audit")(audit.audit)
app.command("teardown")(teardown.teardown)
app.command("demo")(demo.demo)


def main() -> None:
    """Console-script entry point: anything that is not an expected error is a bug, and says so."""
    try:
        app(prog_name="oidc-publisher")
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence, see docstring
        if os.environ.get("OIDC_PUBLISHER_DEBUG"):
            import traceback

            traceback.print_exc()
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in oidc-publisher; please report it (set OIDC_PUBLISHER_DEBUG=1 for a traceback).\n"
        )
        sys.exit(70)
