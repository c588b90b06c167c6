"""Teardown's planner: from a snapshot of what exists to the removals, each with the AWS calls that make it. Pure.

Every ownership rule of teardown is decided here (DESIGN.md):
- only what the tool created is deleted or changed: the provider and the bucket by their ``managed-by`` tag, the
  distribution by its tag, the origin access control and the cache policy by the mark their creating call gave them;
  an OAC or a cache policy that another live distribution uses stays. The documents and the state object are the
  issuer's own keys, so they go from any bucket; a bucket the tool did not create keeps everything else, minus this
  issuer's objects in the tool's read statements of its policy;
- no name IAM may still trust is freed: an S3-direct issuer's bucket (its name is the issuer's host), a bucket a
  kept distribution or a front fetches from by name, is kept as a locked tombstone (empty, Block Public Access all
  on, every action denied to all but the owner, tagged) unless ``--delete-bucket``, which is refused while a provider
  of this account (or of a listed account, ``--account-role``) trusts the host or a kept distribution uses the bucket.

A removal is what ``--dry-run`` shows (``lines``) and the calls that make it (``steps``, one operation each):
the documents' lines are one per key, their versions go in as few DeleteObjects calls as S3 allows; the tombstone
is one line and up to three calls. Three rounds are planned now and finished later, after what only execution can
tell: the bucket's deletion re-lists it first (:func:`plan_bucket_deletion`), and CloudFront deletes a distribution
only once disabled and deployed, then its OAC and cache policy, each with the ETag read just before
(:func:`disable_operation`, :func:`delete_distribution_operation`, :func:`delete_by_etag`, :func:`cloudfront_outcome`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from oidc_publisher.core.bucket_plan import FRONT_TAG, wanted_public_access_block
from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.operations import Operation
from oidc_publisher.core.plan import Plan, Step
from oidc_publisher.core.policies import (
    CLOUDFRONT_READ_SID,
    DENY_INSECURE_SID,
    PUBLIC_READ_SID,
    object_arn,
    tombstone_policy,
)
from oidc_publisher.core.waiting import Waited, duration

# On a bucket kept as a tombstone: the issuer whose name it keeps.
TOMBSTONE_TAG = "oidc-publisher:tombstone"
# A tombstone is as private as a bucket behind CloudFront: every Block Public Access setting on.
BLOCK_ALL = wanted_public_access_block(private=True)
DELETE_BATCH = 1000  # S3's most keys in one DeleteObjects
# The phases of the first round, in the order today's teardown has always written.
PROVIDER_PHASE, VERSIONS_PHASE, TAG_PHASE, BLOCK_PHASE, POLICY_PHASE = range(5)


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str


@dataclass(frozen=True)
class BucketState:
    """What teardown read of an existing bucket."""

    tags: Mapping[str, str]
    versions: tuple[Version, ...]  # every version and delete marker when the bucket is the tool's; else of the issuer's keys
    policy: Mapping[str, Any] | None = None
    public_access_block: Mapping[str, Any] | None = None  # read only for a bucket the tool made (a tombstone to be)

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_BY[0]) == MANAGED_BY[1]


@dataclass(frozen=True)
class LiveDistribution:
    """A distribution of the account, as far as teardown cares: does it use the bucket, the OAC, the cache policy."""

    id: str
    origin_is_bucket: bool = False
    oac_ids: frozenset[str] = frozenset()
    cache_policy_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Named:
    """An OAC or cache policy found by the tool's name for the bucket: its id, and whether it bears the tool's
    mark (the description or comment its creating call gave it; ``mark``: what it has)."""

    id: str
    name: str
    mark: str
    made_by_tool: bool


@dataclass(frozen=True)
class CloudFrontState:
    live: tuple[LiveDistribution, ...] = ()
    distribution: str | None = None  # the issuer's distribution, found by comment and origin, tag, or host
    distribution_managed: bool = False  # tagged managed-by=oidc-publisher
    oac: Named | None = None  # not read when the distribution is kept
    cache_policy: Named | None = None
    cache_policy_name: str = ""

    @property
    def deleted(self) -> str | None:
        return self.distribution if self.distribution is not None and self.distribution_managed else None


class HasAccount(Protocol):
    @property
    def account_id(self) -> str: ...


@dataclass(frozen=True)
class TeardownSnapshot:
    """Everything teardown decides from, read before anything is decided."""

    issuer_url: str
    host: str
    provider_path: str
    bucket: str
    region: str
    partition: str
    account_id: str
    names_the_issuer: bool  # S3-direct: the bucket's name is the issuer's host
    ours: tuple[str, ...]  # the issuer's object keys: the two documents and the state object
    provider_arn: str | None = None
    provider_owned: bool = False
    roles: tuple[str, ...] = ()  # names of the roles that trust the issuer (kept, listed)
    bucket_state: BucketState | None = None  # None: no such bucket
    cloudfront: CloudFrontState = field(default_factory=CloudFrontState)
    account_providers: tuple[tuple[HasAccount, str | None], ...] = ()  # --account-role: (role, its provider ARN or None)
    provider_arns: tuple[str, ...] | None = None  # this account's providers (read with --delete-bucket): the trust refusal's
    members: tuple[str, ...] = ()  # the issuer's members that still publish a current key (core/members.active_members)

@dataclass(frozen=True)
class Removal:
    """What ``--dry-run`` shows, and the calls that make it, in order."""

    lines: tuple[Step, ...]
    steps: tuple[Step, ...]


@dataclass
class CloudFrontRemoval:
    """The CloudFront round: what to remove once the rest is gone (ids; ``policy_name`` for the notes)."""

    distribution: str | None
    oac: str | None
    cache_policy: str | None
    policy_name: str


@dataclass
class TeardownPlan:
    removals: list[Removal] = field(default_factory=list)  # the first round: provider, documents, bucket lock or trim
    bucket_deletion: Removal | None = None  # the bucket, after a last look at it
    cloudfront: CloudFrontRemoval | None = None
    cloudfront_lines: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[Step]:
        rounds = [*self.removals, *([self.bucket_deletion] if self.bucket_deletion else [])]
        return [line for removal in rounds for line in removal.lines] + self.cloudfront_lines

    @property
    def plan(self) -> Plan:
        return Plan(list(self.lines))

    @property
    def calls(self) -> list[Step]:
        """Every planned call, one operation each: the first round's, the bucket's (as planned now; it is planned again
        after a last listing) and CloudFront's (their ETags are read just before each call)."""
        later = [*(self.bucket_deletion.steps if self.bucket_deletion else ()), *self.cloudfront_lines]
        return [*self.steps, *later]

    @property
    def steps(self) -> list[Step]:
        """The first round's calls, phase by phase (what the executor runs before the bucket and CloudFront rounds)."""
        return [step for removal in self.removals for step in removal.steps]


