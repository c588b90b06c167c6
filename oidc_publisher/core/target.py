"""Where an issuer lives: its URL, its bucket and region, and its objects' keys, from the options. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from oidc_publisher.core.errors import OPTION, InputError
from oidc_publisher.core.issuer import (
    Issuer,
    ObjectKeys,
    object_keys_for,
    parse_issuer,
    s3_direct_issuer_url,
    validate_bucket_name,
)


@dataclass(frozen=True)
class Target:
    """Where an issuer lives: its URL, its bucket and region, and the object keys."""

    issuer: Issuer
    bucket: str
    region: str
    keys: ObjectKeys


def resolve_target(
    *, bucket: str, issuer_url: str | None, prefix: str | None, region: str | None, default_region: str | None
) -> Target:
    """The issuer and object keys for a bucket (DESIGN: derived for S3-direct, explicit otherwise)."""
    if issuer_url is None:
        chosen = region or default_region
        if not chosen:
            raise InputError(
                "no region for the S3-direct issuer URL",
                f"give {OPTION} (or set AWS_REGION), or give --issuer-url", option="--region",
            )
        issuer = parse_issuer(s3_direct_issuer_url(bucket, chosen, prefix or ""))
        return Target(issuer, bucket, chosen, object_keys_for(issuer, bucket, None))
    issuer = parse_issuer(issuer_url)
    origin = issuer.s3_origin()
    if origin is not None:
        if region is not None and region != origin[1]:
            raise InputError(f"{OPTION} {region} disagrees with the issuer URL's region {origin[1]}", f"drop {OPTION}",
                             option="--region")
        validate_bucket_name(bucket, s3_direct=True)
        return Target(issuer, bucket, origin[1], object_keys_for(issuer, bucket, prefix))
    validate_bucket_name(bucket, s3_direct=False)
    chosen = region or default_region
    if not chosen:
        raise InputError("no region for the bucket", f"give {OPTION}, or set AWS_REGION", option="--region")
    return Target(issuer, bucket, chosen, object_keys_for(issuer, bucket, prefix))
