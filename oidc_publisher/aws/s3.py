"""The S3 edge: read and write the issuer's objects, and read the bucket's set-up into a snapshot.

The bucket's set-up is planned in ``core/bucket_plan`` and made by ``aws/executor``.

Only the calls the tool makes, on a boto3 S3 client given by the caller. botocore errors are
translated into :class:`~oidc_publisher.core.errors.AWSError` here, where S3 is touched.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.clients import aws_error, error_code, error_status
from oidc_publisher.concurrency import together

# Re-exported (``X as X``): callers of the edge name the bucket's types and the policy form here.
from oidc_publisher.core.bucket_plan import BucketSnapshot
from oidc_publisher.core.bucket_plan import BucketSpec as BucketSpec
from oidc_publisher.core.bucket_plan import normalise_policy as normalise_policy
from oidc_publisher.core.errors import OPTION, AWSError, ConflictError
from oidc_publisher.core.plan import Step, step

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from oidc_publisher.aws.clients import AwsClients



class ConcurrentUpdate(Exception):
    """A conditional write lost a race with another writer; the caller re-reads and tries again."""


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str
    content_type: str | None
    cache_control: str | None
    last_modified: dt.datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)  # x-amz-meta-*, names in lower case


class AwsTime:
    """AWS's clock, as the ``Date`` of the responses a run reads anyway (errors and 404s carry one too).

    The latest seen wins; None until a response with a Date arrived. Safe to share between threads.
    """

    def __init__(self) -> None:
        self._latest: dt.datetime | None = None
        self._lock = threading.Lock()

    @property
    def now(self) -> dt.datetime | None:
        with self._lock:
            return self._latest

    def saw(self, response: Mapping[str, Any] | None) -> None:
        from email.utils import parsedate_to_datetime

        headers = (response or {}).get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
        try:
            when = parsedate_to_datetime(str(headers["date"]))
        except (KeyError, TypeError, ValueError, IndexError):
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        with self._lock:
            if self._latest is None or when > self._latest:
                self._latest = when






def get_object(s3: S3Client, bucket: str, key: str, *, clock: AwsTime | None = None) -> StoredObject | None:
    """The object's bytes and headers, or None when it does not exist; ``clock`` notes AWS's time."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    except ClientError as exc:
        if clock is not None:
            clock.saw(getattr(exc, "response", None))
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        if error_code(exc) == "NoSuchBucket":
            raise AWSError(
                f"bucket {bucket} does not exist",
                f"create it with 'oidc-publisher bootstrap' or 'publish --create-bucket', or check {OPTION} and the region",
                option="--bucket",
            ) from None
        raise aws_error(exc, "s3:GetObject", f"s3://{bucket}/{key}") from None
    except BotoCoreError as exc:
        raise aws_error(exc, "s3:GetObject", f"s3://{bucket}/{key}") from None
    if clock is not None:
        clock.saw(response)
    return StoredObject(
        body=body,
        etag=str(response.get("ETag", "")),
        content_type=response.get("ContentType"),
        cache_control=response.get("CacheControl"),
        last_modified=response.get("LastModified"),
        metadata={str(k).lower(): str(v) for k, v in (response.get("Metadata") or {}).items()},
    )


# The error codes of a conditional PutObject that lost a race: the condition failed (412), a concurrent
# conditional write to the same key (409), or, on an If-Match write, the object was deleted since it was read.
_RACE_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "OperationAborted", "412", "409")
_GONE_CODES = ("NoSuchKey", "404")


def lost_race(exc: Exception, *, if_match: bool) -> bool:
    """Whether a conditional PutObject's failure ``exc`` means another writer won (the one place it is decided)."""
    if error_code(exc) in _RACE_CODES or error_status(exc) in (409, 412):
        return True
    return if_match and error_code(exc) in _GONE_CODES  # If-Match on an object deleted since it was read