def _one(step: Step) -> Removal:
    return Removal((step,), (step,))


def tombstone_tag_value(issuer_url: str) -> str:
    """The issuer URL as an S3 tag value (letters, digits, spaces and _ . : / = + - @; 256 at most)."""
    return re.sub(r"[^\w .:/=+@-]", "_", issuer_url, flags=re.ASCII)[:256]


def without_keys(policy: Mapping[str, Any], arns: set[str]) -> dict[str, Any] | None:
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
        return dict(policy)
    if all(s.get("Sid") == DENY_INSECURE_SID for s in kept):
        return None
    return {**policy, "Statement": kept}


def refuse_while_registered(
    issuer_url: str, providers: Sequence[tuple[HasAccount, str | None]], deleted_now: str | None = None
) -> None:
    """Teardown's refusal: while a listed account still has a provider for the issuer (its roles trust the
    documents teardown would remove), nothing is removed. ``providers``: each listed account's role and provider
    ARN, or None; ``deleted_now``: the caller's own provider, which this teardown deletes."""
    left = [(role, arn) for role, arn in providers if arn is not None and arn != deleted_now]
    if not left:
        return
    which = ", ".join(f"{role.account_id} ({arn})" for role, arn in left)
    plural = len(left) > 1
    raise ConflictError(
        f"refusing to tear down {issuer_url}: account{'s' if plural else ''} {which} still "
        f"{'have an IAM OIDC provider' if plural else 'has an IAM OIDC provider'} for it, and the roles there "
        "trust the documents teardown would remove: nothing was removed",
        "delete the provider in each of those accounts first (aws iam delete-open-id-connect-provider "
        "--open-id-connect-provider-arn ARN, with that account's credentials), then re-run teardown",
    )


