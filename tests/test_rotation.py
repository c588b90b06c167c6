"""The rotation policy, as a pure function: which keys to publish, and what to remember."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.errors import ConflictError, InputError
from oidc_publisher.core.keys import load_public_keys_pem, signing_key
from oidc_publisher.core.rotation import (
    INVALIDATION_WINDOW,
    REMOVED_RECORD_KEPT,
    LiveDocument,
    RunClock,
    State,
    decide,
    format_duration,
    may_need_invalidation,
    parse_duration,
    pending_invalidations,
    run_clock,
    short_retention,
)
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


# ---------------------------------------------------------------- revocation is idempotent


def test_revoking_again_with_the_same_arguments_is_a_no_op_and_a_new_key_still_gets_published() -> None:
    d1 = step([K[1]], [K[0], K[1]], State(issuer="x"), T0)
    d2 = step([K[1]], d1.keys, d1.state, T0 + dt.timedelta(minutes=5), revoke=[K[0].kid])
    # The job runs again with the same --revoke: nothing to drop, nothing refused, nothing recorded anew.
    d3 = step([K[1]], d2.keys, d2.state, T0 + dt.timedelta(hours=3), revoke=[K[0].kid])
    assert d3.already_revoked == (K[0].kid,) and d3.revoked == ()
    assert kids(d3.keys) == {K[1].kid}
    assert d3.state.to_bytes() == d2.state.to_bytes()  # the revocation time is not moved
    # The next key change, with the --revoke still in the job: the new key is published.
    d4 = step([K[1], K[2]], d3.keys, d3.state, T0 + dt.timedelta(days=30), revoke=[K[0].kid])
    assert d4.added == (K[2].kid,) and kids(d4.keys) == {K[1].kid, K[2].kid}
    assert d4.state.revoked == {K[0].kid: T0 + dt.timedelta(minutes=5)}


def test_a_revoked_kid_the_source_serves_again_is_refused() -> None:
    d1 = step([K[1]], [K[0], K[1]], State(issuer="x"), T0)
    d2 = step([K[1]], d1.keys, d1.state, T0, revoke=[K[0].kid])
    with pytest.raises(ConflictError, match=f"refusing to revoke {K[0].kid}: the cluster still serves it"):
        step([K[0], K[1]], d2.keys, d2.state, T0, revoke=[K[0].kid])


def test_revoking_a_key_whose_retention_ended_records_it_as_revoked() -> None:
    d1 = step([K[0], K[1]], [], State(issuer="x"), T0)
    d2 = step([K[1]], d1.keys, d1.state, T0)
    d3 = step([K[1]], d2.keys, d2.state, T0 + RETAIN)
    assert d3.removed == (K[0].kid,)
    d4 = step([K[1]], d3.keys, d3.state, T0 + RETAIN + dt.timedelta(hours=1), revoke=[K[0].kid])
    assert d4.already_revoked == (K[0].kid,) and kids(d4.keys) == {K[1].kid}
    assert d4.state.revoked == {K[0].kid: T0 + RETAIN + dt.timedelta(hours=1)} and d4.state.removed == {}


# ---------------------------------------------------------------- time: AWS's clock, never the node's alone


def test_run_clock_takes_aws_time_and_names_a_skewed_local_clock() -> None:
    aws = T0 + dt.timedelta(seconds=0.4)
    assert run_clock(aws, T0 + dt.timedelta(minutes=4)) == RunClock(T0, from_aws=True)
    ahead = run_clock(aws, T0 + dt.timedelta(hours=49))
    assert (ahead.now, ahead.from_aws) == (T0, True)
    assert ahead.warning == (
        "the local clock is 49h00m ahead of AWS's: this run timed retention by AWS's clock; "
        "fix the node's time sync (NTP)"
    )
    behind = run_clock(aws, T0 - dt.timedelta(minutes=6))
    assert behind.now == T0 and behind.warning is not None and "6m behind AWS's" in behind.warning
    assert run_clock(None, T0 + dt.timedelta(hours=49)) == RunClock(T0 + dt.timedelta(hours=49), from_aws=False)


def test_without_aws_time_no_key_is_dropped_and_no_retention_starts() -> None:
    d1 = step([K[0], K[1]], [], State(issuer="x"), T0)
    d2 = step([K[1]], d1.keys, d1.state, T0 + dt.timedelta(hours=1))
    # A run with only a local clock, 49 h ahead: the retained key stays, its recorded time is kept.
    d3 = step([K[1]], d2.keys, d2.state, T0 + dt.timedelta(hours=50), from_aws=False)
    assert kids(d3.keys) == {K[0].kid, K[1].kid} and d3.removed == ()
    assert d3.state.keys[K[0].kid].left_source == T0 + dt.timedelta(hours=1)
    assert d3.notes == (
        "no time from AWS in this run: retention not applied, 1 removed key kept (a later run with AWS's time applies it)",
    )
    # A key leaving the source in such a run gets no start time: the next run with AWS's time starts it.
    d4 = step([K[2]], d3.keys, d3.state, T0 + dt.timedelta(hours=90), from_aws=False)
    assert K[1].kid in kids(d4.keys) and d4.state.keys[K[1].kid].left_source is None
    d5 = step([K[2]], d4.keys, d4.state, T0 + dt.timedelta(hours=60))
    assert d5.removed == (K[0].kid,)  # its retention ended at T0+49h by AWS's clock
    assert d5.state.keys[K[1].kid].left_source == T0 + dt.timedelta(hours=60)
    assert [r.kid for r in d5.retained] == [K[1].kid]


def test_a_removed_key_is_remembered_past_its_retention_and_never_re_added() -> None:
    d1 = step([K[0], K[1]], [], State(issuer="x"), T0)
    d2 = step([K[1]], d1.keys, d1.state, T0)
    d3 = step([K[1]], d2.keys, d2.state, T0 + RETAIN)
    assert d3.state.removed == {K[0].kid: T0 + RETAIN}
    # An old copy of the JWKS comes back: the key is dropped again, not given a fresh retention.
    d4 = step([K[1]], [K[0], K[1]], d3.state, T0 + RETAIN + dt.timedelta(days=1))
    assert kids(d4.keys) == {K[1].kid} and d4.removed == (K[0].kid,) and d4.retained == ()
    # The record is forgotten only well past the retention, and only by AWS's clock.
    late = T0 + RETAIN + REMOVED_RECORD_KEPT
    assert step([K[1]], d4.keys, d4.state, late, from_aws=False).state.removed == {K[0].kid: T0 + RETAIN}
    assert step([K[1]], d4.keys, d4.state, late).state.removed == {}
    # The source serving it again is the source's call: published, the record gone.
    back = step([K[0], K[1]], d4.keys, d4.state, T0 + RETAIN + dt.timedelta(days=2))
    assert kids(back.keys) == {K[0].kid, K[1].kid} and back.state.removed == {}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sets(st.integers(0, 3), min_size=1),  # the source's keys
            st.integers(0, 30 * 60),  # minutes of AWS time since the previous run
            st.integers(-100 * 60, 100 * 60),  # the node's clock skew, minutes
            st.booleans(),  # whether AWS answered with a Date
        ),
        min_size=1, max_size=14,
    )
)
def test_property_no_key_is_dropped_before_retain_has_elapsed_in_aws_time(
    runs: list[tuple[set[int], int, int, bool]],
) -> None:
    """Over any sequence of runs, from nodes with any clock skew, some without AWS's time, a key that
    left the source stays published until `retain` has passed by AWS's clock since the first run that
    no longer saw it; and the source's keys are always published."""
    state = State(issuer="x")
    published: tuple = ()
    aws = T0
    gone_since: dict[str, dt.datetime] = {}  # AWS time of the first run that no longer saw the key
    for indexes, minutes, skew, answered in runs:
        aws += dt.timedelta(minutes=minutes)
        source = [K[i] for i in sorted(indexes)]
        for kid in kids(published) - kids(source):
            gone_since.setdefault(kid, aws)
        for kid in kids(source):
            gone_since.pop(kid, None)
        clock = run_clock(aws if answered else None, aws + dt.timedelta(minutes=skew))
        d = decide(source, published, state, now=clock.now, retain=RETAIN, from_aws=clock.from_aws)
        assert kids(source) <= kids(d.keys)
        for kid in kids(published) - kids(d.keys):
            assert aws >= gone_since[kid] + RETAIN, f"{kid} dropped {aws - gone_since[kid]} after it left"
        for kid, when in d.state.keys.items():  # a recorded time never moves (a key back in the source starts afresh)
            if kid in state.keys:
                assert when.first_published == state.keys[kid].first_published
                if state.keys[kid].left_source is not None and kid not in kids(source):
                    assert when.left_source == state.keys[kid].left_source
        state, published = d.state, d.keys


