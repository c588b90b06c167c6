"""The CloudFront distribution's planner: what to create or converge, from what was read. Pure.

Input: a :class:`DistributionSnapshot` (the tool's origin access control, its cache policy and the
distribution found for the bucket, with their configs and ETags, read by ``aws/cloudfront.py``) and the
:class:`DistributionSettings` (bucket, region, aliases, certificate, tags). Output: a
:class:`DistributionPlan` whose steps each carry one CloudFront call, in phases: the origin access
control (0), the cache policy (1), the distribution (2). A distribution made in this run names the OAC and
the cache policy made before it by a :class:`~oidc_publisher.core.operations.Ref` to their steps' answers,
so ``--dry-run`` on a fresh account shows the whole plan, with references where the ids are not known yet.
(Planning in rounds, read again after each write, would need a write to show a dry run's plan.)

Cache settings: a custom cache policy per bucket, ``oidc-publisher-BUCKET`` (dots made dashes, as the
Terraform module names its own), MinTTL 0 / DefaultTTL 300 / MaxTTL 3600, nothing but the path in the
cache key, gzip and brotli. A distribution the tool made before it used a cache policy (legacy
ForwardedValues and TTL fields) is moved onto it; a distribution whose behaviour names another cache
policy (the Terraform module's, or one its owner chose) keeps it. The policy is recognised as the tool's by
its name and its comment (``managed-by oidc-publisher: ...``); the Terraform module's has the same name and
another comment, and is never changed. Origin access controls take no tags: the tool's carries the
description ``managed-by oidc-publisher: ...``, given by the call that creates it. An existing OAC or
distribution is never re-marked: converging one changes only the fields the tool owns, and only a
distribution this plan creates gets tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oidc_publisher.core.errors import ConflictError, InputError
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.operations import Operation, Ref
from oidc_publisher.core.plan import Step

ORIGIN_ID = "oidc-publisher-s3"
BUCKET_TAG = "oidc-publisher:bucket"
MIN_TTL, DEFAULT_TTL, MAX_TTL = 0, 300, 3600
# A behaviour's legacy cache fields: a cache policy replaces them (CloudFront refuses ForwardedValues next
# to a CachePolicyId).
LEGACY_CACHE_FIELDS = ("ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL")
MINIMUM_TLS = "TLSv1.2_2021"
_ACM_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):acm:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"certificate/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)

# The keys of the steps whose answers a later step reads (Ref), and the paths of the ids in them.
OAC_STEP, CACHE_POLICY_STEP, DISTRIBUTION_STEP = "origin-access-control", "cache-policy", "distribution"
NEW_OAC_ID = Ref(OAC_STEP, "OriginAccessControl.Id")
NEW_CACHE_POLICY_ID = Ref(CACHE_POLICY_STEP, "CachePolicy.Id")
# The phases: a distribution is made or pointed at an OAC and a policy only once both exist.
OAC_PHASE, CACHE_POLICY_PHASE, DISTRIBUTION_PHASE = 0, 1, 2


# ---------------------------------------------------------------- names and marks


def comment_for(bucket: str) -> str:
    return f"oidc-publisher issuer for {bucket}"


def oac_name(bucket: str) -> str:
    return f"oidc-publisher-{bucket}"[:64]  # CloudFront's limit on an OAC name


def oac_description(bucket: str) -> str:
    """The ownership mark of the tool's OAC, set only by the call that creates it (OACs take no tags)."""
    return f"managed-by oidc-publisher: signs CloudFront's reads of s3://{bucket}"[:256]


def oac_made_for(summary: Mapping[str, Any], bucket: str) -> bool:
    """Made by this tool for ``bucket``: OACs take no tags, and the Terraform module gives its OAC the same name
    (and the description the tool gave before it marked its own), so only this description tells."""
    return summary.get("Description") == oac_description(bucket)


def cache_policy_name(bucket: str) -> str:
    """The tool's cache policy for ``bucket``: CloudFront allows letters, digits, '-' and '_' (no dots),
    128 characters at most. The Terraform module names its policy the same way."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"oidc-publisher-{bucket}")[:128]


def cache_policy_comment(bucket: str) -> str:
    return f"managed-by oidc-publisher: short TTLs for the issuer in s3://{bucket}"[:128]


def origin_domain(bucket: str, region: str) -> str:
    """The bucket's regional REST endpoint: OAC signs for it (the website endpoint cannot use OAC)."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"{bucket}.s3.{region}{suffix}"


