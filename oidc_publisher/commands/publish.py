"""``publish``: converge the issuer's two documents (and the state object) in S3.

The rotation job runs this every few minutes for years, so the common case is cheap: when the live
JWKS already holds exactly the source's keys, two reads prove that nothing needs doing and nothing
is written. Otherwise the state object is read, the rotation policy decides which keys to publish,
and the changed objects are written with conditional writes, JWKS first: the discovery document never
points at a JWKS that lacks a key the cluster signs with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.aws.s3 import AwsTime, ConcurrentUpdate, StoredObject, default_region, get_object, put_step
from oidc_publisher.commands.ownership import check_objects_belong_to, read_and_check_objects_belong_to
from oidc_publisher.core.documents import CACHE_CONTROL, CONTENT_TYPE, Documents, build_documents
from oidc_publisher.core.errors import ConflictError, Error, InputError
from oidc_publisher.core.keys import SigningKey, check_kid, parse_jwks
from oidc_publisher.core.members import (
    DEFAULT_MAX_KEYS,
    DEFAULT_MEMBER,
    MEMBERS_META,
    UNCLAIMED_META,
    ceiling,
    decide_member,
    jwks_metadata,
    member_settled,
)
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING, Plan, Step
from oidc_publisher.core.rotation import (
    DEFAULT_RETAIN,
    Decision,
    LiveDocument,
    Retained,
    RunClock,
    State,
    format_duration,
    may_need_invalidation,
    pending_invalidations,
    run_clock,
)
from oidc_publisher.core.target import Target, resolve_target
from oidc_publisher.sources import KeySource, SourceKeys, load_keys

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.core.bucket_plan import BucketPlan
    from oidc_publisher.core.front import Front

STATE_CACHE_CONTROL = "no-store"
# Each lost race (another member's run wrote between this run's read and its write) costs a re-read and a
# merge; members' jobs started by the same schedule race often, a run that keeps losing is told so.
MAX_ATTEMPTS = 8
# Written with the documents of an issuer behind CloudFront (x-amz-meta-served-by): a run then knows from
# the two reads it makes anyway whether a recent change may still await its invalidation.
CLOUDFRONT_MARK = ("served-by", "cloudfront")


def local_clock() -> dt.datetime:
    """This machine's clock: used only where AWS gave no time (see rotation.run_clock)."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class PublishSettings:
    bucket: str
    source: KeySource
    issuer_url: str | None = None
    prefix: str | None = None
    region: str | None = None
    jwks_uri: str | None = None
    retain: dt.timedelta = DEFAULT_RETAIN
    revoke: tuple[str, ...] = ()
    distribution_id: str | None = None
    create_bucket: bool = False
    front: Front | None = None  # with create_bucket: a front the user manages serves the bucket
    adopt_bucket: bool = False
    dry_run: bool = False
    member: str | None = None  # --member: this cluster's keys in an issuer shared by several (members.py)
    max_keys: int = DEFAULT_MAX_KEYS


