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

from oidc_publisher.concurrency import together
from oidc_publisher.documents import CACHE_CONTROL, CONTENT_TYPE, Documents, build_documents
from oidc_publisher.errors import ConflictError, InputError
from oidc_publisher.issuer import Issuer, ObjectKeys, object_keys_for, parse_issuer, s3_direct_issuer_url
from oidc_publisher.keys import SigningKey, parse_jwks
from oidc_publisher.plan import EXIT_CHANGES_PENDING, Change, Plan
from oidc_publisher.rotation import DEFAULT_RETAIN, Decision, Retained, State, decide, format_duration
from oidc_publisher.s3 import ConcurrentUpdate, StoredObject, get_object, put_object
from oidc_publisher.sources import KeySource, SourceKeys, load_keys

if TYPE_CHECKING:
    from oidc_publisher.aws import AwsClients

STATE_CACHE_CONTROL = "no-store"
MAX_ATTEMPTS = 4


@dataclass(frozen=True)
class Target:
    """Where an issuer lives: its URL, its bucket and region, and the object keys."""

    issuer: Issuer
    bucket: str
    region: str
    keys: ObjectKeys


def default_region(clients: AwsClients, bucket: str, issuer_url: str | None) -> str | None:
    """The region when --region is not given: the session's (AWS_REGION, the profile); without one, and when
    the issuer URL does not name it, the bucket's own, asked of S3 (one HeadBucket)."""
    from oidc_publisher.issuer import validate_bucket_name

    region = clients.region_or_none()
    if region is not None:
        return region
    if issuer_url is not None:
        try:
            if parse_issuer(issuer_url).s3_origin() is not None:
                return None
        except InputError:
            return None  # resolve_target names what is wrong with it
    validate_bucket_name(bucket, s3_direct=False)
    from oidc_publisher.s3 import bucket_region

    return bucket_region(clients.s3("us-east-1"), bucket)


def resolve_target(
    *, bucket: str, issuer_url: str | None, prefix: str | None, region: str | None, default_region: str | None
) -> Target:
    """The issuer and object keys for a bucket (DESIGN: derived for S3-direct, explicit otherwise)."""
    from oidc_publisher.issuer import validate_bucket_name

    if issuer_url is None:
        chosen = region or default_region
        if not chosen:
            raise InputError(
                "no region for the S3-direct issuer URL",
                "give --region (or set AWS_REGION), or give --issuer-url",
            )
        issuer = parse_issuer(s3_direct_issuer_url(bucket, chosen, prefix or ""))
        return Target(issuer, bucket, chosen, object_keys_for(issuer, bucket, None))
    issuer = parse_issuer(issuer_url)
    origin = issuer.s3_origin()
    if origin is not None:
        if region is not None and region != origin[1]:
            raise InputError(f"--region {region} disagrees with the issuer URL's region {origin[1]}", "drop --region")
        validate_bucket_name(bucket, s3_direct=True)
        return Target(issuer, bucket, origin[1], object_keys_for(issuer, bucket, prefix))
    validate_bucket_name(bucket, s3_direct=False)
    chosen = region or default_region
    if not chosen:
        raise InputError("no region for the bucket", "give --region, or set AWS_REGION")
    return Target(issuer, bucket, chosen, object_keys_for(issuer, bucket, prefix))


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
    dry_run: bool = False


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
        return parts

    def change_summary(self) -> str:
        if not self.plan.has_changes:
            return "no changes"
        verb = "would write" if self.dry_run else "wrote"
        return f"{verb} {len(self.plan.changes)} change{'s' if len(self.plan.changes) != 1 else ''}"

    def summary(self) -> str:
        return f"{self.issuer}: " + "; ".join([*self.key_summary(), self.change_summary()])

    def to_text(self) -> str:
        lines = []
        if self.plan.has_changes:
            lines.append(self.plan.to_text(dry_run=self.dry_run))
        lines.extend(self.extra)
        lines.append(self.summary())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
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
    if not settings.create_bucket:
        return publish_documents(target, source, settings, clients)
    if target.issuer.s3_origin() is None:
        raise InputError(
            "--create-bucket sets up an S3-direct issuer, but the issuer is not the bucket's S3 URL",
            "use 'oidc-publisher bootstrap --cloudfront' for an issuer behind CloudFront",
        )
    published: list[PublishReport] = []

    def documents(missing: bool) -> None:
        if not (settings.dry_run and missing):
            published.append(publish_documents(target, source, settings, clients, new_bucket=missing))

    changes, missing = converge_bucket(
        target, clients, distribution_arn=None, dry_run=settings.dry_run, alongside=documents
    )
    if published:
        result = published[0]
        result.plan.changes[:0] = changes
        return result
    assert settings.dry_run and missing  # otherwise the documents were published (or raised)
    plan = Plan(list(changes))
    for key in (*target.keys.published, target.keys.state):
        plan.add(f"s3://{target.bucket}/{key}", "write", "does not exist yet (new bucket)")
    return PublishReport(
        issuer=target.issuer.url,
        bucket=target.bucket,
        objects={
            "jwks": f"s3://{target.bucket}/{target.keys.jwks}",
            "discovery": f"s3://{target.bucket}/{target.keys.discovery}",
        },
        kids=[key.kid for key in source.keys],
        retained=[],
        added=[key.kid for key in source.keys],
        removed=[],
        revoked=[],
        plan=plan,
        dry_run=True,
        now=dt.datetime.now(dt.timezone.utc),
    )


