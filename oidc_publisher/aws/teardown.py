"""Teardown's reads of CloudFront into the snapshot its planner decides from, and the calls whose expected
refusals (gone already, still in use, not yet deployed) are answers rather than errors.

Reads only through aws/cloudfront.py's readers and the executor's one call; no decision here
(core/teardown_plan.py makes them).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.operations import Operation
from oidc_publisher.core.teardown_plan import CloudFrontState, LiveDistribution, Named

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients


def attempt(clients: AwsClients, operation: Operation, resource: str | None,
            expected: Collection[str]) -> tuple[dict[str, Any] | None, str | None]:
    """The executor's call of ``operation``: (its answer, None), or (None, the code) when AWS answered one of
    the ``expected`` error codes; every other failure is the call's one-line error."""
    from botocore.exceptions import ClientError

    from oidc_publisher.aws.clients import error_code
    from oidc_publisher.aws.executor import call

    try:
        return call(clients, operation, resource, expected=expected), None
    except ClientError as exc:
        return None, error_code(exc)


def _items(container: dict[str, Any] | None) -> list[Any]:
    return list((container or {}).get("Items") or [])


def _live(summary: dict[str, Any], bucket: str) -> LiveDistribution:
    from oidc_publisher.aws.cloudfront import users_of_bucket

    origins = _items(summary.get("Origins"))
    behaviours = [summary.get("DefaultCacheBehavior"), *_items(summary.get("CacheBehaviors"))]
    return LiveDistribution(
        id=str(summary["Id"]),
        origin_is_bucket=bool(users_of_bucket([summary], bucket)),
        oac_ids=frozenset(str(o["OriginAccessControlId"]) for o in origins if o.get("OriginAccessControlId")),
        cache_policy_ids=frozenset(str(b["CachePolicyId"]) for b in behaviours if (b or {}).get("CachePolicyId")),
    )


def read_cloudfront(clients: AwsClients, *, bucket: str, region: str, host: str) -> CloudFrontState:
    """Every live distribution; the issuer's (by its comment and origin, tag, or as the one serving the issuer's
    host from this bucket, whatever --region says) and its tags; the OAC and cache policy named for the bucket
    (not read when the distribution is kept: nothing of CloudFront's is removed then)."""
    from oidc_publisher.aws.cloudfront import (
        cache_policy_name,
        find_cache_policy,
        find_distribution,
        list_distributions,
        oac_made_for,
        origin_access_control,
    )

    live = list(list_distributions(clients))
    distribution = find_distribution(clients, bucket=bucket, region=region, host=host, summaries=live)
    managed = False
    if distribution is not None:
        tags = call_tags(clients, distribution.arn, distribution.id)
        managed = tags.get(MANAGED_BY[0]) == MANAGED_BY[1]
    state = CloudFrontState(
        live=tuple(_live(summary, bucket) for summary in live),
        distribution=distribution.id if distribution is not None else None,
        distribution_managed=managed,
        cache_policy_name=cache_policy_name(bucket),
    )
    if distribution is not None and not managed:
        return state
    found = origin_access_control(clients, bucket)
    oac = None if found is None else Named(str(found["Id"]), str(found.get("Name")), str(found.get("Description", "")),
                                           oac_made_for(found, bucket))
    policy = find_cache_policy(clients, bucket)
    named = None if policy is None else Named(policy.id, cache_policy_name(bucket), policy.comment, policy.made_for(bucket))
    return CloudFrontState(state.live, state.distribution, managed, oac, named, state.cache_policy_name)


def call_tags(clients: AwsClients, arn: str, distribution_id: str) -> dict[str, str]:
    from oidc_publisher.aws.executor import call

    answer = call(clients, Operation("cloudfront", "list_tags_for_resource", {"Resource": arn}), distribution_id)
    return {t["Key"]: t.get("Value", "") for t in answer["Tags"].get("Items", []) or []}