def put_step(resource: str, reason: str, *, bucket: str, key: str, body: bytes, content_type: str,
             cache_control: str, replaces: StoredObject | None, metadata: Mapping[str, str] | None = None,
             region: str | None = None, phase: int = 0) -> Step:
    """The planned conditional write of ``body`` at ``key``: If-Match the ETag of ``replaces``, the object as
    read, or If-None-Match when there was none, so that of two concurrent writers the loser gets
    :class:`ConcurrentUpdate` (:func:`write`), re-reads, merges and tries again. Never an ACL. Pure: a plan's step."""
    condition: dict[str, str] = {"IfMatch": replaces.etag} if replaces else {"IfNoneMatch": "*"}
    extra: dict[str, Any] = {"Metadata": dict(metadata)} if metadata else {}
    return step(resource, "write", reason, "s3", "put_object", phase=phase, region=region, Bucket=bucket, Key=key,
                Body=body, ContentType=content_type, CacheControl=cache_control, **condition, **extra)


def write(clients: AwsClients, planned: Step) -> str:
    """Execute one conditional write planned by :func:`put_step` (through the executor); the new ETag.

    A lost race is :class:`ConcurrentUpdate` (the caller re-reads and tries again); every other failure
    the executor's one-line AWSError."""
    from botocore.exceptions import ClientError

    from oidc_publisher.aws.executor import call

    assert planned.operation is not None and planned.operation.method == "put_object"
    params = planned.operation.params
    try:
        response = call(clients, planned.operation, planned.subject or planned.resource,
                        expected=(*_RACE_CODES, *_GONE_CODES), expected_status=(409, 412))
    except ClientError as exc:
        if lost_race(exc, if_match="IfMatch" in params):
            raise ConcurrentUpdate(params["Key"]) from None
        raise aws_error(exc, planned.operation.call.label, planned.subject or planned.resource) from None
    return str(response.get("ETag", ""))


# --- bucket set-up -------------------------------------------------------------------------------


def _get(call: Any, missing: tuple[str, ...], action: str, resource: str, **kwargs: Any) -> dict[str, Any] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dict(call(**kwargs))
    except ClientError as exc:
        if error_code(exc) in missing:
            return None
        raise aws_error(exc, action, resource) from None
    except BotoCoreError as exc:
        raise aws_error(exc, action, resource) from None


def read_bucket(s3: S3Client, spec: BucketSpec) -> BucketSnapshot:
    """The bucket's live set-up, every setting the tool depends on, read on every run. Reads only."""
    bucket = spec.name
    resource = f"s3://{bucket}"
    head = _get(s3.head_bucket, ("404", "NoSuchBucket", "NotFound"), "s3:ListBucket", resource, Bucket=bucket)
    if head is None:
        return BucketSnapshot(exists=False)
    # Seven independent reads of the bucket's set-up, side by side.
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
        ("tagging", s3.get_bucket_tagging, ("NoSuchTagSet",), "s3:GetBucketTagging"),
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
            f"use {OPTION} {actual} (the S3-direct issuer URL names the bucket's region)", option="--region",
        )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    reads: dict[str, Any] = {name: result or {} for (name, *_), result in zip(wanted_reads, results, strict=True)}
    rules = reads["ownership"].get("OwnershipControls", {}).get("Rules", [])
    policy_text = reads["policy"].get("Policy")
    try:
        policy = json.loads(policy_text) if policy_text else None
    except ValueError:
        policy = None
    return BucketSnapshot(
        exists=True,
        tags={t["Key"]: t["Value"] for t in reads["tagging"].get("TagSet", [])},
        object_ownership=rules[0].get("ObjectOwnership") if len(rules) == 1 else None,
        public_access_block=reads["pab"].get("PublicAccessBlockConfiguration"),
        encrypted=bool(reads["encryption"].get("ServerSideEncryptionConfiguration", {}).get("Rules")),
        versioning=reads["versioning"].get("Status"),
        policy=policy if isinstance(policy, dict) else None,
    )


def check_bucket_can_serve(s3: S3Client, bucket: str, *, partition: str, keys: Sequence[str], private: bool) -> None:
    """Refuse, before anything is created for the issuer, what plan_bucket_setup would refuse on the bucket's
    policy: a public statement not the tool's, or another issuer served in the other mode. Reads only."""
    from oidc_publisher.core.bucket_plan import refuse_other_mode, refuse_public_statements
    from oidc_publisher.core.policies import object_arn

    current = _get(
        s3.get_bucket_policy, ("NoSuchBucketPolicy", "NoSuchBucket", "404"), "s3:GetBucketPolicy", f"s3://{bucket}",
        Bucket=bucket,
    )
    try:
        policy = json.loads(current["Policy"]) if current and current.get("Policy") else None
    except ValueError:
        policy = None
    if not isinstance(policy, dict):
        return
    policy = normalise_policy(policy)
    refuse_public_statements(policy, bucket)
    mine = {object_arn(partition, bucket, key) for key in keys}
    refuse_other_mode(policy, partition=partition, bucket=bucket, mine=mine, private=private)


