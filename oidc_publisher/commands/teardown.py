"""``teardown``: remove what the tool created for an issuer, and nothing else.

Recognised by the ``managed-by=oidc-publisher`` tag (provider, bucket, distribution; a distribution is
first found by the comment and origin the tool gives it, or as the one serving the issuer's host) or, for
what takes no tags, by the name and the mark the creating call gives it (origin access control: its
description; cache policy: its comment). An OAC or cache policy that another live distribution uses stays.
The documents and the state object are the issuer's own keys, so they are removed from any bucket; a bucket the tool did not create keeps everything else, minus this
issuer's objects in the tool's read statements of its policy. Roles are never deleted here: they are listed, so the
people who own them can decide.

Teardown never frees a name IAM still trusts: an S3-direct issuer's bucket name is its host, so the bucket the
tool created is kept, emptied and locked, as a tombstone (``_plan_tombstone``) unless ``--delete-bucket`` asks
for it, and that is refused while a provider of this account trusts the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.commands.ownership import read_and_check_objects_belong_to
from oidc_publisher.commands.publish import Target, default_region, resolve_target
from oidc_publisher.core.bucket_plan import FRONT_TAG, wanted_public_access_block
from oidc_publisher.core.errors import ConflictError, UsageError
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Change, Plan
from oidc_publisher.core.policies import (
    CLOUDFRONT_READ_SID,
    DENY_INSECURE_SID,
    PUBLIC_READ_SID,
    object_arn,
    tombstone_policy,
)
from oidc_publisher.core.waiting import Polled, Waiter, duration

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.aws.cloudfront import Distribution

# On a bucket kept as a tombstone (see _plan_tombstone): the issuer whose name it keeps.
TOMBSTONE_TAG = "oidc-publisher:tombstone"
# A tombstone is as private as a bucket behind CloudFront: every Block Public Access setting on.
BLOCK_ALL = wanted_public_access_block(private=True)


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
                "changes": self.plan.to_json(), "notes": self.notes, "waited": self.waited}


def teardown(
    settings: TeardownSettings, clients: AwsClients, confirm: Callable[[str], bool], waiter: Waiter | None = None
) -> TeardownReport:
    """Plan the removal from current state (reads only); apply it after confirmation unless dry-run. With
    ``waiter`` (``--wait``), a distribution that is still deploying once disabled is waited for, then deleted
    with its OAC and cache policy in the same run."""
    from oidc_publisher.aws import s3 as s3edge
    from oidc_publisher.aws.cloudfront import users_of_bucket
    from oidc_publisher.aws.iam import delete_provider, get_provider
    from oidc_publisher.commands.audit import trusting_roles
    from oidc_publisher.commands.role import provider_arn_for

    target = resolve_target(
        bucket=settings.bucket, issuer_url=settings.issuer_url, prefix=settings.prefix, region=settings.region,
        default_region=None if settings.region else default_region(clients, settings.bucket, settings.issuer_url),
    )
    issuer, bucket = target.issuer, target.bucket
    s3 = clients.s3(target.region)
    plan = Plan()
    report = TeardownReport(issuer.url, plan, settings.dry_run)
    actions: list[Callable[[], None]] = []

    provider = get_provider(clients, provider_arn_for(clients, issuer))
    owned_provider = provider is not None and provider.tags.get(MANAGED_BY[0]) == MANAGED_BY[1]
    if settings.account_roles:
        from oidc_publisher.commands.accounts import parse_account_roles, providers_in_accounts, refuse_while_registered

        listed = providers_in_accounts(clients, parse_account_roles(settings.account_roles), issuer.url)
        refuse_while_registered(issuer.url, listed, provider.arn if provider is not None and owned_provider else None)
    if provider is None:
        report.notes.append(f"no IAM OIDC provider is registered for {issuer.url}")
    elif owned_provider:
        plan.add(f"iam:oidc-provider/{issuer.provider_path}", "delete", "created by oidc-publisher")
        actions.append(lambda: delete_provider(clients, provider.arn))
    else:
        report.notes.append(f"kept the IAM provider {provider.arn}: it is not tagged managed-by=oidc-publisher")
    roles = trusting_roles(clients, issuer.provider_path)
    if roles:
        report.notes.append(f"roles that trust this issuer are kept (delete them yourself): {', '.join(sorted(roles))}")

    cloudfront = _read_cloudfront(clients, target)
    ours = set(target.keys.published) | {target.keys.state}
    tags = s3edge.bucket_tags(s3, bucket) if _bucket_exists(s3, bucket) else None
    if tags is None:
        report.notes.append(f"s3://{bucket} does not exist")
    else:
        read_and_check_objects_belong_to(
            s3, target, outcome="nothing was removed",
            context=" (teardown removes only this issuer's objects)",
        )
        managed = tags.get(MANAGED_BY[0]) == MANAGED_BY[1]
        # A bucket the tool did not create is read only where our keys are: it may be large.
        versions = _versions(s3, bucket) if managed else [v for key in sorted(ours) for v in _versions(s3, bucket, key)]
        mine = [v for v in versions if v["Key"] in ours]
        others = {v["Key"] for v in versions if v["Key"] not in ours}
        for key in sorted({v["Key"] for v in mine}):
            plan.add(f"s3://{bucket}/{key}", "delete", "every version and delete marker")
        if mine:
            actions.append(lambda: _delete_versions(s3, bucket, mine))
        names_the_issuer = issuer.s3_origin() is not None  # the bucket's name is the issuer's host
        # A distribution that stays (not the tool's) fetches from the bucket by its name.
        fetching = users_of_bucket(cloudfront.live, bucket, but=cloudfront.deleted)
        # A front the user manages (bootstrap --front, recorded at creation) reads it by name too, unseen from here.
        front = tags.get(FRONT_TAG)
        if managed and not others and (names_the_issuer or fetching or front) and not settings.delete_bucket:
            if names_the_issuer:
                why = (f"its name is the issuer's host, and whoever re-created it could mint tokens for every role that "
                       f"trusts {issuer.url} through an IAM provider in any account; delete it with --delete-bucket once "
                       "no provider trusts the issuer")
            elif fetching:
                why = (f"it is the origin of {_distributions(fetching)}, which teardown keeps, and whoever re-created it "
                       "could serve their own documents through it; delete it with --delete-bucket once no distribution uses it")
            else:
                why = (f"it was made for a front you manage ({front}), which reads it by name and which teardown cannot "
                       f"see: whoever re-created it could serve their own documents as {issuer.host} through that front; "
                       "delete it with --delete-bucket once the front is removed or repointed")
            _plan_tombstone(s3, clients, target, tags, plan, report, actions, why)
        elif managed and not others:
            if fetching:
                raise ConflictError(
                    f"refusing to delete s3://{bucket}: it is the origin of {_distributions(fetching)}, and whoever "
                    "re-created the bucket could serve their own documents through it: nothing was removed",
                    "delete or repoint that distribution first, or drop --delete-bucket to keep the bucket as a locked tombstone",
                )
            if front:
                report.notes.append(
                    f"warning: s3://{bucket} was made for a front you manage ({front}); teardown cannot see it: remove it "
                    f"or repoint it before anyone else can create a bucket of that name"
                )
            if names_the_issuer:
                _refuse_while_trusted(clients, target, provider.arn if provider is not None and owned_provider else None)
                report.notes.append(
                    f"warning: IAM OIDC providers in other accounts cannot be seen from here: if one trusts {issuer.url}, "
                    f"whoever re-creates s3://{bucket} can mint tokens for the roles that trust it"
                )
            plan.add(f"s3://{bucket}", "delete", "created by oidc-publisher and empty once the documents are gone")
            actions.append(lambda: report.notes.extend(_delete_bucket(s3, bucket, ours, plan)))
        else:
            why = f"it holds {len(others)} other object(s)" if managed else "it is not tagged managed-by=oidc-publisher"
            report.notes.append(f"kept s3://{bucket}: {why}")
            policy = s3edge.bucket_policy(s3, bucket)
            trimmed = _without_keys(policy, {object_arn(clients.partition, bucket, key) for key in ours}) if policy else None
            if policy is not None and trimmed != policy:
                plan.add(f"s3://{bucket}", "update", "bucket policy: drop read access to this issuer's documents")
                actions.append(lambda: _put_bucket_policy(s3, bucket, trimmed))

    _plan_cloudfront(clients, target, cloudfront, plan, report, actions, waiter)
    report.notes.extend(_name_notes(target, plan, cloudfront))

    if settings.dry_run or not plan.has_changes:
        return report
    warnings = [note for note in report.notes if note.startswith("warning: ")]
    if not settings.yes and not confirm("\n".join([plan.to_text(dry_run=True), *warnings, "Remove all of this?"])):
        report.cancelled = True
        return report
    report.applied = True
    for action in actions:
        action()
    return report


def _plan_tombstone(
    s3: Any, clients: AwsClients, target: Target, tags: dict[str, str], plan: Plan, report: TeardownReport,
    actions: list[Callable[[], None]], why: str,
) -> None:
    """Keep the bucket, emptied, as a tombstone while its name is trusted: an S3-direct issuer's bucket name is
    the issuer's host, so whoever re-created it could serve their own JWKS to STS for every IAM provider (in any
    account) that trusts the issuer; a distribution that stays fetches from it by name. Locked: tagged, Block
    Public Access all on, and a policy that denies everyone but this account. Each part is planned from the
    live state, so a re-run finishes what a failed run left, and a tombstone already locked is left alone."""
    from oidc_publisher.aws import s3 as s3edge

    bucket = target.bucket
    steps: list[str] = []
    if TOMBSTONE_TAG not in tags:
        steps.append(f"tag {TOMBSTONE_TAG}={target.issuer.url}")
        tagged = {**tags, TOMBSTONE_TAG: tombstone_tag_value(target.issuer.url)}
        actions.append(lambda: _put_bucket_tags(s3, bucket, tagged))
    if s3edge.public_access_block(s3, bucket) != BLOCK_ALL:
        steps.append("Block Public Access all on")
        actions.append(lambda: _put_public_access_block(s3, bucket))
    wanted = tombstone_policy(clients.partition, bucket, clients.account_id)
    if s3edge.bucket_policy(s3, bucket) != wanted:
        steps.append(f"bucket policy: public read gone, every S3 action denied to all but account {clients.account_id}")
        actions.append(lambda: _put_bucket_policy(s3, bucket, wanted))
    if steps:
        plan.add(f"s3://{bucket}", "update", "keep as a locked tombstone, not deleted: " + "; ".join(steps))
    report.notes.append(f"kept s3://{bucket} as a tombstone (empty, private, tagged {TOMBSTONE_TAG}): {why}")


def tombstone_tag_value(issuer_url: str) -> str:
    """The issuer URL as an S3 tag value (letters, digits, spaces and _ . : / = + - @; 256 at most)."""
    import re

    return re.sub(r"[^\w .:/=+@-]", "_", issuer_url, flags=re.ASCII)[:256]


def _refuse_while_trusted(clients: AwsClients, target: Target, deleted_now: str | None) -> None:
    """Refuse, before any write, to free an S3-direct issuer's bucket name while an IAM provider of this
    account trusts its host (any path: every issuer under this bucket shares the name). The provider this
    run deletes does not count."""
    from oidc_publisher.aws.iam import list_provider_arns

    host = target.issuer.host
    for arn in list_provider_arns(clients):
        url = arn.split(":oidc-provider/", 1)[-1]
        if arn != deleted_now and (url == host or url.startswith(f"{host}/")):
            raise ConflictError(
                f"refusing to delete s3://{target.bucket}: the IAM OIDC provider {arn} still trusts it, and whoever "
                "re-created the bucket could mint tokens for every role that trusts that provider: nothing was removed",
                f"delete that provider first (aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {arn}), "
                "or drop --delete-bucket to keep the bucket as a locked tombstone",
            )


@dataclass
class _CloudFront:
    """What teardown reads of CloudFront: every live distribution, and the issuer's (if found)."""

    live: list[dict[str, Any]]
    distribution: Distribution | None
    managed: bool  # tagged managed-by=oidc-publisher: it is deleted here

    @property
    def deleted(self) -> str | None:
        return self.distribution.id if self.distribution is not None and self.managed else None


