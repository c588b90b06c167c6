"""The S3 edge: read and write the issuer's objects, and set up the bucket that holds them.

Only the calls the tool makes, on a boto3 S3 client given by the caller. botocore errors are
translated into :class:`~oidc_publisher.errors.AWSError` here, where S3 is touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws import aws_error
from oidc_publisher.concurrency import together
from oidc_publisher.errors import AWSError, ConflictError
from oidc_publisher.plan import Change
from oidc_publisher.policies import CLOUDFRONT_READ_SID, PUBLIC_READ_SID

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANAGED_BY_TAG = ("managed-by", "oidc-publisher")
ISSUER_TAG = "oidc-publisher:issuer"


class ConcurrentUpdate(Exception):
    """A conditional write lost a race with another writer; the caller re-reads and tries again."""


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str
    content_type: str | None
    cache_control: str | None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def get_object(s3: S3Client, bucket: str, key: str) -> StoredObject | None:
    """The object's bytes and headers, or None when it does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "404"):
            return None
        if _code(exc) == "NoSuchBucket":
            raise AWSError(
                f"bucket {bucket} does not exist",
                "create it with 'oidc-publisher bootstrap' or 'publish --create-bucket', or check --bucket and the region",
            ) from None
        raise aws_error(exc, "s3:GetObject", f"s3://{bucket}/{key}") from None
    except BotoCoreError as exc:
        raise aws_error(exc, "s3:GetObject", f"s3://{bucket}/{key}") from None
    return StoredObject(
        body=body,
        etag=str(response.get("ETag", "")),
        content_type=response.get("ContentType"),
        cache_control=response.get("CacheControl"),
    )


