"""Which keys to publish: the rotation policy. Pure.

The published JWKS must hold, at every moment, every key that signed a token still alive. The source
(the API server) is the authority for the keys it serves now; a key that leaves the source stays
published for ``retain`` after it left, so that tokens it signed (IRSA tokens live up to 24 h) keep
verifying while STS and CloudFront caches catch up. ``revoke`` drops a key at once (a compromised key).

The decisions are recorded in a small state object beside the documents (never publicly readable),
so a fresh machine running the job decides exactly as the last one did.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oidc_publisher.core.errors import OPTION, ConflictError, InputError
from oidc_publisher.core.keys import SigningKey, parse_jwk
from oidc_publisher.core.limits import load_json

STATE_FORMAT = 1
# A state with named members (issue 14: one issuer for several clusters) is written as format 2, so that an
# earlier release, which would treat every member's keys as its own, refuses it instead of dropping them.
MEMBERS_FORMAT = 2
# 24 h: the longest-lived token that can reach STS (the pod identity webhook requests 86400 s tokens;
# kubelet refreshes them at 80 % of their life, but a pod may hold one for its whole life).
# + 1 h: the longest any cache in front of the JWKS may keep it (CloudFront MaxTTL; our objects say
# max-age=300; STS's own JWKS cache is shorter than that in practice).
# x 2: margin for clock skew, a job that did not run for a while, and a kubelet that refreshed late.
DEFAULT_RETAIN = dt.timedelta(hours=48)
TOKEN_LIFE = dt.timedelta(hours=24)
# How far the local clock may be from AWS's before a run says so. Timing never uses the local clock when
# AWS's is known; without AWS's, retention is not acted upon at all (see run_clock).
MAX_SKEW = dt.timedelta(minutes=5)
# A removed key's record outlives its retention by this much: a later run (an old JWKS restored, a
# skewed clock) can then neither re-add the key nor give it a fresh retention period.
REMOVED_RECORD_KEPT = dt.timedelta(days=30)
# How long after a document changed a cache in front of it may still hold the previous copy: the MaxTTL
# of the cache policy the tool makes (the objects themselves say max-age=300). A CloudFront invalidation
# that failed is redone by a later run within this window; after it, every cache has expired anyway.
INVALIDATION_WINDOW = dt.timedelta(hours=1)
# Far beyond any sensible retention, and far from datetime's limits (year 9999) whatever "now" is.
MAX_DURATION = dt.timedelta(days=3650)
_DURATION = re.compile(r"^(?:(?P<d>\d{1,18})d)?(?:(?P<h>\d{1,18})h)?(?:(?P<m>\d{1,18})m)?(?:(?P<s>\d{1,18})s)?$")


def parse_duration(text: str) -> dt.timedelta:
    """``48h``, ``2d``, ``90m``, ``1d12h``, ``3600s``."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groupdict().values()):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise InputError(f"duration {shown!r} is not understood", "write it like 48h, 2d, 90m or 1d12h")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    seconds = parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
    if seconds > MAX_DURATION.total_seconds():
        # Checked on the integer: timedelta itself overflows past 999999999 days, and a date that far
        # ahead overflows datetime when the retention is added to now.
        raise InputError(
            f"duration {text.strip()[:40]!r} is longer than {MAX_DURATION.days // 365} years",
            "write a retention in hours or days, like 48h or 7d",
        )
    return dt.timedelta(seconds=seconds)


def short_retention(retain: dt.timedelta, name: str = "--retain-removed-keys") -> str | None:
    """Why a retention shorter than an IRSA token's life is a risk, or None when it is long enough.

    Not refused: a cluster whose tokens are shorter-lived may want it. But a removed key then leaves the
    JWKS while tokens it signed are still in use, and those fail at STS until the pods get new ones.
    """
    if retain >= TOKEN_LIFE:
        return None
    seconds = int(retain.total_seconds())
    given = format_duration(retain) if seconds >= 60 else f"{seconds}s"
    revoke = "use --revoke KID" if name.startswith("--") else "list its kid under revoke"
    return (
        f"{name} {given} is shorter than the 24h life of an IRSA token: "
        "a removed key leaves the JWKS while tokens it signed are still used, and STS refuses them "
        f"(48h is the default; to drop a compromised key at once, {revoke})"
    )


def format_duration(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: object, where: str) -> dt.datetime:
    if not isinstance(text, str):
        raise ValueError(f"{where}: not a timestamp")
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    jwk: dict[str, str]
    first_published: dt.datetime
    left_source: dt.datetime | None = None


