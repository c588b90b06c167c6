"""The CloudFront edge: reads the distribution, its origin access control and its cache policy into a
:class:`~oidc_publisher.core.distribution_plan.DistributionSnapshot`, runs the plan made from it
(``core/distribution_plan.py`` decides; :func:`execute_distribution_plan` only executes it, with
CloudFront's own hints on its errors), invalidates exactly the paths that changed, and tears down.

Recognising our distribution: its Comment (``oidc-publisher issuer for BUCKET``) and its origin
(``BUCKET.s3.REGION.amazonaws.com``), both in ListDistributions' answer, so finding it costs no call per
distribution. The Terraform module uses the same comment on purpose, so ``publish`` finds what Terraform
made. A distribution whose comment someone edited is still found by its tag
``oidc-publisher:bucket=BUCKET`` (one ListTagsForResource per distribution with that origin).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.clients import aws_error, error_code

# The names and marks moved to the pure core with the planner ("x as x": still importable from here).
from oidc_publisher.core.distribution_plan import (
    BUCKET_TAG,
    CachePolicy,
    DistributionPlan,
    DistributionSnapshot,
    FoundDistribution,
    cache_policy_drift,
    comment_for,
    distribution_after,
    oac_name,
    origin_domain,
)
from oidc_publisher.core.distribution_plan import Distribution as Distribution
from oidc_publisher.core.distribution_plan import cache_policy_config as cache_policy_config
from oidc_publisher.core.distribution_plan import cache_policy_name as cache_policy_name
from oidc_publisher.core.distribution_plan import describe as _describe
from oidc_publisher.core.distribution_plan import distribution_arn as distribution_arn
from oidc_publisher.core.distribution_plan import items as _items
from oidc_publisher.core.distribution_plan import oac_made_for as oac_made_for
from oidc_publisher.core.errors import AWSError
from oidc_publisher.core.operations import Operation

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients

# Items per ListDistributions / ListOriginAccessControls / ListCachePolicies page (AWS's maximum is 100;
# tests lower it).
LIST_PAGE_SIZE = 100


# CloudFront's own error codes, and what to do about each (the rest get aws_error's generic hints).
_HINTS = {
    "CNAMEAlreadyExists": "the alias {aliases} is used by another CloudFront distribution: remove it there, or choose another issuer host",
    "InvalidViewerCertificate": "the ACM certificate must be issued, in us-east-1, and cover {aliases}: check it in ACM",
    "TooManyDistributions": "the account is at its CloudFront distribution quota: delete unused ones, or ask AWS to raise it",
    "TooManyOriginAccessControls": "the account is at its origin access control quota: delete unused ones, or ask AWS to raise it",
    "PreconditionFailed": "{subject} changed while this run was reading it: re-run to converge it",
    "NoSuchDistribution": "it does not exist (any more): re-run to find or create it",
    "NoSuchOriginAccessControl": "it does not exist (any more): re-run to find or create it",
    "NoSuchCachePolicy": "it does not exist (any more): re-run to find or create it",
    "CachePolicyAlreadyExists": "a cache policy of that name exists already, perhaps made by another run at the same moment: re-run to converge it",
    "TooManyCachePolicies": "the account is at its cache policy quota: delete unused custom cache policies, or ask AWS to raise it",
}


@contextmanager
def _translated(
    action: str,
    resource: str | None = None,
    *,
    aliases: Sequence[str] = (),
    grant: str | None = None,
    subject: str = "the distribution",
) -> Iterator[None]:
    """Any botocore failure in the block becomes one :class:`AWSError` line naming ``action``; ``grant``
    names the IAM actions when they are not the API call's own name."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = aws_error(exc, action, resource)
        code = error_code(exc)
        if code in _HINTS:
            hint = _HINTS[code].format(aliases=", ".join(aliases) or "the issuer host", subject=subject)
            error = AWSError(error.message, hint)
        elif grant and code in ("AccessDenied", "AccessDeniedException"):
            error = AWSError(error.message, f"grant {grant} to the caller (see docs/iam-permissions.md)")
        raise error from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, resource) from None




