"""The CloudFront edge: a distribution that serves the issuer from a private bucket through Origin
Access Control, and invalidations of exactly the paths that changed.

Cache settings: the legacy TTL fields (MinTTL 0, DefaultTTL 300, MaxTTL 3600, nothing forwarded) rather
than a cache policy. The objects carry ``Cache-Control: public, max-age=300``, which CloudFront honours
within those bounds, so the effect is the same as a short-TTL cache policy with one resource fewer to
own, find and delete. It is also what the tests can check: moto (the tests' AWS) implements no
cache-policy call at all (CreateCachePolicy answers 404), while it stores and returns the legacy fields.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws import aws_error
from oidc_publisher.errors import AWSError, InputError
from oidc_publisher.plan import Change

if TYPE_CHECKING:
    from oidc_publisher.aws import AwsClients

ORIGIN_ID = "oidc-publisher-s3"
MANAGED_TAG = ("managed-by", "oidc-publisher")
BUCKET_TAG = "oidc-publisher:bucket"
# Items per ListDistributions / ListOriginAccessControls page (AWS's maximum is 100; tests lower it).
LIST_PAGE_SIZE = 100
MIN_TTL, DEFAULT_TTL, MAX_TTL = 0, 300, 3600
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
    "PreconditionFailed": "the distribution changed while this run was reading it: re-run to converge it",
    "NoSuchDistribution": "it does not exist (any more): re-run to find or create it",
    "NoSuchOriginAccessControl": "it does not exist (any more): re-run to find or create it",
}


@contextmanager
def _translated(
    action: str, resource: str | None = None, *, aliases: Sequence[str] = (), grant: str | None = None
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
            error = AWSError(error.message, _HINTS[code].format(aliases=", ".join(aliases) or "the issuer host"))
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


def find_distribution(clients: AwsClients, *, bucket: str, region: str) -> Distribution | None:
    """The distribution this tool (or the Terraform module) made for ``bucket``: by its comment and
    origin, else by its ``oidc-publisher:bucket`` tag among the distributions with that origin."""
    client = clients.cloudfront()
    domain = origin_domain(bucket, region)
    tagged_candidates: list[dict[str, Any]] = []
    marker = ""
    while True:
        with _translated("cloudfront:ListDistributions"):
            page = client.list_distributions(**_page(marker))["DistributionList"]
        for summary in _items(page):  # type: ignore[arg-type]
            if not any(o.get("DomainName") == domain for o in _items(summary.get("Origins"))):
                continue
            if summary.get("Comment") == comment_for(bucket):
                return _describe(summary)
            tagged_candidates.append(summary)
        if not page.get("IsTruncated") or not page.get("NextMarker"):
            break
        marker = page["NextMarker"]
    for summary in tagged_candidates:
        if _tags(clients, summary["ARN"]).get(BUCKET_TAG) == bucket:
            return _describe(summary)
    return None


def find_origin_access_control(clients: AwsClients, bucket: str) -> str | None:
    """The id of the OAC named ``oidc-publisher-BUCKET``, if there is one."""
    client = clients.cloudfront()
    marker = ""
    while True:
        with _translated("cloudfront:ListOriginAccessControls"):
            page = client.list_origin_access_controls(**_page(marker))["OriginAccessControlList"]
        for item in _items(page):  # type: ignore[arg-type]
            if item.get("Name") == oac_name(bucket):
                return str(item["Id"])
        if not page.get("IsTruncated") or not page.get("NextMarker"):
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


def _new_config(
    bucket: str, region: str, oac_id: str, aliases: Sequence[str], acm_certificate_arn: str | None
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
            # Legacy TTLs, not a cache policy: see the module docstring.
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}, "Headers": {"Quantity": 0}},
            "MinTTL": MIN_TTL,
            "DefaultTTL": DEFAULT_TTL,
            "MaxTTL": MAX_TTL,
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "PriceClass": "PriceClass_100",
        "HttpVersion": "http2",
        "IsIPV6Enabled": True,
        "ViewerCertificate": _viewer_certificate(acm_certificate_arn),
    }


def _drift(
    config: dict[str, Any], oac_id: str | None, aliases: Sequence[str], acm_certificate_arn: str | None
) -> list[str]:
    """What differs, in the fields the tool owns on an existing distribution. Everything else (cache
    settings, price class, logging, a Terraform-made cache policy) is the owner's to change."""
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
    if (config.get("DefaultCacheBehavior") or {}).get("ViewerProtocolPolicy") != "https-only":
        drift.append("viewer protocol -> https-only")
    origins = _items(config.get("Origins"))
    # CloudFront returns the origin's OAC id ("" when none); moto drops the field, and an absent field
    # is not taken for drift, or every run against moto would rewrite the distribution.
    if oac_id and origins and "OriginAccessControlId" in origins[0] and origins[0]["OriginAccessControlId"] != oac_id:
        drift.append(f"origin access control -> {oac_id}")
    return drift


