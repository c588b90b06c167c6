"""The IAM edge for the OIDC identity provider: read it, create it, converge it. Never delete and
recreate it: roles trust it by ARN and live trust would break.

botocore errors are translated here, where IAM is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.clients import aws_error
from oidc_publisher.aws.clients import translated as _translated
from oidc_publisher.core.errors import AWSError, ConflictError
from oidc_publisher.core.issuer import Issuer

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients

MAX_PROVIDERS = 100


@dataclass(frozen=True)
class Provider:
    arn: str
    url: str  # as IAM stores it: HOST/PATH, no scheme
    client_ids: tuple[str, ...]
    thumbprints: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)


class ProviderExists(ConflictError):
    """CreateOpenIDConnectProvider found the provider already there (a concurrent run, or a retry of our
    own create whose answer was lost): the caller re-reads it and converges it instead."""


def provider_arn(partition: str, account_id: str, issuer: Issuer) -> str:
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{issuer.provider_path}"


def _code(exc: Exception) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def list_provider_arns(clients: AwsClients) -> list[str]:
    with _translated("iam:ListOpenIDConnectProviders"):
        response = clients.iam().list_open_id_connect_providers()
    return [entry["Arn"] for entry in response.get("OpenIDConnectProviderList", [])]


def get_provider(clients: AwsClients, arn: str) -> Provider | None:
    from botocore.exceptions import ClientError

    try:
        response = clients.iam().get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
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


def create_provider(
    clients: AwsClients, issuer: Issuer, client_ids: Sequence[str], thumbprints: Sequence[str], tags: dict[str, str]
) -> str:
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"Url": f"https://{issuer.provider_path}", "ClientIDList": list(client_ids)}
    if thumbprints:
        kwargs["ThumbprintList"] = list(thumbprints)
    if tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    try:
        return str(clients.iam().create_open_id_connect_provider(**kwargs)["OpenIDConnectProviderArn"])
    except ClientError as exc:
        if _code(exc) == "LimitExceeded":
            raise _quota_error(issuer) from None
        if _code(exc) == "EntityAlreadyExists":
            raise ProviderExists(f"the IAM OIDC provider for {issuer.url} already exists", "re-run to converge it") from None
        raise aws_error(exc, "iam:CreateOpenIDConnectProvider", issuer.provider_path) from None
    except Exception as exc:  # noqa: BLE001
        raise aws_error(exc, "iam:CreateOpenIDConnectProvider", issuer.provider_path) from None


def set_thumbprints(clients: AwsClients, arn: str, thumbprints: Sequence[str]) -> None:
    with _translated("iam:UpdateOpenIDConnectProviderThumbprint", arn):
        clients.iam().update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=list(thumbprints))


def add_client_id(clients: AwsClients, arn: str, client_id: str) -> None:
    with _translated("iam:AddClientIDToOpenIDConnectProvider", arn):
        clients.iam().add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=client_id)


def tag_provider(clients: AwsClients, arn: str, tags: dict[str, str]) -> None:
    with _translated("iam:TagOpenIDConnectProvider", arn):
        clients.iam().tag_open_id_connect_provider(
            OpenIDConnectProviderArn=arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        )


def delete_provider(clients: AwsClients, arn: str) -> None:
    with _translated("iam:DeleteOpenIDConnectProvider", arn):
        clients.iam().delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