def distribution_arn(partition: str, account_id: str, distribution_id: str) -> str:
    """The distribution's ARN, for the bucket policy's ``AWS:SourceArn`` (CloudFront ARNs have no region)."""
    return f"arn:{partition}:cloudfront::{account_id}:distribution/{distribution_id}"


def caller_reference(bucket: str, nonce: int) -> str:
    """A new distribution's CallerReference: unique per run (``nonce``: the command's clock, in ns).
    botocore's retries of the one request resend it, and CloudFront answers a repeated identical request
    with the distribution it already made."""
    return f"oidc-publisher-{bucket}-{nonce}"


# ---------------------------------------------------------------- what was read


def items(container: dict[str, Any] | None) -> list[Any]:
    return list((container or {}).get("Items") or [])


@dataclass(frozen=True)
class Distribution:
    id: str
    arn: str
    domain_name: str
    aliases: tuple[str, ...]
    origin_access_control_id: str | None
    status: str


def describe(summary: Mapping[str, Any]) -> Distribution:
    """A distribution summary (ListDistributions) or a distribution with its DistributionConfig."""
    config = summary.get("DistributionConfig", summary)
    origins = items(config.get("Origins"))
    return Distribution(
        id=summary["Id"],
        arn=summary.get("ARN", ""),
        domain_name=summary["DomainName"],
        aliases=tuple(items(config.get("Aliases"))),
        origin_access_control_id=(origins[0].get("OriginAccessControlId") or None) if origins else None,
        status=summary.get("Status", ""),
    )


@dataclass(frozen=True)
class CachePolicy:
    id: str
    comment: str
    config: dict[str, Any]  # its CachePolicyConfig
    etag: str | None = None  # GetCachePolicy's, read when the config drifted (what an update needs)

    def made_for(self, bucket: str) -> bool:
        """Made by this tool for ``bucket``: the name alone could be the Terraform module's."""
        return self.comment == cache_policy_comment(bucket)


@dataclass(frozen=True)
class FoundDistribution:
    """The distribution found for the bucket, with GetDistributionConfig's config and ETag."""

    distribution: Distribution
    config: dict[str, Any]
    etag: str


@dataclass(frozen=True)
class DistributionSnapshot:
    """What is there, as read: the OAC named ``oidc-publisher-BUCKET`` (whoever made it), the cache policy
    of the tool's name (whoever made it), the distribution found for the bucket."""

    oac_id: str | None = None
    cache_policy: CachePolicy | None = None
    found: FoundDistribution | None = None


# ---------------------------------------------------------------- what is wanted


def check_certificate(aliases: Sequence[str], acm_certificate_arn: str | None) -> None:
    """A custom issuer host needs an ACM certificate in us-east-1 (the only region CloudFront reads)."""
    if aliases and not acm_certificate_arn:
        raise InputError(
            f"the custom issuer host {aliases[0]} needs a certificate",
            "give --acm-certificate-arn: an ACM certificate in us-east-1 that covers it (CloudFront requires us-east-1)",
        )
    if acm_certificate_arn is None:
        return
    match = _ACM_ARN.match(acm_certificate_arn)
    if not match:
        raise InputError(
            f"{acm_certificate_arn!r} is not an ACM certificate ARN",
            "copy it from 'aws acm list-certificates --region us-east-1' "
            "(arn:aws:acm:us-east-1:ACCOUNT:certificate/UUID)",
        )
    if match["region"] != "us-east-1":
        raise InputError(
            f"the ACM certificate is in {match['region']}, but CloudFront only uses certificates in us-east-1",
            "request or import the certificate in us-east-1",
        )
    if not aliases:
        raise InputError(
            "--acm-certificate-arn without a custom --issuer-url", "give the custom domain as --issuer-url"
        )


@dataclass(frozen=True)
class DistributionSettings:
    """What the user asked for. Made before anything is read: a bad certificate is refused before any call."""

    bucket: str
    region: str
    caller_reference: str  # for a new distribution (see caller_reference())
    aliases: tuple[str, ...] = ()
    acm_certificate_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)  # a new distribution's, besides the tool's marks

    def __post_init__(self) -> None:
        check_certificate(self.aliases, self.acm_certificate_arn)


def _aliases(aliases: Sequence[str]) -> dict[str, Any]:
    return {"Quantity": len(aliases), "Items": list(aliases)} if aliases else {"Quantity": 0}


