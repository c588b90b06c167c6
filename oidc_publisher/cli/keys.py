"""``oidc-publisher keys ...``."""

import enum
from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import ISSUER_ENV, OutputFormat, OutputOpt, run

app = typer.Typer(help="Service-account signing keys.", no_args_is_help=True)


class KeyType(str, enum.Enum):
    rsa = "rsa"
    ec = "ec"


@app.command("generate")
def generate(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Directory for sa-signer.key and sa-signer.pub.")],
    key_type: Annotated[
        KeyType, typer.Option("--type", help="RSA (RS256) or EC (ES256/384/512 by --bits).")
    ] = KeyType.rsa,
    bits: Annotated[
        int | None, typer.Option("--bits", help="RSA modulus size (>= 2048) or EC curve size (256, 384, 521).")
    ] = None,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            envvar=ISSUER_ENV,
            show_envvar=True,
            help="The issuer, to print complete kube-apiserver flags.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing key files.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Generate a signing key pair (private key mode 0600) and print the kube-apiserver flags to use it."""
    from oidc_publisher.commands.keys import KeygenSettings
    from oidc_publisher.commands.keys import generate as do_generate

    settings = KeygenSettings(out_dir=out_dir, key_type=key_type.value, bits=bits, force=force, issuer_url=issuer_url)
    run(lambda: do_generate(settings), output)
