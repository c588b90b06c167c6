"""``oidc-publisher audit``."""

import enum
from typing import Annotated

import typer

from oidc_publisher.cli.common import (
    BUCKET_ENV,
    AccountRoleOpt,
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
    account_role: AccountRoleOpt = None,
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", envvar=BUCKET_ENV, show_envvar=True, help="The issuer's bucket: note the clusters sharing the issuer (members), read from its "
                     "state object."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """List the IAM roles that trust this issuer and what is wrong with each trust policy (with --account-role, in every listed account)."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.audit import AuditSettings
    from oidc_publisher.commands.audit import audit as do_audit

    source = guard(lambda: source_options(from_cluster, kubeconfig, context, None, None, required=False, insecure_skip_tls_verify=insecure_skip_tls_verify), output)
    settings = AuditSettings(issuer_url=issuer_url, source=source if source.given else None, fail_on=fail_on.value,
                             bucket=bucket)
    if account_role:
        from oidc_publisher.commands.accounts import audit_in_accounts, parse_account_roles

        roles = guard(lambda: parse_account_roles(account_role), output)
        run(lambda: audit_in_accounts(settings, AwsClients(), roles), output)
    run(lambda: do_audit(settings, AwsClients()), output)