def _viewer_certificate(acm_certificate_arn: str | None) -> dict[str, Any]:
    if acm_certificate_arn:
        # SNI only: a dedicated-IP certificate costs $600 a month, and every client STS uses speaks SNI.
        return {
            "ACMCertificateArn": acm_certificate_arn,
            "SSLSupportMethod": "sni-only",
            "MinimumProtocolVersion": MINIMUM_TLS,
        }
    return {"CloudFrontDefaultCertificate": True}


def oac_config(bucket: str) -> dict[str, Any]:
    return {
        "Name": oac_name(bucket),
        "Description": oac_description(bucket),
        "SigningProtocol": "sigv4",
        "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3",
    }


def cache_policy_config(bucket: str) -> dict[str, Any]:
    """The tool's cache policy, as the Terraform module's: short TTLs, nothing but the path in the cache
    key (STS sends no cookies or query strings worth keying on), compressed objects cached apart."""
    return {
        "Name": cache_policy_name(bucket),
        "Comment": cache_policy_comment(bucket),
        "MinTTL": MIN_TTL,
        "DefaultTTL": DEFAULT_TTL,
        "MaxTTL": MAX_TTL,
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": True,
            "EnableAcceptEncodingBrotli": True,
            "HeadersConfig": {"HeaderBehavior": "none"},
            "CookiesConfig": {"CookieBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": "none"},
        },
    }


def cache_policy_drift(config: Mapping[str, Any]) -> list[str]:
    """What differs from :func:`cache_policy_config` in the settings that decide caching."""
    drift = []
    ttls = tuple(config.get(name) for name in ("MinTTL", "DefaultTTL", "MaxTTL"))
    if ttls != (MIN_TTL, DEFAULT_TTL, MAX_TTL):
        shown = "-".join("?" if ttl is None else str(ttl) for ttl in ttls)
        drift.append(f"TTL {shown}s -> {MIN_TTL}-{DEFAULT_TTL}-{MAX_TTL}s")
    key = config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}
    behaviours = (
        (key.get("HeadersConfig") or {}).get("HeaderBehavior"),
        (key.get("CookiesConfig") or {}).get("CookieBehavior"),
        (key.get("QueryStringsConfig") or {}).get("QueryStringBehavior"),
    )
    if behaviours != ("none", "none", "none"):
        drift.append("cache key -> the path only (no headers, cookies or query strings)")
    if not (key.get("EnableAcceptEncodingGzip") is True and key.get("EnableAcceptEncodingBrotli") is True):
        drift.append("compression -> gzip and brotli")
    return drift


def new_config(
    bucket: str,
    region: str,
    oac_id: str | Ref,
    aliases: Sequence[str],
    acm_certificate_arn: str | None,
    cache_policy_id: str | Ref,
    reference: str,
) -> dict[str, Any]:
    """A new distribution's config; ``reference`` is its CallerReference."""
    return {
        "CallerReference": reference,
        "Comment": comment_for(bucket),
        "Enabled": True,
        "Aliases": _aliases(aliases),
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": ORIGIN_ID,
                    "DomainName": origin_domain(bucket, region),
                    "OriginAccessControlId": oac_id,
                    "S3OriginConfig": {"OriginAccessIdentity": ""},  # OAC, not the legacy OAI
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": ORIGIN_ID,
            "ViewerProtocolPolicy": "https-only",
            "AllowedMethods": {
                "Quantity": 2,
                "Items": ["GET", "HEAD"],
                "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
            },
            "Compress": True,
            "CachePolicyId": cache_policy_id,  # no legacy ForwardedValues or TTLs: CloudFront refuses both
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "PriceClass": "PriceClass_100",
        "HttpVersion": "http2",
        "IsIPV6Enabled": True,
        "ViewerCertificate": _viewer_certificate(acm_certificate_arn),
    }


def _shown_id(value: str | Ref, bucket: str) -> str:
    return value if isinstance(value, str) else f"the new {oac_name(bucket)}"


