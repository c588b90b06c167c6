"""The IAM OIDC provider's planner: from the provider as IAM has it and as it is wanted, the steps. Pure.

Create when missing; otherwise add the client IDs that are missing (never remove one: a role may rely on
it), replace the thumbprints when the hosts present other certificates, add the user's missing tags. The
provider is never deleted and recreated: roles trust it by ARN.

Ownership: the ``managed-by=oidc-publisher`` mark is sent only with CreateOpenIDConnectProvider. A provider
that exists already (made by Terraform, the console, or this tool) is never (re-)tagged with it, so a
provider another tool made never becomes one that ``teardown`` deletes as its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.issuer import Issuer
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.plan import Step, step
from oidc_publisher.core.validation import MAX_CLIENT_IDS


@dataclass(frozen=True)
class Provider:
    """The provider as IAM has it (GetOpenIDConnectProvider)."""

    arn: str
    url: str  # as IAM stores it: HOST/PATH, no scheme
    client_ids: tuple[str, ...]
    thumbprints: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Desired:
    client_ids: tuple[str, ...]
    thumbprints: tuple[str, ...]
    tags: dict[str, str]  # the user's own: the ownership mark is added only to the create call


def provider_resource(issuer: Issuer) -> str:
    return f"iam:oidc-provider/{issuer.provider_path}"


def check_client_id_room(issuer: Issuer, current: Provider, desired: Desired) -> None:
    """IAM refuses a provider's 101st client ID; say so before changing anything, with the real cause."""
    missing = [c for c in desired.client_ids if c not in current.client_ids]
    if missing and len(current.client_ids) + len(missing) > MAX_CLIENT_IDS:
        raise ConflictError(
            f"the IAM OIDC provider for {issuer.url} has {len(current.client_ids)} client IDs and "
            f"{len(missing)} more were asked for",
            f"IAM allows at most {MAX_CLIENT_IDS} per provider: remove client IDs nobody uses "
            "(aws iam remove-client-id-from-open-id-connect-provider)",
        )


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def plan_provider(issuer: Issuer, current: Provider | None, desired: Desired) -> list[Step]:
    """The steps that make IAM trust the issuer as desired, in the order they run (one phase each: IAM
    changes one provider one call at a time)."""
    resource = provider_resource(issuer)
    if current is None:
        params: dict[str, Any] = {"Url": f"https://{issuer.provider_path}", "ClientIDList": list(desired.client_ids)}
        if desired.thumbprints:
            params["ThumbprintList"] = list(desired.thumbprints)
        # The one place the ownership mark is written: with the call that creates the provider.
        params["Tags"] = _tag_list({**desired.tags, MANAGED_BY[0]: MANAGED_BY[1]})
        reason = f"no provider for {issuer.provider_path} (client IDs {', '.join(desired.client_ids)})"
        return [step(resource, "create", reason, "iam", "create_open_id_connect_provider",
                     subject=issuer.provider_path, **params)]
    steps: list[Step] = []
    arn = current.arn

    def add(reason: str, method: str, **params: Any) -> None:
        steps.append(step(resource, "update", reason, "iam", method, phase=len(steps), subject=arn,
                          OpenIDConnectProviderArn=arn, **params))

    for client_id in (c for c in dict.fromkeys(desired.client_ids) if c not in current.client_ids):
        add(f"add client ID {client_id}", "add_client_id_to_open_id_connect_provider", ClientID=client_id)
    if desired.thumbprints and set(desired.thumbprints) != set(current.thumbprints):
        add(f"thumbprints {', '.join(current.thumbprints) or 'none'} -> {', '.join(desired.thumbprints)}",
            "update_open_id_connect_provider_thumbprint", ThumbprintList=list(desired.thumbprints))
    # The user's tags only: a provider that exists is never given the mark (made elsewhere: never claimed).
    missing_tags = {k: v for k, v in desired.tags.items() if k != MANAGED_BY[0] and current.tags.get(k) != v}
    if missing_tags:
        add(f"tags {', '.join(f'{k}={v}' for k, v in sorted(missing_tags.items()))}",
            "tag_open_id_connect_provider", Tags=_tag_list(missing_tags))
    return steps