# ---------------------------------------------------------------- reading current state


def _page(marker: str) -> dict[str, str]:
    return {"MaxItems": str(LIST_PAGE_SIZE), **({"Marker": marker} if marker else {})}


def _tags(clients: AwsClients, arn: str) -> dict[str, str]:
    with _translated("cloudfront:ListTagsForResource", arn):
        items = clients.cloudfront().list_tags_for_resource(Resource=arn)["Tags"].get("Items", []) or []
    return {item["Key"]: item.get("Value", "") for item in items}


def list_distributions(clients: AwsClients) -> Iterator[dict[str, Any]]:
    """Every distribution summary of the account (ListDistributions, page by page, as they are needed)."""
    client = clients.cloudfront()
    marker = ""
    while True:
        with _translated("cloudfront:ListDistributions"):
            page = client.list_distributions(**_page(marker))["DistributionList"]
        yield from _items(page)  # type: ignore[arg-type]
        if not page.get("IsTruncated") or not page.get("NextMarker"):
            return
        marker = page["NextMarker"]


def serves_host(summary: dict[str, Any], host: str) -> bool:
    """The distribution answers for ``host``: its own *.cloudfront.net name, or one of its aliases."""
    return summary.get("DomainName") == host or host in _items(summary.get("Aliases"))


def _origin_is_bucket(domain: str, bucket: str) -> bool:
    """``domain`` is ``bucket``'s S3 REST endpoint, in any region."""
    return re.fullmatch(rf"{re.escape(bucket)}\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com(\.cn)?", domain) is not None


def find_distribution(
    clients: AwsClients,
    *,
    bucket: str,
    region: str,
    host: str | None = None,
    summaries: Iterable[dict[str, Any]] | None = None,
) -> Distribution | None:
    """The distribution this tool (or the Terraform module) made for ``bucket``: by its comment and
    origin, else by its ``oidc-publisher:bucket`` tag among the distributions with that origin, else (with
    ``host``) the one that serves the issuer's host from this bucket, in whatever region the bucket is:
    a wrong or missing --region must not hide it. ``summaries``: the account's list, when already read."""
    domain = origin_domain(bucket, region)
    tagged_candidates: list[dict[str, Any]] = []
    by_host: dict[str, Any] | None = None
    for summary in summaries if summaries is not None else list_distributions(clients):
        origins = [str(o.get("DomainName", "")) for o in _items(summary.get("Origins"))]
        if host and by_host is None and serves_host(summary, host) and any(_origin_is_bucket(o, bucket) for o in origins):
            by_host = summary
        if domain not in origins:
            continue
        if summary.get("Comment") == comment_for(bucket):
            return _describe(summary)
        tagged_candidates.append(summary)
    for summary in tagged_candidates:
        if _tags(clients, summary["ARN"]).get(BUCKET_TAG) == bucket:
            return _describe(summary)
    return _describe(by_host) if by_host is not None else None


def users_of_bucket(summaries: Iterable[dict[str, Any]], bucket: str, *, but: str | None = None) -> list[str]:
    """The ids of the distributions (other than ``but``) with an origin that is ``bucket``, in any region."""
    return [
        str(s["Id"])
        for s in summaries
        if s["Id"] != but and any(_origin_is_bucket(str(o.get("DomainName", "")), bucket) for o in _items(s.get("Origins")))
    ]


def users_of_origin_access_control(summaries: Iterable[dict[str, Any]], oac_id: str) -> list[str]:
    """The ids of the distributions with an origin signed by ``oac_id``."""
    return [
        str(s["Id"]) for s in summaries if any(o.get("OriginAccessControlId") == oac_id for o in _items(s.get("Origins")))
    ]