@dataclass
class Member:
    """A named cluster publishing its own keys into a shared issuer (``publish --member NAME``).

    ``keys``: its current keys and those it stopped serving, still retained (``left_source`` set).
    ``published``: when its run last recorded itself (AWS's time); ``source``/``host``: from where.
    """

    keys: dict[str, KeyRecord] = field(default_factory=dict)
    published: dt.datetime | None = None
    source: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Unclaimed:
    """A key no member holds any more, still published until ``until`` (None: not timed yet, no time from
    AWS when it was found). ``member``: who held it (``members remove``), None for a key found published
    with no record (the state lost, or a run that published and never recorded)."""

    kid: str
    jwk: dict[str, str]
    since: dt.datetime | None
    until: dt.datetime | None
    member: str | None = None


def _record_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "jwk": record.jwk,
        "first_published": _iso(record.first_published),
        "left_source": _iso(record.left_source) if record.left_source else None,
    }


def _record_from(kid: str, entry: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        kid=kid,
        jwk=dict(entry["jwk"]),
        first_published=_parse_iso(entry["first_published"], kid),
        left_source=_parse_iso(entry["left_source"], kid) if entry.get("left_source") else None,
    )


@dataclass
class State:
    """What the tool remembers between runs; public keys and timestamps only.

    ``removed``: kids dropped when their retention ended, and when (kept ``REMOVED_RECORD_KEPT`` more).
    ``invalidated``: object key -> the ETag of the copy a CloudFront invalidation last covered.
    Both are absent from a state written by an earlier release, which loads as "none"; an earlier release
    reading this state ignores them (the format number is unchanged).
    ``keys`` are the implicit member's (``publish`` without ``--member``); ``members`` the named ones (see
    members.py), and ``unclaimed`` the keys no member holds, still retained. With neither, the state is
    format 1, byte for byte what the previous release wrote; with them, format 2.
    """

    issuer: str
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    revoked: dict[str, dt.datetime] = field(default_factory=dict)
    distribution_id: str | None = None
    removed: dict[str, dt.datetime] = field(default_factory=dict)
    invalidated: dict[str, str] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    unclaimed: dict[str, Unclaimed] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {
            "format": MEMBERS_FORMAT if (self.members or self.unclaimed) else STATE_FORMAT,
            "issuer": self.issuer,
            "distribution_id": self.distribution_id,
            "keys": {kid: _record_json(record) for kid, record in sorted(self.keys.items())},
            "revoked": {kid: _iso(when) for kid, when in sorted(self.revoked.items())},
        }
        # Written only when there is something to say, so a state with neither stays byte-identical to what
        # an earlier release wrote (no spurious write on the first run after an upgrade).
        if self.removed:
            body["removed"] = {kid: _iso(when) for kid, when in sorted(self.removed.items())}
        if self.invalidated:
            body["invalidated"] = dict(sorted(self.invalidated.items()))
        if self.members or self.unclaimed:
            body["members"] = {
                name: {
                    "keys": {kid: _record_json(record) for kid, record in sorted(member.keys.items())},
                    "published": _iso(member.published) if member.published else None,
                    "source": member.source,
                    "host": member.host,
                }
                for name, member in sorted(self.members.items())
            }
            body["unclaimed"] = {
                kid: {
                    "jwk": entry.jwk,
                    "since": _iso(entry.since) if entry.since else None,
                    "until": _iso(entry.until) if entry.until else None,
                    "member": entry.member,
                }
                for kid, entry in sorted(self.unclaimed.items())
            }
        return json.dumps(body, sort_keys=True, indent=1).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> State:
        try:
            body = load_json(data)
            if not isinstance(body, dict) or body.get("format") not in (STATE_FORMAT, MEMBERS_FORMAT):
                raise ValueError("unknown format")
            keys = {kid: _record_from(kid, entry) for kid, entry in body.get("keys", {}).items()}
            members = {
                str(name): Member(
                    keys={kid: _record_from(kid, e) for kid, e in entry.get("keys", {}).items()},
                    published=_parse_iso(entry["published"], name) if entry.get("published") else None,
                    source=entry.get("source"),
                    host=entry.get("host"),
                )
                for name, entry in body.get("members", {}).items()
            }
            unclaimed = {
                kid: Unclaimed(
                    kid=kid,
                    jwk=dict(entry["jwk"]),
                    since=_parse_iso(entry["since"], kid) if entry.get("since") else None,
                    until=_parse_iso(entry["until"], kid) if entry.get("until") else None,
                    member=entry.get("member"),
                )
                for kid, entry in body.get("unclaimed", {}).items()
            }
            revoked = {kid: _parse_iso(when, kid) for kid, when in body.get("revoked", {}).items()}
            removed = {kid: _parse_iso(when, kid) for kid, when in body.get("removed", {}).items()}
            invalidated = {str(key): str(etag) for key, etag in body.get("invalidated", {}).items()}
            return cls(
                issuer=str(body.get("issuer", "")),
                keys=keys,
                revoked=revoked,
                distribution_id=body.get("distribution_id"),
                removed=removed,
                invalidated=invalidated,
                members=members,
                unclaimed=unclaimed,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConflictError(
                f"the state object {where} is not one this tool wrote ({exc})",
                "inspect it; if it is damaged, delete it and re-run (removed keys then get a fresh retention period)",
            ) from None


@dataclass(frozen=True)
class RunClock:
    """The time a run decides by, and whether it may act on retention with it."""

    now: dt.datetime
    from_aws: bool  # AWS's own clock (a response's Date): retention may start and end with it
    warning: str | None = None  # the local clock is far from AWS's


def run_clock(aws: dt.datetime | None, local: dt.datetime) -> RunClock:
    """The run's time: AWS's when a response told it, else the local clock, which is then not trusted.

    A node whose clock is 49 h ahead must not drop a key retained for 48 h, and one that is behind must
    not record a removal in the past: so a key's retention is only started or ended with AWS's time.
    """
    local = local.astimezone(dt.timezone.utc).replace(microsecond=0)
    if aws is None:
        return RunClock(local, from_aws=False)
    aws = aws.astimezone(dt.timezone.utc).replace(microsecond=0)
    skew = local - aws
    warning = None
    if abs(skew) > MAX_SKEW:
        way = "ahead of" if skew > dt.timedelta(0) else "behind"
        warning = (
            f"the local clock is {format_duration(abs(skew))} {way} AWS's: this run timed retention by AWS's "
            "clock; fix the node's time sync (NTP)"
        )
    return RunClock(aws, from_aws=True, warning=warning)


@dataclass(frozen=True)
class Retained:
    kid: str
    until: dt.datetime


@dataclass(frozen=True)
class Decision:
    keys: tuple[SigningKey, ...]  # what to publish, sorted by kid
    state: State
    added: tuple[str, ...]  # kids newly published
    removed: tuple[str, ...]  # kids dropped from the published JWKS (retention over)
    revoked: tuple[str, ...]  # kids dropped at once by --revoke
    retained: tuple[Retained, ...]  # kids no longer in the source, kept until ...
    already_revoked: tuple[str, ...] = ()  # kids --revoke named that an earlier run dropped: nothing to do
    notes: tuple[str, ...] = ()  # what the user should know about this decision (one line each)


def decide(
    source: Sequence[SigningKey],
    published: Sequence[SigningKey],
    state: State,
    *,
    now: dt.datetime,
    retain: dt.timedelta,
    revoke: Iterable[str] = (),
    from_aws: bool = True,
) -> Decision:
    """The keys to publish now, and the state to remember, from the source, what is live and what we knew.

    ``now`` is the run's time; ``from_aws`` says it is AWS's (see :func:`run_clock`). Without it, no key
    is dropped for its retention and no retention period starts: a later run with AWS's time does both.
    Revocation is explicit and does not depend on the time. A recorded time is never moved.
    """
    if not source:
        raise ConflictError(
            "the source has no keys", "refusing to publish an empty JWKS: every token would be rejected"
        )
    source_by_kid = {key.kid: key for key in source}
    published_by_kid = {key.kid: key for key in published}
    revoke_set = set(revoke)
    already: list[str] = []
    for kid in sorted(revoke_set):
        if kid in source_by_kid:
            raise ConflictError(
                f"refusing to revoke {kid}: the cluster still serves it",
                "remove it from the API server's --service-account-key-file first, then revoke",
            )
        if kid not in published_by_kid and (kid in state.revoked or kid in state.removed):
            # Revoked (or removed) by an earlier run: the job's --revoke, or a fleet file's revoke entry,
            # stays in place and must not stop the job from publishing the next key.
            already.append(kid)
            continue
        if kid not in published_by_kid and kid not in state.keys:
            raise InputError(f"{OPTION} {kid}: no published key has that kid", "check the kid (oidc-publisher verify lists them)",
                             option="--revoke")

    records: dict[str, KeyRecord] = {}
    for kid, source_key in source_by_kid.items():
        known = state.keys.get(kid)
        records[kid] = KeyRecord(kid, source_key.to_jwk(), known.first_published if known else now, None)

    chosen: dict[str, SigningKey] = dict(source_by_kid)
    retained: list[Retained] = []
    removed: list[str] = []
    revoked_now: list[str] = []
    revoked_all = {kid: when for kid, when in state.revoked.items() if kid not in source_by_kid}
    # A removed key the source serves again is the source's to decide; an old record is forgotten, but
    # only by AWS's clock.
    removed_all = {
        kid: when
        for kid, when in state.removed.items()
        if kid not in source_by_kid and not (from_aws and now >= when + REMOVED_RECORD_KEPT)
    }
    for kid in already:
        if kid not in revoked_all:  # removed earlier, revoked now: remember it as revoked, for good
            revoked_all[kid] = now
            removed_all.pop(kid, None)
    candidates = sorted((set(published_by_kid) | set(state.keys)) - set(source_by_kid))
    untimed = 0
    for kid in candidates:
        known = state.keys.get(kid)
        key: SigningKey | None = published_by_kid.get(kid)
        if key is None and known is not None:
            key = parse_jwk(known.jwk, f"state record {kid}")
        assert key is not None
        if kid in revoke_set:
            revoked_now.append(kid)
            revoked_all.setdefault(kid, now)
            removed_all.pop(kid, None)
            continue
        if kid in revoked_all:
            # Revoked earlier and somehow back in the published JWKS (an old copy restored): drop it again.
            if kid in published_by_kid:
                revoked_now.append(kid)
            continue
        if kid in removed_all and known is None:
            # Its retention ended earlier and it is back in the JWKS (an old copy restored): drop it again.
            if kid in published_by_kid:
                removed.append(kid)
            continue
        # Its retention starts (and ends) only by AWS's clock; a recorded start is never moved.
        left = known.left_source if known and known.left_source else (now if from_aws else None)
        if left is not None and from_aws and now >= left + retain:
            if kid in published_by_kid:
                removed.append(kid)
            removed_all[kid] = now
            continue
        if not from_aws:
            untimed += 1
        chosen[kid] = key
        retained.append(Retained(kid, (left or now) + retain))
        records[kid] = KeyRecord(kid, key.to_jwk(), known.first_published if known else now, left)

    added = tuple(sorted(kid for kid in chosen if kid not in published_by_kid))
    # The guarantee the rest of the tool relies on: nothing the source serves is ever left out.
    assert set(source_by_kid) <= set(chosen)
    new_state = State(
        issuer=state.issuer,
        keys=records,
        revoked=revoked_all,
        distribution_id=state.distribution_id,
        removed=removed_all,
        invalidated=dict(state.invalidated),
        members=dict(state.members),
        unclaimed=dict(state.unclaimed),
    )
    notes = []
    if untimed:
        notes.append(
            f"no time from AWS in this run: retention not applied, {untimed} removed "
            f"key{'s' if untimed != 1 else ''} kept (a later run with AWS's time applies it)"
        )
    return Decision(
        keys=tuple(chosen[kid] for kid in sorted(chosen)),
        state=new_state,
        added=added,
        removed=tuple(removed),
        revoked=tuple(revoked_now),
        retained=tuple(sorted(retained, key=lambda r: r.kid)),
        already_revoked=tuple(already),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class LiveDocument:
    """A published document as read back: enough to tell whether a cache may still hold an older copy."""

    key: str  # the object key, which is also the path CloudFront serves it under (with a leading /)
    etag: str
    written: dt.datetime | None  # Last-Modified, by AWS's clock
    behind_cloudfront: bool  # written by a run that knew of a distribution in front of it


def may_need_invalidation(document: LiveDocument, now: dt.datetime | None) -> bool:
    """Whether a run must look at the state to know if ``document`` still needs invalidating.

    Only a document behind CloudFront, written within ``INVALIDATION_WINDOW`` (by AWS's clock: ``now`` is
    None when this run has no time from AWS, and then it looks).
    """
    if not document.behind_cloudfront:
        return False
    if now is None or document.written is None:
        return True
    return now - document.written < INVALIDATION_WINDOW


def pending_invalidations(
    documents: Iterable[LiveDocument], invalidated: dict[str, str], now: dt.datetime | None
) -> tuple[str, ...]:
    """The object keys whose current copy changed recently and no invalidation has covered yet."""
    return tuple(d.key for d in documents if may_need_invalidation(d, now) and invalidated.get(d.key) != d.etag)
