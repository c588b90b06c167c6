"""Operations: each names exactly one AWS call and its arguments. Pure data.

A plan's step carries one :class:`Operation`; ``--dry-run --output json`` prints it and the executor
(``aws/executor.py``) runs it, the one place that maps an operation to a boto3 call and translates its
errors. :data:`SURFACE` is the tool's declared AWS surface: every call the tool may make, read or write,
with the IAM actions it needs. Nothing calls AWS with a call that is not listed here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallType:
    """One AWS API call the tool may make: its service, boto3 method, API name and the IAM actions it needs."""

    service: str  # boto3 service name: s3 | iam | cloudfront | sts
    method: str  # boto3 client method, e.g. put_bucket_policy
    api: str  # the API's own name, e.g. PutBucketPolicy
    actions: tuple[str, ...]  # what IAM must allow, e.g. ("s3:PutBucketPolicy",)
    writes: bool

    @property
    def label(self) -> str:
        """How messages name the call: its first IAM action (what a user grants when it is denied)."""
        return self.actions[0] if self.actions else f"{self.service}:{self.api}"


def _reads(service: str, *calls: tuple[str, str, tuple[str, ...]]) -> list[CallType]:
    return [CallType(service, method, api, actions, writes=False) for method, api, actions in calls]


def _writes(service: str, *calls: tuple[str, str, tuple[str, ...]]) -> list[CallType]:
    return [CallType(service, method, api, actions, writes=True) for method, api, actions in calls]


_CALLS: list[CallType] = [
    *_reads(
        "s3",
        ("head_bucket", "HeadBucket", ("s3:ListBucket",)),
        ("get_bucket_location", "GetBucketLocation", ("s3:GetBucketLocation",)),
        ("get_bucket_policy", "GetBucketPolicy", ("s3:GetBucketPolicy",)),
        ("get_public_access_block", "GetPublicAccessBlock", ("s3:GetBucketPublicAccessBlock",)),
        ("get_bucket_ownership_controls", "GetBucketOwnershipControls", ("s3:GetBucketOwnershipControls",)),
        ("get_bucket_encryption", "GetBucketEncryption", ("s3:GetEncryptionConfiguration",)),
        ("get_bucket_versioning", "GetBucketVersioning", ("s3:GetBucketVersioning",)),
        ("get_bucket_tagging", "GetBucketTagging", ("s3:GetBucketTagging",)),
        ("get_object", "GetObject", ("s3:GetObject",)),
        ("list_object_versions", "ListObjectVersions", ("s3:ListBucketVersions",)),
    ),
    *_writes(
        "s3",
        # ACLs disabled (ObjectOwnership) and the managed-by tag in the same call: S3 authorises both as well.
        ("create_bucket", "CreateBucket", ("s3:CreateBucket", "s3:PutBucketOwnershipControls", "s3:TagResource")),
        ("put_bucket_ownership_controls", "PutBucketOwnershipControls", ("s3:PutBucketOwnershipControls",)),
        ("put_public_access_block", "PutPublicAccessBlock", ("s3:PutBucketPublicAccessBlock",)),
        ("put_bucket_encryption", "PutBucketEncryption", ("s3:PutEncryptionConfiguration",)),
        ("put_bucket_versioning", "PutBucketVersioning", ("s3:PutBucketVersioning",)),
        ("put_bucket_policy", "PutBucketPolicy", ("s3:PutBucketPolicy",)),
        ("delete_bucket_policy", "DeleteBucketPolicy", ("s3:DeleteBucketPolicy",)),
        ("put_bucket_tagging", "PutBucketTagging", ("s3:PutBucketTagging",)),
        ("put_object", "PutObject", ("s3:PutObject",)),
        ("delete_object", "DeleteObject", ("s3:DeleteObject",)),
        ("delete_objects", "DeleteObjects", ("s3:DeleteObjectVersion",)),  # always of versions, by id
        ("delete_bucket", "DeleteBucket", ("s3:DeleteBucket",)),
    ),
    *_reads(
        "iam",
        ("list_open_id_connect_providers", "ListOpenIDConnectProviders", ("iam:ListOpenIDConnectProviders",)),
        ("get_open_id_connect_provider", "GetOpenIDConnectProvider", ("iam:GetOpenIDConnectProvider",)),
        ("list_open_id_connect_provider_tags", "ListOpenIDConnectProviderTags", ("iam:ListOpenIDConnectProviderTags",)),
        ("get_policy", "GetPolicy", ("iam:GetPolicy",)),
        ("get_role", "GetRole", ("iam:GetRole",)),
        ("list_roles", "ListRoles", ("iam:ListRoles",)),
        ("list_role_tags", "ListRoleTags", ("iam:ListRoleTags",)),
        ("list_attached_role_policies", "ListAttachedRolePolicies", ("iam:ListAttachedRolePolicies",)),
        ("list_role_policies", "ListRolePolicies", ("iam:ListRolePolicies",)),
        ("get_role_policy", "GetRolePolicy", ("iam:GetRolePolicy",)),
        ("get_policy", "GetPolicy", ("iam:GetPolicy",)),
    ),
    *_writes(
        "iam",
        ("create_open_id_connect_provider", "CreateOpenIDConnectProvider",
         ("iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider")),
        ("add_client_id_to_open_id_connect_provider", "AddClientIDToOpenIDConnectProvider",
         ("iam:AddClientIDToOpenIDConnectProvider",)),
        ("remove_client_id_from_open_id_connect_provider", "RemoveClientIDFromOpenIDConnectProvider",
         ("iam:RemoveClientIDFromOpenIDConnectProvider",)),
        ("update_open_id_connect_provider_thumbprint", "UpdateOpenIDConnectProviderThumbprint",
         ("iam:UpdateOpenIDConnectProviderThumbprint",)),
        ("tag_open_id_connect_provider", "TagOpenIDConnectProvider", ("iam:TagOpenIDConnectProvider",)),
        ("delete_open_id_connect_provider", "DeleteOpenIDConnectProvider", ("iam:DeleteOpenIDConnectProvider",)),
        ("create_role", "CreateRole", ("iam:CreateRole", "iam:TagRole")),
        ("update_assume_role_policy", "UpdateAssumeRolePolicy", ("iam:UpdateAssumeRolePolicy",)),
        ("update_role", "UpdateRole", ("iam:UpdateRole",)),
        ("put_role_permissions_boundary", "PutRolePermissionsBoundary", ("iam:PutRolePermissionsBoundary",)),
        ("tag_role", "TagRole", ("iam:TagRole",)),
        ("put_role_policy", "PutRolePolicy", ("iam:PutRolePolicy",)),
        ("attach_role_policy", "AttachRolePolicy", ("iam:AttachRolePolicy",)),
        ("detach_role_policy", "DetachRolePolicy", ("iam:DetachRolePolicy",)),
        ("delete_role_policy", "DeleteRolePolicy", ("iam:DeleteRolePolicy",)),
        ("delete_role", "DeleteRole", ("iam:DeleteRole",)),
    ),
    *_reads(
        "cloudfront",
        ("list_distributions", "ListDistributions", ("cloudfront:ListDistributions",)),
        ("get_distribution", "GetDistribution", ("cloudfront:GetDistribution",)),
        ("get_distribution_config", "GetDistributionConfig", ("cloudfront:GetDistributionConfig",)),
        ("list_origin_access_controls", "ListOriginAccessControls", ("cloudfront:ListOriginAccessControls",)),
        ("get_origin_access_control", "GetOriginAccessControl", ("cloudfront:GetOriginAccessControl",)),
        ("list_cache_policies", "ListCachePolicies", ("cloudfront:ListCachePolicies",)),
        ("get_cache_policy", "GetCachePolicy", ("cloudfront:GetCachePolicy",)),
        ("list_tags_for_resource", "ListTagsForResource", ("cloudfront:ListTagsForResource",)),
    ),
    *_writes(
        "cloudfront",
        ("create_origin_access_control", "CreateOriginAccessControl", ("cloudfront:CreateOriginAccessControl",)),
        ("delete_origin_access_control", "DeleteOriginAccessControl", ("cloudfront:DeleteOriginAccessControl",)),
        ("create_cache_policy", "CreateCachePolicy", ("cloudfront:CreateCachePolicy",)),
        ("update_cache_policy", "UpdateCachePolicy", ("cloudfront:UpdateCachePolicy",)),
        ("delete_cache_policy", "DeleteCachePolicy", ("cloudfront:DeleteCachePolicy",)),
        ("create_distribution_with_tags", "CreateDistributionWithTags",
         ("cloudfront:CreateDistribution", "cloudfront:TagResource")),
        ("update_distribution", "UpdateDistribution", ("cloudfront:UpdateDistribution",)),
        ("delete_distribution", "DeleteDistribution", ("cloudfront:DeleteDistribution",)),
        ("create_invalidation", "CreateInvalidation", ("cloudfront:CreateInvalidation",)),
    ),
    *_reads(
        "sts",
        ("get_caller_identity", "GetCallerIdentity", ()),
        ("assume_role", "AssumeRole", ("sts:AssumeRole",)),
        # verify and doctor trade a token the way a pod does: an unsigned call, no IAM permission.
        ("assume_role_with_web_identity", "AssumeRoleWithWebIdentity", ()),
    ),
]

# The declared AWS surface, by (service, boto3 method).
SURFACE: Mapping[tuple[str, str], CallType] = {(call.service, call.method): call for call in _CALLS}


def call_type(service: str, method: str) -> CallType:
    """The declared call; a call that is not declared is a bug of the tool (KeyError names it)."""
    try:
        return SURFACE[(service, method)]
    except KeyError:
        raise KeyError(f"{service}.{method} is not in the declared AWS surface (core/operations.py)") from None


@dataclass(frozen=True)
class Operation:
    """One AWS call and its arguments, exactly as boto3 will send them."""

    service: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    region: str | None = None  # S3: the bucket's region, when it is not the session's

    def __post_init__(self) -> None:
        call_type(self.service, self.method)  # only declared calls can be planned

    @property
    def call(self) -> CallType:
        return call_type(self.service, self.method)

    def resolved(self, answers: Mapping[str, Mapping[str, Any]]) -> Operation:
        """The operation with each :class:`Ref` in its params replaced by the value it names in ``answers``
        (the responses of earlier steps, by their keys)."""
        return Operation(self.service, self.method, _resolved(self.params, answers), self.region)

    def to_json(self) -> dict[str, Any]:
        """What ``--output json`` shows: the API call and its arguments; bodies as their size and digest."""
        body: dict[str, Any] = {"call": f"{self.service}:{self.call.api}", "params": {k: _shown(v) for k, v in self.params.items()}}
        if self.region:
            body["region"] = self.region
        return body


@dataclass(frozen=True)
class Ref:
    """A param value that an earlier step's response gives, e.g. the Id of an origin access control the
    plan creates in an earlier phase: ``Ref("origin-access-control", "OriginAccessControl.Id")``. ``step``
    is that step's key, ``path`` the dotted path into its response. The executor puts the value in just
    before the call; ``--output json`` shows the reference itself, never a made-up value."""

    step: str
    path: str

    def value_in(self, answers: Mapping[str, Mapping[str, Any]]) -> Any:
        try:
            value: Any = answers[self.step]
            for name in self.path.split("."):
                value = value[name]
        except (KeyError, TypeError):
            raise KeyError(f"{self.step}.{self.path} is not in the answers of the steps before (a bug of the plan)") from None
        return value

    def to_json(self) -> dict[str, str]:
        return {"ref": self.step, "path": self.path}


def _resolved(value: Any, answers: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(value, Ref):
        return value.value_in(answers)
    if isinstance(value, Mapping):
        return {k: _resolved(v, answers) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolved(v, answers) for v in value]
    return value


def _shown(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.to_json()
    if isinstance(value, bytes):
        return {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)  # a policy document: shown as the document, not an escaped string
        except ValueError:
            return value
    return value
