"""The IAM edge: read the OIDC identity provider and roles into snapshots (``core/provider_plan``,
``core/role_plan``), run their plans through the executor. A provider is never deleted and recreated:
roles trust it by ARN and live trust would break.

botocore errors are translated here, where IAM is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.clients import aws_error, error_code
from oidc_publisher.aws.clients import translated as _translated
from oidc_publisher.core.errors import AWSError, ConflictError
from oidc_publisher.core.issuer import Issuer
from oidc_publisher.core.plan import Step
from oidc_publisher.core.provider_plan import Provider as Provider
from oidc_publisher.core.role_plan import INLINE_POLICY_NAME, RoleSnapshot, policy_document

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients

MAX_PROVIDERS = 100


class ProviderExists(ConflictError):
    """CreateOpenIDConnectProvider found the provider already there (a concurrent run, or a retry of our
    own create whose answer was lost): the caller re-reads it and converges it instead."""


def provider_arn(partition: str, account_id: str, issuer: Issuer) -> str:
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{issuer.provider_path}"




def list_provider_arns(clients: AwsClients) -> list[str]:
    with _translated("iam:ListOpenIDConnectProviders"):
        response = clients.iam().list_open_id_connect_providers()
    return [entry["Arn"] for entry in response.get("OpenIDConnectProviderList", [])]


def get_provider(clients: AwsClients, arn: str) -> Provider | None:
    from botocore.exceptions import ClientError

    try:
        response = clients.iam().get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise aws_error(exc, "iam:GetOpenIDConnectProvider", arn) from None
    except Exception as exc:  # noqa: BLE001 - BotoCoreError and friends, translated
        raise aws_error(exc, "iam:GetOpenIDConnectProvider", arn) from None
    return Provider(
        arn=arn,
        url=str(response.get("Url", "")),
        client_ids=tuple(response.get("ClientIDList", [])),
        thumbprints=tuple(t.lower() for t in response.get("ThumbprintList", [])),
        tags={t["Key"]: t["Value"] for t in response.get("Tags", [])},
    )


def find_provider(clients: AwsClients, issuer: Issuer, *, for_create: bool = False) -> Provider | None:
    """The provider registered for this issuer (found by listing: no account lookup needed), or None.

    With ``for_create``, a missing provider in an account that already has the most IAM allows is an
    error now, before anything else is changed.
    """
    suffix = f":oidc-provider/{issuer.provider_path}"
    arns = list_provider_arns(clients)
    for arn in arns:
        if arn.endswith(suffix):
            return get_provider(clients, arn)
    if for_create and len(arns) >= MAX_PROVIDERS:
        raise _quota_error(issuer)
    return None


def _quota_error(issuer: Issuer) -> AWSError:
    return AWSError(
        f"cannot create the IAM OIDC provider for {issuer.url}: the account has reached IAM's quota of "
        f"{MAX_PROVIDERS} OIDC providers",
        "delete providers of clusters that are gone (oidc-publisher teardown), or ask AWS to raise the quota",
    )


def execute_provider_plan(plan: Sequence[Step], clients: AwsClients, issuer: Issuer) -> str | None:
    """Run a provider plan (``core/provider_plan``); the ARN CreateOpenIDConnectProvider answered, if it ran.

    A create that finds the provider there already is :class:`ProviderExists` (the caller re-reads and
    converges it); one refused for the account's quota is the quota's own message.
    """
    from botocore.exceptions import ClientError

    from oidc_publisher.aws.executor import execute

    creates = any(s.operation is not None and s.operation.method == "create_open_id_connect_provider" for s in plan)
    try:
        done = execute(plan, clients, expected=("EntityAlreadyExists", "LimitExceeded") if creates else ())
    except ClientError as exc:
        if error_code(exc) == "LimitExceeded":
            raise _quota_error(issuer) from None
        raise ProviderExists(f"the IAM OIDC provider for {issuer.url} already exists", "re-run to converge it") from None
    for result in done:
        if "OpenIDConnectProviderArn" in result.response:
            return str(result.response["OpenIDConnectProviderArn"])
    return None


def delete_provider(clients: AwsClients, arn: str) -> None:
    with _translated("iam:DeleteOpenIDConnectProvider", arn):
        clients.iam().delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


# --- roles ----------------------------------------------------------------------------------------


def _read(call: Any, action: str, resource: str, **kwargs: Any) -> Any:
    """The answer of an IAM read, or None when the entity does not exist."""
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise aws_error(exc, action, resource) from None
    except Exception as exc:  # noqa: BLE001 - BotoCoreError and friends, translated
        raise aws_error(exc, action, resource) from None


def read_role(clients: AwsClients, name: str) -> RoleSnapshot | None:
    """The role as IAM has it (GetRole, ListAttachedRolePolicies, the tool's inline policy), or None."""
    iam = clients.iam()
    got = _read(iam.get_role, "iam:GetRole", name, RoleName=name)
    if got is None:
        return None
    role: dict[str, Any] = got["Role"]
    with _translated("iam:ListAttachedRolePolicies", name):
        pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        attached = frozenset(p["PolicyArn"] for page in pages for p in page["AttachedPolicies"])
    inline = _read(iam.get_role_policy, "iam:GetRolePolicy", name, RoleName=name, PolicyName=INLINE_POLICY_NAME)
    return RoleSnapshot(
        name=name,
        arn=str(role["Arn"]),
        tags={t["Key"]: t["Value"] for t in role.get("Tags", [])},
        trust_policy=policy_document(role.get("AssumeRolePolicyDocument") or {}),
        max_session_duration=role.get("MaxSessionDuration"),
        permissions_boundary=(role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        attached=attached,
        inline_policy=policy_document(inline["PolicyDocument"]) if inline else None,
    )


def policy_exists(clients: AwsClients, arn: str) -> bool:
    """Whether the managed policy exists (GetPolicy)."""
    iam = clients.iam()
    return _read(iam.get_policy, "iam:GetPolicy", arn, PolicyArn=arn) is not None


def list_roles(clients: AwsClients) -> list[dict[str, Any]]:
    """Every role of the account (ListRoles, every page), as IAM lists them."""
    roles: list[dict[str, Any]] = []
    with _translated("iam:ListRoles"):
        for page in clients.iam().get_paginator("list_roles").paginate():
            roles.extend(page["Roles"])  # type: ignore[arg-type]
    return roles


def provider_arn_for(clients: AwsClients, issuer: Issuer) -> str:
    """The provider's ARN, from the session's partition and account (sts:GetCallerIdentity)."""
    return provider_arn(clients.partition, clients.account_id, issuer)


def trusting_roles(clients: AwsClients, provider_path: str) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """role name -> (ARN, the statements that federate to this provider)."""
    from oidc_publisher.core.trust import trusting

    return {r.name: (r.arn, r.statements) for r in trusting(list_roles(clients), provider_path)}
