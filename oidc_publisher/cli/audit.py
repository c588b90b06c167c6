"""``oidc-publisher audit``."""

import enum
from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    BUCKET_ENV,
    ContextOpt,
    FromClusterOpt,
    InsecureSkipTlsVerifyOpt,
    IssuerUrlOpt,
    KubeconfigOpt,
    OutputFormat,
    OutputOpt,
    guard,
    run,
    source_options,
)


class FailOn(str, enum.Enum):
    high = "high"
    medium = "medium"
    low = "low"
    none = "none"


def audit(
    issuer_url: IssuerUrlOpt,
    from_cluster: FromClusterOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    insecure_skip_tls_verify: InsecureSkipTlsVerifyOpt = False,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity.")] = FailOn.high,
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", envvar=BUCKET_ENV, show_envvar=True, help="The issuer's bucket: note the clusters sharing the issuer (members), read from its "
                     "state object."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """List the IAM roles that trust this issuer and what is wrong with each trust policy."""
    from oidc_publisher.auditing import AuditSettings
    from oidc_publisher.auditing import audit as do_audit
    from oidc_publisher.aws import AwsClients

    source = guard(lambda: source_options(from_cluster, kubeconfig, context, None, None, required=False, insecure_skip_tls_verify=insecure_skip_tls_verify), output)
    settings = AuditSettings(issuer_url=issuer_url, source=source if source.given else None, fail_on=fail_on.value,
                             bucket=bucket)
    run(lambda: do_audit(settings, AwsClients()), output)
