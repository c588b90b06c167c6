"""The rotation policy, as a pure function: which keys to publish, and what to remember."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.errors import ConflictError, InputError
from oidc_publisher.keys import signing_key
from oidc_publisher.rotation import State, decide, format_duration, parse_duration, short_retention
from tests.support import keys as k

K = [signing_key(k.ec_key().public_key(), f"k{i}") for i in range(4)]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
RETAIN = dt.timedelta(hours=48)


def kids(keys: object) -> set[str]:
    return {key.kid for key in keys}  # type: ignore[attr-defined]


def step(source, published, state, now, **kw):  # type: ignore[no-untyped-def]
    return decide(source, published, state, now=now, retain=RETAIN, **kw)


def test_full_rotation_sequence() -> None:
    k1, k2 = K[0], K[1]
    state = State(issuer="https://i.example.com")
    d1 = step([k1], [], state, T0)
    assert kids(d1.keys) == {k1.kid} and d1.added == (k1.kid,)
    d2 = step([k1, k2], d1.keys, d1.state, T0 + dt.timedelta(hours=1))
    assert kids(d2.keys) == {k1.kid, k2.kid} and d2.added == (k2.kid,)
    # k1 leaves the source: it stays, retained for 48 h from now.
    left = T0 + dt.timedelta(hours=2)
    d3 = step([k2], d2.keys, d2.state, left)
    assert kids(d3.keys) == {k1.kid, k2.kid}
    assert [(r.kid, r.until) for r in d3.retained] == [(k1.kid, left + RETAIN)]
    assert d3.state.keys[k1.kid].left_source == left
    # A fresh machine with only the state decides the same, even if the live JWKS lost k1.
    d3b = step([k2], [k2], d3.state, left + dt.timedelta(hours=47))
    assert kids(d3b.keys) == {k1.kid, k2.kid}
    # Retention passes: k1 is dropped.
    d4 = step([k2], d3.keys, d3.state, left + RETAIN)
    assert kids(d4.keys) == {k2.kid} and d4.removed == (k1.kid,)
    assert k1.kid not in d4.state.keys
    d5 = step([k2], d4.keys, d4.state, left + RETAIN + dt.timedelta(hours=1))
    assert kids(d5.keys) == {k2.kid} and not (d5.added or d5.removed or d5.retained)


def test_key_unknown_to_state_gets_a_full_retention() -> None:
    # The live JWKS has a key the state never saw (published by hand or by Terraform): keep it for `retain`.
    d = step([K[1]], [K[0], K[1]], State(issuer="x"), T0)
    assert kids(d.keys) == {K[0].kid, K[1].kid}
    assert d.retained[0].until == T0 + RETAIN


def test_revoke_drops_at_once_and_stays_dropped() -> None:
    d1 = step([K[1]], [K[0], K[1]], State(issuer="x"), T0)
    d2 = step([K[1]], d1.keys, d1.state, T0 + dt.timedelta(minutes=5), revoke=[K[0].kid])
    assert kids(d2.keys) == {K[1].kid} and d2.revoked == (K[0].kid,)
    # An old copy of the JWKS with the revoked key reappears: it is dropped again, not retained.
    d3 = step([K[1]], [K[0], K[1]], d2.state, T0 + dt.timedelta(minutes=10))
    assert kids(d3.keys) == {K[1].kid} and d3.revoked == (K[0].kid,)


def test_refuses_to_revoke_a_key_the_source_serves() -> None:
    with pytest.raises(ConflictError) as info:
        step([K[0]], [K[0]], State(issuer="x"), T0, revoke=[K[0].kid])
    assert str(info.value) == (
        f"refusing to revoke {K[0].kid}: the cluster still serves it; "
        "remove it from the API server's --service-account-key-file first, then revoke"
    )


def test_revoke_unknown_kid() -> None:
    with pytest.raises(InputError, match="--revoke nope: no published key has that kid"):
        step([K[0]], [K[0]], State(issuer="x"), T0, revoke=["nope"])


def test_empty_source_is_refused() -> None:
    with pytest.raises(ConflictError, match="the source has no keys"):
        step([], [K[0]], State(issuer="x"), T0)


def test_state_round_trips_and_rejects_garbage() -> None:
    d = step([K[1]], [K[0], K[1]], State(issuer="https://i.example.com", distribution_id="E123"), T0)
    again = State.from_bytes(d.state.to_bytes(), "s3://b/state")
    assert again.to_bytes() == d.state.to_bytes()
    assert again.distribution_id == "E123"
    with pytest.raises(ConflictError, match="is not one this tool wrote"):
        State.from_bytes(b'{"format": 99}', "s3://b/state")
    with pytest.raises(ConflictError, match="is not one this tool wrote"):
        State.from_bytes(b"not json", "s3://b/state")


@pytest.mark.parametrize("text,seconds", [("48h", 172800), ("2d", 172800), ("90m", 5400), ("1d12h", 129600), ("3s", 3)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "h", "48", "-1h", "1w", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_duration(text)
    assert str(info.value) == f"duration {text!r} is not understood; write it like 48h, 2d, 90m or 1d12h"


def test_format_duration() -> None:
    assert format_duration(dt.timedelta(hours=23, minutes=10)) == "23h10m"
    assert format_duration(dt.timedelta(minutes=5)) == "5m"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sets(st.integers(0, 3), min_size=1), st.integers(0, 30)),
        min_size=1, max_size=12,
    )
)
def test_property_source_keys_always_published_and_removed_keys_kept_for_retention(
    steps: list[tuple[set[int], int]],
) -> None:
    """Whatever the sequence of sources, the source's keys are always published, and a key that left the
    source is published until exactly `retain` after the first run that did not see it."""
    state = State(issuer="x")
    published: tuple = ()
    now = T0
    previous: set[str] = set()
    left_at: dict[str, dt.datetime] = {}  # an independent model of when each key left the source
    for indexes, hours in steps:
        now = now + dt.timedelta(hours=hours)
        source = [K[i] for i in sorted(indexes)]
        current = kids(source)
        for kid in previous - current:
            left_at.setdefault(kid, now)
        for kid in current:
            left_at.pop(kid, None)
        d = step(source, published, state, now)
        expected = current | {kid for kid, left in left_at.items() if now < left + RETAIN}
        assert kids(d.keys) == expected
        previous = current | previous
        previous = {kid for kid in previous if kid in current or kid in kids(d.keys)}
        state, published = d.state, d.keys


@pytest.mark.parametrize(
    ("given", "shown"),
    [("0s", "0s"), ("59s", "59s"), ("90m", "1h30m"), ("23h59m59s", "23h59m"), ("24h", None), ("1d", None), ("48h", None), ("30d", None)],
)
def test_short_retention_warns_below_a_token_life(given: str, shown: str | None) -> None:
    risk = short_retention(parse_duration(given))
    if shown is None:
        assert risk is None
    else:
        assert risk is not None and risk.startswith(f"--retain-removed-keys {shown} is shorter than the 24h life")
        assert risk.endswith("use --revoke KID)")
    fleet = short_retention(parse_duration(given), "retain_removed_keys")
    assert (fleet is None) == (shown is None)
    assert fleet is None or (fleet.startswith("retain_removed_keys ") and fleet.endswith("list its kid under revoke)"))
