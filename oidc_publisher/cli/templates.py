"""``oidc-publisher templates ...``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from oidc_publisher.cli.common import OutputFormat, OutputOpt, run

app = typer.Typer(help="Configuration for the API server, the pod identity webhook and the rotation job.", no_args_is_help=True)


@app.command("list")
def list_templates() -> None:
    """The distributions and components templates exist for."""
    from oidc_publisher.templating import FILES

    for name, files in FILES.items():
        typer.echo(f"{name:<22} {', '.join(Path(f).name for f in files)}")


@app.command("render")
def render(
    distribution: Annotated[
        str,
        typer.Option(
            "--distribution",
            help="kubeadm, k3s, rke2, kind, talos (API server flags), pod-identity-webhook, or rotation-job.",
        ),
    ],
    issuer_url: Annotated[str, typer.Option("--issuer-url", help="The issuer the API server signs tokens for.")],
    previous_issuer: Annotated[
        str | None, typer.Option("--previous-issuer", help="The issuer used until now, kept accepted during the change.")
    ] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", help="rotation-job: the issuer's bucket.")] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="rotation-job: the key prefix in the bucket.")] = None,
    role_arn: Annotated[str | None, typer.Option("--role-arn", help="rotation-job: the role its service account assumes.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Container image (rotation-job or pod-identity-webhook).")] = None,
    region: Annotated[str, typer.Option("--region", help="AWS region for the webhook and the job.")] = "us-east-1",
    distribution_id: Annotated[
        str | None, typer.Option("--distribution-id", help="rotation-job: CloudFront distribution it may invalidate.")
    ] = None,
    key_dir: Annotated[str | None, typer.Option("--key-dir", help="kind: host directory with sa-signer.key/.pub.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the files to this directory instead of stdout.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files in --out.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Fill a template with the issuer (and the job's bucket and role); print it, or write it with --out."""
    from oidc_publisher.templating import TemplateSettings, render_templates

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
    )
    run(lambda: render_templates(settings, out, force=force), output)