def users_of_cache_policy(summaries: Iterable[dict[str, Any]], policy_id: str) -> list[str]:
    """The ids of the distributions with a cache behaviour (the default one or another) that names ``policy_id``."""
    return [
        str(s["Id"])
        for s in summaries
        if any(
            (b or {}).get("CachePolicyId") == policy_id
            for b in [s.get("DefaultCacheBehavior"), *_items(s.get("CacheBehaviors"))]
        )
    ]


def find_origin_access_control(clients: AwsClients, bucket: str) -> str | None:
    """The id of the OAC named ``oidc-publisher-BUCKET``, if there is one (whoever made it: see ``oac_made_for``)."""
    found = origin_access_control(clients, bucket)
    return str(found["Id"]) if found is not None else None


def origin_access_control(clients: AwsClients, bucket: str) -> dict[str, Any] | None:
    """The summary (Id, Name, Description, ...) of the OAC named ``oidc-publisher-BUCKET``, if there is one."""
    client = clients.cloudfront()
    marker = ""
    while True:
        with _translated("cloudfront:ListOriginAccessControls"):
            page = client.list_origin_access_controls(**_page(marker))["OriginAccessControlList"]
        for item in _items(page):  # type: ignore[arg-type]
            if item.get("Name") == oac_name(bucket):
                return dict(item)
        if not page.get("IsTruncated") or not page.get("NextMarker"):
            return None
        marker = page["NextMarker"]


def find_cache_policy(clients: AwsClients, bucket: str) -> CachePolicy | None:
    """The custom cache policy named ``oidc-publisher-BUCKET``, whoever made it (see ``made_for``)."""
    client = clients.cloudfront()
    name = cache_policy_name(bucket)
    marker = ""
    while True:
        with _translated("cloudfront:ListCachePolicies"):
            page = client.list_cache_policies(Type="custom", **_page(marker))["CachePolicyList"]
        for item in _items(page):  # type: ignore[arg-type]
            policy = item.get("CachePolicy") or {}
            config = dict(policy.get("CachePolicyConfig") or {})
            if config.get("Name") == name:
                return CachePolicy(str(policy["Id"]), str(config.get("Comment") or ""), config)
        if not page.get("NextMarker"):  # this list has no IsTruncated: a NextMarker means more
            return None
        marker = page["NextMarker"]


# ---------------------------------------------------------------- the set-up: read, then run the plan


def read_distribution(clients: AwsClients, *, bucket: str, region: str) -> DistributionSnapshot:
    """What the planner needs (reads only): the OAC, the distribution with its config and ETag, the cache
    policy. The cache policy's ETag (GetCachePolicy) is read only when its listed config drifted: an update
    is the only thing that needs it, and a converged run stays at four reads."""
    oac_id = find_origin_access_control(clients, bucket)
    existing = find_distribution(clients, bucket=bucket, region=region)
    found = None
    if existing is not None:
        with _translated("cloudfront:GetDistributionConfig", existing.id):
            current = clients.cloudfront().get_distribution_config(Id=existing.id)
        found = FoundDistribution(existing, dict(current["DistributionConfig"]), str(current["ETag"]))
    policy = find_cache_policy(clients, bucket)
    if policy is not None and cache_policy_drift(policy.config):
        with _translated("cloudfront:GetCachePolicy", policy.config.get("Name")):
            answer = clients.cloudfront().get_cache_policy(Id=policy.id)
        config = dict(answer["CachePolicy"]["CachePolicyConfig"])
        policy = CachePolicy(policy.id, str(config.get("Comment") or ""), config, str(answer["ETag"]))
    return DistributionSnapshot(oac_id, policy, found)


# The error codes that get CloudFront's own hint (or, when denied, the IAM actions to grant) on a planned call.
_OWN_CODES = frozenset({*_HINTS, "AccessDenied", "AccessDeniedException"})


