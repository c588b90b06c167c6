"""Checks of what the user gives on the command line (tags, audiences, client IDs), shared by every command
that takes them. Pure: each raises an InputError that says what is wrong and what to do."""

from __future__ import annotations

import re

from oidc_publisher.core.errors import InputError
from oidc_publisher.core.issuer import STS_AUDIENCE
from oidc_publisher.core.marks import MANAGED_BY

MAX_CLIENT_IDS = 100
_TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")


def validate_tags(tags: tuple[tuple[str, str], ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in tags:
        if not _TAG_KEY.match(key) or key.lower().startswith("aws:"):
            raise InputError(f"tag key {key!r} is not valid for IAM", "use 1-128 letters, digits, spaces and _.:/=+-@, not starting with aws:")
        if not _TAG_VALUE.match(value):
            raise InputError(f"tag value {value!r} (for {key}) is not valid for IAM", "use up to 256 letters, digits, spaces and _.:/=+-@")
        result[key] = value
    if len(result) > 50:
        raise InputError(f"{len(result)} tags given", "IAM allows at most 50 tags on a provider")
    return result


def check_user_tags(tags: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The user's ``--tag``s, valid for IAM and without the tool's reserved keys: the ownership mark is
    only ever written by the call that creates a thing, never by a tag the user passes."""
    for key, _ in tags:
        if key.lower() == MANAGED_BY[0] or key.lower().startswith("oidc-publisher:"):
            raise InputError(
                f"tag key {key!r} is reserved for oidc-publisher's own records",
                "choose another key: the tool sets managed-by only when it creates a provider or role",
            )
    return validate_tags(tags)


def check_audience(value: str, option: str) -> None:
    """A token audience (client ID): a wildcard or empty one would pin nothing. One line, before any AWS call."""
    if not value.strip() or value.strip() == "*":
        raise InputError(
            f"{option} {value!r} would accept any audience",
            f"give the audience the tokens carry, e.g. {option} {STS_AUDIENCE}",
        )


def validate_client_ids(client_ids: tuple[str, ...]) -> tuple[str, ...]:
    for client_id in client_ids:
        check_audience(client_id, "--client-id")
    ids = tuple(dict.fromkeys(client_ids or (STS_AUDIENCE,)))
    for client_id in ids:
        if not client_id or len(client_id) > 255 or any(ch.isspace() for ch in client_id):
            raise InputError(f"client ID {client_id!r} is not valid", "a client ID is 1-255 characters without spaces, e.g. sts.amazonaws.com")
    if len(ids) > MAX_CLIENT_IDS:
        raise InputError(f"{len(ids)} client IDs given", f"IAM allows at most {MAX_CLIENT_IDS}")
    return ids