def distribution_drift(
    config: Mapping[str, Any],
    oac_id: str | Ref | None,
    aliases: Sequence[str],
    acm_certificate_arn: str | None,
    cache_policy: str | None,
    bucket: str,
) -> list[str]:
    """What differs, in the fields the tool owns on an existing distribution. Everything else (price
    class, logging, a cache policy the behaviour already names) is the owner's to change. ``cache_policy``
    is the name of the tool's policy, for a behaviour that still has the legacy cache fields."""
    drift = []
    if not config.get("Enabled", False):
        drift.append("enable it")
    if sorted(items(config.get("Aliases"))) != sorted(aliases):
        drift.append(f"aliases -> {', '.join(aliases) or 'none'}")
    viewer = config.get("ViewerCertificate") or {}
    if (viewer.get("ACMCertificateArn") or None) != acm_certificate_arn:
        drift.append(f"certificate -> {acm_certificate_arn or 'the default *.cloudfront.net one'}")
    elif acm_certificate_arn and (
        viewer.get("SSLSupportMethod") != "sni-only" or viewer.get("MinimumProtocolVersion") != MINIMUM_TLS
    ):
        drift.append(f"viewer TLS -> sni-only, {MINIMUM_TLS}")
    behaviour = config.get("DefaultCacheBehavior") or {}
    if behaviour.get("ViewerProtocolPolicy") != "https-only":
        drift.append("viewer protocol -> https-only")
    if cache_policy and not behaviour.get("CachePolicyId"):
        drift.append(f"cache policy -> {cache_policy} (instead of the legacy TTL fields)")
    origins = items(config.get("Origins"))
    # CloudFront returns the origin's OAC id ("" when none); moto drops the field, and an absent field
    # is not taken for drift, or every run against moto would rewrite the distribution.
    if oac_id and origins and "OriginAccessControlId" in origins[0] and origins[0]["OriginAccessControlId"] != oac_id:
        drift.append(f"origin access control -> {_shown_id(oac_id, bucket)}")
    return drift


def converged_config(
    config: Mapping[str, Any],
    oac_id: str | Ref | None,
    aliases: Sequence[str],
    acm_certificate_arn: str | None,
    cache_policy_id: str | Ref | None,
) -> dict[str, Any]:
    """The current config with only the owned fields set (GetDistributionConfig's answer is valid
    UpdateDistribution input; everything not owned passes through unchanged). A behaviour without a
    cache policy gets ``cache_policy_id``; one that names a policy keeps it."""
    wanted = dict(config)
    wanted["Enabled"] = True
    wanted["Aliases"] = _aliases(aliases)
    wanted["ViewerCertificate"] = _viewer_certificate(acm_certificate_arn)
    behaviour = {**config.get("DefaultCacheBehavior", {}), "ViewerProtocolPolicy": "https-only"}
    if cache_policy_id and not behaviour.get("CachePolicyId"):
        behaviour["CachePolicyId"] = cache_policy_id
    if behaviour.get("CachePolicyId"):
        for name in LEGACY_CACHE_FIELDS:
            behaviour.pop(name, None)
    wanted["DefaultCacheBehavior"] = behaviour
    origins = items(config.get("Origins"))
    if oac_id and origins and "OriginAccessControlId" in origins[0]:
        first = {**origins[0], "OriginAccessControlId": oac_id}
        wanted["Origins"] = {**config["Origins"], "Items": [first, *origins[1:]]}
    return wanted


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class DistributionPlan:
    """The steps (each one CloudFront call, in phases), and what they were planned from. ``oac_id`` is the
    OAC found (None: the plan creates it); ``kept_cache_policy`` the policy another party's behaviour names,
    left as it is (then the tool's own policy is neither made nor converged)."""

    changes: list[Step]
    settings: DistributionSettings
    existing: Distribution | None
    oac_id: str | None
    kept_cache_policy: str | None = None