# ---------------------------------------------------------------- backwards compatibility of the state


# Written by the previous release (rotation.py at main before this change): a retained key, and a revoked one.
OLD_STATE_RETAINED = (
    b'{\n "distribution_id": "E2EXAMPLE",\n "format": 1,\n "issuer": "https://i.example.com",\n "keys": {\n'
    b'  "JHJehTTTZlsspKHT-GaJxK7Kd1NQgZJu3fyK6K_QDYU": {\n   "first_published": "2026-01-01T00:00:00Z",\n'
    b'   "jwk": {\n    "alg": "RS256",\n    "e": "AQAB",\n    "kid": "JHJehTTTZlsspKHT-GaJxK7Kd1NQgZJu3fyK6K_QDYU",\n'
    b'    "kty": "RSA",\n    "n": "249XwEo9k4tM8fMxV7zxOhcrP-WvXn917koM5Qr2ZXs4vo26e4ytdlrV0bQ9SlcLpQVSYjIxNfhTZdDt-ecIzsh'
    b"Kuv1gKIxbbLQMOuK1eA_4HALyEkFgmS_tleLJrhc65tKPMGD-pKQ_xhmzRuCG51RoiMgbQxaCyYxGfNLpLAZK9L0Tctv9a0mJmGIYnIOQM4kC1A1I1n3"
    b"EsXMWmeJUj7OTh_AjjCnMnkgvKT2tpKxYQ59PgDgU8Ssc7RDSmSkLxnrv-OrN80j6xrw0OjEiB4Ycr0PqfzZcvy8efTtFQ_Jnc4Bp1zUtFXt7-QeevePt"
    b'Q2EcyELXE0i63T1CujRMWw",\n    "use": "sig"\n   },\n   "left_source": "2026-01-01T01:00:00Z"\n  },\n'
    b'  "SoABiieYuNx4UdqYvZRVeuC6SihxgLrhLy9peHMHpTc": {\n   "first_published": "2026-01-01T00:00:00Z",\n'
    b'   "jwk": {\n    "alg": "ES256",\n    "crv": "P-256",\n    "kid": "SoABiieYuNx4UdqYvZRVeuC6SihxgLrhLy9peHMHpTc",\n'
    b'    "kty": "EC",\n    "use": "sig",\n    "x": "H6cuzP8XuD5wal6wf9M6xDljTOPLX2i8uIp_C_ASqiI",\n'
    b'    "y": "BlHnikLV9PyEd6gl8k4T_3Wwoh6xd79XLoQTh2PAi1Y"\n   },\n   "left_source": null\n  }\n },\n "revoked": {}\n}\n'
)
OLD_STATE_REVOKED = (
    b'{\n "distribution_id": null,\n "format": 1,\n "issuer": "https://i.example.com",\n "keys": {\n'
    b'  "SoABiieYuNx4UdqYvZRVeuC6SihxgLrhLy9peHMHpTc": {\n   "first_published": "2026-01-01T00:00:00Z",\n'
    b'   "jwk": {\n    "alg": "ES256",\n    "crv": "P-256",\n    "kid": "SoABiieYuNx4UdqYvZRVeuC6SihxgLrhLy9peHMHpTc",\n'
    b'    "kty": "EC",\n    "use": "sig",\n    "x": "H6cuzP8XuD5wal6wf9M6xDljTOPLX2i8uIp_C_ASqiI",\n'
    b'    "y": "BlHnikLV9PyEd6gl8k4T_3Wwoh6xd79XLoQTh2PAi1Y"\n   },\n   "left_source": null\n  }\n },\n'
    b' "revoked": {\n  "JHJehTTTZlsspKHT-GaJxK7Kd1NQgZJu3fyK6K_QDYU": "2026-01-01T02:00:00Z"\n }\n}\n'
)


