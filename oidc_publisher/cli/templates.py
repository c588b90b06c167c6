"""``oidc-publisher templates list`` and ``oidc-publisher templates render``."""

from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import BUCKET_ENV, ISSUER_ENV, REGION_ENV, OutputFormat, OutputOpt, run

app = typer.Typer(
    help="Configuration for the API server, the pod identity webhook and the rotation job.", no_args_is_help=True
)


@app.command("list")
def list_templates(output: OutputOpt = OutputFormat.text) -> None:
    """The distributions and components there are templates for."""
    from oidc_publisher.commands.templates import Catalogue

    run(Catalogue, output)


@app.command("render")
def render(
    distribution: Annotated[
        str,
        typer.Option(
            "--distribution",
            help="kubeadm, k3s, rke2, kind, talos (API server flags), pod-identity-webhook, or rotation-job.",
        ),
    ],
    issuer_url: Annotated[
        str,
        typer.Option(
            "--issuer-url", envvar=ISSUER_ENV, show_envvar=True, help="The issuer the API server signs tokens for."
        ),
    ],
    previous_issuer: Annotated[
        str | None,
        typer.Option(
            "--previous-issuer", help="The issuer used until now: kept accepted after the new one during the change."
        ),
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", envvar=BUCKET_ENV, show_envvar=True, help="rotation-job: the issuer's bucket."),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", help="rotation-job: key prefix in the bucket (default: the issuer's path)."),
    ] = None,
    role_arn: Annotated[
        str | None, typer.Option("--role-arn", help="rotation-job: the IAM role its service account assumes.")
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="Container image of the rotation job or of the webhook.")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            envvar=REGION_ENV,
            show_envvar=True,
            help="AWS region for the job and the webhook's pods (default: an S3 issuer's).",
        ),
    ] = None,
    distribution_id: Annotated[
        str | None,
        typer.Option("--distribution-id", help="rotation-job: the CloudFront distribution it may invalidate."),
    ] = None,
    key_dir: Annotated[
        str | None, typer.Option("--key-dir", help="kind: host directory with sa-signer.key and sa-signer.pub.")
    ] = None,
    member: Annotated[
        str | None,
        typer.Option("--member", metavar="NAME", help="rotation-job: this cluster's name in an issuer shared by "
                     "several clusters (the job runs 'publish --member NAME'; docs/shared-issuer.md)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the files into this directory instead of printing them.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist in --out.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Fill a template with the issuer (and the job's bucket and role); print it, or write it with --out."""
    from oidc_publisher.commands.templates import TemplateSettings, render_templates

    settings = TemplateSettings(
        distribution=distribution,
        issuer_url=issuer_url,
        previous_issuer=previous_issuer,
        bucket=bucket,
        prefix=prefix,
        role_arn=role_arn,
        image=image,
        region=region,
        distribution_id=distribution_id,
        key_dir=key_dir,
        member=member,
    )
    run(lambda: render_templates(settings, out, force=force), output)