def refuse_while_trusted(snapshot: TeardownSnapshot, deleted_now: str | None) -> None:
    """Refuse, before any write, to free an S3-direct issuer's bucket name while an IAM provider of this
    account trusts its host (any path: every issuer under this bucket shares the name). The provider this
    run deletes does not count."""
    host = snapshot.host
    if snapshot.provider_arns is None:
        raise ValueError("teardown's snapshot lacks this account's providers: the bucket's deletion cannot be checked")
    for arn in snapshot.provider_arns:
        url = arn.split(":oidc-provider/", 1)[-1]
        if arn != deleted_now and (url == host or url.startswith(f"{host}/")):
            raise ConflictError(
                f"refusing to delete s3://{snapshot.bucket}: the IAM OIDC provider {arn} still trusts it, and whoever "
                "re-created the bucket could mint tokens for every role that trusts that provider: nothing was removed",
                f"delete that provider first (aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {arn}), "
                "or drop --delete-bucket to keep the bucket as a locked tombstone",
            )


def _distributions(ids: Sequence[str]) -> str:
    return f"distribution{'s' if len(ids) > 1 else ''} {', '.join(ids)}"


def delete_versions_steps(bucket: str, region: str | None, versions: Sequence[Version], *, phase: int) -> list[Step]:
    """DeleteObjects of these versions, as few calls as S3 allows."""
    steps = []
    for start in range(0, len(versions), DELETE_BATCH):
        batch = versions[start : start + DELETE_BATCH]
        objects = [{"Key": v.key, "VersionId": v.version_id} for v in batch]
        steps.append(Step(f"s3://{bucket}", "delete", f"{len(batch)} version(s) and delete marker(s)",
                          Operation("s3", "delete_objects", {"Bucket": bucket, "Delete": {"Objects": objects, "Quiet": True}},
                                    region), phase))
    return steps


def refuse_while_shared(snapshot: TeardownSnapshot, *, all_members: bool) -> None:
    """A shared issuer (docs/shared-issuer.md) serves every member's tokens: removing it ends them all. Refused
    while two or more members still publish a current key, unless ``--all-members`` says that is the intent."""
    if len(snapshot.members) >= 2 and not all_members:
        raise ConflictError(
            f"refusing to tear down {snapshot.issuer_url}: it is shared by members {', '.join(snapshot.members)}, "
            "and every one of them loses its tokens",
            "let each cluster leave first (oidc-publisher members remove NAME --bucket ...), or add --all-members "
            "to end the issuer for all of them",
        )


def plan_teardown(snapshot: TeardownSnapshot, *, delete_bucket: bool = False, all_members: bool = False) -> TeardownPlan:
    """What teardown removes, keeps and says, from the snapshot; a refusal (:class:`ConflictError`) before anything
    is written when it would free a name something still trusts, or end a shared issuer's other members."""
    refuse_while_shared(snapshot, all_members=all_members)
    s = snapshot
    out = TeardownPlan()
    owned_arn = s.provider_arn if s.provider_arn is not None and s.provider_owned else None
    refuse_while_registered(s.issuer_url, s.account_providers, owned_arn)
    if s.provider_arn is None:
        out.notes.append(f"no IAM OIDC provider is registered for {s.issuer_url}")
    elif owned_arn is not None:
        out.removals.append(_one(Step(
            f"iam:oidc-provider/{s.provider_path}", "delete", "created by oidc-publisher",
            Operation("iam", "delete_open_id_connect_provider", {"OpenIDConnectProviderArn": owned_arn}), PROVIDER_PHASE,
        )))
    else:
        out.notes.append(f"kept the IAM provider {s.provider_arn}: it is not tagged managed-by=oidc-publisher")
    if s.roles:
        out.notes.append(f"roles that trust this issuer are kept (delete them yourself): {', '.join(sorted(s.roles))}")
    _plan_bucket(s, out, delete_bucket, owned_arn)
    _plan_cloudfront(s, out)
    out.notes.extend(_name_notes(s, out))
    return out


