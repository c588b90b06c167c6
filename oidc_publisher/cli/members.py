"""``oidc-publisher members ...``: the clusters that share one issuer."""

from typing import Annotated

import typer

from oidc_publisher.cli.common import DryRunOpt, OptionalIssuerUrlOpt, OutputFormat, OutputOpt, guard, run, warn
from oidc_publisher.cli.publish import BucketOpt, PrefixOpt, RegionOpt, RetainOpt

app = typer.Typer(
    help="The clusters (members) that share one issuer, each publishing its own keys with 'publish --member NAME'.",
    no_args_is_help=True,
)


@app.command("list")
def list_members(
    bucket: BucketOpt,
    issuer_url: OptionalIssuerUrlOpt = None,
    prefix: PrefixOpt = None,
    region: RegionOpt = None,
    stale_after: Annotated[
        str,
        typer.Option("--stale-after", help="Flag a member that has not published for longer than this (a member "
                     "with nothing to change still records itself once a day)."),
    ] = "3d",
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Each member: its keys, when it last published and from where; flags one silent too long."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.members import MembersSettings
    from oidc_publisher.commands.members import list_members as do_list
    from oidc_publisher.core.rotation import parse_duration

    threshold = guard(lambda: parse_duration(stale_after), output)
    settings = MembersSettings(bucket=bucket, issuer_url=issuer_url, prefix=prefix, region=region, stale_after=threshold)
    run(lambda: do_list(settings, AwsClients(region=region)), output)


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The member to remove (as 'members list' shows it).")],
    bucket: BucketOpt,
    issuer_url: OptionalIssuerUrlOpt = None,
    prefix: PrefixOpt = None,
    region: RegionOpt = None,
    retain_removed_keys: RetainOpt = "48h",
    revoke: Annotated[
        bool,
        typer.Option("--revoke", help="Drop the member's keys at once (a compromised cluster): tokens it signed "
                     "stop working now. Without it they stay published for --retain-removed-keys."),
    ] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Remove a member: its keys stay published for the retention window (unless --revoke), then go."""
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.cli.common import warn_short_retention
    from oidc_publisher.commands.members import RemoveReport, RemoveSettings
    from oidc_publisher.commands.members import remove as do_remove
    from oidc_publisher.core.members import check_member_name
    from oidc_publisher.core.rotation import parse_duration

    guard(lambda: check_member_name(name, "NAME"), output)
    retain = guard(lambda: parse_duration(retain_removed_keys), output)
    settings = RemoveSettings(bucket=bucket, name=name, issuer_url=issuer_url, prefix=prefix, region=region,
                              retain=retain, revoke=revoke, dry_run=dry_run)

    def work() -> RemoveReport:
        report = do_remove(settings, AwsClients(region=region))
        for kid in report.revoked:
            what = "would revoke" if report.dry_run else "revoked"
            warn(f"{what} {kid}: every token signed by it stops working as soon as caches expire (minutes)")
        for note in report.notes:
            warn(note)
        if not revoke:
            warn_short_retention(retain)
        return report

    run(work, output)
