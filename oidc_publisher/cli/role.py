"""``oidc-publisher role ...``."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from oidc_publisher.cli.common import (
    DryRunOpt,
    IssuerUrlOpt,
    OutputFormat,
    OutputOpt,
    TagOpt,
    guard,
    parse_tags,
    run,
    warn,
)
from oidc_publisher.core.issuer import STS_AUDIENCE

app = typer.Typer(help="IAM roles that a service account can assume (trust pinned to :sub and :aud).", no_args_is_help=True)

NamespaceOpt = Annotated[str, typer.Option("--namespace", help="The service account's namespace.")]
ServiceAccountOpt = Annotated[str, typer.Option("--service-account", help="The service account's name.")]
AudienceOpt = Annotated[str, typer.Option("--audience", help="The token audience (the webhook's --token-audience).")]
WildcardOpt = Annotated[
    bool, typer.Option("--allow-wildcard", help="Allow '*' in the namespace or name (StringLike; every match can assume the role).")
]


class _Json:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.exit_code = 0

    def to_text(self) -> str:
        return json.dumps(self.document, indent=2)

    def to_json(self) -> dict[str, Any]:
        return self.document


@app.command("trust-policy")
def trust_policy(
    issuer_url: IssuerUrlOpt,
    namespace: NamespaceOpt,
    service_account: ServiceAccountOpt,
    audience: AudienceOpt = STS_AUDIENCE,
    allow_wildcard: WildcardOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Print the trust policy JSON for a service account (ARN from the session's account; no IAM call)."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.role import RoleSettings, build_trust_policy

    settings = RoleSettings(issuer_url, namespace, service_account, audience=audience, allow_wildcard=allow_wildcard)
    guard(lambda: _names(settings), output)
    run(lambda: _Json(build_trust_policy(settings, AwsClients())), output)


def _names(settings: Any) -> None:
    """Refuse bad names first; a wildcard that is allowed still earns a warning."""
    from oidc_publisher.core.trust import check_names, is_wildcard

    check_names(settings.namespace, settings.service_account, allow_wildcard=settings.allow_wildcard)
    if is_wildcard(settings.namespace) or is_wildcard(settings.service_account):
        warn(
            f"the trust policy matches every service account like {settings.namespace}:{settings.service_account} "
            "(StringLike): each of them can assume the role"
        )


@app.command("create")
def create(
    issuer_url: IssuerUrlOpt,
    namespace: NamespaceOpt,
    service_account: ServiceAccountOpt,
    policy_arn: Annotated[list[str] | None, typer.Option("--policy-arn", help="Managed policy to attach; repeatable.")] = None,
    policy_file: Annotated[Path | None, typer.Option("--policy-file", help="An IAM policy document to put inline.")] = None,
    role_name: Annotated[str | None, typer.Option("--role-name", help="Default: irsa-CLUSTER-NAMESPACE-NAME-HASH (HASH of the issuer, namespace and name).")] = None,
    permissions_boundary: Annotated[str | None, typer.Option("--permissions-boundary", help="Policy ARN.")] = None,
    max_session_duration: Annotated[int | None, typer.Option("--max-session-duration", help="Seconds, 3600-43200.")] = None,
    tag: TagOpt = None,
    audience: AudienceOpt = STS_AUDIENCE,
    allow_wildcard: WildcardOpt = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write the ServiceAccount manifest here instead of printing it.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --out file if it exists.")] = False,
    account_role: Annotated[
        str | None,
        typer.Option(
            "--account-role",
            metavar="ARN",
            help="Make the role in the account of this IAM role, assumed with the standard credential chain; it "
            "trusts that account's provider (register it there first: register --account-role).",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Create or converge a role for one service account, and print its annotated ServiceAccount."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.role import RoleSettings, create_role, create_role_in_account

    tags = guard(lambda: parse_tags(tag), output)
    if account_role is not None:
        from oidc_publisher.commands.accounts import parse_account_roles

        guard(lambda: parse_account_roles([account_role]), output)
    settings = RoleSettings(
        issuer_url=issuer_url,
        namespace=namespace,
        service_account=service_account,
        policy_arns=tuple(policy_arn or ()),
        policy_file=policy_file,
        role_name=role_name,
        permissions_boundary=permissions_boundary,
        max_session_duration=max_session_duration,
        tags=tags,
        audience=audience,
        allow_wildcard=allow_wildcard,
        out=out,
        force=force,
        dry_run=dry_run,
        account_role=account_role,
    )
    guard(lambda: _names(settings), output)
    if account_role is not None:
        run(lambda: create_role_in_account(settings, AwsClients()), output)
    run(lambda: create_role(settings, AwsClients()), output)