def execute_distribution_plan(plan: DistributionPlan, clients: AwsClients) -> Distribution | None:
    """Run ``plan`` (the executor makes the calls) and return the distribution as it then is. A failure
    with a CloudFront code gets CloudFront's hint, naming the OAC or policy by name and the distribution by
    id (or as the bucket's); every other failure is the executor's one line."""
    from botocore.exceptions import ClientError

    from oidc_publisher.aws.executor import execute

    try:
        done = execute(plan.changes, clients, expected=_OWN_CODES)
    except ClientError as exc:
        raise _plan_error(exc, plan) from None
    return distribution_after(plan, {d.step.key: d.response for d in done if d.step.key is not None})


def _plan_error(exc: Exception, plan: DistributionPlan) -> AWSError:
    """The one line for a planned call's failure: the call by its API name (what a user looks up), the
    thing by its name, and CloudFront's hint or the IAM actions the call needs."""
    action = str(getattr(exc, "aws_action", "cloudfront"))
    step = next((s for s in plan.changes if s.operation and f"cloudfront:{s.operation.call.api}" == action), None)
    if step is None or step.operation is None:
        return aws_error(exc, action)
    params = step.operation.params
    subject, resource = "the distribution", str(params.get("Id") or f"the distribution for {plan.settings.bucket}")
    if "CachePolicyConfig" in params:
        subject, resource = "the cache policy", str(params["CachePolicyConfig"]["Name"])
    elif "OriginAccessControlConfig" in params:
        subject, resource = "the origin access control", str(params["OriginAccessControlConfig"]["Name"])
    error = aws_error(exc, action, resource)
    code = error_code(exc)
    if code in _HINTS:
        hint = _HINTS[code].format(aliases=", ".join(plan.settings.aliases) or "the issuer host", subject=subject)
        return AWSError(error.message, hint)
    if code in ("AccessDenied", "AccessDeniedException"):
        grant = " and ".join(step.operation.call.actions)
        return AWSError(error.message, f"grant {grant} to the caller (see docs/iam-permissions.md)")
    return error

# ---------------------------------------------------------------- invalidation


def invalidate(clients: AwsClients, distribution_id: str, paths: Sequence[str]) -> str:
    """One invalidation of exactly ``paths`` (each starting with '/'); returns its id."""
    return create_invalidation(clients, invalidation_operation(distribution_id, paths))


def invalidation_operation(distribution_id: str, paths: Sequence[str]) -> Operation:
    """The CreateInvalidation of exactly ``paths`` (each starting with '/'), for a plan's step."""
    if not paths:
        raise ValueError("no paths to invalidate")
    if isinstance(paths, str) or any(not p.startswith("/") for p in paths):
        raise ValueError(f"invalidation paths must each start with '/': {paths!r}")
    items = list(dict.fromkeys(paths))  # the caller's order, each path once
    # Unique per invalidation, and the same for botocore's retries of this one request (it resends the body),
    # which CloudFront then answers with the invalidation it already made.
    reference = hashlib.sha256(("\n".join(items) + f"\n{time.time_ns()}").encode()).hexdigest()[:32]
    return Operation("cloudfront", "create_invalidation", {
        "DistributionId": distribution_id,
        "InvalidationBatch": {"Paths": {"Quantity": len(items), "Items": items}, "CallerReference": reference},
    })


def create_invalidation(clients: AwsClients, operation: Operation) -> str:
    """Execute a planned CreateInvalidation (through the executor); the invalidation's id. Errors are one line,
    with CloudFront's own hints (a missing distribution, ...)."""
    from oidc_publisher.aws.executor import call

    distribution_id = str(operation.params["DistributionId"])
    with _translated("cloudfront:CreateInvalidation", distribution_id):
        response = call(clients, operation, distribution_id, expected=tuple(_HINTS))
    return str(response["Invalidation"]["Id"])


# ---------------------------------------------------------------- teardown