def bucket_policy(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    """The bucket's policy as a document, or None when it has none."""
    got = _get(s3.get_bucket_policy, ("NoSuchBucketPolicy",), "s3:GetBucketPolicy", f"s3://{bucket}", Bucket=bucket)
    return None if got is None else dict(json.loads(got["Policy"]))


def public_access_block(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    """The bucket's Block Public Access settings, or None when it has none."""
    got = _get(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), "s3:GetBucketPublicAccessBlock",
               f"s3://{bucket}", Bucket=bucket)
    return None if got is None else dict(got["PublicAccessBlockConfiguration"])


def bucket_tags(s3: S3Client, bucket: str) -> dict[str, str]:
    tagging = _get(
        s3.get_bucket_tagging, ("NoSuchTagSet", "NoSuchBucket"), "s3:GetBucketTagging", f"s3://{bucket}", Bucket=bucket
    )
    return {t["Key"]: t["Value"] for t in (tagging or {}).get("TagSet", [])}


def bucket_exists(s3: S3Client, bucket: str) -> bool:
    """HeadBucket: whether the bucket exists (any other failure is the call's error)."""
    return _get(s3.head_bucket, ("404", "NoSuchBucket", "NotFound"), "s3:ListBucket", f"s3://{bucket}", Bucket=bucket) is not None


def object_versions(s3: S3Client, bucket: str, key: str | None = None) -> list[tuple[str, str]]:
    """(key, version id) of every version and delete marker in the bucket (or of exactly ``key``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    out: list[tuple[str, str]] = []
    try:
        pages = s3.get_paginator("list_object_versions")
        for page in pages.paginate(Bucket=bucket, Prefix=key) if key else pages.paginate(Bucket=bucket):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if key is None or entry["Key"] == key:
                    out.append((str(entry["Key"]), str(entry["VersionId"])))
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, "s3:ListBucketVersions", f"s3://{bucket}") from None
    return out


def bucket_region(s3: S3Client, bucket: str) -> str:
    """The bucket's region, as S3 tells it (HeadBucket's x-amz-bucket-region, sent even with a 403 or 301)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        headers = s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]
    except ClientError as exc:
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if not headers.get("x-amz-bucket-region"):
            if error_status(exc) == 404:
                raise AWSError(
                    f"s3:ListBucket on s3://{bucket} failed (NoSuchBucket): it does not exist, so its region is unknown",
                    f"check {OPTION}, or create it with 'oidc-publisher bootstrap' (give --region)", option="--bucket",
                ) from None
            raise aws_error(exc, "s3:ListBucket", f"s3://{bucket}") from None
    except BotoCoreError as exc:
        raise aws_error(exc, "s3:ListBucket", f"s3://{bucket}") from None
    region = headers.get("x-amz-bucket-region")
    if not region:
        raise AWSError(f"S3 did not say which region s3://{bucket} is in", f"give {OPTION}", option="--region")
    return str(region)


def default_region(clients: AwsClients, bucket: str, issuer_url: str | None) -> str | None:
    """The region when --region is not given: the session's (AWS_REGION, the profile); without one, and when
    the issuer URL does not name it, the bucket's own, asked of S3 (one HeadBucket)."""
    from oidc_publisher.core.errors import InputError
    from oidc_publisher.core.issuer import parse_issuer, validate_bucket_name

    region = clients.region_or_none()
    if region is not None:
        return region
    if issuer_url is not None:
        try:
            if parse_issuer(issuer_url).s3_origin() is not None:
                return None
        except InputError:
            return None  # resolve_target names what is wrong with it
    validate_bucket_name(bucket, s3_direct=False)
    return bucket_region(clients.s3("us-east-1"), bucket)
