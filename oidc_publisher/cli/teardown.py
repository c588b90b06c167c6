"""``oidc-publisher teardown``."""

from typing import Annotated

import typer

from oidc_publisher.cli.common import DryRunOpt, IssuerUrlOpt, OutputFormat, OutputOpt, guard, run
from oidc_publisher.cli.publish import BucketOpt, PrefixOpt, RegionOpt
from oidc_publisher.cli.waiting import WaitTimeoutOpt, waiter


def stdin_is_terminal() -> bool:
    """Whether someone can answer the prompt (tests replace this to answer it)."""
    import sys

    return sys.stdin.isatty()


def teardown(
    issuer_url: IssuerUrlOpt,
    bucket: BucketOpt,
    prefix: PrefixOpt = None,
    region: RegionOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    delete_bucket: Annotated[
        bool,
        typer.Option(
            "--delete-bucket",
            help="Also delete an S3-direct issuer's bucket, whose name is the issuer's host (by default it is kept, "
            "emptied and locked, as a tombstone). Refused while an IAM OIDC provider of this account trusts it.",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait for a disabled CloudFront distribution to deploy, then delete it, its origin access control "
            "and its cache policy in this run (without it: re-run teardown later). Progress on stderr.",
        ),
    ] = False,
    wait_timeout: WaitTimeoutOpt = None,
    account_role: Annotated[
        list[str] | None,
        typer.Option(
            "--account-role",
            metavar="ARN",
            help="An account where the issuer was registered (register --account-role), reached by assuming this "
            "IAM role; repeatable. Teardown is refused, before anything is removed, while any of them still has a "
            "provider for the issuer (see docs/accounts.md).",
            rich_help_panel="Several AWS accounts",
        ),
    ] = None,
    all_members: Annotated[
        bool,
        typer.Option(
            "--all-members",
            help="Tear down an issuer that several clusters share (publish --member): it ends every member's tokens. "
            "Without it, refused while two or more members still publish a key (see docs/shared-issuer.md).",
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Remove the provider, documents, state, and the bucket and distribution the tool created (after confirmation).

    An S3-direct issuer's bucket is kept, emptied and locked, unless --delete-bucket: its name is the issuer's host. With --account-role, refused while any listed account still has a provider for the issuer."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.teardown import TeardownSettings, require_terminal
    from oidc_publisher.commands.teardown import teardown as do_teardown

    if account_role:
        from oidc_publisher.commands.accounts import parse_account_roles

        guard(lambda: parse_account_roles(account_role), output)
    guard(lambda: require_terminal(yes, dry_run, stdin_is_terminal()), output)
    waits = guard(lambda: waiter(wait, wait_timeout), output)
    settings = TeardownSettings(issuer_url=issuer_url, bucket=bucket, prefix=prefix, region=region, yes=yes, dry_run=dry_run,
                                 delete_bucket=delete_bucket, account_roles=tuple(account_role or ()),
                                 all_members=all_members)
    run(lambda: do_teardown(settings, AwsClients(region=region), lambda text: typer.confirm(text, err=True), waits), output)