def _read_cloudfront(clients: AwsClients, target: Target) -> _CloudFront:
    """The distribution is recognised by its comment and origin, or as the one serving the issuer's host from
    this bucket (whatever --region says)."""
    from oidc_publisher.aws.cloudfront import find_distribution, list_distributions

    live = list(list_distributions(clients))
    distribution = find_distribution(clients, bucket=target.bucket, region=target.region, host=target.issuer.host, summaries=live)
    managed = False
    if distribution is not None:
        from oidc_publisher.aws.clients import translated as _translated

        with _translated("cloudfront:ListTagsForResource", distribution.id):
            items = clients.cloudfront().list_tags_for_resource(Resource=distribution.arn)["Tags"].get("Items", [])
        managed = {t["Key"]: t.get("Value", "") for t in items}.get(MANAGED_BY[0]) == MANAGED_BY[1]
    return _CloudFront(live, distribution, managed)


def _plan_cloudfront(
    clients: AwsClients, target: Target, cloudfront: _CloudFront, plan: Plan, report: TeardownReport,
    actions: list[Callable[[], None]], waiter: Waiter | None = None,
) -> None:
    """The distribution (removed only if tagged managed-by), then its origin access control (by name and the
    tool's description) and its cache policy (by name and the tool's comment). An OAC or a cache policy that
    any other live distribution uses is kept, with a note naming it: CloudFront refuses those deletes (moto
    does not)."""
    from oidc_publisher.aws.cloudfront import (
        cache_policy_name,
        find_cache_policy,
        oac_made_for,
        origin_access_control,
        users_of_cache_policy,
        users_of_origin_access_control,
    )

    bucket, live, distribution = target.bucket, cloudfront.live, cloudfront.distribution
    if distribution is not None:
        if not cloudfront.managed:
            report.notes.append(f"kept CloudFront distribution {distribution.id}: it is not tagged managed-by=oidc-publisher")
            return
        plan.add(f"cloudfront:distribution/{distribution.id}", "delete", "created by oidc-publisher: disable, then delete once disabled")
    # What another live distribution uses stays: only the one deleted here (first) may use it.
    others = [summary for summary in live if distribution is None or summary["Id"] != distribution.id]
    found = origin_access_control(clients, bucket)
    oac = str(found["Id"]) if found is not None else None
    if found is not None and not oac_made_for(found, bucket):
        report.notes.append(f"kept origin access control {oac} ({found.get('Name')}): it lacks oidc-publisher's mark (its "
                            f"description is {found.get('Description', '')!r}: Terraform's, someone else's, or from an older "
                            "oidc-publisher); delete it yourself once nothing uses it, if it is yours")
        oac = None
    users = users_of_origin_access_control(others, oac) if oac else []
    if oac and users:
        report.notes.append(f"kept origin access control {oac}: still used by {_distributions(users)}")
        oac = None
    if oac:
        plan.add(f"cloudfront:origin-access-control/{oac}", "delete", "created by oidc-publisher for this bucket, after the distribution")
    policy = find_cache_policy(clients, bucket)
    name = cache_policy_name(bucket)
    if policy is not None and not policy.made_for(bucket):
        report.notes.append(f"kept cache policy {name} ({policy.id}): oidc-publisher did not create it (its comment is {policy.comment!r})")
        policy = None
    users = users_of_cache_policy(others, policy.id) if policy is not None else []
    if policy is not None and users:
        report.notes.append(f"kept cache policy {name} ({policy.id}): still used by {_distributions(users)}")
        policy = None
    if policy is not None:
        plan.add(f"cloudfront:cache-policy/{name}", "delete", "created by oidc-publisher for this bucket, once no distribution uses it")
    if distribution is not None or oac or policy is not None:
        policy_id = policy.id if policy is not None else None
        actions.append(lambda: _remove_cloudfront(clients, report, distribution, oac, name, policy_id, waiter))