def test_a_state_written_by_the_previous_release_loads_and_works() -> None:
    rsa, ec = (load_public_keys_pem(pem, "x")[0] for pem in (k.K8S_RSA_PUBLIC_KEY, k.K8S_EC_PUBLIC_KEY))
    old = State.from_bytes(OLD_STATE_RETAINED, "s3://b/state")
    assert old.to_bytes() == OLD_STATE_RETAINED  # nothing to rewrite on the first run after an upgrade
    assert old.distribution_id == "E2EXAMPLE" and old.removed == {} and old.invalidated == {}
    left = T0 + dt.timedelta(hours=1)
    d = decide([ec], [rsa, ec], old, now=left + RETAIN - dt.timedelta(seconds=1), retain=RETAIN)
    assert [(r.kid, r.until) for r in d.retained] == [(rsa.kid, left + RETAIN)]  # its recorded time is kept
    assert decide([ec], [rsa, ec], old, now=left + RETAIN, retain=RETAIN).removed == (rsa.kid,)
    revoked = State.from_bytes(OLD_STATE_REVOKED, "s3://b/state")
    assert revoked.to_bytes() == OLD_STATE_REVOKED
    again = decide([ec], [ec], revoked, now=T0 + dt.timedelta(days=3), retain=RETAIN, revoke=[rsa.kid])
    assert again.already_revoked == (rsa.kid,) and again.state.to_bytes() == OLD_STATE_REVOKED