def disable_distribution(clients: AwsClients, dist: Distribution) -> bool:
    """Disable ``dist`` (the first step of deleting it); False when it already was."""
    client = clients.cloudfront()
    with _translated("cloudfront:GetDistributionConfig", dist.id):
        current = client.get_distribution_config(Id=dist.id)
    config = dict(current["DistributionConfig"])
    if not config.get("Enabled"):
        return False
    config["Enabled"] = False
    with _translated("cloudfront:UpdateDistribution", dist.id):
        client.update_distribution(Id=dist.id, IfMatch=current["ETag"], DistributionConfig=config)  # type: ignore[arg-type]
    return True


def delete_distribution_if_disabled(clients: AwsClients, dist: Distribution) -> bool:
    """Delete ``dist`` once it is disabled and deployed (CloudFront refuses before); True when it is gone
    (already gone included), False when it is still enabled or still deploying: try again later."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = clients.cloudfront()
    try:
        current = client.get_distribution(Id=dist.id)
    except ClientError as exc:
        if error_code(exc) == "NoSuchDistribution":
            return True
        raise aws_error(exc, "cloudfront:GetDistribution", dist.id) from None
    except BotoCoreError as exc:
        raise aws_error(exc, "cloudfront:GetDistribution", dist.id) from None
    found = current["Distribution"]
    if found["DistributionConfig"].get("Enabled") or found.get("Status") != "Deployed":
        return False
    try:
        client.delete_distribution(Id=dist.id, IfMatch=current["ETag"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchDistribution":
            return True
        if error_code(exc) in ("DistributionNotDisabled", "PreconditionFailed"):
            return False  # changed since it was read: the next attempt decides again
        raise aws_error(exc, "cloudfront:DeleteDistribution", dist.id) from None
    except BotoCoreError as exc:
        raise aws_error(exc, "cloudfront:DeleteDistribution", dist.id) from None
    return True


def distribution_status(clients: AwsClients, distribution_id: str) -> tuple[str, bool] | None:
    """The distribution's Status (``InProgress`` while a change deploys, then ``Deployed``) and whether it is
    enabled; None when it does not exist (any more). What ``--wait`` polls (GetDistribution)."""
    from botocore.exceptions import ClientError

    with _translated("cloudfront:GetDistribution", distribution_id):
        try:
            found = clients.cloudfront().get_distribution(Id=distribution_id)["Distribution"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchDistribution":
                return None
            raise
    return str(found.get("Status", "")), bool(found["DistributionConfig"].get("Enabled"))


def delete_origin_access_control(clients: AwsClients, oac_id: str) -> bool:
    """Delete the OAC; True when it is gone (already gone included), False while a distribution still
    uses it (delete that first)."""
    client = clients.cloudfront()
    return _delete_by_etag(
        "OriginAccessControl", oac_id, client.get_origin_access_control, client.delete_origin_access_control
    )


def delete_cache_policy(clients: AwsClients, policy_id: str) -> bool:
    """Delete the cache policy; True when it is gone (already gone included), False while a distribution
    still uses it (CachePolicyInUse: delete that first)."""
    client = clients.cloudfront()
    return _delete_by_etag("CachePolicy", policy_id, client.get_cache_policy, client.delete_cache_policy)


def _delete_by_etag(kind: str, ident: str, get: Callable[..., Any], delete: Callable[..., Any]) -> bool:
    """CloudFront's delete of a ``kind`` (OriginAccessControl, CachePolicy): read its ETag, delete with
    IfMatch. Gone already is done (``NoSuch<kind>``); still in use (``<kind>InUse``) is False."""
    from botocore.exceptions import BotoCoreError, ClientError

    action = f"cloudfront:Get{kind}"
    try:
        etag = get(Id=ident)["ETag"]
        action = f"cloudfront:Delete{kind}"
        delete(Id=ident, IfMatch=etag)
    except ClientError as exc:
        if error_code(exc) == f"NoSuch{kind}":
            return True
        if error_code(exc) == f"{kind}InUse":
            return False
        raise aws_error(exc, action, ident) from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, ident) from None
    return True