def _distributions(ids: list[str]) -> str:
    return f"distribution{'s' if len(ids) > 1 else ''} {', '.join(ids)}"


def _name_notes(target: Target, plan: Plan, cloudfront: _CloudFront) -> list[str]:
    """Why removing a CloudFront issuer's distribution and bucket frees no name IAM trusts, or what the owner
    of a custom domain must do so that it does not."""
    if target.issuer.s3_origin() is not None:
        return []
    removed = [c.resource for c in plan.changes if c.action == "delete"]
    distribution = cloudfront.deleted
    if not (f"s3://{target.bucket}" in removed or (distribution and f"cloudfront:distribution/{distribution}" in removed)):
        return []
    host = target.issuer.host
    if host.endswith(".cloudfront.net"):
        return [f"the issuer's host {host} is the distribution's own name: nobody can claim it once the distribution is "
                "deleted (a new distribution gets another name), so the distribution and its bucket can go"]
    return [f"warning: DNS for {host} must not be left pointing at the deleted distribution or bucket, which another "
            f"party could claim and serve this issuer from: remove or repoint the record for {host}"]


def _settle(plan: Plan, resource: str, happened: Change | None) -> None:
    """Replace the planned change of ``resource`` with what really happened (None: nothing), so that a
    delete that did not happen is never reported under "Changed:"."""
    plan.changes = [c for c in (happened if c.resource == resource else c for c in plan.changes) if c is not None]


