"""``members list`` and ``members remove``: the clusters that share one issuer (docs/shared-issuer.md).

``list`` reads the state object and the JWKS: each member, its keys, when it last published and from where,
and whether it has been silent longer than ``--stale-after``. ``remove`` moves a member's keys to retention
(tokens it signed keep working for the window, then any member's run drops them) or, with ``--revoke``,
drops them at once. Its writes are conditional like publish's: a lost race re-reads and tries again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.s3 import AwsTime, ConcurrentUpdate, StoredObject, default_region, get_object, put_step, write
from oidc_publisher.commands.ownership import check_objects_belong_to
from oidc_publisher.commands.publish import (
    CLOUDFRONT_MARK,
    MAX_ATTEMPTS,
    STATE_CACHE_CONTROL,
    _published_keys,
    backoff,
    local_clock,
)
from oidc_publisher.concurrency import together
from oidc_publisher.core.documents import CACHE_CONTROL, CONTENT_TYPE, build_documents
from oidc_publisher.core.errors import ConflictError, Error
from oidc_publisher.core.limits import load_json
from oidc_publisher.core.members import (
    DEFAULT_MEMBER,
    DEFAULT_STALE_AFTER,
    MemberStatus,
    jwks_metadata,
    member_statuses,
    remove_member,
    union_keys,
)
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan, Step
from oidc_publisher.core.rotation import DEFAULT_RETAIN, State, format_duration, run_clock
from oidc_publisher.core.target import Target, resolve_target

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients


@dataclass(frozen=True)
class MembersSettings:
    bucket: str
    issuer_url: str | None = None
    prefix: str | None = None
    region: str | None = None
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass
class MembersReport:
    issuer: str
    bucket: str
    now: dt.datetime
    stale_after: dt.timedelta
    members: list[MemberStatus]
    unclaimed: list[tuple[str, dt.datetime | None, str | None]]  # (kid, until, whose it was)
    exit_code: int = 0

    def to_text(self) -> str:
        lines = [f"Members of {self.issuer} (s3://{self.bucket}):"]
        for m in self.members:
            name = m.name if m.name != DEFAULT_MEMBER else "default (publishes without --member)"
            keys = f"{len(m.current)} current key{'s' if len(m.current) != 1 else ''} ({', '.join(m.current) or 'none'})"
            if m.retained:
                keys += f", {len(m.retained)} retained ({', '.join(m.retained)})"
            where = ""
            if m.source or m.host:
                where = f" from {m.source or 'an unknown source'}" + (f" on {m.host}" if m.host else "")
            flag = f" [STALE: silent for more than {format_duration(self.stale_after)}]" if m.stale else ""
            lines.append(f"  {name}: {keys}; {m.describe_age(self.now)}{where}{flag}")
            if m.missing:
                lines.append(f"    not in the published JWKS: {', '.join(m.missing)} (its next run publishes them)")
        for kid, until, who in self.unclaimed:
            whose = f"{who}'s, removed" if who else "found published without a record"
            left = f"until {_iso(until)} ({format_duration(until - self.now)} left)" if until else "until a run times it"
            lines.append(f"  retained, no member: {kid} ({whose}) {left}")
        stale = [m.name for m in self.members if m.stale]
        count = f"{len(self.members)} member{'s' if len(self.members) != 1 else ''}"
        if stale:
            lines.append(
                f"{count}; silent longer than {format_duration(self.stale_after)}: {', '.join(stale)} (if it left, "
                f"'oidc-publisher members remove NAME'; if not, check its rotation job)"
            )
        else:
            lines.append(f"{count}; none silent longer than {format_duration(self.stale_after)}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "bucket": self.bucket,
            "stale_after_seconds": int(self.stale_after.total_seconds()),
            "members": [
                {
                    "name": m.name,
                    "current": list(m.current),
                    "retained": list(m.retained),
                    "last_published": _iso(m.published),
                    "source": m.source,
                    "host": m.host,
                    "stale": m.stale,
                    "missing_from_jwks": list(m.missing),
                }
                for m in self.members
            ],
            "unclaimed": [{"kid": kid, "until": _iso(until), "member": who} for kid, until, who in self.unclaimed],
        }


def issuer_target(settings: MembersSettings | RemoveSettings, clients: AwsClients) -> Target:
    return resolve_target(
        bucket=settings.bucket,
        issuer_url=settings.issuer_url,
        prefix=settings.prefix,
        region=settings.region,
        default_region=None if settings.region else default_region(clients, settings.bucket, settings.issuer_url),
    )


def read_state(target: Target, clients: AwsClients, clock: AwsTime) -> tuple[State, StoredObject, StoredObject | None]:
    """The issuer's state (refused when there is none, or it is another issuer's) and the live JWKS."""
    s3 = clients.s3(target.region)
    live_state, live_jwks = together([
        lambda: get_object(s3, target.bucket, target.keys.state, clock=clock),
        lambda: get_object(s3, target.bucket, target.keys.jwks, clock=clock),
    ])
    where = f"s3://{target.bucket}/{target.keys.state}"
    if live_state is None:
        raise ConflictError(
            f"no state object at {where}: nothing was published for {target.issuer.url} there",
            "check --bucket, --issuer-url and --prefix; members appear once they run 'oidc-publisher publish --member NAME'",
        )
    check_objects_belong_to(target, state=live_state, discovery=None)
    return State.from_bytes(live_state.body, where), live_state, live_jwks


def list_members(settings: MembersSettings, clients: AwsClients) -> MembersReport:
    target = issuer_target(settings, clients)
    clock = AwsTime()
    state, _, live_jwks = read_state(target, clients, clock)
    now = run_clock(clock.now, local_clock()).now
    live = [key.kid for key in _published_keys(live_jwks, f"s3://{target.bucket}/{target.keys.jwks}")]
    return MembersReport(
        issuer=target.issuer.url,
        bucket=target.bucket,
        now=now,
        stale_after=settings.stale_after,
        members=member_statuses(state, now=now, stale_after=settings.stale_after, live=live),
        unclaimed=[(kid, e.until, e.member) for kid, e in sorted(state.unclaimed.items())],
    )


@dataclass(frozen=True)
class RemoveSettings:
    bucket: str
    name: str
    issuer_url: str | None = None
    prefix: str | None = None
    region: str | None = None
    retain: dt.timedelta = DEFAULT_RETAIN
    revoke: bool = False
    dry_run: bool = False


@dataclass
class RemoveReport:
    issuer: str
    member: str
    retained: list[str]
    revoked: list[str]
    kept: list[str]
    until: dt.datetime | None
    plan: Plan
    dry_run: bool
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CHANGES_PENDING if self.dry_run and self.plan.has_changes else 0

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        parts = [f"{verb} member {self.member} of {self.issuer}"]
        if self.retained:
            when = f" until {_iso(self.until)}" if self.until else ""
            parts.append(f"its keys stay published{when} (tokens it signed keep working): {', '.join(self.retained)}")
        if self.revoked:
            parts.append(f"revoked at once: {', '.join(self.revoked)}")
        if self.kept:
            parts.append(f"still published for another member: {', '.join(self.kept)}")
        return "; ".join(parts)

    def to_text(self) -> str:
        return "\n".join([self.plan.to_text(dry_run=self.dry_run), *self.notes, self.summary()])

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "member": self.member,
            "dry_run": self.dry_run,
            "changed": self.plan.has_changes,
            "changes": self.plan.to_json(),
            "retained": self.retained,
            "retained_until": _iso(self.until),
            "revoked": self.revoked,
            "kept": self.kept,
            "notes": self.notes,
            "summary": self.summary(),
        }


def remove(settings: RemoveSettings, clients: AwsClients) -> RemoveReport:
    target = issuer_target(settings, clients)
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _remove(target, settings, clients)
        except ConcurrentUpdate:
            backoff(attempt)
    raise ConflictError(
        f"members kept publishing to s3://{target.bucket}/{target.keys.jwks} while {settings.name} was being removed",
        "re-run 'oidc-publisher members remove'",
    )


def _remove(target: Target, settings: RemoveSettings, clients: AwsClients) -> RemoveReport:
    s3 = clients.s3(target.region)
    clock = AwsTime()
    state, live_state, live_jwks = read_state(target, clients, clock)
    live_discovery = get_object(s3, target.bucket, target.keys.discovery, clock=clock)
    run = run_clock(clock.now, local_clock())
    removal = remove_member(state, settings.name, now=run.now, retain=settings.retain, revoke=settings.revoke,
                            from_aws=run.from_aws)
    new_state = removal.state
    published = _published_keys(live_jwks, f"s3://{target.bucket}/{target.keys.jwks}")
    keys = union_keys(new_state, published)
    if not keys:
        raise ConflictError(
            f"refusing to remove {settings.name} with --revoke: it is the last member, and the JWKS would be empty",
            "publish another member first, or run 'oidc-publisher teardown' to retire the issuer",
        )
    jwks_uri = None
    if live_discovery is not None:
        try:
            jwks_uri = load_json(live_discovery.body).get("jwks_uri")
        except (ValueError, AttributeError):
            jwks_uri = None
    docs = build_documents(target.issuer, keys, jwks_uri if jwks_uri != target.issuer.default_jwks_uri else None)
    cloudfront = dict([CLOUDFRONT_MARK]) if new_state.distribution_id else {}
    jwks_meta = {**cloudfront, **jwks_metadata(new_state)}
    plan = Plan()
    region = target.region
    writes: list[tuple[Step, bool]] = []  # each planned write, and whether it changes the object's bytes
    body_changed = live_jwks is None or live_jwks.body != docs.jwks
    if body_changed or dict(live_jwks.metadata if live_jwks else {}) != jwks_meta:
        why = f"drop {', '.join(removal.revoked)} (revoked)" if removal.revoked else "record that the member left (metadata)"
        writes.append((put_step(f"s3://{target.bucket}/{target.keys.jwks}", why, bucket=target.bucket, key=target.keys.jwks,
                                body=docs.jwks, content_type=CONTENT_TYPE, cache_control=CACHE_CONTROL, replaces=live_jwks,
                                metadata=jwks_meta or None, region=region, phase=0), body_changed))
    if live_discovery is not None and live_discovery.body != docs.discovery:
        writes.append((put_step(f"s3://{target.bucket}/{target.keys.discovery}", "the signing algorithms of the keys left",
                                bucket=target.bucket, key=target.keys.discovery, body=docs.discovery,
                                content_type=CONTENT_TYPE, cache_control=CACHE_CONTROL, replaces=live_discovery,
                                metadata=cloudfront or None, region=region, phase=1), True))
    plan.extend(planned for planned, _ in writes)
    changed = [str(planned.operation.params["Key"]) for planned, differs in writes if differs and planned.operation]
    invalidation = None
    if new_state.distribution_id and changed:
        from oidc_publisher.aws.cloudfront import invalidation_operation

        invalidation = plan.add(f"cloudfront:{new_state.distribution_id}", "invalidate",
                                f"paths {', '.join(f'/{key}' for key in changed)} changed",
                                invalidation_operation(new_state.distribution_id, [f"/{key}" for key in changed]), phase=2)
    state_step = put_step(f"s3://{target.bucket}/{target.keys.state}", f"member {settings.name} left (private)",
                          bucket=target.bucket, key=target.keys.state, body=new_state.to_bytes(),
                          content_type=CONTENT_TYPE, cache_control=STATE_CACHE_CONTROL, replaces=live_state,
                          region=region, phase=3)
    plan.changes.append(state_step)
    report = RemoveReport(
        issuer=target.issuer.url, member=settings.name, retained=list(removal.retained), revoked=list(removal.revoked),
        kept=list(removal.kept), until=run.now + settings.retain if removal.retained and run.from_aws else None,
        plan=plan, dry_run=settings.dry_run, notes=[run.warning] if run.warning else [],
    )
    if removal.retained:
        report.notes.append(
            f"stop {settings.name}'s rotation job first: a run of it after this one joins the issuer again"
        )
    if settings.dry_run:
        return report
    # JWKS, discovery, the invalidation, then the state: the state records the invalidation once it was made,
    # so its write is planned again after it (the body changes, nothing else).
    etags = {str(planned.operation.params["Key"]): write(clients, planned) for planned, _ in writes if planned.operation}
    if invalidation is not None and invalidation.operation is not None:
        from oidc_publisher.aws.cloudfront import create_invalidation

        try:
            create_invalidation(clients, invalidation.operation)
        except Error as exc:
            report.notes.append(f"the CloudFront invalidation failed ({exc.message}): the next publish run redoes it")
        else:
            new_state.invalidated.update({key: etags[key] for key in changed})
            state_step = put_step(state_step.resource, state_step.reason, bucket=target.bucket, key=target.keys.state,
                                  body=new_state.to_bytes(), content_type=CONTENT_TYPE,
                                  cache_control=STATE_CACHE_CONTROL, replaces=live_state, region=region, phase=3)
    write(clients, state_step)
    return report


# --- verify --member, and verify's list of members -------------------------------------------------------


@dataclass(frozen=True)
class MemberCheck:
    name: str
    status: str  # verification's pass | fail | warn | skip
    detail: str
    fix: str = ""


def member_checks(
    settings: MembersSettings,
    clients: AwsClients,
    *,
    member: str | None,
    source_kids: list[str] | None,
    published: list[str],
) -> tuple[list[MemberCheck], list[dict[str, Any]]]:
    """What ``verify`` says about the issuer's members, from its state object: with ``member``, that the state
    records it with exactly the keys its cluster serves now; without, each member and whether every key of
    its records is in the published JWKS (``published``, as read over HTTPS). Also the members as JSON."""
    try:
        target = issuer_target(settings, clients)
        clock = AwsTime()
        state, _, _ = read_state(target, clients, clock)
    except Error as exc:
        return [MemberCheck(f"member {member}" if member else "members", "fail", exc.message, exc.hint or "")], []
    now = run_clock(clock.now, local_clock()).now
    statuses = member_statuses(state, now=now, stale_after=settings.stale_after, live=published)
    listing = MembersReport(target.issuer.url, target.bucket, now, settings.stale_after, statuses, []).to_json()["members"]
    if member is not None:
        found = next((m for m in statuses if m.name == member), None)
        name = f"member {member}"
        if found is None:
            known = ", ".join(m.name for m in statuses) or "none"
            return [MemberCheck(name, "fail", f"the state records no member {member} (members: {known})",
                                f"oidc-publisher publish --member {member} --from-cluster (its rotation job)")], listing
        if source_kids is not None and set(source_kids) != set(found.current):
            return [MemberCheck(
                name, "fail",
                f"the state records {', '.join(found.current) or 'no key'} as its current keys, the cluster serves "
                f"{', '.join(source_kids)}",
                f"oidc-publisher publish --member {member} --from-cluster (its rotation job has not run since the keys changed)",
            )], listing
        if found.stale:
            return [MemberCheck(name, "warn", f"{found.describe_age(now)}: silent longer than {format_duration(settings.stale_after)}",
                                "check its rotation job (it records itself once a day when nothing changes)")], listing
        return [MemberCheck(name, "pass", f"{len(found.current)} current key(s) recorded; {found.describe_age(now)}")], listing
    checks = []
    for m in statuses:
        name = f"member {m.name}"
        if m.missing:
            checks.append(MemberCheck(name, "fail", f"{', '.join(m.missing)} not in the published JWKS",
                                      f"oidc-publisher publish --member {m.name} (its rotation job)"))
        elif m.stale:
            checks.append(MemberCheck(name, "warn", f"{m.describe_age(now)}: silent longer than "
                                      f"{format_duration(settings.stale_after)}",
                                      f"if it left: oidc-publisher members remove {m.name}; if not, check its rotation job"))
        else:
            keys = len(m.current) + len(m.retained)
            checks.append(MemberCheck(name, "pass", f"{keys} key{'s' if keys != 1 else ''} published; {m.describe_age(now)}"))
    return checks, listing