@dataclass
class PublishReport:
    issuer: str
    bucket: str
    objects: dict[str, str]
    kids: list[str]
    retained: list[Retained]
    added: list[str]
    removed: list[str]
    revoked: list[str]
    plan: Plan
    dry_run: bool
    now: dt.datetime
    invalidation_id: str | None = None
    extra: list[str] = field(default_factory=list)
    already_revoked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings for the user (a skewed clock, ...)
    member: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CHANGES_PENDING if self.dry_run and self.plan.has_changes else 0

    def key_summary(self) -> list[str]:
        """What is published: the keys, and those retained, added, removed or revoked by this run."""
        parts = [f"published {len(self.kids)} key{'s' if len(self.kids) != 1 else ''}"]
        if self.retained:
            left = ", ".join(f"{r.kid} ({format_duration(r.until - self.now)} left)" for r in self.retained)
            parts.append(f"retained {len(self.retained)}: {left}")
        if self.added:
            parts.append(f"added {', '.join(self.added)}")
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        if self.revoked:
            parts.append(f"revoked {', '.join(self.revoked)}")
        if self.already_revoked:
            parts.append(f"already revoked {', '.join(self.already_revoked)}")
        return parts

    def change_summary(self) -> str:
        if not self.plan.has_changes:
            return "no changes"
        verb = "would write" if self.dry_run else "wrote"
        return f"{verb} {len(self.plan.changes)} change{'s' if len(self.plan.changes) != 1 else ''}"

    def summary(self) -> str:
        who = f" (member {self.member})" if self.member else ""
        return f"{self.issuer}{who}: " + "; ".join([*self.key_summary(), self.change_summary()])

    def to_text(self) -> str:
        lines = []
        if self.plan.has_changes:
            lines.append(self.plan.to_text(dry_run=self.dry_run))
        lines.extend(self.extra)
        lines.append(self.summary())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        member = {"member": self.member} if self.member else {}
        return {
            **member,
            "issuer": self.issuer,
            "bucket": self.bucket,
            "objects": self.objects,
            "dry_run": self.dry_run,
            "changed": self.plan.has_changes,
            "changes": self.plan.to_json(),
            "keys": self.kids,
            "retained": [
                {
                    "kid": r.kid,
                    "until": r.until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "seconds_left": int((r.until - self.now).total_seconds()),
                }
                for r in self.retained
            ],
            "added": self.added,
            "removed": self.removed,
            "revoked": self.revoked,
            "already_revoked": self.already_revoked,
            # Warnings (a skewed clock, a revocation) and what the run left alone (a bucket made elsewhere).
            "notes": [*self.notes, *self.extra],
            "invalidation_id": self.invalidation_id,
            "summary": self.summary(),
        }


def publish(settings: PublishSettings, clients: AwsClients) -> PublishReport:
    target = resolve_target(
        bucket=settings.bucket,
        issuer_url=settings.issuer_url,
        prefix=settings.prefix,
        region=settings.region,
        default_region=None if settings.region else default_region(clients, settings.bucket, settings.issuer_url),
    )
    source = load_keys(settings.source, target.issuer)
    build_documents(target.issuer, source.keys, settings.jwks_uri)  # every refusal before the first AWS call
    for kid in settings.revoke:  # a kid no JWKS can hold is a typo (or worse), not a key to look for
        check_kid(kid, "--revoke")
    if not settings.create_bucket:
        return publish_documents(target, source, settings, clients)
    if settings.front is not None and target.issuer.s3_origin() is not None:
        raise InputError(
            f"--front with the bucket's own S3 URL ({target.issuer.url})",
            "give the custom domain the front serves as --issuer-url, or drop --front",
        )
    if settings.front is None and target.issuer.s3_origin() is None:
        raise InputError(
            "--create-bucket sets up an S3-direct issuer, but the issuer is not the bucket's S3 URL",
            "for a front you manage add --front external or --front cloudfront-arn:ARN; "
            "for one oidc-publisher makes, use 'oidc-publisher bootstrap --cloudfront'",
        )
    distribution_arn = settings.front.distribution_arn if settings.front is not None else None
    published: list[PublishReport] = []

    def documents(missing: bool) -> None:
        # A bucket still to be made (a dry run) is read as empty: the plan shows the writes a real run makes.
        published.append(publish_documents(target, source, settings, clients, new_bucket=missing))

    bucket_plan = plan_bucket(
        target, clients, distribution_arn=distribution_arn, adopt=settings.adopt_bucket, front=settings.front
    )
    changes, missing, notes = bucket_plan.changes, bucket_plan.creates_bucket, bucket_plan.notes
    if settings.dry_run:
        documents(missing)
    else:
        set_up_bucket(bucket_plan, clients, documents=lambda: documents(missing))
    if settings.front is not None:
        from oidc_publisher.core.front import unmanaged_notes

        notes = [*notes, *unmanaged_notes(settings.front, host=target.issuer.host, bucket=target.bucket, region=target.region)]
    result = published[0]
    result.plan.changes[:0] = changes
    result.extra[:0] = notes
    return result


