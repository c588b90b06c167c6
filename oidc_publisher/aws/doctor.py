"""doctor's AWS reads: the annotated role and its policies (IAM), and the one exchange it makes as a pod would
(sts:AssumeRoleWithWebIdentity). Reads only; botocore errors are translated here, where AWS is touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.clients import aws_error, error_code, translated

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients


def get_role(clients: AwsClients, role_name: str) -> dict[str, Any] | None:
    """GetRole's answer, or None when there is no such role."""
    from botocore.exceptions import ClientError

    try:
        return dict(clients.iam().get_role(RoleName=role_name))
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise aws_error(exc, "iam:GetRole", role_name) from None
    except Exception as exc:  # noqa: BLE001 - BotoCoreError and friends, translated
        raise aws_error(exc, "iam:GetRole", role_name) from None


def role_policies(clients: AwsClients, role_name: str) -> tuple[list[str], list[str]]:
    """The role's attached policy ARNs and its inline policy names."""
    iam = clients.iam()
    with translated("iam:ListAttachedRolePolicies", role_name):
        attached = [p["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
                    for p in page["AttachedPolicies"]]
    with translated("iam:ListRolePolicies", role_name):
        inline = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name) for n in page["PolicyNames"]]
    return attached, inline


@dataclass(frozen=True)
class Exchange:
    """STS's answer to the exchange: the assumed role's ARN, or the error code and message it refused with."""

    assumed: str | None = None
    code: str = ""
    message: str = ""


def exchange(clients: AwsClients, role_arn: str, token: str, session_name: str) -> Exchange:
    """sts:AssumeRoleWithWebIdentity with ``token``: STS's refusal is an answer; any other failure (no answer,
    a connection dropped) is the call's one-line error."""
    from botocore.exceptions import ClientError

    try:
        answer = clients.sts().assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName=session_name, WebIdentityToken=token)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return Exchange(code=str(error.get("Code", "Unknown")), message=str(error.get("Message", "")))
    except Exception as exc:  # noqa: BLE001 - BotoCoreError and friends, translated
        raise aws_error(exc, "sts:AssumeRoleWithWebIdentity", role_arn) from None
    return Exchange(assumed=str(answer["AssumedRoleUser"]["Arn"]))
