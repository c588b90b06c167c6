"""One issuer for several clusters (members): whose keys are whose, the union to publish, the key ceiling,
and when a member has gone quiet. Pure: no AWS, no clock (time is an input), no network.

Each member's run converges only its own keys with the rotation policy (:func:`rotation.decide`) and
publishes the union, over all members, of their current and retained keys, plus keys no member holds any
more that are still retained (``unclaimed``: a member removed, or a key found published without a record),
minus revoked kids. A member's run never ages, drops or revokes another member's key.

The implicit member (``publish`` without ``--member``) is ``default``: its keys are the state's top-level
``keys``, so a single-cluster issuer's state stays byte for byte what the previous release wrote.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from oidc_publisher.core.errors import ConflictError, InputError
from oidc_publisher.core.keys import SigningKey, parse_jwk
from oidc_publisher.core.rotation import Decision, KeyRecord, Member, State, Unclaimed, decide, format_duration

DEFAULT_MEMBER = "default"
# STS is reported to fail beyond about 100 keys in one JWKS (observed in the field, not documented).
DEFAULT_MAX_KEYS = 100
WARN_FRACTION = 0.8  # warn from 80 keys of 100
# A member whose keys have not changed still records itself this often (one state write a day), so that
# ``members list`` can tell a live cluster from one that was switched off without leaving.
HEARTBEAT = dt.timedelta(hours=24)
DEFAULT_STALE_AFTER = dt.timedelta(days=3)
# The JWKS object's metadata (x-amz-meta-*): what lets a member's steady-state run stop after two reads.
MEMBERS_META = "members"
UNCLAIMED_META = "unclaimed-until"
_MAX_META = 1800  # S3 allows 2 KB of user metadata in all; beyond, runs just read the state
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def check_member_name(name: str, what: str = "--member") -> str:
    if not _NAME.match(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise InputError(
            f"{what} {shown!r} is not a member name",
            "use 1-40 lower-case letters, digits and '-', like blue or prod-eu-1 (the cluster's name)",
        )
    return name


def _records(state: State, name: str) -> dict[str, KeyRecord]:
    if name == DEFAULT_MEMBER:
        return state.keys
    member = state.members.get(name)
    return member.keys if member else {}


def member_names(state: State) -> list[str]:
    """Every member holding keys: ``default`` (when it does) first, then the named ones."""
    return ([DEFAULT_MEMBER] if state.keys else []) + sorted(state.members)


def active_members(state: State) -> list[str]:
    """The members that still publish a current key (``default`` first, then the named ones): the clusters
    whose tokens need the issuer today. A member that left (``members remove``) holds retained keys only."""
    active = [DEFAULT_MEMBER] if any(r.left_source is None for r in state.keys.values()) else []
    return active + sorted(name for name, m in state.members.items() if any(r.left_source is None for r in m.keys.values()))


def holders(state: State) -> dict[str, list[str]]:
    """kid -> the members whose records hold it (current or retained)."""
    held: dict[str, list[str]] = {}
    for name in member_names(state):
        for kid in _records(state, name):
            held.setdefault(kid, []).append(name)
    return held


def published_kids(state: State) -> set[str]:
    """The kids the union publishes: every member's records and the unclaimed keys, minus revoked."""
    kids = set(holders(state)) | set(state.unclaimed)
    return kids - set(state.revoked)


def key_counts(state: State) -> dict[str, int]:
    """How many published keys each member holds (and ``unclaimed``, when some are)."""
    counts = {name: len(set(_records(state, name)) - set(state.revoked)) for name in member_names(state)}
    if state.unclaimed:
        counts["(left by removed members)"] = len(set(state.unclaimed) - set(state.revoked))
    return counts


@dataclass(frozen=True)
class MemberDecision:
    member: str
    keys: tuple[SigningKey, ...]  # the union to publish, sorted by kid
    state: State
    decision: Decision  # the member's own keys: added, retained, removed, revoked
    dropped: tuple[str, ...] = ()  # unclaimed keys whose retention ended in this run
    adopted: tuple[str, ...] = ()  # keys the member took over (the implicit member's, or unclaimed ones)


