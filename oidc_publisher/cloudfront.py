"""The CloudFront edge: a distribution that serves the issuer from a private bucket through Origin
Access Control, and invalidations of exactly the paths that changed.

Cache settings: the legacy TTL fields (MinTTL 0, DefaultTTL 300, MaxTTL 3600, nothing forwarded) rather
than a cache policy: one resource fewer to own, and the objects' own ``Cache-Control: public,
max-age=300`` decides within those bounds. (moto, the tests' AWS, implements no cache-policy calls.)
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws import aws_error
from oidc_publisher.errors import AWSError, InputError
from oidc_publisher.plan import Change

if TYPE_CHECKING:
    from oidc_publisher.aws import AwsClients

ORIGIN_ID = "oidc-publisher-s3"
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")


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


def origin_domain(bucket: str, region: str) -> str:
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"{bucket}.s3.{region}{suffix}"


def distribution_arn(partition: str, account_id: str, distribution_id: str) -> str:
    return f"arn:{partition}:cloudfront::{account_id}:distribution/{distribution_id}"


@contextmanager
def _translated(action: str, resource: str | None = None) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "CNAMEAlreadyExists":
            raise AWSError(
                f"{action} failed: the alias is already used by another CloudFront distribution",
                "remove it from the other distribution, or use another issuer host name",
            ) from None
        raise aws_error(exc, action, resource) from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, resource) from None


def _describe(summary: dict[str, Any]) -> Distribution:
    origins = summary.get("Origins", {}).get("Items", []) or []
    return Distribution(
        id=summary["Id"],
        arn=summary.get("ARN", ""),
        domain_name=summary["DomainName"],
        aliases=tuple(summary.get("Aliases", {}).get("Items", []) or []),
        origin_access_control_id=(origins[0].get("OriginAccessControlId") or None) if origins else None,
        status=summary.get("Status", ""),
    )


def find_distribution(clients: AwsClients, *, bucket: str, region: str) -> Distribution | None:
    """The distribution this tool made for ``bucket`` (its comment and origin name it)."""
    client = clients.cloudfront()
    marker = None
    while True:
        with _translated("cloudfront:ListDistributions"):
            page = client.list_distributions(**({"Marker": marker} if marker else {}))["DistributionList"]
        for summary in page.get("Items", []) or []:
            origins = summary.get("Origins", {}).get("Items", []) or []
            if summary.get("Comment") == comment_for(bucket) and any(
                o.get("DomainName") == origin_domain(bucket, region) for o in origins
            ):
                return _describe(summary)  # type: ignore[arg-type]
        if not page.get("IsTruncated"):
            return None
        marker = page.get("NextMarker")


def find_origin_access_control(clients: AwsClients, bucket: str) -> str | None:
    with _translated("cloudfront:ListOriginAccessControls"):
        listing = clients.cloudfront().list_origin_access_controls()["OriginAccessControlList"]
    for item in listing.get("Items", []) or []:
        if item.get("Name") == f"oidc-publisher-{bucket}"[:64]:
            return str(item["Id"])
    return None


def check_certificate(aliases: Sequence[str], acm_certificate_arn: str | None) -> None:
    if aliases and not acm_certificate_arn:
        raise InputError(
            f"the custom issuer host {aliases[0]} needs a certificate",
            "give --acm-certificate-arn: an ACM certificate in us-east-1 that covers it (CloudFront requires us-east-1)",
        )
    if acm_certificate_arn:
        match = _ACM_ARN.match(acm_certificate_arn)
        if not match:
            raise InputError(f"{acm_certificate_arn!r} is not an ACM certificate ARN", "copy it from the ACM console or 'aws acm list-certificates --region us-east-1'")
        if match["region"] != "us-east-1":
            raise InputError(
                f"the ACM certificate is in {match['region']}, but CloudFront only uses certificates in us-east-1",
                "request or import the certificate in us-east-1",
            )
        if not aliases:
            raise InputError("--acm-certificate-arn without a custom --issuer-url", "give the custom domain as --issuer-url")


def _config(bucket: str, region: str, oac_id: str, aliases: Sequence[str], acm_certificate_arn: str | None) -> dict[str, Any]:
    viewer: dict[str, Any] = (
        {"ACMCertificateArn": acm_certificate_arn, "SSLSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"}
        if acm_certificate_arn
        else {"CloudFrontDefaultCertificate": True}
    )
    return {
        "CallerReference": f"oidc-publisher-{bucket}-{int(time.time())}",
        "Comment": comment_for(bucket),
        "Enabled": True,
        "Aliases": {"Quantity": len(aliases), "Items": list(aliases)} if aliases else {"Quantity": 0},
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": ORIGIN_ID,
                    "DomainName": origin_domain(bucket, region),
                    "OriginAccessControlId": oac_id,
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": ORIGIN_ID,
            "ViewerProtocolPolicy": "https-only",
            "AllowedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"], "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}},
            "Compress": True,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}, "Headers": {"Quantity": 0}},
            "MinTTL": 0,
            "DefaultTTL": 300,
            "MaxTTL": 3600,
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "PriceClass": "PriceClass_100",
        "HttpVersion": "http2",
        "IsIPV6Enabled": True,
        "ViewerCertificate": viewer,
    }


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
    """Create the OAC and distribution when missing; converge aliases, certificate and viewer policy."""
    check_certificate(aliases, acm_certificate_arn)
    changes: list[Change] = []
    client = clients.cloudfront()
    oac_id = find_origin_access_control(clients, bucket)
    if oac_id is None:
        changes.append(Change(f"cloudfront:origin-access-control/oidc-publisher-{bucket}", "create", "the distribution signs its requests to the private bucket (SigV4)"))
        if not dry_run:
            with _translated("cloudfront:CreateOriginAccessControl"):
                oac_id = client.create_origin_access_control(
                    OriginAccessControlConfig={
                        "Name": f"oidc-publisher-{bucket}"[:64],
                        "Description": comment_for(bucket),
                        "SigningProtocol": "sigv4",
                        "SigningBehavior": "always",
                        "OriginAccessControlOriginType": "s3",
                    }
                )["OriginAccessControl"]["Id"]
    existing = find_distribution(clients, bucket=bucket, region=region)
    if existing is None:
        changes.append(Change(f"cloudfront:distribution/{bucket}", "create", "https-only, GET/HEAD, short TTLs, origin the private bucket through OAC"))
        if dry_run:
            return None, changes
        assert oac_id is not None
        new_config = _config(bucket, region, oac_id, aliases, acm_certificate_arn)
        with _translated("cloudfront:CreateDistributionWithTags"):
            created = client.create_distribution_with_tags(
                DistributionConfigWithTags={
                    "DistributionConfig": new_config,  # type: ignore[typeddict-item]
                    "Tags": {"Items": [{"Key": k, "Value": v} for k, v in sorted({**tags, "oidc-publisher:bucket": bucket}.items())]},
                }
            )["Distribution"]
        return _describe({**created, "Aliases": new_config["Aliases"], "Origins": new_config["Origins"]}), changes

    with _translated("cloudfront:GetDistributionConfig", existing.id):
        current = client.get_distribution_config(Id=existing.id)
    config: dict[str, Any] = dict(current["DistributionConfig"])
    drift = []
    if sorted(config.get("Aliases", {}).get("Items", []) or []) != sorted(aliases):
        drift.append(f"aliases -> {', '.join(aliases) or 'none'}")
    viewer = config.get("ViewerCertificate", {})
    if (viewer.get("ACMCertificateArn") or None) != acm_certificate_arn:
        drift.append("certificate")
    if config.get("DefaultCacheBehavior", {}).get("ViewerProtocolPolicy") != "https-only":
        drift.append("viewer protocol -> https-only")
    if drift:
        changes.append(Change(f"cloudfront:distribution/{existing.id}", "update", "; ".join(drift)))
        if not dry_run:
            wanted = _config(bucket, region, oac_id or existing.origin_access_control_id or "", aliases, acm_certificate_arn)
            wanted["CallerReference"] = config["CallerReference"]
            with _translated("cloudfront:UpdateDistribution", existing.id):
                client.update_distribution(Id=existing.id, IfMatch=current["ETag"], DistributionConfig=wanted)  # type: ignore[arg-type]
    return existing, changes


def invalidate(clients: AwsClients, distribution_id: str, paths: Sequence[str]) -> str:
    """One invalidation of exactly ``paths``; returns its id."""
    if not paths:
        raise ValueError("no paths to invalidate")
    items = sorted(set(paths))
    reference = hashlib.sha256(("\n".join(items) + f"\n{time.time_ns()}").encode()).hexdigest()[:32]
    with _translated("cloudfront:CreateInvalidation", distribution_id):
        response = clients.cloudfront().create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={"Paths": {"Quantity": len(items), "Items": items}, "CallerReference": reference},
        )
    return str(response["Invalidation"]["Id"])