def converge_bucket(
    target: Target,
    clients: AwsClients,
    *,
    distribution_arn: str | None,
    dry_run: bool,
    alongside: Callable[[bool], object] | None = None,
) -> tuple[list[Change], bool]:
    """Create or harden the bucket for ``target``: (changes, whether the bucket is missing).

    ``alongside(missing)`` runs once the bucket exists, side by side with the calls that set it up
    (the documents need the bucket, not its policy, encryption or versioning).
    """
    from oidc_publisher import s3
    from oidc_publisher.policies import bucket_policy

    spec = s3.BucketSpec(
        name=target.bucket,
        region=target.region,
        partition=clients.partition,
        public_policy=bucket_policy(
            clients.partition, target.bucket, target.keys.published, distribution_arn=distribution_arn
        ),
        private=distribution_arn is not None,
        issuer_url=target.issuer.url,
    )
    s3_client = clients.s3(target.region)
    changes, calls = s3.plan_bucket(s3_client, spec)
    missing = any(c.action == "create" and c.resource == f"s3://{target.bucket}" for c in changes)
    extra = [] if alongside is None else [lambda: alongside(missing)]
    if dry_run:
        together(extra)
    else:
        s3.apply_bucket(s3_client, calls, alongside=extra)
    return changes, missing


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
            return _converge(target, source, settings, clients, empty=new_bucket and attempt == 0)
        except ConcurrentUpdate:
            continue
    raise ConflictError(
        f"another publisher kept changing s3://{target.bucket}/{target.keys.jwks} while this run converged",
        "make sure only one rotation job runs per issuer (CronJob concurrencyPolicy: Forbid), then re-run",
    )


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


