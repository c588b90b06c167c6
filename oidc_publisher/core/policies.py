"""IAM policy documents the tool writes, as plain dicts. Pure: the edges serialise and send them.

The Terraform module (terraform/modules/oidc-issuer) writes the same bucket policy; a test compares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

POLICY_VERSION = "2012-10-17"
PUBLIC_READ_SID = "OidcPublisherPublicRead"
CLOUDFRONT_READ_SID = "OidcPublisherCloudFrontRead"
DENY_INSECURE_SID = "OidcPublisherDenyInsecureTransport"
TOMBSTONE_SID = "OidcPublisherTombstone"

Policy = dict[str, Any]


def object_arn(partition: str, bucket: str, key: str) -> str:
    return f"arn:{partition}:s3:::{bucket}/{key}"


def _deny_insecure(partition: str, bucket: str) -> dict[str, Any]:
    return {
        "Sid": DENY_INSECURE_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(
    partition: str,
    bucket: str,
    published_keys: Iterable[str],
    *,
    distribution_arn: str | None = None,
) -> Policy:
    """Read access on exactly the published objects, and no access at all without TLS.

    S3-direct: anyone may GetObject the published keys (and nothing else: the state object and
    any other key stay private). CloudFront: only that distribution, through Origin Access Control.
    """
    resources = sorted({object_arn(partition, bucket, key) for key in published_keys})
    read: dict[str, Any]
    if distribution_arn is None:
        read = {
            "Sid": PUBLIC_READ_SID,
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": resources,
        }
    else:
        read = {
            "Sid": CLOUDFRONT_READ_SID,
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": resources,
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
        }
    return {"Version": POLICY_VERSION, "Statement": [read, _deny_insecure(partition, bucket)]}


def tombstone_policy(partition: str, bucket: str, account_id: str) -> Policy:
    """The policy of a bucket kept as a tombstone (an S3-direct issuer's, whose name IAM may still trust):
    every S3 action by anyone outside the owning account is denied. The owner keeps what its IAM
    policies grant, so it can still read the bucket and delete it later (teardown --delete-bucket)."""
    deny_others = {
        "Sid": TOMBSTONE_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account_id}},
    }
    return {"Version": POLICY_VERSION, "Statement": [deny_others, _deny_insecure(partition, bucket)]}