def _remove_cloudfront(
    clients: AwsClients, report: TeardownReport, distribution: Distribution | None, oac: str | None, policy_name: str,
    policy_id: str | None, waiter: Waiter | None = None,
) -> None:
    """Disable and delete the distribution, then its OAC and cache policy; a note for what has to wait.

    CloudFront deletes a distribution only once it is disabled and deployed (minutes after disabling),
    and refuses to delete an OAC or a cache policy a distribution still uses: the next run finishes the job,
    or this one, with ``waiter``, once the distribution has deployed (a timeout makes the report fail).
    What did not happen is taken out of the report's plan."""
    from oidc_publisher.aws.cloudfront import (
        delete_cache_policy,
        delete_distribution_if_disabled,
        delete_origin_access_control,
        disable_distribution,
    )

    plan, notes = report.plan, report.notes
    oac_resource, policy_resource = f"cloudfront:origin-access-control/{oac}", f"cloudfront:cache-policy/{policy_name}"
    waited = None
    if distribution is not None:
        resource = f"cloudfront:distribution/{distribution.id}"
        disabled_now = disable_distribution(clients, distribution)
        deleted = delete_distribution_if_disabled(clients, distribution)
        if not deleted and waiter is not None:
            waited = waiter.wait(f"distribution {distribution.id}", lambda: _deletable(clients, distribution.id))
            deleted = waited.done and delete_distribution_if_disabled(clients, distribution)
        if not deleted:
            _settle(plan, resource, Change(resource, "update", "disabled; CloudFront deletes it once deployed") if disabled_now else None)
            _settle(plan, oac_resource, None)
            _settle(plan, policy_resource, None)
            then = [f"its origin access control {oac}"] if oac else []
            then += [f"its cache policy {policy_name}"] if policy_id else []
            then_text = f", then {' and '.join(then)}" if then else ""
            if waited is not None:
                report.gave_up = True
                report.waited = (f"gave up waiting after {duration(waited.elapsed)}: distribution {distribution.id} is disabled "
                                 f"but still {waited.last}; re-run teardown (with --wait) to delete it{then_text}")
            else:
                notes.append(f"distribution {distribution.id} is disabled; CloudFront deletes it only once deployed: "
                             f"re-run teardown in about 15 minutes to delete it{then_text}")
            return
    if oac and not delete_origin_access_control(clients, oac):
        _settle(plan, oac_resource, None)
        notes.append(f"origin access control {oac} is still in use; re-run teardown once the distribution is gone")
    if policy_id and not delete_cache_policy(clients, policy_id):
        _settle(plan, policy_resource, None)
        notes.append(f"kept cache policy {policy_name} ({policy_id}): a distribution still uses it (CachePolicyInUse); "
                     "re-run teardown once no distribution uses it")
    if waited is not None:
        report.waited = waited.summary()


