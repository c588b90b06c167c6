"""``teardown``: remove what the tool created for an issuer, and nothing else.

Recognised by the ``managed-by=oidc-publisher`` tag (provider, bucket, distribution; a distribution is
first found by the comment and origin the tool gives it, or as the one serving the issuer's host) or, for
what takes no tags, by the name and the mark the creating call gives it (origin access control: its
description; cache policy: its comment). An OAC or cache policy that another live distribution uses stays.
The documents and the state object are the issuer's own keys, so they are removed from any bucket; a bucket the tool did not create keeps everything else, minus this
issuer's objects in the tool's read statements of its policy. Roles are never deleted here: they are listed, so the
people who own them can decide.

Teardown never frees a name IAM still trusts: an S3-direct issuer's bucket name is its host, so the bucket the
tool created is kept, emptied and locked, as a tombstone unless ``--delete-bucket`` asks for it, and that is
refused while a provider of this account trusts the host.

The command reads (``read_snapshot``: aws/ readers), plans (``core/teardown_plan.plan_teardown``, pure: every
rule above and every refusal is decided there) and prints the plan or executes it (``aws/executor``); the
bucket's deletion and CloudFront's deletes are rounds finished during execution, each planned from what it
reads just before (core decides those too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.s3 import default_region
from oidc_publisher.commands.ownership import read_and_check_objects_belong_to
from oidc_publisher.core.errors import UsageError
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.operations import Operation
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan, Step
from oidc_publisher.core.target import Target, resolve_target
from oidc_publisher.core.teardown_plan import (
    BucketState,
    CloudFrontOutcome,
    CloudFrontRemoval,
    HasAccount,
    TeardownSnapshot,
    Version,
    cloudfront_outcome,
    delete_by_etag,
    delete_distribution_operation,
    disable_operation,
    plan_bucket_deletion,
    plan_teardown,
    settle,
)

# Named here too, as they were before the planner moved to core (tests import them from this module).
from oidc_publisher.core.teardown_plan import settle as _settle  # noqa: F401
from oidc_publisher.core.teardown_plan import tombstone_tag_value as tombstone_tag_value
from oidc_publisher.core.teardown_plan import without_keys as _without_keys  # noqa: F401
from oidc_publisher.core.waiting import Polled, Waiter

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients


@dataclass(frozen=True)
class TeardownSettings:
    issuer_url: str
    bucket: str
    prefix: str | None = None
    region: str | None = None
    yes: bool = False
    dry_run: bool = False
    delete_bucket: bool = False
    account_roles: tuple[str, ...] = ()  # --account-role: accounts that must have no provider left (docs/accounts.md)
    all_members: bool = False  # --all-members: a shared issuer is removed for every member (docs/shared-issuer.md)


@dataclass
class TeardownReport:
    issuer: str
    plan: Plan
    dry_run: bool
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False
    applied: bool = False  # the plan was carried out (what did not happen is no longer in it)
    waited: str | None = None  # with --wait: how long, for what (or what is left when it gave up)
    gave_up: bool = False  # --wait timed out: something is left for a re-run
    calls: list[Step] = field(default_factory=list)  # the planned AWS calls (--output json shows them)

    @property
    def exit_code(self) -> int:
        if self.cancelled or self.gave_up:
            return 1
        return EXIT_CHANGES_PENDING if self.dry_run and self.plan.has_changes else 0

    def to_text(self) -> str:
        if self.cancelled:
            return "Cancelled: nothing was removed."
        if self.plan.has_changes:
            head = self.plan.to_text(dry_run=self.dry_run)
        else:
            head = "Nothing was removed yet." if self.applied else "Nothing of this issuer's to remove."
        return "\n".join([head, *self.notes, *([self.waited] if self.waited else [])])

    def to_json(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "dry_run": self.dry_run, "cancelled": self.cancelled,
                "changes": self.plan.to_json(), "notes": self.notes, "waited": self.waited,
                "operations": [call.to_json() for call in self.calls]}


def teardown(
    settings: TeardownSettings, clients: AwsClients, confirm: Callable[[str], bool], waiter: Waiter | None = None
) -> TeardownReport:
    """Read the snapshot, plan the removal (core/teardown_plan.py: every refusal is decided there, before any
    write); print it with dry-run, else execute it after confirmation. With ``waiter`` (``--wait``), a
    distribution that is still deploying once disabled is waited for, then deleted with its OAC and cache
    policy in the same run."""
    from oidc_publisher.aws.executor import execute

    target = resolve_target(
        bucket=settings.bucket, issuer_url=settings.issuer_url, prefix=settings.prefix, region=settings.region,
        default_region=None if settings.region else default_region(clients, settings.bucket, settings.issuer_url),
    )
    planned = plan_teardown(read_snapshot(settings, clients, target), delete_bucket=settings.delete_bucket,
                            all_members=settings.all_members)
    plan = planned.plan
    report = TeardownReport(target.issuer.url, plan, settings.dry_run, notes=list(planned.notes), calls=planned.calls)
    if settings.dry_run or not plan.has_changes:
        return report
    warnings = [note for note in report.notes if note.startswith("warning: ")]
    if not settings.yes and not confirm("\n".join([plan.to_text(dry_run=True), *warnings, "Remove all of this?"])):
        report.cancelled = True
        return report
    report.applied = True
    execute(planned.steps, clients)
    if planned.bucket_deletion is not None:
        _delete_bucket(clients, target, report)
    if planned.cloudfront is not None:
        notes, report.waited, report.gave_up = cloudfront_outcome(
            plan, planned.cloudfront, _remove_cloudfront(clients, planned.cloudfront, waiter)
        )
        report.notes.extend(notes)
    return report


def read_snapshot(settings: TeardownSettings, clients: AwsClients, target: Target) -> TeardownSnapshot:
    """Everything teardown decides from: the provider (and each listed account's), the roles that trust the
    issuer, the bucket (refused here, before anything else, when its objects are another issuer's), CloudFront.
    Reads only."""
    from oidc_publisher.aws import s3 as s3edge
    from oidc_publisher.aws.iam import get_provider, list_provider_arns, provider_arn_for, trusting_roles
    from oidc_publisher.aws.teardown import read_cloudfront

    issuer, bucket = target.issuer, target.bucket
    provider = get_provider(clients, provider_arn_for(clients, issuer))
    listed: tuple[tuple[HasAccount, str | None], ...] = ()
    if settings.account_roles:
        from oidc_publisher.commands.accounts import parse_account_roles, providers_in_accounts

        listed = tuple(providers_in_accounts(clients, parse_account_roles(settings.account_roles), issuer.url))
    roles = tuple(trusting_roles(clients, issuer.provider_path))
    cloudfront = read_cloudfront(clients, bucket=bucket, region=target.region, host=issuer.host)
    names_the_issuer = issuer.s3_origin() is not None  # the bucket's name is the issuer's host
    ours = (*target.keys.published, target.keys.state)
    s3 = clients.s3(target.region)
    state = None
    provider_arns = None
    members: tuple[str, ...] = ()
    if s3edge.bucket_exists(s3, bucket):
        tags = s3edge.bucket_tags(s3, bucket)
        stored = read_and_check_objects_belong_to(
            s3, target, outcome="nothing was removed", context=" (teardown removes only this issuer's objects)",
        )
        if stored is not None:
            from oidc_publisher.core.members import active_members
            from oidc_publisher.core.rotation import State

            members = tuple(active_members(State.from_bytes(stored.body, f"s3://{bucket}/{target.keys.state}")))
        managed = tags.get(MANAGED_BY[0]) == MANAGED_BY[1]
        # A bucket the tool did not create is read only where our keys are: it may be large.
        found = (s3edge.object_versions(s3, bucket) if managed
                 else [v for key in sorted(set(ours)) for v in s3edge.object_versions(s3, bucket, key)])
        versions = tuple(Version(key, version_id) for key, version_id in found)
        alone = all(v.key in ours for v in versions)
        state = BucketState(
            tags=tags, versions=versions, policy=s3edge.bucket_policy(s3, bucket),
            # Block Public Access matters only to a bucket that may become a tombstone (the tool's, holding only ours).
            public_access_block=s3edge.public_access_block(s3, bucket) if managed and alone else None,
        )
        if settings.delete_bucket and names_the_issuer and managed:
            provider_arns = tuple(list_provider_arns(clients))
    return TeardownSnapshot(
        issuer_url=issuer.url, host=issuer.host, provider_path=issuer.provider_path, bucket=bucket, region=target.region,
        partition=clients.partition, account_id=clients.account_id, names_the_issuer=names_the_issuer,
        ours=tuple(dict.fromkeys(ours)),
        provider_arn=provider.arn if provider is not None else None,
        provider_owned=provider is not None and provider.tags.get(MANAGED_BY[0]) == MANAGED_BY[1],
        roles=roles, bucket_state=state, cloudfront=cloudfront, account_providers=listed, provider_arns=provider_arns,
        members=members,
    )


def _delete_bucket(clients: AwsClients, target: Target, report: TeardownReport) -> None:
    """The bucket's round: a last look at it, then what is left of the issuer's versions and the bucket; kept
    if something else was written to it meanwhile."""
    from oidc_publisher.aws import s3 as s3edge
    from oidc_publisher.aws.executor import execute

    bucket = target.bucket
    rest = [Version(key, version_id) for key, version_id in s3edge.object_versions(clients.s3(target.region), bucket)]
    steps = plan_bucket_deletion(bucket, target.region, rest, (*target.keys.published, target.keys.state))
    if steps is None:
        settle(report.plan, f"s3://{bucket}", None)
        report.notes.append(f"kept s3://{bucket}: other objects were written to it during teardown")
        return
    execute(steps, clients)


def _remove_cloudfront(clients: AwsClients, removal: CloudFrontRemoval, waiter: Waiter | None) -> CloudFrontOutcome:
    """Disable and delete the distribution, then its OAC and cache policy, each call with the ETag read just before.

    CloudFront deletes a distribution only once it is disabled and deployed (minutes after disabling), and
    refuses to delete an OAC or a cache policy a distribution still uses: the next run finishes the job, or this
    one, with ``waiter``, once the distribution has deployed. What happened is the outcome; core settles the report."""
    from oidc_publisher.aws.executor import call

    outcome = CloudFrontOutcome()
    distribution = removal.distribution
    if distribution is not None:
        current = call(clients, Operation("cloudfront", "get_distribution_config", {"Id": distribution}), distribution)
        disable = disable_operation(distribution, current["DistributionConfig"], current["ETag"])
        if disable is not None:
            call(clients, disable, distribution)
            outcome.disabled_now = True
        outcome.deleted = _delete_distribution(clients, distribution)
        if not outcome.deleted and waiter is not None:
            outcome.waited = waiter.wait(f"distribution {distribution}", lambda: _deletable(clients, distribution))
            outcome.deleted = outcome.waited.done and _delete_distribution(clients, distribution)
        if not outcome.deleted:
            return outcome
    if removal.oac:
        outcome.oac_deleted = _delete_by_etag(clients, "OriginAccessControl", "origin_access_control", removal.oac)
    if removal.cache_policy:
        outcome.policy_deleted = _delete_by_etag(clients, "CachePolicy", "cache_policy", removal.cache_policy)
    return outcome


def _delete_distribution(clients: AwsClients, distribution: str) -> bool:
    """Delete it once disabled and deployed; True when it is gone (already gone included), False when it is still
    enabled or deploying, or changed since it was read: the next attempt decides again."""
    from oidc_publisher.aws.teardown import attempt

    found, _ = attempt(clients, Operation("cloudfront", "get_distribution", {"Id": distribution}), distribution,
                          ("NoSuchDistribution",))
    if found is None:
        return True
    delete = delete_distribution_operation(distribution, found["Distribution"], found["ETag"])
    if delete is None:
        return False
    _, code = attempt(clients, delete, distribution, ("NoSuchDistribution", "DistributionNotDisabled", "PreconditionFailed"))
    return code in (None, "NoSuchDistribution")


def _delete_by_etag(clients: AwsClients, kind: str, name: str, ident: str) -> bool:
    """CloudFront's delete of an OAC or cache policy: read its ETag, delete with IfMatch. Gone already is done;
    still in use (``<kind>InUse``) is False."""
    from oidc_publisher.aws.teardown import attempt

    found, _ = attempt(clients, Operation("cloudfront", f"get_{name}", {"Id": ident}), ident, (f"NoSuch{kind}",))
    if found is None:
        return True
    _, code = attempt(clients, delete_by_etag(f"delete_{name}", ident, found["ETag"]), ident,
                      (f"NoSuch{kind}", f"{kind}InUse"))
    return code != f"{kind}InUse"


def _deletable(clients: AwsClients, distribution_id: str) -> Polled:
    """What ``--wait`` sees of a distribution being deleted: done once disabled and deployed (or gone)."""
    from oidc_publisher.aws.cloudfront import distribution_status

    found = distribution_status(clients, distribution_id)
    if found is None:
        return Polled("deleted", True)
    status, enabled = found
    return Polled(f"{status} (enabled)" if enabled else status, status == "Deployed" and not enabled)


def require_terminal(yes: bool, dry_run: bool, is_tty: bool) -> None:
    if not yes and not dry_run and not is_tty:
        raise UsageError(
            "refusing to tear down without confirmation: no terminal is attached",
            "re-run with --yes (or --dry-run to see what would go)",
        )