def decide_member(
    member: str,
    source: Sequence[SigningKey],
    live: Sequence[SigningKey],
    state: State,
    *,
    now: dt.datetime,
    retain: dt.timedelta,
    revoke: Iterable[str] = (),
    from_aws: bool = True,
    origin: tuple[str, str | None] = ("", None),
) -> MemberDecision:
    """The union to publish and the state to record when ``member`` publishes ``source``.

    ``live`` is the JWKS as read. A live key no record holds and no source serves (the state lost, or a run
    that published and could not record) is kept as unclaimed, retained from now. ``origin`` is the run's
    source description and host, recorded for ``members list``. With no named members and the implicit one
    publishing, this is exactly :func:`rotation.decide` (the single-cluster behaviour).
    """
    state = dataclasses.replace(
        state, keys=dict(state.keys), members=dict(state.members), unclaimed=dict(state.unclaimed),
        revoked=dict(state.revoked), removed=dict(state.removed),
    )
    revoke = tuple(revoke)
    served = {key.kid for key in source}
    live_by_kid = {key.kid: key for key in live}
    adopted: list[str] = []

    if member != DEFAULT_MEMBER:
        # A cluster that serves the implicit member's current keys is that cluster, now named: its records
        # (retained ones too, once none of its current keys is left behind) become the member's.
        mine = dict(state.members[member].keys) if member in state.members else {}
        current_default = {kid for kid, r in state.keys.items() if r.left_source is None}
        if current_default & served:
            for kid in sorted(set(state.keys) & served):
                mine[kid] = state.keys.pop(kid)
                adopted.append(kid)
            if not any(r.left_source is None for r in state.keys.values()):
                for kid in sorted(state.keys):
                    mine[kid] = state.keys.pop(kid)
                    adopted.append(kid)
        old = state.members.get(member)
        state.members[member] = Member(mine, old.published if old else None, old.source if old else None,
                                       old.host if old else None)
    for kid in sorted(served & set(state.unclaimed)):
        del state.unclaimed[kid]  # served again: the member's current key
        adopted.append(kid)

    held = holders(state)
    others = {kid: names for kid, names in held.items() if member not in names}
    unclaimed_revoke = [kid for kid in revoke if kid in state.unclaimed]
    for kid in revoke:
        # Also a key this member shares with another (one signing key in two clusters): the other still signs.
        elsewhere = [name for name in held.get(kid, []) if name != member]
        if elsewhere:
            whose = f", not {member}'s" if kid not in _records(state, member) else f" too, not only {member}'s"
            raise ConflictError(
                f"refusing to revoke {kid}: it is member {', '.join(elsewhere)}'s key{whose}",
                f"revoke it from that member's run (--member {elsewhere[0]}), or 'oidc-publisher members remove "
                f"{elsewhere[0]} --revoke'",
            )
    own_revoke = [kid for kid in revoke if kid not in unclaimed_revoke]
    for kid in unclaimed_revoke:
        del state.unclaimed[kid]
        state.revoked.setdefault(kid, now)

    records = _records(state, member)
    known_elsewhere = set(others) | set(state.unclaimed) | set(state.revoked)
    # A kid whose retention ended earlier, live again (an old JWKS put back): dropped again, not retained anew.
    ended = set(state.removed) - served
    if member == DEFAULT_MEMBER:
        # The implicit member decides on every live key nobody else holds, as the single-cluster tool did.
        published = [key for kid, key in live_by_kid.items() if kid not in known_elsewhere or kid in records]
    else:
        published = [key for kid, key in live_by_kid.items() if kid in records]
        for kid, key in sorted(live_by_kid.items()):
            if kid in records or kid in served or kid in known_elsewhere or kid in ended:
                continue
            state.unclaimed[kid] = Unclaimed(kid, key.to_jwk(), now if from_aws else None,
                                             (now + retain) if from_aws else None)
    sub = State(
        issuer=state.issuer, keys=dict(records), revoked=state.revoked, distribution_id=state.distribution_id,
        removed=state.removed, invalidated=state.invalidated,
    )
    decision = decide(source, published, sub, now=now, retain=retain, revoke=own_revoke, from_aws=from_aws)
    new = decision.state
    state.revoked, state.removed = new.revoked, new.removed
    if member == DEFAULT_MEMBER:
        state.keys = new.keys
    else:
        # It records itself (when, from where) when its keys change, and otherwise once a HEARTBEAT: a run
        # with nothing to change writes nothing, whichever pod it ran in.
        # (By the run's clock even without AWS's: it only informs, it drops nothing.)
        before = state.members[member]
        due = before.published is None or now - before.published >= HEARTBEAT
        if new.keys != records or due or adopted:
            description, host = origin
            state.members[member] = Member(new.keys, now, description or None, host)
        else:
            state.members[member] = dataclasses.replace(before, keys=new.keys)

    dropped = []
    for kid, entry in sorted(state.unclaimed.items()):
        if not from_aws:
            continue
        if entry.until is None:
            state.unclaimed[kid] = dataclasses.replace(entry, since=now, until=now + retain)
        elif now >= entry.until:
            del state.unclaimed[kid]
            state.removed[kid] = now
            dropped.append(kid)
    keys = union_keys(state, live, decision.keys)
    return MemberDecision(member, keys, state, decision, tuple(dropped), tuple(adopted))