def _deletable(clients: AwsClients, distribution_id: str) -> Polled:
    """What ``--wait`` sees of a distribution being deleted: done once disabled and deployed (or gone)."""
    from oidc_publisher.aws.cloudfront import distribution_status

    found = distribution_status(clients, distribution_id)
    if found is None:
        return Polled("deleted", True)
    status, enabled = found
    return Polled(f"{status} (enabled)" if enabled else status, status == "Deployed" and not enabled)


def _bucket_exists(s3: Any, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    from oidc_publisher.aws.clients import aws_error

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise aws_error(exc, "s3:ListBucket", f"s3://{bucket}") from None
    except Exception as exc:  # noqa: BLE001 - BotoCoreError and friends, translated
        raise aws_error(exc, "s3:ListBucket", f"s3://{bucket}") from None
    return True


def _without_keys(policy: dict[str, Any], arns: set[str]) -> dict[str, Any] | None:
    """The bucket policy without these objects in the tool's read statements (a statement left empty
    goes); None when only the tool's deny-insecure-transport statement would be left."""
    changed = False
    kept = []
    for statement in policy.get("Statement", []):
        if statement.get("Sid") in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID):
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else list(resources)
            rest = [r for r in resources if r not in arns]
            if len(rest) != len(resources):
                changed = True
                if not rest:
                    continue
                statement = {**statement, "Resource": rest}
        kept.append(statement)
    if not changed:
        return policy
    if all(s.get("Sid") == DENY_INSECURE_SID for s in kept):
        return None
    return {**policy, "Statement": kept}