def _converge(
    target: Target, source: SourceKeys, settings: PublishSettings, clients: AwsClients, *, empty: bool = False
) -> PublishReport:
    s3 = clients.s3(target.region)
    bucket, keys = target.bucket, target.keys
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    plan = Plan()
    objects = {"jwks": f"s3://{bucket}/{keys.jwks}", "discovery": f"s3://{bucket}/{keys.discovery}"}

    def report(docs: Documents, decision: Decision | None) -> PublishReport:
        return PublishReport(
            issuer=target.issuer.url,
            bucket=bucket,
            objects=objects,
            kids=docs.kids,
            retained=list(decision.retained) if decision else [],
            added=list(decision.added) if decision else [],
            removed=list(decision.removed) if decision else [],
            revoked=list(decision.revoked) if decision else [],
            plan=plan,
            dry_run=settings.dry_run,
            now=now,
        )

    # The cheap path: the live JWKS is exactly the source's keys and the discovery document matches.
    source_docs = build_documents(target.issuer, source.keys, settings.jwks_uri)
    def read(key: str) -> StoredObject | None:
        return None if empty else get_object(s3, bucket, key)

    live_jwks = read(keys.jwks)
    live_discovery: StoredObject | None = None
    if (
        not settings.revoke
        and live_jwks is not None
        and live_jwks.body == source_docs.jwks
        and _headers_ok(live_jwks, cache_control=CACHE_CONTROL)
    ):
        live_discovery = read(keys.discovery)
        if (
            live_discovery is not None
            and live_discovery.body == source_docs.discovery
            and _headers_ok(live_discovery, cache_control=CACHE_CONTROL)
        ):
            return report(source_docs, None)

    # Something differs: decide with the full history.
    live_state = read(keys.state)
    state = (
        State.from_bytes(live_state.body, f"s3://{bucket}/{keys.state}")
        if live_state
        else State(issuer=target.issuer.url)
    )
    if state.issuer and state.issuer != target.issuer.url:
        from oidc_publisher.issuer import issuer_difference

        difference, fix = issuer_difference(state.issuer, target.issuer.url)
        raise ConflictError(
            f"s3://{bucket}/{keys.state} belongs to issuer {state.issuer}, not {target.issuer.url}: {difference}", fix
        )
    state.issuer = target.issuer.url
    if settings.distribution_id:
        state.distribution_id = settings.distribution_id
    decision = decide(
        source.keys,
        _published_keys(live_jwks, objects["jwks"]),
        state,
        now=now,
        retain=settings.retain,
        revoke=settings.revoke,
    )
    docs = build_documents(target.issuer, decision.keys, settings.jwks_uri)
    if live_discovery is None:
        live_discovery = read(keys.discovery)
    new_state = decision.state.to_bytes()

    writes: list[tuple[str, bytes, str, StoredObject | None]] = []
    if live_jwks is None or live_jwks.body != docs.jwks or not _headers_ok(live_jwks, cache_control=CACHE_CONTROL):
        why = _why_jwks(live_jwks, decision)
        plan.add(objects["jwks"], "write", why)
        writes.append((keys.jwks, docs.jwks, CACHE_CONTROL, live_jwks))
    if (
        live_discovery is None
        or live_discovery.body != docs.discovery
        or not _headers_ok(live_discovery, cache_control=CACHE_CONTROL)
    ):
        why = "does not exist yet" if live_discovery is None else "content or headers differ from the desired document"
        plan.add(objects["discovery"], "write", why)
        writes.append((keys.discovery, docs.discovery, CACHE_CONTROL, live_discovery))
    if live_state is None or live_state.body != new_state:
        plan.add(
            f"s3://{bucket}/{keys.state}", "write", "record when each key was published and left the source (private)"
        )
        writes.append((keys.state, new_state, STATE_CACHE_CONTROL, live_state))
    changed_public = [f"/{key}" for key, _, control, _ in writes if control == CACHE_CONTROL]
    distribution_id = state.distribution_id
    if distribution_id and changed_public:
        plan.add(f"cloudfront:{distribution_id}", "invalidate", f"paths {', '.join(changed_public)} changed")

    result = report(docs, decision)
    if settings.dry_run:
        return result
    # JWKS first, then discovery, then state: the order that keeps every moment consistent.
    for key, body, control, replaces in writes:
        put_object(s3, bucket, key, body, content_type=CONTENT_TYPE, cache_control=control, replaces=replaces)
    if distribution_id and changed_public:
        from oidc_publisher.cloudfront import invalidate

        result.invalidation_id = invalidate(clients, distribution_id, changed_public)
    return result


def _why_jwks(live: StoredObject | None, decision: Decision) -> str:
    if live is None:
        return "does not exist yet"
    parts = []
    if decision.added:
        parts.append(f"add {', '.join(decision.added)}")
    if decision.removed:
        parts.append(f"drop {', '.join(decision.removed)} (retention over)")
    if decision.revoked:
        parts.append(f"revoke {', '.join(decision.revoked)}")
    return "; ".join(parts) or "content or headers differ from the desired document"