def test_state_keeps_removed_and_invalidated_records() -> None:
    state = State(issuer="x", removed={K[0].kid: T0}, invalidated={"openid/v1/jwks": '"abc"'})
    again = State.from_bytes(state.to_bytes(), "s3://b/state")
    assert (again.removed, again.invalidated) == (state.removed, state.invalidated)


# ---------------------------------------------------------------- invalidations a failed run left to do


def test_pending_invalidations_are_recent_uncovered_copies_behind_cloudfront() -> None:
    now = T0 + dt.timedelta(hours=5)
    fresh = LiveDocument("openid/v1/jwks", '"new"', now - dt.timedelta(minutes=10), behind_cloudfront=True)
    assert pending_invalidations([fresh], {}, now) == ("openid/v1/jwks",)
    assert pending_invalidations([fresh], {"openid/v1/jwks": '"old"'}, now) == ("openid/v1/jwks",)
    assert pending_invalidations([fresh], {"openid/v1/jwks": '"new"'}, now) == ()
    # Past the window every cache has expired the old copy; S3-direct documents need no invalidation.
    old = LiveDocument("openid/v1/jwks", '"new"', now - INVALIDATION_WINDOW, behind_cloudfront=True)
    assert pending_invalidations([old], {}, now) == ()
    assert pending_invalidations([LiveDocument("k", '"e"', now, behind_cloudfront=False)], {}, now) == ()
    # Without AWS's time, a run cannot tell the age: it looks at the state.
    assert may_need_invalidation(old, None) is True