def _put_bucket_policy(s3: Any, bucket: str, policy: dict[str, Any] | None) -> None:
    import json

    from oidc_publisher.aws.clients import translated as _translated

    if policy is None:
        with _translated("s3:DeleteBucketPolicy", f"s3://{bucket}"):
            s3.delete_bucket_policy(Bucket=bucket)
    else:
        with _translated("s3:PutBucketPolicy", f"s3://{bucket}"):
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy, sort_keys=True))


def _put_public_access_block(s3: Any, bucket: str) -> None:
    from oidc_publisher.aws.clients import translated as _translated

    with _translated("s3:PutBucketPublicAccessBlock", f"s3://{bucket}"):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)


def _put_bucket_tags(s3: Any, bucket: str, tags: dict[str, str]) -> None:
    from oidc_publisher.aws.clients import translated as _translated

    with _translated("s3:PutBucketTagging", f"s3://{bucket}"):
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})


def _versions(s3: Any, bucket: str, key: str | None = None) -> list[dict[str, Any]]:
    """Every version and delete marker in the bucket (or of exactly ``key``)."""
    from oidc_publisher.aws.clients import translated as _translated

    out: list[dict[str, Any]] = []
    with _translated("s3:ListBucketVersions", f"s3://{bucket}"):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **({"Prefix": key} if key else {})):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if key is None or entry["Key"] == key:
                    out.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
    return out


def _delete_versions(s3: Any, bucket: str, versions: list[dict[str, Any]]) -> None:
    from oidc_publisher.aws.clients import translated as _translated

    with _translated("s3:DeleteObjectVersion", f"s3://{bucket}"):
        for start in range(0, len(versions), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[start : start + 1000], "Quiet": True})


def _delete_bucket(s3: Any, bucket: str, ours: set[str], plan: Plan) -> list[str]:
    """Delete the (now empty) bucket; keep it if something else was written to it meanwhile."""
    from oidc_publisher.aws.clients import translated as _translated

    rest = _versions(s3, bucket)
    if any(v["Key"] not in ours for v in rest):
        _settle(plan, f"s3://{bucket}", None)
        return [f"kept s3://{bucket}: other objects were written to it during teardown"]
    if rest:
        _delete_versions(s3, bucket, rest)
    with _translated("s3:DeleteBucket", f"s3://{bucket}"):
        s3.delete_bucket(Bucket=bucket)
    return []


def require_terminal(yes: bool, dry_run: bool, is_tty: bool) -> None:
    if not yes and not dry_run and not is_tty:
        raise UsageError(
            "refusing to tear down without confirmation: no terminal is attached",
            "re-run with --yes (or --dry-run to see what would go)",
        )