def _converged(
    config: dict[str, Any], oac_id: str | None, aliases: Sequence[str], acm_certificate_arn: str | None
) -> dict[str, Any]:
    """The current config with only the owned fields set (GetDistributionConfig's answer is valid
    UpdateDistribution input; everything not owned passes through unchanged)."""
    wanted = dict(config)
    wanted["Enabled"] = True
    wanted["Aliases"] = _aliases(aliases)
    wanted["ViewerCertificate"] = _viewer_certificate(acm_certificate_arn)
    wanted["DefaultCacheBehavior"] = {**config.get("DefaultCacheBehavior", {}), "ViewerProtocolPolicy": "https-only"}
    origins = _items(config.get("Origins"))
    if oac_id and origins and "OriginAccessControlId" in origins[0]:
        first = {**origins[0], "OriginAccessControlId": oac_id}
        wanted["Origins"] = {**config["Origins"], "Items": [first, *origins[1:]]}
    return wanted


@dataclass
class DistributionPlan:
    """What ``ensure_distribution`` found and would change. ``oac_id`` is None when the OAC is missing."""

    existing: Distribution | None
    oac_id: str | None
    config: dict[str, Any] | None = None  # the existing distribution's config, and its ETag
    etag: str | None = None
    drift: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


def plan_distribution(
    clients: AwsClients,
    *,
    bucket: str,
    region: str,
    aliases: tuple[str, ...] = (),
    acm_certificate_arn: str | None = None,
) -> DistributionPlan:
    """Read the current OAC and distribution (no write call) and list what must change."""
    check_certificate(aliases, acm_certificate_arn)
    oac_id = find_origin_access_control(clients, bucket)
    existing = find_distribution(clients, bucket=bucket, region=region)
    plan = DistributionPlan(existing=existing, oac_id=oac_id)
    if oac_id is None:
        plan.changes.append(
            Change(
                f"cloudfront:origin-access-control/{oac_name(bucket)}",
                "create",
                "the distribution signs its requests to the private bucket (SigV4, always)",
            )
        )
    if existing is None:
        where = f"{', '.join(aliases)} with the ACM certificate" if aliases else "the default *.cloudfront.net name"
        plan.changes.append(
            Change(
                f"cloudfront:distribution for s3://{bucket}",
                "create",
                f"https-only, GET/HEAD, TTL {MIN_TTL}-{DEFAULT_TTL}-{MAX_TTL}s, private bucket through OAC, on {where}",
            )
        )
        return plan
    with _translated("cloudfront:GetDistributionConfig", existing.id):
        current = clients.cloudfront().get_distribution_config(Id=existing.id)
    plan.config = dict(current["DistributionConfig"])
    plan.etag = current["ETag"]
    plan.drift = _drift(plan.config, oac_id, aliases, acm_certificate_arn)
    if plan.drift:
        plan.changes.append(Change(f"cloudfront:distribution/{existing.id}", "update", "; ".join(plan.drift)))
    return plan


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
    """Create the OAC and the distribution when missing; converge an existing distribution's aliases,
    certificate, viewer policy and OAC. With ``dry_run`` nothing is written; the distribution is None
    then when it does not exist yet."""
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
                    "Description": comment_for(bucket),
                    "SigningProtocol": "sigv4",
                    "SigningBehavior": "always",
                    "OriginAccessControlOriginType": "s3",
                }
            )["OriginAccessControl"]["Id"]
    if plan.existing is None:
        all_tags = {**tags, MANAGED_TAG[0]: MANAGED_TAG[1], BUCKET_TAG: bucket}
        with _translated(
            "cloudfront:CreateDistributionWithTags",
            f"the distribution for {bucket}",
            aliases=aliases,
            grant="cloudfront:CreateDistribution and cloudfront:TagResource",  # no IAM action of this call's name
        ):
            created = client.create_distribution_with_tags(
                DistributionConfigWithTags={
                    "DistributionConfig": _new_config(bucket, region, oac_id, aliases, acm_certificate_arn),  # type: ignore[typeddict-item]
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
    wanted = _converged(plan.config, oac_id, aliases, acm_certificate_arn)
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


def delete_origin_access_control(clients: AwsClients, oac_id: str) -> bool:
    """Delete the OAC; True when it is gone (already gone included), False while a distribution still
    uses it (delete that first)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = clients.cloudfront()
    action = "cloudfront:GetOriginAccessControl"
    try:
        etag = client.get_origin_access_control(Id=oac_id)["ETag"]
        action = "cloudfront:DeleteOriginAccessControl"
        client.delete_origin_access_control(Id=oac_id, IfMatch=etag)
    except ClientError as exc:
        if _code(exc) == "NoSuchOriginAccessControl":
            return True
        if _code(exc) == "OriginAccessControlInUse":
            return False
        raise aws_error(exc, action, oac_id) from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, oac_id) from None
    return True