def put_object(
    s3: S3Client,
    bucket: str,
    key: str,
    body: bytes,
    *,
    content_type: str,
    cache_control: str,
    replaces: StoredObject | None,
) -> str:
    """Write ``body`` only if the object is still what we read (``replaces``), or still absent.

    S3's conditional writes (If-Match / If-None-Match) make two concurrent publishers safe: the
    loser gets :class:`ConcurrentUpdate`, re-reads, merges, and tries again. Never an ACL.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    condition: dict[str, str] = {"IfMatch": replaces.etag} if replaces else {"IfNoneMatch": "*"}
    try:
        response = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            CacheControl=cache_control,
            **condition,  # type: ignore[arg-type]
        )
    except ClientError as exc:
        if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or _status(exc) in (409, 412):
            raise ConcurrentUpdate(key) from None
        raise aws_error(exc, "s3:PutObject", f"s3://{bucket}/{key}") from None
    except BotoCoreError as exc:
        raise aws_error(exc, "s3:PutObject", f"s3://{bucket}/{key}") from None
    return str(response.get("ETag", ""))


def delete_object(s3: S3Client, bucket: str, key: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, "s3:DeleteObject", f"s3://{bucket}/{key}") from None


# --- bucket set-up -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketSpec:
    name: str
    region: str
    partition: str
    public_policy: dict[str, Any]  # the statements this issuer needs (see policies.bucket_policy)
    private: bool  # True behind CloudFront: Block Public Access fully on
    issuer_url: str


def _get(call: Any, missing: tuple[str, ...], action: str, resource: str, **kwargs: Any) -> dict[str, Any] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dict(call(**kwargs))
    except ClientError as exc:
        if _code(exc) in missing:
            return None
        raise aws_error(exc, action, resource) from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, resource) from None


def _do(call: Any, action: str, resource: str, **kwargs: Any) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, action, resource) from None


def normalise_policy(policy: dict[str, Any]) -> dict[str, Any]:
    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            items = [norm(v) for v in value]
            return (
                sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
                if all(isinstance(v, str) for v in items)
                else items
            )
        return value

    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    out = []
    for statement in statements:
        statement = dict(statement)
        for member in ("Action", "Resource"):
            if isinstance(statement.get(member), str):
                statement[member] = [statement[member]]
        out.append(norm(statement))
    return {"Version": policy.get("Version", "2012-10-17"), "Statement": out}


def merged_policy(existing: dict[str, Any] | None, ours: dict[str, Any]) -> dict[str, Any]:
    """The bucket's policy with our statements in it: other statements kept; read statements
    keep the resources of other issuers (prefixes) in the same bucket."""
    existing_statements = list(normalise_policy(existing)["Statement"]) if existing else []
    by_sid = {s.get("Sid"): s for s in existing_statements}
    result = [s for s in existing_statements if s.get("Sid") not in {x["Sid"] for x in ours["Statement"]}]
    for statement in ours["Statement"]:
        mine = dict(statement)
        old = by_sid.get(mine["Sid"])
        if (
            old is not None
            and mine["Sid"] in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID)
            and old.get("Condition") == mine.get("Condition")
        ):
            resources = set(old.get("Resource", [])) | set(mine["Resource"])
            mine["Resource"] = sorted(resources)
        result.append(mine)
    return normalise_policy({"Version": ours["Version"], "Statement": result})


def plan_bucket(s3: S3Client, spec: BucketSpec) -> tuple[list[Change], list[tuple[str, dict[str, Any]]]]:
    """Read the bucket's set-up and return (changes, calls to make). Reads only."""
    bucket = spec.name
    resource = f"s3://{bucket}"
    changes: list[Change] = []
    calls: list[tuple[str, dict[str, Any]]] = []
    head = _get(s3.head_bucket, ("404", "NoSuchBucket", "NotFound"), "s3:ListBucket", resource, Bucket=bucket)
    exists = head is not None
    if not exists:
        create: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if spec.region != "us-east-1":  # us-east-1 takes no LocationConstraint
            create["CreateBucketConfiguration"] = {"LocationConstraint": spec.region}
        changes.append(Change(resource, "create", f"bucket does not exist (region {spec.region}, ACLs disabled)"))
        calls.append(("create_bucket", create))
        calls.append(
            (
                "put_bucket_tagging",
                {
                    "Bucket": bucket,
                    "Tagging": {
                        "TagSet": [
                            {"Key": MANAGED_BY_TAG[0], "Value": MANAGED_BY_TAG[1]},
                            {"Key": ISSUER_TAG, "Value": spec.issuer_url[:256]},
                        ]
                    },
                },
            )
        )
    reads: dict[str, dict[str, Any] | None] = {}
    if exists:
        # Six independent reads of the bucket's set-up, side by side.
        wanted_reads: list[tuple[str, Any, tuple[str, ...], str]] = [
            ("location", s3.get_bucket_location, (), "s3:GetBucketLocation"),
            ("ownership", s3.get_bucket_ownership_controls, ("OwnershipControlsNotFoundError",),
             "s3:GetBucketOwnershipControls"),
            ("pab", s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",),
             "s3:GetBucketPublicAccessBlock"),
            ("encryption", s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",),
             "s3:GetEncryptionConfiguration"),
            ("versioning", s3.get_bucket_versioning, (), "s3:GetBucketVersioning"),
            ("policy", s3.get_bucket_policy, ("NoSuchBucketPolicy",), "s3:GetBucketPolicy"),
        ]
        def reader(call: Any, missing: tuple[str, ...], action: str) -> Callable[[], dict[str, Any] | None]:
            return lambda: _get(call, missing, action, resource, Bucket=bucket)

        results = together(
            [reader(call, missing, action) for _, call, missing, action in wanted_reads], return_exceptions=True
        )
        location = results[0]
        if isinstance(location, BaseException):
            raise location
        # A bucket in another region is the error to report, even when a read there failed too.
        actual = (location or {}).get("LocationConstraint") or "us-east-1"
        if actual == "EU":
            actual = "eu-west-1"
        if actual != spec.region:
            raise ConflictError(
                f"bucket {bucket} is in {actual}, not {spec.region}",
                f"use --region {actual} (the S3-direct issuer URL names the bucket's region)",
            )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        reads = {name: result for (name, *_), result in zip(wanted_reads, results, strict=True)}
    ownership = reads.get("ownership")
    rules = (ownership or {}).get("OwnershipControls", {}).get("Rules", [])
    if exists and [r.get("ObjectOwnership") for r in rules] != ["BucketOwnerEnforced"]:
        changes.append(
            Change(resource, "update", "object ownership is not BucketOwnerEnforced (ACLs must be disabled)")
        )
        calls.append(
            (
                "put_bucket_ownership_controls",
                {"Bucket": bucket, "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}},
            )
        )
    want_pab = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": spec.private,
        "RestrictPublicBuckets": spec.private,
    }
    pab = reads.get("pab")
    if (pab or {}).get("PublicAccessBlockConfiguration") != want_pab:
        why = (
            "all on (private bucket behind CloudFront)"
            if spec.private
            else "on, except what the read policy on the two documents needs"
        )
        changes.append(Change(resource, "update", f"Block Public Access: {why}"))
        calls.append(("put_public_access_block", {"Bucket": bucket, "PublicAccessBlockConfiguration": want_pab}))
    encryption = reads.get("encryption")
    enc_rules = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    if not enc_rules:
        changes.append(Change(resource, "update", "default encryption (SSE-S3)"))
        calls.append(
            (
                "put_bucket_encryption",
                {
                    "Bucket": bucket,
                    "ServerSideEncryptionConfiguration": {
                        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                    },
                },
            )
        )
    versioning = reads.get("versioning")
    if (versioning or {}).get("Status") != "Enabled":
        changes.append(Change(resource, "update", "versioning, so a bad publish can be rolled back"))
        calls.append(("put_bucket_versioning", {"Bucket": bucket, "VersioningConfiguration": {"Status": "Enabled"}}))
    current = reads.get("policy")
    existing_policy = json.loads(current["Policy"]) if current and current.get("Policy") else None
    wanted = merged_policy(existing_policy, spec.public_policy)
    if existing_policy is None or normalise_policy(existing_policy) != wanted:
        what = "CloudFront (OAC) read" if spec.private else "public read"
        changes.append(
            Change(resource, "update", f"bucket policy: {what} on exactly the published documents, TLS only")
        )
        calls.append(("put_bucket_policy", {"Bucket": bucket, "Policy": json.dumps(wanted, sort_keys=True)}))
    return changes, calls