def plan_bucket(
    target: Target,
    clients: AwsClients,
    *,
    distribution_arn: str | None,
    adopt: bool = False,
    front: Front | None = None,
) -> BucketPlan:
    """Read the bucket for ``target`` (s3.read_bucket) and plan its creation or hardening
    (bucket_plan.plan_bucket_setup). Reads only: the command prints the plan or executes it.

    ``adopt``: the user lets the tool change versioning, object ownership and Block Public Access on a
    bucket it did not create (bucket_plan).
    """
    from oidc_publisher.aws import s3
    from oidc_publisher.core.bucket_plan import plan_bucket_setup
    from oidc_publisher.core.policies import bucket_policy

    spec = s3.BucketSpec(
        name=target.bucket,
        region=target.region,
        partition=clients.partition,
        public_policy=bucket_policy(
            clients.partition, target.bucket, target.keys.published, distribution_arn=distribution_arn
        ),
        private=distribution_arn is not None,
        issuer_url=target.issuer.url,
        front=front.kind if front is not None else "",
    )
    s3_client = clients.s3(target.region)
    bucket_plan = plan_bucket_setup(s3.read_bucket(s3_client, spec), spec, adopt=adopt)
    if not bucket_plan.creates_bucket:
        # The bucket's set-up is changed only for an issuer whose keys these are (or nobody's yet).
        read_and_check_objects_belong_to(s3_client, target, outcome="nothing was changed")
    return bucket_plan


def set_up_bucket(bucket_plan: BucketPlan, clients: AwsClients, *, documents: Callable[[], object]) -> None:
    """Make the planned bucket: the bucket first, then its settings side by side (the policy after Block
    Public Access), and beside them ``documents``, which need the bucket, not its policy, encryption or
    versioning."""
    from oidc_publisher.aws.executor import execute
    from oidc_publisher.core.bucket_plan import SETTINGS_PHASE

    execute(bucket_plan.changes, clients, alongside=[documents], alongside_phase=SETTINGS_PHASE, alongside_to_end=True)