def union_keys(state: State, live: Sequence[SigningKey], preferred: Sequence[SigningKey] = ()) -> tuple[SigningKey, ...]:
    """The keys of :func:`published_kids`, as objects: a source's or the live JWKS's copy, else the record's."""
    known = {key.kid: key for key in live}
    known.update({key.kid: key for key in preferred})
    jwks: dict[str, dict[str, str]] = {}
    for name in member_names(state):
        jwks.update({kid: record.jwk for kid, record in _records(state, name).items()})
    jwks.update({kid: entry.jwk for kid, entry in state.unclaimed.items()})
    chosen = []
    for kid in sorted(published_kids(state)):
        chosen.append(known[kid] if kid in known else parse_jwk(jwks[kid], f"state record {kid}"))
    return tuple(chosen)


def ceiling(state: State, total: int, max_keys: int) -> str | None:
    """Refuse (ConflictError) a JWKS of more than ``max_keys`` keys; a warning from 80 % of it; else None."""
    counts = ", ".join(f"{name} {count}" for name, count in sorted(key_counts(state).items(), key=lambda i: -i[1]))
    if total > max_keys:
        raise ConflictError(
            f"refusing to publish {total} keys, more than --max-keys {max_keys} (STS is reported to fail beyond "
            f"about 100 keys in one JWKS); keys per member: {counts}",
            "shorten --retain-removed-keys, remove members that left ('oidc-publisher members remove NAME'), "
            "or give clusters of their own a separate issuer",
        )
    if total >= max_keys * WARN_FRACTION:
        return (
            f"the JWKS holds {total} keys, near the ceiling of {max_keys} (keys per member: {counts}): "
            "shorten retention, remove members that left, or split the issuer before it refuses"
        )
    return None


# --- the steady state's two reads --------------------------------------------------------------------


