"""The CloudFront edge: a distribution that serves the issuer from a private bucket through Origin
Access Control, a short-TTL cache policy for it, and invalidations of exactly the paths that changed.

Cache settings: a custom cache policy per bucket, ``oidc-publisher-BUCKET`` (dots made dashes, as the
Terraform module names its own), MinTTL 0 / DefaultTTL 300 / MaxTTL 3600, nothing but the path in the
cache key, gzip and brotli. The objects carry ``Cache-Control: public, max-age=300``, which CloudFront
honours within those bounds. A distribution the tool made before it used a cache policy (legacy
ForwardedValues and TTL fields) is moved onto it; a distribution whose behaviour names another cache
policy (the Terraform module's, or one its owner chose) keeps it. The policy is recognised as the tool's
by its name and its comment (``managed-by oidc-publisher: ...``); the Terraform module's has the same
name and another comment, and is never changed or deleted here. Origin access controls take no tags: the
tool's carries the description ``managed-by oidc-publisher: ...``, given by the call that creates it (the
Terraform module's has the same name and another description). An existing OAC or distribution is never
re-marked: converging one changes only the fields the tool owns.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.clients import aws_error
from oidc_publisher.core.errors import AWSError, ConflictError, InputError
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.plan import Change

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients

ORIGIN_ID = "oidc-publisher-s3"
BUCKET_TAG = "oidc-publisher:bucket"
# Items per ListDistributions / ListOriginAccessControls / ListCachePolicies page (AWS's maximum is 100;
# tests lower it).
LIST_PAGE_SIZE = 100
MIN_TTL, DEFAULT_TTL, MAX_TTL = 0, 300, 3600
# A behaviour's legacy cache fields: a cache policy replaces them (CloudFront refuses ForwardedValues next
# to a CachePolicyId).
LEGACY_CACHE_FIELDS = ("ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL")
MINIMUM_TLS = "TLSv1.2_2021"
_ACM_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):acm:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"certificate/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


@dataclass(frozen=True)
class Distribution:
    id: str
    arn: str
    domain_name: str
    aliases: tuple[str, ...]
    origin_access_control_id: str | None
    status: str


def comment_for(bucket: str) -> str:
    return f"oidc-publisher issuer for {bucket}"


def oac_name(bucket: str) -> str:
    return f"oidc-publisher-{bucket}"[:64]  # CloudFront's limit on an OAC name


def oac_description(bucket: str) -> str:
    """The ownership mark of the tool's OAC, set only by the call that creates it (OACs take no tags)."""
    return f"managed-by oidc-publisher: signs CloudFront's reads of s3://{bucket}"[:256]


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
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _HINTS:
            hint = _HINTS[code].format(aliases=", ".join(aliases) or "the issuer host", subject=subject)
            error = AWSError(error.message, hint)
        elif grant and code in ("AccessDenied", "AccessDeniedException"):
            error = AWSError(error.message, f"grant {grant} to the caller (see docs/iam-permissions.md)")
        raise error from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, resource) from None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


# ---------------------------------------------------------------- reading current state


def _items(container: dict[str, Any] | None) -> list[Any]:
    return list((container or {}).get("Items") or [])


def _describe(summary: dict[str, Any]) -> Distribution:
    """A distribution summary (ListDistributions) or a distribution with its DistributionConfig."""
    config = summary.get("DistributionConfig", summary)
    origins = _items(config.get("Origins"))
    return Distribution(
        id=summary["Id"],
        arn=summary.get("ARN", ""),
        domain_name=summary["DomainName"],
        aliases=tuple(_items(config.get("Aliases"))),
        origin_access_control_id=(origins[0].get("OriginAccessControlId") or None) if origins else None,
        status=summary.get("Status", ""),
    )


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


def oac_made_for(summary: dict[str, Any], bucket: str) -> bool:
    """Made by this tool for ``bucket``: OACs take no tags, and the Terraform module gives its OAC the same name
    (and the description the tool gave before it marked its own), so only this description tells."""
    return summary.get("Description") == oac_description(bucket)