def _plan_bucket(s: TeardownSnapshot, out: TeardownPlan, delete_bucket: bool, owned_arn: str | None) -> None:
    name = s.bucket
    found = s.bucket_state
    if found is None:
        out.notes.append(f"s3://{name} does not exist")
        return
    ours = set(s.ours)
    mine = [v for v in found.versions if v.key in ours]
    others = {v.key for v in found.versions if v.key not in ours}
    if mine:
        lines = tuple(Step(f"s3://{name}/{key}", "delete", "every version and delete marker")
                      for key in sorted({v.key for v in mine}))
        out.removals.append(Removal(lines, tuple(delete_versions_steps(name, s.region, mine, phase=VERSIONS_PHASE))))
    managed = found.managed
    # A distribution that stays (not the tool's) fetches from the bucket by its name.
    fetching = [d.id for d in s.cloudfront.live if d.origin_is_bucket and d.id != s.cloudfront.deleted]
    # A front the user manages (bootstrap --front, recorded at creation) reads it by name too, unseen from here.
    front = found.tags.get(FRONT_TAG)
    if managed and not others and (s.names_the_issuer or fetching or front) and not delete_bucket:
        if s.names_the_issuer:
            why = (f"its name is the issuer's host, and whoever re-created it could mint tokens for every role that "
                   f"trusts {s.issuer_url} through an IAM provider in any account; delete it with --delete-bucket once "
                   "no provider trusts the issuer")
        elif fetching:
            why = (f"it is the origin of {_distributions(fetching)}, which teardown keeps, and whoever re-created it "
                   "could serve their own documents through it; delete it with --delete-bucket once no distribution uses it")
        else:
            why = (f"it was made for a front you manage ({front}), which reads it by name and which teardown cannot "
                   f"see: whoever re-created it could serve their own documents as {s.host} through that front; "
                   "delete it with --delete-bucket once the front is removed or repointed")
        _plan_tombstone(s, found, out, why)
    elif managed and not others:
        if fetching:
            raise ConflictError(
                f"refusing to delete s3://{name}: it is the origin of {_distributions(fetching)}, and whoever "
                "re-created the bucket could serve their own documents through it: nothing was removed",
                "delete or repoint that distribution first, or drop --delete-bucket to keep the bucket as a locked tombstone",
            )
        if front:
            out.notes.append(
                f"warning: s3://{name} was made for a front you manage ({front}); teardown cannot see it: remove it "
                f"or repoint it before anyone else can create a bucket of that name"
            )
        if s.names_the_issuer:
            refuse_while_trusted(s, owned_arn)
            out.notes.append(
                f"warning: IAM OIDC providers in other accounts cannot be seen from here: if one trusts {s.issuer_url}, "
                f"whoever re-creates s3://{name} can mint tokens for the roles that trust it"
            )
        out.bucket_deletion = _one(Step(f"s3://{name}", "delete", "created by oidc-publisher and empty once the documents are gone",
                                        Operation("s3", "delete_bucket", {"Bucket": name}, s.region)))
    else:
        why = f"it holds {len(others)} other object(s)" if managed else "it is not tagged managed-by=oidc-publisher"
        out.notes.append(f"kept s3://{name}: {why}")
        policy = found.policy
        trimmed = without_keys(policy, {object_arn(s.partition, name, key) for key in ours}) if policy else None
        if policy is not None and trimmed != policy:
            reason = "bucket policy: drop read access to this issuer's documents"
            operation = (Operation("s3", "delete_bucket_policy", {"Bucket": name}, s.region) if trimmed is None else
                         Operation("s3", "put_bucket_policy", {"Bucket": name, "Policy": json.dumps(trimmed, sort_keys=True)}, s.region))
            out.removals.append(_one(Step(f"s3://{name}", "update", reason, operation, TAG_PHASE)))