def fingerprint(kids: Iterable[str]) -> str:
    return hashlib.sha256(",".join(sorted(kids)).encode()).hexdigest()[:12]


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _unstamp(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def jwks_metadata(state: State) -> dict[str, str]:
    """What the JWKS object carries for the steady state: each named member's keys (a fingerprint) and when
    it last recorded itself, and when the first unclaimed key is due. Empty without named members (a
    single-cluster issuer's JWKS object stays as it was)."""
    if not state.members:
        return {}
    entries = []
    for name, member in sorted(state.members.items()):
        stamp = _stamp(member.published) if member.published else "0"
        entries.append(f"{name}={fingerprint(member.keys)}@{stamp}")
    metadata = {MEMBERS_META: " ".join(entries)}
    if state.unclaimed:
        dues = [entry.until for entry in state.unclaimed.values()]
        metadata[UNCLAIMED_META] = "0" if any(d is None for d in dues) else _stamp(min(d for d in dues if d))
    if sum(len(k) + len(v) for k, v in metadata.items()) > _MAX_META:
        return {}
    return metadata


def member_settled(metadata: Mapping[str, str], member: str, source_kids: Iterable[str], now: dt.datetime | None) -> bool:
    """Whether the JWKS's metadata says ``member`` has nothing to do: its records are exactly the source's
    keys (none retained), it recorded itself within :data:`HEARTBEAT`, and no unclaimed key is due."""
    entries = dict(item.partition("=")[::2] for item in metadata.get(MEMBERS_META, "").split() if "=" in item)
    if member not in entries:
        return False
    digest, _, stamp = entries[member].partition("@")
    if digest != fingerprint(source_kids):
        return False
    if now is None:
        return True
    published = _unstamp(stamp)
    if published is None or now - published >= HEARTBEAT:
        return False
    due = metadata.get(UNCLAIMED_META)
    if due is not None:
        until = _unstamp(due)
        if until is None or now >= until:
            return False
    return True


# --- leaving -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    state: State
    retained: tuple[str, ...]  # kids kept published until the retention ends
    revoked: tuple[str, ...]  # kids dropped at once
    kept: tuple[str, ...]  # kids another member still holds: published for that member


def remove_member(
    state: State, name: str, *, now: dt.datetime, retain: dt.timedelta, revoke: bool, from_aws: bool = True
) -> Removal:
    """``members remove NAME``: its keys move to the unclaimed (retained for ``retain`` from ``now``: tokens it
    signed keep working), or with ``revoke`` are dropped at once. A key another member also holds stays.
    Without AWS's time (``from_aws`` False) the retention is left untimed: the next run with it starts it."""
    records = _records(state, name)
    if (name != DEFAULT_MEMBER and name not in state.members) or (name == DEFAULT_MEMBER and not records):
        known = ", ".join(member_names(state)) or "none"
        raise InputError(f"no member {name!r} in this issuer's state (members: {known})",
                         "check the name with 'oidc-publisher members list'")
    state = dataclasses.replace(
        state, keys=dict(state.keys), members=dict(state.members), unclaimed=dict(state.unclaimed),
        revoked=dict(state.revoked),
    )
    if name == DEFAULT_MEMBER:
        state.keys = {}
    else:
        del state.members[name]
    elsewhere = set(holders(state))
    retained, revoked, kept = [], [], []
    for kid, record in sorted(records.items()):
        if kid in state.revoked:
            continue
        if kid in elsewhere:
            kept.append(kid)
        elif revoke:
            state.revoked[kid] = now
            state.unclaimed.pop(kid, None)
            revoked.append(kid)
        else:
            if not from_aws:
                state.unclaimed[kid] = Unclaimed(kid, record.jwk, None, None, name)
            else:
                left = record.left_source or now
                until = max(left + retain, now) if record.left_source else now + retain
                state.unclaimed[kid] = Unclaimed(kid, record.jwk, left, until, name)
            retained.append(kid)
    return Removal(state, tuple(retained), tuple(revoked), tuple(kept))


# --- listing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberStatus:
    name: str
    current: tuple[str, ...]  # kids it serves
    retained: tuple[str, ...]  # kids it stopped serving, still published
    published: dt.datetime | None
    source: str | None
    host: str | None
    stale: bool
    missing: tuple[str, ...] = ()  # kids of its records that the live JWKS lacks (when the JWKS was read)

    def describe_age(self, now: dt.datetime) -> str:
        if self.published is None:
            return "never recorded (publishes without --member, or joined before this release)"
        return f"last published {format_duration(now - self.published)} ago"


def member_statuses(
    state: State, *, now: dt.datetime, stale_after: dt.timedelta, live: Iterable[str] | None = None
) -> list[MemberStatus]:
    """Each member's keys, when it last published and from where, and whether it has gone quiet (named
    members only: the implicit member records no time, so that its state stays the previous release's)."""
    live_kids = set(live) if live is not None else None
    statuses = []
    for name in member_names(state):
        member = state.members.get(name)
        records = _records(state, name)
        published = member.published if member else None
        stale = member is not None and (published is None or now - published > stale_after)
        statuses.append(MemberStatus(
            name=name,
            current=tuple(sorted(kid for kid, r in records.items() if r.left_source is None)),
            retained=tuple(sorted(kid for kid, r in records.items() if r.left_source is not None)),
            published=published,
            source=member.source if member else None,
            host=member.host if member else None,
            stale=stale,
            missing=tuple(sorted(set(records) - set(state.revoked) - live_kids)) if live_kids is not None else (),
        ))
    return statuses
