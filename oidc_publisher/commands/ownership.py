"""Whose documents are these? One check for every command that writes or deletes an issuer's objects.

The state object names the issuer it was written for; without one (documents uploaded by Terraform or by
hand), the discovery document's ``issuer`` does. A command for issuer B refuses, before its first write,
to touch the objects at its keys when they belong to issuer A: a mistyped ``--issuer-url`` or a ``--prefix``
left out must not replace (or delete) another cluster's documents.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oidc_publisher.concurrency import together
from oidc_publisher.core.errors import OPTION, ConflictError

if TYPE_CHECKING:
    from oidc_publisher.aws.s3 import StoredObject
    from oidc_publisher.core.target import Target


def recorded_issuers(
    target: Target, *, state: StoredObject | None, discovery: StoredObject | None
) -> list[tuple[str, str]]:
    """[(an issuer the objects at ``target``'s keys name, the key that names it)]: the state object's
    first, then the discovery document's. Pure."""
    from oidc_publisher.core.rotation import State

    keys = target.keys
    found: list[tuple[str, str]] = []
    if state is not None:
        owner = State.from_bytes(state.body, f"s3://{target.bucket}/{keys.state}").issuer
        if owner:
            found.append((owner, keys.state))
    if discovery is not None:
        try:
            named = json.loads(discovery.body).get("issuer")
        except (ValueError, AttributeError):
            named = None  # not a document anyone can use: nobody's
        if isinstance(named, str) and named:
            found.append((named, keys.discovery))
    return found


def check_objects_belong_to(
    target: Target,
    *,
    state: StoredObject | None,
    discovery: StoredObject | None,
    outcome: str = "nothing was written",
    context: str = "",
) -> None:
    """Refuse when the state object or the discovery document at ``target``'s keys names another issuer
    (a stale state object does not make another issuer's documents ours). Pure: the caller passes what it
    has read (the rotation job's run already reads both when something changed). The message says what
    differs (most often the same issuer mistyped: a region, a trailing slash) and the fix."""
    from oidc_publisher.core.issuer import issuer_difference

    for owner, where in recorded_issuers(target, state=state, discovery=discovery):
        if owner != target.issuer.url:
            difference, fix = issuer_difference(owner, target.issuer.url, OPTION)
            raise ConflictError(
                f"s3://{target.bucket}/{where} belongs to issuer {owner}, not {target.issuer.url}: {difference}; {outcome}",
                f"{fix}{context}", option="--issuer-url",
            )


def read_and_check_objects_belong_to(s3: Any, target: Target, *, outcome: str, context: str = "") -> StoredObject | None:
    """:func:`check_objects_belong_to` for a command that has not read the objects yet; the state object read."""
    from oidc_publisher.aws.s3 import get_object

    state, discovery = together(
        [lambda: get_object(s3, target.bucket, target.keys.state),
         lambda: get_object(s3, target.bucket, target.keys.discovery)]
    )
    check_objects_belong_to(target, state=state, discovery=discovery, outcome=outcome, context=context)
    return state  # type: ignore[no-any-return]
