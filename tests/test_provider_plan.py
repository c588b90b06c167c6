"""The IAM OIDC provider's planner, pure: plain cases, and properties over arbitrary providers as IAM has them.

A tiny model of IAM applies the planned operations to the snapshot: planning again then gives no steps. A
provider the tool did not create is never given the ownership mark, and no client ID is ever removed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.marks import MANAGED_BY
from oidc_publisher.core.plan import Step
from oidc_publisher.core.provider_plan import Desired, Provider, check_client_id_room, plan_provider

ISSUER = parse_issuer("https://oidc.example.com/cluster-a")
PATH = "oidc.example.com/cluster-a"
ARN = f"arn:aws:iam::123456789012:oidc-provider/{PATH}"
A, B = "a" * 40, "b" * 40


def apply(current: Provider | None, steps: list[Step]) -> Provider:
    """What IAM does with the operations (the model): the provider after the plan ran."""
    provider = current
    for step in sorted(steps, key=lambda s: s.phase):
        assert step.operation is not None and step.operation.service == "iam"
        params: dict[str, Any] = dict(step.operation.params)
        method = step.operation.method
        if method == "create_open_id_connect_provider":
            assert provider is None, "a provider is never created twice"
            assert params["Url"] == f"https://{PATH}"
            provider = Provider(ARN, PATH, tuple(params["ClientIDList"]), tuple(params.get("ThumbprintList", ())),
                                {t["Key"]: t["Value"] for t in params.get("Tags", [])})
            continue
        assert provider is not None and params["OpenIDConnectProviderArn"] == provider.arn
        if method == "add_client_id_to_open_id_connect_provider":
            assert params["ClientID"] not in provider.client_ids
            provider = Provider(provider.arn, provider.url, (*provider.client_ids, params["ClientID"]), provider.thumbprints, provider.tags)
        elif method == "update_open_id_connect_provider_thumbprint":
            provider = Provider(provider.arn, provider.url, provider.client_ids, tuple(params["ThumbprintList"]), provider.tags)
        elif method == "tag_open_id_connect_provider":
            tags = {**provider.tags, **{t["Key"]: t["Value"] for t in params["Tags"]}}
            provider = Provider(provider.arn, provider.url, provider.client_ids, provider.thumbprints, tags)
        else:
            raise AssertionError(f"unexpected call {method}")
    assert provider is not None
    return provider


def test_a_missing_provider_is_created_marked_with_everything_in_one_call() -> None:
    [create] = plan_provider(ISSUER, None, Desired(("sts.amazonaws.com",), (A,), {"team": "x"}))
    assert (create.resource, create.action, create.subject) == (f"iam:oidc-provider/{PATH}", "create", PATH)
    assert create.operation is not None
    assert create.operation.to_json() == {
        "call": "iam:CreateOpenIDConnectProvider",
        "params": {
            "Url": f"https://{PATH}", "ClientIDList": ["sts.amazonaws.com"], "ThumbprintList": [A],
            "Tags": [{"Key": "managed-by", "Value": "oidc-publisher"}, {"Key": "team", "Value": "x"}],
        },
    }
    # No thumbprint wanted: IAM trusts the host's CA itself; the list is left out of the call.
    [bare] = plan_provider(ISSUER, None, Desired(("sts.amazonaws.com",), (), {}))
    assert bare.operation is not None and "ThumbprintList" not in bare.operation.params


def test_an_existing_provider_converges_one_call_per_step_in_order() -> None:
    current = Provider(ARN, PATH, ("other",), (B,), {"team": "old"})
    steps = plan_provider(ISSUER, current, Desired(("sts.amazonaws.com", "vault"), (A,), {"team": "platform"}))
    assert [(s.reason, s.operation.call.api if s.operation else None, s.phase, s.subject) for s in steps] == [
        ("add client ID sts.amazonaws.com", "AddClientIDToOpenIDConnectProvider", 0, ARN),
        ("add client ID vault", "AddClientIDToOpenIDConnectProvider", 1, ARN),
        (f"thumbprints {B} -> {A}", "UpdateOpenIDConnectProviderThumbprint", 2, ARN),
        ("tags team=platform", "TagOpenIDConnectProvider", 3, ARN),
    ]
    assert plan_provider(ISSUER, apply(current, steps), Desired(("vault",), (A,), {"team": "platform"})) == []


def test_no_thumbprint_wanted_leaves_the_registered_ones() -> None:
    assert plan_provider(ISSUER, Provider(ARN, PATH, ("sts.amazonaws.com",), (B,)), Desired(("sts.amazonaws.com",), (), {})) == []


def test_the_client_id_quota_counts_the_registered_ones() -> None:
    current = Provider(ARN, PATH, tuple(f"app-{i}" for i in range(99)), ())
    check_client_id_room(ISSUER, current, Desired(("app-1", "vault"), (), {}))  # one new: room for it
    with pytest.raises(ConflictError, match="has 99 client IDs and 2 more were asked for"):
        check_client_id_room(ISSUER, current, Desired(("sts.amazonaws.com", "vault"), (), {}))


client_ids = st.lists(st.sampled_from(["sts.amazonaws.com", "vault", "other", "app"]), max_size=4, unique=True)
thumbprints = st.lists(st.sampled_from([A, B, "c" * 40]), max_size=3, unique=True)
tag_sets = st.dictionaries(st.sampled_from(["team", "env", "owner"]), st.sampled_from(["x", "y"]), max_size=3)
their_tags = st.dictionaries(st.sampled_from(["team", "managed-by", "env"]), st.sampled_from(["x", "terraform", "oidc-publisher"]), max_size=3)
providers = st.none() | st.builds(
    lambda ids, prints, tags: Provider(ARN, PATH, tuple(ids), tuple(prints), tags), client_ids, thumbprints, their_tags
)
desired = st.builds(
    lambda ids, prints, tags: Desired(tuple(ids) or ("sts.amazonaws.com",), tuple(prints), tags), client_ids, thumbprints, tag_sets
)


@settings(max_examples=300, deadline=None)
@given(current=providers, wanted=desired)
def test_applying_the_plan_then_planning_again_gives_no_steps(current: Provider | None, wanted: Desired) -> None:
    after = apply(current, plan_provider(ISSUER, current, wanted))
    assert plan_provider(ISSUER, after, wanted) == []
    assert set(wanted.client_ids) <= set(after.client_ids)
    if current is not None:
        assert set(current.client_ids) <= set(after.client_ids)  # never removes a client ID
        assert after.arn == current.arn  # converged in place, never recreated


@settings(max_examples=300, deadline=None)
@given(current=providers.filter(lambda p: p is not None), wanted=desired)
def test_never_a_tag_write_of_the_mark_on_a_provider_that_exists(current: Provider, wanted: Desired) -> None:
    steps = plan_provider(ISSUER, current, wanted)
    assert all(s.action == "update" for s in steps)
    for step in steps:
        assert step.operation is not None
        for tag in step.operation.params.get("Tags", []):
            assert tag["Key"] != MANAGED_BY[0], step
    # Made elsewhere (no mark): after the plan it is still not the tool's.
    if current.tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
        assert apply(current, steps).tags.get(MANAGED_BY[0]) == current.tags.get(MANAGED_BY[0])
    # Only what was asked: no write at all when the provider already has it.
    asked = set(wanted.client_ids) <= set(current.client_ids) and (not wanted.thumbprints or set(wanted.thumbprints) == set(current.thumbprints))
    if asked and all(current.tags.get(k) == v for k, v in wanted.tags.items()):
        assert steps == []