def plan_distribution(snapshot: DistributionSnapshot, settings: DistributionSettings) -> DistributionPlan:
    """Create the OAC, the cache policy and the distribution when missing; converge the policy's TTLs and
    cache key, and an existing distribution's aliases, certificate, viewer policy, OAC and cache policy.
    Refuses (ConflictError) to take a cache policy of the tool's name that the tool did not make."""
    bucket, aliases, certificate = settings.bucket, settings.aliases, settings.acm_certificate_arn
    found = snapshot.found
    steps: list[Step] = []

    oac: str | Ref = snapshot.oac_id or NEW_OAC_ID
    if snapshot.oac_id is None:
        steps.append(Step(
            f"cloudfront:origin-access-control/{oac_name(bucket)}", "create",
            "the distribution signs its requests to the private bucket (SigV4, always)",
            Operation("cloudfront", "create_origin_access_control", {"OriginAccessControlConfig": oac_config(bucket)}),
            OAC_PHASE, OAC_STEP,
        ))  # fmt: skip

    policy, kept, policy_steps = _plan_cache_policy(snapshot.cache_policy, found, bucket)
    steps.extend(policy_steps)

    if found is None:
        assert policy is not None  # a new distribution has no policy of its own to keep
        tags = {**settings.tags, MANAGED_BY[0]: MANAGED_BY[1], BUCKET_TAG: bucket}  # its mark, at creation only
        config = new_config(bucket, settings.region, oac, aliases, certificate, policy, settings.caller_reference)
        where = f"{', '.join(aliases)} with the ACM certificate" if aliases else "the default *.cloudfront.net name"
        steps.append(Step(
            f"cloudfront:distribution for s3://{bucket}", "create",
            f"https-only, GET/HEAD, cache policy {cache_policy_name(bucket)}, private bucket through OAC, on {where}",
            Operation("cloudfront", "create_distribution_with_tags", {"DistributionConfigWithTags": {
                "DistributionConfig": config,
                "Tags": {"Items": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
            }}),
            DISTRIBUTION_PHASE, DISTRIBUTION_STEP,
        ))  # fmt: skip
        return DistributionPlan(steps, settings, None, snapshot.oac_id, kept)

    wanted_policy = None if kept else cache_policy_name(bucket)
    drift = distribution_drift(found.config, oac, aliases, certificate, wanted_policy, bucket)
    if drift:
        existing = found.distribution
        steps.append(Step(
            f"cloudfront:distribution/{existing.id}", "update", "; ".join(drift),
            Operation("cloudfront", "update_distribution", {
                "Id": existing.id,
                "IfMatch": found.etag,
                "DistributionConfig": converged_config(found.config, oac, aliases, certificate, policy),
            }),
            DISTRIBUTION_PHASE, DISTRIBUTION_STEP,
        ))  # fmt: skip
    return DistributionPlan(steps, settings, found.distribution, snapshot.oac_id, kept)


def _plan_cache_policy(
    found: CachePolicy | None, distribution: FoundDistribution | None, bucket: str
) -> tuple[str | Ref | None, str | None, list[Step]]:
    """The tool's cache policy: (its id, or a Ref to the step that creates it, or None when the behaviour
    keeps another; that other policy's id; the steps)."""
    behaviour = ((distribution.config if distribution else {}).get("DefaultCacheBehavior")) or {}
    named = str(behaviour.get("CachePolicyId") or "")
    if named and not (found is not None and found.id == named and found.made_for(bucket)):
        return None, named, []  # the Terraform module's, or its owner's choice
    name = cache_policy_name(bucket)
    resource = f"cloudfront:cache-policy/{name}"
    if found is not None and not found.made_for(bucket):
        raise ConflictError(
            f"the cache policy {name} ({found.id}) was not made by oidc-publisher for s3://{bucket} "
            f"(its comment is {found.comment!r}), and the distribution would need that name",
            "delete or rename that cache policy, or point the distribution's default behaviour at it yourself; then re-run",
        )
    if found is None:
        create = Step(
            resource, "create", f"TTL {MIN_TTL}-{DEFAULT_TTL}-{MAX_TTL}s, only the path in the cache key, gzip and brotli",
            Operation("cloudfront", "create_cache_policy", {"CachePolicyConfig": cache_policy_config(bucket)}),
            CACHE_POLICY_PHASE, CACHE_POLICY_STEP,
        )  # fmt: skip
        return NEW_CACHE_POLICY_ID, None, [create]
    drift = cache_policy_drift(found.config)
    if not drift:
        return found.id, None, []
    if found.etag is None:
        raise ValueError("a drifted cache policy is read with its ETag (GetCachePolicy): a bug of the reader")
    update = Step(
        resource, "update", "; ".join(drift),
        Operation("cloudfront", "update_cache_policy",
                  {"Id": found.id, "IfMatch": found.etag, "CachePolicyConfig": cache_policy_config(bucket)}),
        CACHE_POLICY_PHASE, CACHE_POLICY_STEP,
    )  # fmt: skip
    return found.id, None, [update]


def distribution_after(plan: DistributionPlan, answers: Mapping[str, Mapping[str, Any]]) -> Distribution | None:
    """The distribution once ``plan`` has run; ``answers``: the responses of its steps, by their keys."""
    answer = answers.get(DISTRIBUTION_STEP)
    if answer is None:
        return plan.existing
    made = answer["Distribution"]
    if plan.existing is not None:
        return describe(made)
    oac = plan.oac_id or str(NEW_OAC_ID.value_in(answers))
    return Distribution(made["Id"], made["ARN"], made["DomainName"], plan.settings.aliases, oac, made["Status"])