_ACTIONS = {
    "create_bucket": "s3:CreateBucket",
    "put_bucket_tagging": "s3:PutBucketTagging",
    "put_bucket_ownership_controls": "s3:PutBucketOwnershipControls",
    "put_public_access_block": "s3:PutBucketPublicAccessBlock",
    "put_bucket_encryption": "s3:PutEncryptionConfiguration",
    "put_bucket_versioning": "s3:PutBucketVersioning",
    "put_bucket_policy": "s3:PutBucketPolicy",
}


# Block Public Access must let the public read policy in before that policy is written (and, for a
# private bucket, is tightened first): these two go in plan order, the other settings side by side.
_IN_ORDER = ("put_public_access_block", "put_bucket_policy")


def apply_bucket(
    s3: S3Client, calls: list[tuple[str, dict[str, Any]]], *, alongside: Sequence[Callable[[], object]] = ()
) -> None:
    """Make the planned calls: the bucket first, then its settings, side by side where independent,
    and with them the tasks ``alongside`` (which need the bucket to exist)."""

    def do(name: str, kwargs: dict[str, Any]) -> None:
        _do(getattr(s3, name), _ACTIONS[name], f"s3://{kwargs['Bucket']}", **kwargs)

    for name, kwargs in calls:
        if name == "create_bucket":
            do(name, kwargs)
    chain = [(name, kwargs) for name, kwargs in calls if name in _IN_ORDER]
    def task(name: str, kwargs: dict[str, Any]) -> Callable[[], None]:
        return lambda: do(name, kwargs)

    tasks = [task(name, kwargs) for name, kwargs in calls if name != "create_bucket" and name not in _IN_ORDER]
    if chain:

        def in_order() -> None:
            for name, kwargs in chain:
                do(name, kwargs)

        tasks.append(in_order)
    together([*tasks, *alongside])


def bucket_tags(s3: S3Client, bucket: str) -> dict[str, str]:
    tagging = _get(
        s3.get_bucket_tagging, ("NoSuchTagSet", "NoSuchBucket"), "s3:GetBucketTagging", f"s3://{bucket}", Bucket=bucket
    )
    return {t["Key"]: t["Value"] for t in (tagging or {}).get("TagSet", [])}


def bucket_region(s3: S3Client, bucket: str) -> str:
    """The bucket's region, as S3 tells it (HeadBucket's x-amz-bucket-region, sent even with a 403 or 301)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        headers = s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]
    except ClientError as exc:
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if not headers.get("x-amz-bucket-region"):
            if _status(exc) == 404:
                raise AWSError(
                    f"s3:ListBucket on s3://{bucket} failed (NoSuchBucket): it does not exist, so its region is unknown",
                    "check --bucket, or create it with 'oidc-publisher bootstrap' (give --region)",
                ) from None
            raise aws_error(exc, "s3:ListBucket", f"s3://{bucket}") from None
    except BotoCoreError as exc:
        raise aws_error(exc, "s3:ListBucket", f"s3://{bucket}") from None
    region = headers.get("x-amz-bucket-region")
    if not region:
        raise AWSError(f"S3 did not say which region s3://{bucket} is in", "give --region")
    return str(region)