def publish_documents(
    target: Target, source: SourceKeys, settings: PublishSettings, clients: AwsClients, *, new_bucket: bool = False
) -> PublishReport:
    """Converge the documents for ``target`` from ``source``; retried when a concurrent run wins a race.

    ``new_bucket``: this run has just created the bucket, so there is nothing to read back. The writes
    stay conditional (If-None-Match), so a concurrent run that wrote first is still noticed, and the
    retry then reads as usual.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            result, writes = _converge(target, source, settings, clients, empty=new_bucket and attempt == 0,
                                       retry=attempt > 0)
            # The one place a publish decides whether to write: the plan is printed, or executed.
            if writes is not None and not settings.dry_run:
                _execute(writes, result, clients)
            return result
        except ConcurrentUpdate:
            backoff(attempt)
            continue
    if settings.member:
        raise ConflictError(
            f"other publishers kept changing s3://{target.bucket}/{target.keys.jwks} while member {settings.member} "
            f"converged ({MAX_ATTEMPTS} attempts, each lost a race)",
            "nothing of another member was lost; re-run, and spread the members' job schedules "
            "(or give each cluster one job: CronJob concurrencyPolicy: Forbid)",
        )
    raise ConflictError(
        f"another publisher kept changing s3://{target.bucket}/{target.keys.jwks} while this run converged",
        "make sure only one rotation job runs per issuer (CronJob concurrencyPolicy: Forbid), then re-run; "
        "several clusters sharing the issuer each publish with --member NAME (docs/shared-issuer.md)",
    )


def backoff(attempt: int) -> None:
    """A short random pause after a lost race, so that runs started together stop colliding."""
    import random
    import time

    time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # noqa: S311 - jitter, not a secret


def _published_keys(live: StoredObject | None, where: str) -> list[SigningKey]:
    if live is None:
        return []
    try:
        return parse_jwks(live.body, where)
    except InputError as exc:
        raise ConflictError(
            f"the live JWKS {where} cannot be read back ({exc.message})",
            "inspect it (it was not written by this tool); delete it to publish afresh",
        ) from None


def _headers_ok(live: StoredObject, *, cache_control: str) -> bool:
    return live.content_type == CONTENT_TYPE and live.cache_control == cache_control


def _live_document(key: str, live: StoredObject) -> LiveDocument:
    behind = live.metadata.get(CLOUDFRONT_MARK[0]) == CLOUDFRONT_MARK[1]
    return LiveDocument(key, live.etag, live.last_modified, behind)


def _converge(
    target: Target, source: SourceKeys, settings: PublishSettings, clients: AwsClients, *, empty: bool = False,
    retry: bool = False,
) -> tuple[PublishReport, _Writes | None]:
    """One attempt's reads and plan: the report, and the writes (None on the cheap paths: nothing to write).

    ``retry``: an earlier attempt lost a race, perhaps after writing the JWKS and before its state write was
    refused; that JWKS (and the member record in its metadata) may then rest on a state that never landed, so
    the cheap paths, which trust it, are skipped and the state decides."""
    s3 = clients.s3(target.region)
    bucket, keys = target.bucket, target.keys
    aws_time = AwsTime()
    plan = Plan()
    objects = {"jwks": f"s3://{bucket}/{keys.jwks}", "discovery": f"s3://{bucket}/{keys.discovery}"}

    member = settings.member or DEFAULT_MEMBER

    def report(
        docs: Documents, decision: Decision | None, clock: RunClock | None = None, dropped: tuple[str, ...] = ()
    ) -> PublishReport:
        clock = clock or run_clock(aws_time.now, local_clock())
        return PublishReport(
            member=settings.member,
            issuer=target.issuer.url,
            bucket=bucket,
            objects=objects,
            kids=docs.kids,
            retained=list(decision.retained) if decision else [],
            added=list(decision.added) if decision else [],
            removed=[*decision.removed, *dropped] if decision else [],
            revoked=list(decision.revoked) if decision else [],
            plan=plan,
            dry_run=settings.dry_run,
            now=clock.now,
            already_revoked=list(decision.already_revoked) if decision else [],
            notes=[*([clock.warning] if clock.warning else []), *(decision.notes if decision else ())],
        )

    def settled(live: StoredObject | None, key: str, desired: bytes) -> bool:
        return (
            live is not None
            and live.body == desired
            and _headers_ok(live, cache_control=CACHE_CONTROL)
            and not may_need_invalidation(_live_document(key, live), aws_time.now)
        )

    # The cheap path: the live JWKS is exactly the source's keys, the discovery document matches, and no
    # recent change of a document behind CloudFront may still await its invalidation.
    source_docs = build_documents(target.issuer, source.keys, settings.jwks_uri)
    def read(key: str) -> StoredObject | None:
        return None if empty else get_object(s3, bucket, key, clock=aws_time)

    live_jwks = read(keys.jwks)
    live_discovery: StoredObject | None = None
    # A named member takes the single-cluster path only while the issuer has no named members yet (its first
    # member-aware run on an existing issuer: nothing to write when nothing changed).
    plain = live_jwks is None or MEMBERS_META not in live_jwks.metadata
    cheap = not retry and not settings.revoke
    if cheap and (member == DEFAULT_MEMBER or plain) and settled(live_jwks, keys.jwks, source_docs.jwks):
        live_discovery = read(keys.discovery)
        if settled(live_discovery, keys.discovery, source_docs.discovery):
            return report(source_docs, None), None
    elif cheap and member != DEFAULT_MEMBER and live_jwks is not None:
        # A member of a shared issuer: the JWKS is the union, so it is compared with the member's own keys
        # through the fingerprint the last writer left in the JWKS object's metadata (members.jwks_metadata).
        union = _settled_union(target, live_jwks, keys.jwks, source, settings, aws_time.now)
        if union is not None and member_settled(live_jwks.metadata, member, source.kids, aws_time.now):
            live_discovery = read(keys.discovery)
            if settled(live_discovery, keys.discovery, union.discovery):
                return report(union, None), None

    # Something differs: decide with the full history. Before any write, the objects at these keys must
    # be this issuer's (the state object, or without one the discovery document, says whose they are).
    live_state = read(keys.state)
    if live_discovery is None:
        live_discovery = read(keys.discovery)
    check_objects_belong_to(target, state=live_state, discovery=live_discovery)
    state = (
        State.from_bytes(live_state.body, f"s3://{bucket}/{keys.state}")
        if live_state
        else State(issuer=target.issuer.url)
    )
    state.issuer = target.issuer.url
    if settings.distribution_id:
        state.distribution_id = settings.distribution_id
    # Timing by AWS's clock (the Date of the responses just read), never by this machine's alone.
    clock = run_clock(aws_time.now, local_clock())
    chosen = decide_member(
        member,
        source.keys,
        _published_keys(live_jwks, objects["jwks"]),
        state,
        now=clock.now,
        retain=settings.retain,
        revoke=settings.revoke,
        from_aws=clock.from_aws,
        origin=(source.description, _host()),
    )
    decision = chosen.decision
    near_ceiling = ceiling(chosen.state, len(chosen.keys), settings.max_keys)  # refuses before any write
    docs = build_documents(target.issuer, chosen.keys, settings.jwks_uri)
    distribution_id = state.distribution_id
    metadata = dict([CLOUDFRONT_MARK]) if distribution_id else None
    new_state = chosen.state
    jwks_meta = {**(metadata or {}), **jwks_metadata(new_state)}

    # The plan, in ordered phases: the JWKS (0), then the discovery document (1), then the invalidation (2), then
    # the state (3): the order that keeps every moment consistent; the state records an invalidation only once
    # it was made. The plan lists them in the order the report has always shown (JWKS, discovery, state,
    # invalidation); the executor runs them by phase.
    region = target.region
    writes: list[Step] = []

    def document(resource: str, key: str, why: str, body: bytes, live: StoredObject | None,
                 meta: dict[str, str] | None, phase: int) -> None:
        writes.append(put_step(resource, why, bucket=bucket, key=key, body=body, content_type=CONTENT_TYPE,
                               cache_control=CACHE_CONTROL, replaces=live, metadata=meta, region=region, phase=phase))
        plan.extend(writes[-1:])

    if live_jwks is None or live_jwks.body != docs.jwks or not _headers_ok(live_jwks, cache_control=CACHE_CONTROL):
        why = _why_jwks(live_jwks, decision, chosen.dropped)
        document(objects["jwks"], keys.jwks, why, docs.jwks, live_jwks, jwks_meta or None, JWKS_PHASE)
    elif _members_meta(live_jwks.metadata) != _members_meta(jwks_meta):
        document(objects["jwks"], keys.jwks, "same keys; record which member holds which (metadata, for the steady state)",
                 docs.jwks, live_jwks, jwks_meta or None, JWKS_PHASE)
    if (
        live_discovery is None
        or live_discovery.body != docs.discovery
        or not _headers_ok(live_discovery, cache_control=CACHE_CONTROL)
    ):
        why = "does not exist yet" if live_discovery is None else "content or headers differ from the desired document"
        document(objects["discovery"], keys.discovery, why, docs.discovery, live_discovery, metadata, DISCOVERY_PHASE)
    # A rewrite of the same bytes (only the members' metadata changed) keeps its ETag: no cache holds anything
    # older, so it is not invalidated.
    live_of = {keys.jwks: live_jwks, keys.discovery: live_discovery}
    written = [
        key for key, body in map(_key_and_body, writes)
        if (live := live_of[key]) is None or live.body != body or key == keys.discovery
        or not _headers_ok(live, cache_control=CACHE_CONTROL)
    ]
    # A change whose invalidation failed in an earlier run (derived from what was read, on every run).
    unchanged = [
        _live_document(key, live)
        for key, live in ((keys.jwks, live_jwks), (keys.discovery, live_discovery))
        if live is not None and key not in written
    ]
    pending = list(pending_invalidations(unchanged, state.invalidated, aws_time.now)) if distribution_id else []
    to_invalidate = [*written, *pending] if distribution_id else []
    # The state's body as planned; its write is planned again once the invalidation ran (_execute), since
    # the body then records what was invalidated, with the ETags just written.
    state_write: Step | None = None
    if live_state is None or live_state.body != new_state.to_bytes():
        state_write = _state_step(target, "record when each key was published and left the source (private)",
                                  new_state.to_bytes(), live_state)
    elif to_invalidate:
        state_write = _state_step(target, "record which copies CloudFront was told to drop (private)",
                                  new_state.to_bytes(), live_state)
    if state_write is not None:
        plan.extend([state_write])
    invalidation: Step | None = None
    if distribution_id and to_invalidate:
        from oidc_publisher.aws.cloudfront import invalidation_operation

        reasons = []
        if written:
            reasons.append(f"paths {', '.join(f'/{key}' for key in written)} changed")
        if pending:
            reasons.append(f"paths {', '.join(f'/{key}' for key in pending)} changed in a run whose invalidation failed")
        invalidation = Step(f"cloudfront:{distribution_id}", "invalidate", "; ".join(reasons),
                            invalidation_operation(distribution_id, [f"/{key}" for key in to_invalidate]),
                            INVALIDATION_PHASE)
        plan.extend([invalidation])

    result = report(docs, decision, clock, chosen.dropped)  # the time the decision was made by
    if near_ceiling:
        result.notes.append(near_ceiling)
    if member == DEFAULT_MEMBER and new_state.members:
        result.notes.append(
            f"this issuer is shared by members ({', '.join(sorted(new_state.members))}): this run published without "
            "--member, as the implicit member 'default'; give each cluster's job --member NAME (docs/shared-issuer.md)"
        )
    return result, _Writes(target, writes, invalidation, live_jwks, live_discovery, live_state, new_state,
                           to_invalidate)


# The phases of publish's plan (see _converge).
JWKS_PHASE, DISCOVERY_PHASE, INVALIDATION_PHASE, STATE_PHASE = 0, 1, 2, 3


def _key_and_body(planned: Step) -> tuple[str, bytes]:
    """The object key and body of a planned PutObject."""
    assert planned.operation is not None
    return str(planned.operation.params["Key"]), bytes(planned.operation.params["Body"])


def _state_step(target: Target, reason: str, body: bytes, live: StoredObject | None) -> Step:
    return put_step(f"s3://{target.bucket}/{target.keys.state}", reason, bucket=target.bucket, key=target.keys.state,
                    body=body, content_type=CONTENT_TYPE, cache_control=STATE_CACHE_CONTROL, replaces=live,
                    region=target.region, phase=STATE_PHASE)


@dataclass(frozen=True)
class _Writes:
    """What one attempt planned to write, and what executing it needs: the objects as read (the conditions
    of the writes, the JWKS re-check) and the state to record."""

    target: Target
    documents: list[Step]  # the JWKS (JWKS_PHASE), then the discovery document (DISCOVERY_PHASE)
    invalidation: Step | None  # INVALIDATION_PHASE
    live_jwks: StoredObject | None
    live_discovery: StoredObject | None
    live_state: StoredObject | None
    new_state: State
    to_invalidate: list[str]


def _execute(writes: _Writes, result: PublishReport, clients: AwsClients) -> None:
    """Execute an attempt's plan, phase by phase, each write through the executor (aws/s3.write turns a lost race
    into ConcurrentUpdate). The state's write is a second small plan, made once the invalidation ran: its body
    records the invalidation, with the ETags just written."""
    from oidc_publisher.aws.s3 import write

    target, keys = writes.target, writes.target.keys
    live_jwks, live_state, new_state = writes.live_jwks, writes.live_state, writes.new_state
    etags = {key: live.etag for key, live in ((keys.jwks, live_jwks), (keys.discovery, writes.live_discovery)) if live}
    for planned in sorted(writes.documents, key=lambda s: s.phase):  # one step a phase: JWKS, then discovery
        etags[_key_and_body(planned)[0]] = write(clients, planned)
    wrote = {key for key, _ in map(_key_and_body, writes.documents)}
    if keys.discovery in wrote and keys.jwks not in wrote and live_jwks is not None:
        # The discovery document (its algorithms) was derived from the JWKS as read, which this run did not
        # rewrite, so no conditional write proved it still current: another member may have changed it
        # between the two reads. Checked once more; if it moved, the retry decides from what is there now.
        now_jwks = get_object(clients.s3(target.region), target.bucket, keys.jwks)
        if now_jwks is None or now_jwks.etag != live_jwks.etag:
            raise ConcurrentUpdate(keys.jwks)
    failure: Error | None = None
    if writes.invalidation is not None and writes.invalidation.operation is not None:
        from oidc_publisher.aws.cloudfront import create_invalidation

        try:
            result.invalidation_id = create_invalidation(clients, writes.invalidation.operation)
        except Error as exc:
            failure = exc  # the state is still written: what was published is recorded; a later run retries
        else:
            new_state.invalidated.update({key: etags[key] for key in writes.to_invalidate})
    body = new_state.to_bytes()
    if live_state is None or live_state.body != body:
        write(clients, _state_step(target, "record the run (private)", body, live_state))
    if failure is not None:
        raise failure


def _host() -> str:
    """The machine (in a pod: the pod) this run is on, recorded for ``members list``."""
    import platform

    return platform.node() or "unknown"


def _members_meta(metadata: dict[str, str] | Any) -> dict[str, str]:
    return {name: metadata[name] for name in (MEMBERS_META, UNCLAIMED_META) if name in metadata}


def _settled_union(
    target: Target, live: StoredObject, key: str, source: SourceKeys, settings: PublishSettings, now: dt.datetime | None
) -> Documents | None:
    """The documents of the live JWKS when it holds every source key exactly as the source serves it, in the
    canonical bytes this tool writes; else None (the full path decides)."""
    try:
        published = parse_jwks(live.body, key)
        union = build_documents(target.issuer, published, settings.jwks_uri)
    except Error:
        return None
    by_kid = {k.kid: k.to_jwk() for k in published}
    if union.jwks != live.body or any(by_kid.get(k.kid) != k.to_jwk() for k in source.keys):
        return None
    if not _headers_ok(live, cache_control=CACHE_CONTROL) or may_need_invalidation(_live_document(key, live), now):
        return None
    return union


def _why_jwks(live: StoredObject | None, decision: Decision, dropped: tuple[str, ...] = ()) -> str:
    if live is None:
        return "does not exist yet"
    parts = []
    if decision.added:
        parts.append(f"add {', '.join(decision.added)}")
    if decision.removed:
        parts.append(f"drop {', '.join(decision.removed)} (retention over)")
    if decision.revoked:
        parts.append(f"revoke {', '.join(decision.revoked)}")
    if dropped:
        parts.append(f"drop {', '.join(dropped)} (a removed member's, retention over)")
    return "; ".join(parts) or "content or headers differ from the desired document"