@dataclass(frozen=True)
class CachePolicy:
    id: str
    comment: str
    config: dict[str, Any]  # its CachePolicyConfig, as ListCachePolicies returned it

    def made_for(self, bucket: str) -> bool:
        """Made by this tool for ``bucket``: the name alone could be the Terraform module's."""
        return self.comment == cache_policy_comment(bucket)


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


# ---------------------------------------------------------------- the desired state


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


def cache_policy_drift(config: dict[str, Any]) -> list[str]:
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


def _new_config(
    bucket: str,
    region: str,
    oac_id: str,
    aliases: Sequence[str],
    acm_certificate_arn: str | None,
    cache_policy_id: str,
) -> dict[str, Any]:
    return {
        # Unique per run; botocore's retries of this one request resend it, and CloudFront answers a
        # repeated identical request with the distribution it already made.
        "CallerReference": f"oidc-publisher-{bucket}-{time.time_ns()}",
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


def _drift(
    config: dict[str, Any],
    oac_id: str | None,
    aliases: Sequence[str],
    acm_certificate_arn: str | None,
    cache_policy: str | None,
) -> list[str]:
    """What differs, in the fields the tool owns on an existing distribution. Everything else (price
    class, logging, a cache policy the behaviour already names) is the owner's to change. ``cache_policy``
    is the name of the tool's policy, for a behaviour that still has the legacy cache fields."""
    drift = []
    if not config.get("Enabled", False):
        drift.append("enable it")
    if sorted(_items(config.get("Aliases"))) != sorted(aliases):
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
    origins = _items(config.get("Origins"))
    # CloudFront returns the origin's OAC id ("" when none); moto drops the field, and an absent field
    # is not taken for drift, or every run against moto would rewrite the distribution.
    if oac_id and origins and "OriginAccessControlId" in origins[0] and origins[0]["OriginAccessControlId"] != oac_id:
        drift.append(f"origin access control -> {oac_id}")
    return drift


def _converged(
    config: dict[str, Any],
    oac_id: str | None,
    aliases: Sequence[str],
    acm_certificate_arn: str | None,
    cache_policy_id: str | None,
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
    origins = _items(config.get("Origins"))
    if oac_id and origins and "OriginAccessControlId" in origins[0]:
        first = {**origins[0], "OriginAccessControlId": oac_id}
        wanted["Origins"] = {**config["Origins"], "Items": [first, *origins[1:]]}
    return wanted


@dataclass
class DistributionPlan:
    """What ``ensure_distribution`` found and would change. ``oac_id`` is None when the OAC is missing;
    ``cache_policy`` is the tool's own policy (None when it is to be made, or not wanted because the
    behaviour names another policy: ``kept_cache_policy``, which stays as it is)."""

    existing: Distribution | None
    oac_id: str | None
    config: dict[str, Any] | None = None  # the existing distribution's config, and its ETag
    etag: str | None = None
    drift: list[str] = field(default_factory=list)
    cache_policy: CachePolicy | None = None
    cache_policy_drift: list[str] = field(default_factory=list)
    kept_cache_policy: str | None = None
    changes: list[Change] = field(default_factory=list)


def _plan_cache_policy(plan: DistributionPlan, found: CachePolicy | None, bucket: str) -> None:
    """Decide about the tool's cache policy once the distribution's current behaviour is known."""
    behaviour = ((plan.config or {}).get("DefaultCacheBehavior")) or {}
    named = str(behaviour.get("CachePolicyId") or "")
    if named and not (found is not None and found.id == named and found.made_for(bucket)):
        plan.kept_cache_policy = named  # the Terraform module's, or its owner's choice
        return
    name = cache_policy_name(bucket)
    if found is not None and not found.made_for(bucket):
        raise ConflictError(
            f"the cache policy {name} ({found.id}) was not made by oidc-publisher for s3://{bucket} "
            f"(its comment is {found.comment!r}), and the distribution would need that name",
            "delete or rename that cache policy, or point the distribution's default behaviour at it yourself; then re-run",
        )
    plan.cache_policy = found
    if found is None:
        plan.changes.append(
            Change(
                f"cloudfront:cache-policy/{name}",
                "create",
                f"TTL {MIN_TTL}-{DEFAULT_TTL}-{MAX_TTL}s, only the path in the cache key, gzip and brotli",
            )
        )
        return
    plan.cache_policy_drift = cache_policy_drift(found.config)
    if plan.cache_policy_drift:
        plan.changes.append(
            Change(f"cloudfront:cache-policy/{name}", "update", "; ".join(plan.cache_policy_drift))
        )


def plan_distribution(
    clients: AwsClients,
    *,
    bucket: str,
    region: str,
    aliases: tuple[str, ...] = (),
    acm_certificate_arn: str | None = None,
) -> DistributionPlan:
    """Read the current OAC, cache policy and distribution (no write call) and list what must change."""
    check_certificate(aliases, acm_certificate_arn)
    oac_id = find_origin_access_control(clients, bucket)
    existing = find_distribution(clients, bucket=bucket, region=region)
    plan = DistributionPlan(existing=existing, oac_id=oac_id)
    if existing is not None:
        with _translated("cloudfront:GetDistributionConfig", existing.id):
            current = clients.cloudfront().get_distribution_config(Id=existing.id)
        plan.config = dict(current["DistributionConfig"])
        plan.etag = current["ETag"]
    if oac_id is None:
        plan.changes.append(
            Change(
                f"cloudfront:origin-access-control/{oac_name(bucket)}",
                "create",
                "the distribution signs its requests to the private bucket (SigV4, always)",
            )
        )
    _plan_cache_policy(plan, find_cache_policy(clients, bucket), bucket)
    if existing is None:
        where = f"{', '.join(aliases)} with the ACM certificate" if aliases else "the default *.cloudfront.net name"
        plan.changes.append(
            Change(
                f"cloudfront:distribution for s3://{bucket}",
                "create",
                f"https-only, GET/HEAD, cache policy {cache_policy_name(bucket)}, private bucket through OAC, on {where}",
            )
        )
        return plan
    assert plan.config is not None
    wanted_policy = None if plan.kept_cache_policy else cache_policy_name(bucket)
    plan.drift = _drift(plan.config, oac_id, aliases, acm_certificate_arn, wanted_policy)
    if plan.drift:
        plan.changes.append(Change(f"cloudfront:distribution/{existing.id}", "update", "; ".join(plan.drift)))
    return plan


def _apply_cache_policy(clients: AwsClients, bucket: str, plan: DistributionPlan) -> str | None:
    """Create or converge the tool's cache policy as planned; its id (None when the behaviour keeps another)."""
    if plan.kept_cache_policy:
        return None
    client = clients.cloudfront()
    name = cache_policy_name(bucket)
    if plan.cache_policy is None:
        with _translated("cloudfront:CreateCachePolicy", name, subject="the cache policy"):
            created = client.create_cache_policy(CachePolicyConfig=cache_policy_config(bucket))  # type: ignore[arg-type]
        return str(created["CachePolicy"]["Id"])
    policy_id = plan.cache_policy.id
    if plan.cache_policy_drift:
        with _translated("cloudfront:GetCachePolicy", name):
            etag = client.get_cache_policy(Id=policy_id)["ETag"]
        with _translated("cloudfront:UpdateCachePolicy", name, subject="the cache policy"):
            client.update_cache_policy(Id=policy_id, IfMatch=etag, CachePolicyConfig=cache_policy_config(bucket))  # type: ignore[arg-type]
    return policy_id


def ensure_distribution(
    clients: AwsClients,
    *,
    bucket: str,
    region: str,
    aliases: tuple[str, ...] = (),
    acm_certificate_arn: str | None = None,
    tags: dict[str, str],
    dry_run: bool,
) -> tuple[Distribution | None, list[Change]]:
    """Create the OAC, the cache policy and the distribution when missing; converge the policy's TTLs and
    cache key, and an existing distribution's aliases, certificate, viewer policy, OAC and cache policy.
    With ``dry_run`` nothing is written; the distribution is None then when it does not exist yet."""
    plan = plan_distribution(
        clients, bucket=bucket, region=region, aliases=aliases, acm_certificate_arn=acm_certificate_arn
    )
    if dry_run:
        return plan.existing, plan.changes
    client = clients.cloudfront()
    oac_id = plan.oac_id
    if oac_id is None:
        with _translated("cloudfront:CreateOriginAccessControl", oac_name(bucket)):
            oac_id = client.create_origin_access_control(
                OriginAccessControlConfig={
                    "Name": oac_name(bucket),
                    "Description": oac_description(bucket),
                    "SigningProtocol": "sigv4",
                    "SigningBehavior": "always",
                    "OriginAccessControlOriginType": "s3",
                }
            )["OriginAccessControl"]["Id"]
    cache_policy_id = _apply_cache_policy(clients, bucket, plan)
    if plan.existing is None:
        assert cache_policy_id is not None  # a new distribution has no policy of its own to keep
        all_tags = {**tags, MANAGED_BY[0]: MANAGED_BY[1], BUCKET_TAG: bucket}
        config = _new_config(bucket, region, oac_id, aliases, acm_certificate_arn, cache_policy_id)
        with _translated(
            "cloudfront:CreateDistributionWithTags",
            f"the distribution for {bucket}",
            aliases=aliases,
            grant="cloudfront:CreateDistribution and cloudfront:TagResource",  # no IAM action of this call's name
        ):
            created = client.create_distribution_with_tags(
                DistributionConfigWithTags={
                    "DistributionConfig": config,  # type: ignore[typeddict-item]
                    "Tags": {"Items": [{"Key": k, "Value": v} for k, v in sorted(all_tags.items())]},
                }
            )["Distribution"]
        return (
            Distribution(
                created["Id"], created["ARN"], created["DomainName"], tuple(aliases), oac_id, created["Status"]
            ),
            plan.changes,
        )
    existing = plan.existing
    if not plan.drift:
        return existing, plan.changes
    assert plan.config is not None and plan.etag is not None
    wanted = _converged(plan.config, oac_id, aliases, acm_certificate_arn, cache_policy_id)
    with _translated("cloudfront:UpdateDistribution", existing.id, aliases=aliases):
        updated = client.update_distribution(Id=existing.id, IfMatch=plan.etag, DistributionConfig=wanted)  # type: ignore[arg-type]
    return _describe(dict(updated["Distribution"])), plan.changes


# ---------------------------------------------------------------- invalidation


def invalidate(clients: AwsClients, distribution_id: str, paths: Sequence[str]) -> str:
    """One invalidation of exactly ``paths`` (each starting with '/'); returns its id."""
    if not paths:
        raise ValueError("no paths to invalidate")
    if isinstance(paths, str) or any(not p.startswith("/") for p in paths):
        raise ValueError(f"invalidation paths must each start with '/': {paths!r}")
    items = list(dict.fromkeys(paths))  # the caller's order, each path once
    # Unique per call, and the same for botocore's retries of this one request (it resends the body),
    # which CloudFront then answers with the invalidation it already made.
    reference = hashlib.sha256(("\n".join(items) + f"\n{time.time_ns()}").encode()).hexdigest()[:32]
    with _translated("cloudfront:CreateInvalidation", distribution_id):
        response = clients.cloudfront().create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={"Paths": {"Quantity": len(items), "Items": items}, "CallerReference": reference},
        )
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
        if _code(exc) == "NoSuchDistribution":
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
        if _code(exc) == "NoSuchDistribution":
            return True
        if _code(exc) in ("DistributionNotDisabled", "PreconditionFailed"):
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
            if _code(exc) == "NoSuchDistribution":
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
        if _code(exc) == f"NoSuch{kind}":
            return True
        if _code(exc) == f"{kind}InUse":
            return False
        raise aws_error(exc, action, ident) from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, ident) from None
    return True