def _plan_tombstone(s: TeardownSnapshot, found: BucketState, out: TeardownPlan, why: str) -> None:
    """Keep the bucket, emptied, as a tombstone: tagged with the issuer it keeps the name of, every Block Public
    Access setting on, and a policy that denies every S3 action to all but this account. Each part from the live
    state, so that a run that stopped half way is finished by the next."""
    name = s.bucket
    parts: list[str] = []
    steps: list[Step] = []
    resource, reason = f"s3://{name}", "keep as a locked tombstone"
    if TOMBSTONE_TAG not in found.tags:
        parts.append(f"tag {TOMBSTONE_TAG}={s.issuer_url}")
        tagged = {**found.tags, TOMBSTONE_TAG: tombstone_tag_value(s.issuer_url)}
        steps.append(Step(resource, "update", reason, Operation("s3", "put_bucket_tagging", {
            "Bucket": name, "Tagging": {"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tagged.items())]}}, s.region), TAG_PHASE))
    if found.public_access_block != BLOCK_ALL:
        parts.append("Block Public Access all on")
        steps.append(Step(resource, "update", reason, Operation("s3", "put_public_access_block", {
            "Bucket": name, "PublicAccessBlockConfiguration": dict(BLOCK_ALL)}, s.region), BLOCK_PHASE))
    wanted = tombstone_policy(s.partition, name, s.account_id)
    if found.policy != wanted:
        parts.append(f"bucket policy: public read gone, every S3 action denied to all but account {s.account_id}")
        steps.append(Step(resource, "update", reason, Operation("s3", "put_bucket_policy", {
            "Bucket": name, "Policy": json.dumps(wanted, sort_keys=True)}, s.region), POLICY_PHASE))
    if steps:
        line = Step(resource, "update", "keep as a locked tombstone, not deleted: " + "; ".join(parts),
                    steps[0].operation if len(steps) == 1 else None)
        out.removals.append(Removal((line,), tuple(steps)))
    out.notes.append(f"kept s3://{name} as a tombstone (empty, private, tagged {TOMBSTONE_TAG}): {why}")


def _plan_cloudfront(s: TeardownSnapshot, out: TeardownPlan) -> None:
    """The distribution (removed only if tagged managed-by), then its origin access control (by name and the
    tool's description) and its cache policy (by name and the tool's comment). An OAC or a cache policy that
    any other live distribution uses is kept, with a note naming it: CloudFront refuses those deletes."""
    cf = s.cloudfront
    distribution = cf.distribution
    if distribution is not None:
        if not cf.distribution_managed:
            out.notes.append(f"kept CloudFront distribution {distribution}: it is not tagged managed-by=oidc-publisher")
            return
        out.cloudfront_lines.append(Step(f"cloudfront:distribution/{distribution}", "delete",
                                         "created by oidc-publisher: disable, then delete once disabled",
                                         Operation("cloudfront", "delete_distribution", {"Id": distribution})))
    # What another live distribution uses stays: only the one deleted here (first) may use it.
    others = [d for d in cf.live if distribution is None or d.id != distribution]
    oac = cf.oac
    if oac is not None and not oac.made_by_tool:
        out.notes.append(f"kept origin access control {oac.id} ({oac.name}): it lacks oidc-publisher's mark (its "
                         f"description is {oac.mark!r}: Terraform's, someone else's, or from an older "
                         "oidc-publisher); delete it yourself once nothing uses it, if it is yours")
        oac = None
    users = [d.id for d in others if oac is not None and oac.id in d.oac_ids]
    if oac is not None and users:
        out.notes.append(f"kept origin access control {oac.id}: still used by {_distributions(users)}")
        oac = None
    if oac is not None:
        out.cloudfront_lines.append(Step(f"cloudfront:origin-access-control/{oac.id}", "delete",
                                         "created by oidc-publisher for this bucket, after the distribution",
                                         Operation("cloudfront", "delete_origin_access_control", {"Id": oac.id})))
    policy, name = cf.cache_policy, cf.cache_policy_name
    if policy is not None and not policy.made_by_tool:
        out.notes.append(f"kept cache policy {name} ({policy.id}): oidc-publisher did not create it (its comment is {policy.mark!r})")
        policy = None
    users = [d.id for d in others if policy is not None and policy.id in d.cache_policy_ids]
    if policy is not None and users:
        out.notes.append(f"kept cache policy {name} ({policy.id}): still used by {_distributions(users)}")
        policy = None
    if policy is not None:
        out.cloudfront_lines.append(Step(f"cloudfront:cache-policy/{name}", "delete",
                                         "created by oidc-publisher for this bucket, once no distribution uses it",
                                         Operation("cloudfront", "delete_cache_policy", {"Id": policy.id})))
    if distribution is not None or oac is not None or policy is not None:
        out.cloudfront = CloudFrontRemoval(distribution, oac.id if oac else None, policy.id if policy else None, name)


def _name_notes(s: TeardownSnapshot, out: TeardownPlan) -> list[str]:
    """Why removing a CloudFront issuer's distribution and bucket frees no name IAM trusts, or what the owner
    of a custom domain must do so that it does not."""
    if s.names_the_issuer:
        return []
    removed = [line.resource for line in out.lines if line.action == "delete"]
    distribution = s.cloudfront.deleted
    if not (f"s3://{s.bucket}" in removed or (distribution and f"cloudfront:distribution/{distribution}" in removed)):
        return []
    host = s.host
    if host.endswith(".cloudfront.net"):
        return [f"the issuer's host {host} is the distribution's own name: nobody can claim it once the distribution is "
                "deleted (a new distribution gets another name), so the distribution and its bucket can go"]
    return [f"warning: DNS for {host} must not be left pointing at the deleted distribution or bucket, which another "
            f"party could claim and serve this issuer from: remove or repoint the record for {host}"]


# --- the rounds finished during execution ----------------------------------------------------------------


def plan_bucket_deletion(bucket: str, region: str | None, rest: Sequence[Version], ours: Sequence[str]) -> list[Step] | None:
    """The bucket's deletion, once its documents are gone: the versions left of the issuer's keys, then the bucket;
    None (kept) when something else was written to it meanwhile."""
    keys = set(ours)
    if any(v.key not in keys for v in rest):
        return None
    return [*delete_versions_steps(bucket, region, rest, phase=0),
            Step(f"s3://{bucket}", "delete", "created by oidc-publisher", Operation("s3", "delete_bucket", {"Bucket": bucket}, region), 1)]


def disable_operation(distribution_id: str, config: Mapping[str, Any], etag: str) -> Operation | None:
    """The UpdateDistribution that disables it (the first step of deleting it); None when it already is."""
    if not config.get("Enabled"):
        return None
    return Operation("cloudfront", "update_distribution",
                     {"Id": distribution_id, "IfMatch": etag, "DistributionConfig": {**config, "Enabled": False}})


def delete_distribution_operation(distribution_id: str, found: Mapping[str, Any], etag: str) -> Operation | None:
    """The DeleteDistribution CloudFront accepts only once it is disabled and deployed; None before."""
    if found.get("DistributionConfig", {}).get("Enabled") or found.get("Status") != "Deployed":
        return None
    return Operation("cloudfront", "delete_distribution", {"Id": distribution_id, "IfMatch": etag})


def delete_by_etag(method: str, ident: str, etag: str) -> Operation:
    """CloudFront's delete of an OAC or cache policy, conditional on the ETag just read."""
    return Operation("cloudfront", method, {"Id": ident, "IfMatch": etag})


@dataclass
class CloudFrontOutcome:
    """What the CloudFront round did: the distribution disabled now, deleted (or gone), the OAC and cache policy
    deleted (None: not tried), and the wait if there was one."""

    disabled_now: bool = False
    deleted: bool = False
    oac_deleted: bool | None = None
    policy_deleted: bool | None = None
    waited: Waited | None = None


def settle(plan: Plan, resource: str, happened: Step | None) -> None:
    """Replace the planned change of ``resource`` with what really happened (None: nothing), so that a
    delete that did not happen is never reported under "Changed:"."""
    plan.changes = [c for c in (happened if c.resource == resource else c for c in plan.changes) if c is not None]


def cloudfront_outcome(plan: Plan, removal: CloudFrontRemoval, outcome: CloudFrontOutcome) -> tuple[list[str], str | None, bool]:
    """Settle the report's plan to what the CloudFront round did; the notes for what has to wait, the line about
    the wait, and whether the wait gave up (the run then fails: something is left for a re-run)."""
    notes: list[str] = []
    oac_resource = f"cloudfront:origin-access-control/{removal.oac}"
    policy_resource = f"cloudfront:cache-policy/{removal.policy_name}"
    waited = outcome.waited
    if removal.distribution is not None and not outcome.deleted:
        resource = f"cloudfront:distribution/{removal.distribution}"
        settle(plan, resource, Step(resource, "update", "disabled; CloudFront deletes it once deployed") if outcome.disabled_now else None)
        settle(plan, oac_resource, None)
        settle(plan, policy_resource, None)
        then = [f"its origin access control {removal.oac}"] if removal.oac else []
        then += [f"its cache policy {removal.policy_name}"] if removal.cache_policy else []
        then_text = f", then {' and '.join(then)}" if then else ""
        if waited is not None:
            return notes, (f"gave up waiting after {duration(waited.elapsed)}: distribution {removal.distribution} is disabled "
                           f"but still {waited.last}; re-run teardown (with --wait) to delete it{then_text}"), True
        notes.append(f"distribution {removal.distribution} is disabled; CloudFront deletes it only once deployed: "
                     f"re-run teardown in about 15 minutes to delete it{then_text}")
        return notes, None, False
    if removal.oac and outcome.oac_deleted is False:
        settle(plan, oac_resource, None)
        notes.append(f"origin access control {removal.oac} is still in use; re-run teardown once the distribution is gone")
    if removal.cache_policy and outcome.policy_deleted is False:
        settle(plan, policy_resource, None)
        notes.append(f"kept cache policy {removal.policy_name} ({removal.cache_policy}): a distribution still uses it "
                     "(CachePolicyInUse); re-run teardown once no distribution uses it")
    return notes, (waited.summary() if waited is not None else None), False
