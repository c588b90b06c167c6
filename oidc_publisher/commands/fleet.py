"""``publish --fleet``: many clusters' issuers published by one process, a bounded number at a time.

A platform team's rotation job republishes every cluster's issuer every few minutes; one process for
the whole fleet saves a process start-up (Python, boto3, the kubernetes client) per cluster.

Two steps. :func:`load_fleet` reads and validates the whole fleet file (schema, names, issuer URLs,
buckets and prefixes, durations) and makes no AWS call: a file with a mistake publishes nothing.
:func:`publish_fleet` then reads each cluster's keys and converges its documents on a bounded pool of
threads, with the same code as the single ``publish``. Each cluster gets its own outcome: one that
fails (an unreachable API server, a key file gone, an AWS error) does not stop the others, and the
exit code says that something failed.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import functools
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oidc_publisher.core.errors import Error, InputError
from oidc_publisher.core.limits import load_json
from oidc_publisher.core.plan import EXIT_CHANGES_PENDING
from oidc_publisher.sources import KeySource, read_file

if TYPE_CHECKING:
    from oidc_publisher.aws.clients import AwsClients
    from oidc_publisher.commands.accounts import AccountRole, AccountsReport
    from oidc_publisher.commands.publish import PublishReport, PublishSettings
    from oidc_publisher.core.target import Target

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 32
MAX_PROBLEMS_SHOWN = 20
EXIT_BUG = 70  # as the console script's own last line of defence

# Every member a cluster entry may have, and what it holds. `defaults` takes the same, except `name`.
_STRINGS = (
    "name", "bucket", "issuer_url", "prefix", "region", "jwks", "kubeconfig", "context", "jwks_uri",
    "distribution_id", "retain_removed_keys", "member",
)  # fmt: skip
_LISTS = ("public_keys", "revoke")
_BOOLS = ("from_cluster",)
FIELDS = (*_STRINGS, *_LISTS, *_BOOLS)
# The three kinds of key source, and the members that choose each.
_SOURCE_KINDS: dict[str, tuple[str, ...]] = {
    "jwks": ("jwks",),
    "public_keys": ("public_keys",),
    "kubeconfig/context": ("from_cluster", "kubeconfig", "context"),
}
_SOURCE_MEMBERS = frozenset(m for members in _SOURCE_KINDS.values() for m in members)
_SOURCE_HINT = "give exactly one: jwks, public_keys, or kubeconfig/context (from the cluster's API server)"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_FORMAT_HINT = 'write it as {"clusters": [{"name": ..., "bucket": ..., "jwks": ...}]} (see docs/fleet.md)'
# The single command's options that are fields in the file: an error about one (Error.option) is shown
# with the field's name. ("--service-account-issuer" and the like are the API server's flags, and stay.)
FILE_KEYS = {
    "--issuer-url": "issuer_url", "--region": "region", "--prefix": "prefix", "--bucket": "bucket",
    "--kubeconfig": "kubeconfig", "--context": "context", "--revoke": "revoke", "--public-key": "public_keys",
    "--jwks-uri": "jwks_uri",
}


class FleetFileError(InputError):
    """Every problem found in the fleet file. Each is one line: ``str()`` joins them as the CLI prints
    errors, one ``error:`` line per problem, so a file with three mistakes shows all three at once."""

    def __init__(self, problems: list[InputError]) -> None:
        super().__init__(problems[0].message, problems[0].hint)
        self.problems = problems

    def __str__(self) -> str:
        lines = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"{len(self.problems) - MAX_PROBLEMS_SHOWN} more problems; fix these first")
        return "\nerror: ".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "problems": [p.to_json() for p in self.problems]}


class UnexpectedError(Error):
    """A bug met while publishing one cluster: reported as that cluster's outcome, exit 70."""

    exit_code = EXIT_BUG


@dataclass(frozen=True)
class FleetCluster:
    index: int
    name: str
    target: Target
    settings: PublishSettings

    @property
    def label(self) -> str:
        return _label(self.index, self.name)


@dataclass(frozen=True)
class Fleet:
    path: Path
    clusters: tuple[FleetCluster, ...]
    warnings: tuple[str, ...] = ()
    accounts: tuple[AccountRole, ...] = ()  # every issuer is registered in each (docs/accounts.md)


def _label(index: int, name: object) -> str:
    return f'clusters[{index}] ("{name}")' if isinstance(name, str) else f"clusters[{index}]"


def _in_file_terms(exc: Error) -> tuple[str, str | None]:
    """The error's message and hint, naming the option it is about (if any) by the file's key."""
    if exc.option in FILE_KEYS:
        return exc.named(FILE_KEYS[exc.option])
    return exc.message, exc.hint


def _problem(where: str, exc: InputError) -> InputError:
    message, hint = _in_file_terms(exc)
    return InputError(f"{where}: {message}", hint)


def _as_outcome_error(exc: Error) -> Error:
    """The same error, in the fleet file's words (``revoke``, not ``--revoke``)."""
    renamed = copy.copy(exc)
    renamed.message, renamed.hint = _in_file_terms(exc)
    renamed.args = (renamed.message,)
    return renamed


class _DuplicateMember(ValueError):
    pass


def _no_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateMember(key)
        seen[key] = value
    return seen


def _read_document(path: Path) -> Any:
    data = read_file(path, "fleet file")
    try:
        return load_json(data, object_pairs_hook=_no_duplicate_members)
    except _DuplicateMember as exc:
        raise InputError(
            f"fleet file {path}: field {exc.args[0]!r} is given twice in one object",
            "keep one (JSON parsers silently keep the last, which hides typos)",
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"fleet file {path} is not JSON ({exc})", _FORMAT_HINT) from None


def _check_members(where: str, entry: dict[str, Any], allowed: tuple[str, ...]) -> list[InputError]:
    """Unknown members and members of the wrong type: a typo in a credentials tool must not pass silently."""
    problems = []
    for key, value in entry.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the fields are: {', '.join(allowed)}"
            problems.append(InputError(f"{where}: unknown field {key!r}", hint))
        elif key in _STRINGS and not (isinstance(value, str) and (value or key == "prefix")):
            problems.append(InputError(f"{where}: {key} must be a non-empty string", "see docs/fleet.md"))
        elif key in _LISTS and not (
            isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
        ):
            problems.append(InputError(f"{where}: {key} must be a non-empty list of strings", "see docs/fleet.md"))
        elif key in _BOOLS and value is not True:
            problems.append(
                InputError(f"{where}: {key} can only be true", "leave it out unless the keys come from the cluster")
            )
    return problems


def _source_kinds(entry: dict[str, Any]) -> list[str]:
    return [kind for kind, members in _SOURCE_KINDS.items() if any(m in entry for m in members)]


def _resolve_path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def load_fleet(path: Path, *, default_region: str | None, dry_run: bool = False) -> Fleet:
    """Read and validate the whole fleet file; raise :class:`FleetFileError` listing every problem.

    Pure but for reading the file: no AWS call, no key file read (a key file that cannot be read is
    that cluster's failure at run time, not the fleet's).
    """
    from oidc_publisher.core.rotation import short_retention

    document = _read_document(path)
    if not isinstance(document, dict):
        raise InputError(f"fleet file {path} is not a JSON object", _FORMAT_HINT)
    problems: list[InputError] = []
    problems += _check_members("the fleet file", document, ("clusters", "defaults", "accounts"))
    accounts = _accounts(document.get("accounts"), problems) if "accounts" in document else []
    clusters = document.get("clusters")
    if not isinstance(clusters, list) or not clusters:
        problems.append(InputError(f"fleet file {path} lists no clusters", _FORMAT_HINT))
        clusters = []
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(InputError("defaults must be an object", "give the fields every cluster shares"))
        defaults = {}
    problems += _check_members("defaults", defaults, tuple(f for f in FIELDS if f not in ("name", "member")))
    default_kinds = _source_kinds(defaults)
    if len(default_kinds) > 1:
        problems.append(InputError(f"defaults give {' and '.join(default_kinds)} as key sources", _SOURCE_HINT))
    if problems:
        raise FleetFileError(problems)

    base = path.resolve().parent
    loaded: list[FleetCluster] = []
    warnings: list[str] = []
    for index, entry in enumerate(clusters):
        where = _label(index, entry.get("name") if isinstance(entry, dict) else None)
        if not isinstance(entry, dict):
            problems.append(InputError(f"{where} is not an object", _FORMAT_HINT))
            continue
        found = _check_members(where, entry, FIELDS)
        if "name" not in entry:
            found.append(InputError(f"{where}: no name", "give each cluster a unique name"))
        elif isinstance(entry["name"], str) and not _NAME.match(entry["name"]):
            found.append(
                InputError(f"{where}: name {entry['name']!r} is not a plain name", "use letters, digits, '.', '_', '-'")
            )
        if found:
            problems += found
            continue
        try:
            cluster = _cluster(index, entry, defaults, base, default_region=default_region, dry_run=dry_run)
        except FleetFileError as exc:
            problems += exc.problems
            continue
        loaded.append(cluster)
        warnings += [
            f"{where}: revoking {kid}: every token signed by it stops working as soon as caches expire (minutes)"
            for kid in cluster.settings.revoke
        ]
        if (risk := short_retention(cluster.settings.retain, "retain_removed_keys")) is not None:
            warnings.append(f"{where}: {risk}")
    problems += _duplicates(loaded)
    if problems:
        raise FleetFileError(problems)
    return Fleet(path=path, clusters=tuple(loaded), warnings=tuple(warnings), accounts=tuple(accounts))


def _accounts(value: Any, problems: list[InputError]) -> list[AccountRole]:
    """The file's ``accounts``: a list of role ARNs to assume, one per account (each issuer is registered there)."""
    from oidc_publisher.commands.accounts import ROLE_ARN_HINT, account_roles

    if not isinstance(value, list) or not value:
        problems.append(InputError("accounts must be a non-empty list of IAM role ARNs", ROLE_ARN_HINT))
        return []
    roles, found = account_roles(value, lambda index: f"accounts[{index}]:")
    problems += found
    return roles


def _cluster(
    index: int, entry: dict[str, Any], defaults: dict[str, Any], base: Path, *, default_region: str | None, dry_run: bool
) -> FleetCluster:
    from oidc_publisher.commands.publish import PublishSettings
    from oidc_publisher.core.documents import validate_jwks_uri
    from oidc_publisher.core.keys import check_kid
    from oidc_publisher.core.rotation import DEFAULT_RETAIN, parse_duration
    from oidc_publisher.core.target import resolve_target

    name = entry["name"]
    where = _label(index, name)
    problems: list[InputError] = []

    def checked(work: Callable[[], Any], field: str | None = None) -> Any:
        try:
            return work()
        except InputError as exc:
            problems.append(_problem(f"{where}: {field}" if field else where, exc))
            return None

    own, inherited = _source_kinds(entry), _source_kinds(defaults)
    if len(own) > 1:
        problems.append(InputError(f"{where}: {' and '.join(own)} were both given as key sources", _SOURCE_HINT))
    elif not own and not inherited:
        problems.append(InputError(f"{where}: no key source", _SOURCE_HINT))
    kind = (own or inherited or ["none"])[0]
    # A cluster's own kind of source replaces the defaults' source of another kind; members of the
    # same kind are inherited (a kubeconfig in defaults, a context per cluster).
    shared = {k: v for k, v in defaults.items() if k not in _SOURCE_MEMBERS or k in _SOURCE_KINDS.get(kind, ())}
    fields = {**shared, **entry}

    def path_of(key: str) -> Path | None:
        return _resolve_path(base, fields[key]) if key in fields else None

    source = KeySource(
        from_cluster=kind == "kubeconfig/context",
        kubeconfig=path_of("kubeconfig"),
        context=fields.get("context"),
        jwks=path_of("jwks"),
        public_keys=tuple(_resolve_path(base, p) for p in fields.get("public_keys", ())),
    )
    target: Target | None = None
    if "bucket" not in fields:
        problems.append(InputError(f"{where}: no bucket", "give bucket in the entry, or in defaults"))
    else:
        target = checked(
            lambda: resolve_target(
                bucket=fields["bucket"],
                issuer_url=fields.get("issuer_url"),
                prefix=fields.get("prefix"),
                region=fields.get("region"),
                default_region=None if fields.get("region") else default_region,
            )
        )
    for kid in fields.get("revoke", ()) if isinstance(fields.get("revoke"), list) else ():
        if isinstance(kid, str):
            checked(functools.partial(check_kid, kid, "revoke"))
    if "jwks_uri" in fields:
        try:
            validate_jwks_uri(fields["jwks_uri"])
        except InputError as exc:
            problems.append(_problem(where, exc))
    retain: dt.timedelta | None = (
        checked(lambda: parse_duration(fields["retain_removed_keys"]), "retain_removed_keys")
        if "retain_removed_keys" in fields
        else DEFAULT_RETAIN
    )
    if isinstance(entry.get("member"), str):
        from oidc_publisher.core.members import check_member_name

        checked(functools.partial(check_member_name, entry["member"], "member"))
    if problems or target is None or retain is None:
        raise FleetFileError(problems)
    settings = PublishSettings(
        bucket=fields["bucket"],
        source=source,
        issuer_url=fields.get("issuer_url"),
        prefix=fields.get("prefix"),
        region=target.region,
        jwks_uri=fields.get("jwks_uri"),
        retain=retain,
        revoke=tuple(fields.get("revoke", ())),
        distribution_id=fields.get("distribution_id"),
        dry_run=dry_run,
        member=entry.get("member"),
    )
    return FleetCluster(index=index, name=name, target=target, settings=settings)


def _duplicates(clusters: list[FleetCluster]) -> list[InputError]:
    """Two entries with one name, one set of objects (bucket + prefix), or one issuer URL."""
    problems = []
    names: dict[str, FleetCluster] = {}
    places: dict[tuple[str, str], FleetCluster] = {}
    issuers: dict[str, FleetCluster] = {}  # by IAM's provider name, HOST/PATH
    for cluster in clusters:
        target = cluster.target
        place = (target.bucket, target.keys.prefix)
        where = f"s3://{target.bucket}/{target.keys.prefix + '/' if target.keys.prefix else ''}"
        if cluster.name in names:
            problems.append(
                InputError(
                    f"{cluster.label}: the name is also {names[cluster.name].label}'s", "give each cluster a unique name"
                )
            )
        elif cluster.settings.member is not None:
            pass  # one of several members of a shared issuer: _shared_issuers
        elif place in places:
            problems.append(
                InputError(
                    f"{cluster.label}: publishes to {where}, as {places[place].label} does",
                    "the two would overwrite each other's documents: give each cluster its own prefix (or bucket)",
                )
            )
        elif target.issuer.provider_path in issuers:
            # Compared as IAM compares them (HOST/PATH, no trailing slash): https://h/a and https://h/a/ are
            # one IAM provider, so one of the two clusters' tokens would be checked against the other's keys.
            first = issuers[target.issuer.provider_path]
            same = first.target.issuer.url == target.issuer.url
            problems.append(
                InputError(
                    f"{cluster.label}: issuer {target.issuer.url} is also {first.label}'s"
                    + ("" if same else f" (as {first.target.issuer.url}: IAM treats the two as one provider)"),
                    "only one set of documents can answer at an issuer URL: each cluster needs its own issuer",
                )
            )
        names.setdefault(cluster.name, cluster)
        if cluster.settings.member is None:
            places.setdefault(place, cluster)
            issuers.setdefault(target.issuer.provider_path, cluster)
    return problems + _shared_issuers(clusters)


def _shared_issuers(clusters: list[FleetCluster]) -> list[InputError]:
    """Members of one issuer (``member``): the same issuer and objects, each entry its own member name; and an
    issuer with members has no entry without one (that entry would publish as the implicit member)."""
    problems = []
    seen: dict[tuple[str, str], dict[str, FleetCluster]] = {}
    plain = {(c.target.bucket, c.target.keys.prefix): c for c in clusters if c.settings.member is None}
    for cluster in clusters:
        member = cluster.settings.member
        if member is None:
            continue
        place = (cluster.target.bucket, cluster.target.keys.prefix)
        members = seen.setdefault(place, {})
        if member in members:
            problems.append(InputError(
                f"{cluster.label}: member {member} of {cluster.target.issuer.url} is also {members[member].label}'s",
                "give each cluster of a shared issuer its own member name",
            ))
        elif place in plain:
            problems.append(InputError(
                f"{cluster.label}: publishes to the issuer {plain[place].label} publishes without a member",
                "give every cluster of a shared issuer a member name (docs/shared-issuer.md)",
            ))
        members.setdefault(member, cluster)
    return problems


# --- publishing ------------------------------------------------------------------------------------


@dataclass
class ClusterOutcome:
    cluster: FleetCluster
    report: PublishReport | None = None
    error: Error | None = None
    accounts: AccountsReport | None = None  # the issuer's registration in the file's accounts

    @property
    def changed(self) -> bool:
        return self.report is not None and self.report.plan.has_changes

    def to_text(self) -> str:
        head = f"{self.cluster.name}: {self.cluster.target.issuer.url}"
        if self.error is not None:
            return f"{head}: failed: {self.error}"
        assert self.report is not None
        keys = "; ".join(self.report.key_summary())
        status = self.report.change_summary() if self.changed else "unchanged"
        line = f"{head}: {status} ({keys})"
        if self.accounts is None:
            return line
        return "\n".join([line, *(f"  {o.headline(self.accounts.dry_run)}" for o in self.accounts.outcomes)])

    def to_json(self) -> dict[str, Any]:
        if self.report is not None:
            accounts = {"accounts": self.accounts.to_json()["accounts"]} if self.accounts is not None else {}
            return {**self.report.to_json(), "name": self.cluster.name, "error": None, **accounts}
        assert self.error is not None
        target = self.cluster.target
        return {
            "name": self.cluster.name,
            "issuer": target.issuer.url,
            "bucket": target.bucket,
            "objects": {
                "jwks": f"s3://{target.bucket}/{target.keys.jwks}",
                "discovery": f"s3://{target.bucket}/{target.keys.discovery}",
            },
            "dry_run": self.cluster.settings.dry_run,
            "error": self.error.to_json(),
        }


@dataclass
class FleetReport:
    outcomes: list[ClusterOutcome]
    dry_run: bool

    @property
    def failed(self) -> list[ClusterOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def exit_code(self) -> int:
        """The single publish's convention, over the fleet: 1 when any cluster failed (70 for a bug);
        otherwise 3 when a dry run found changes; otherwise 0."""
        if any(isinstance(o.error, UnexpectedError) for o in self.outcomes):
            return EXIT_BUG
        if self.failed:
            return 1
        registered = [o.accounts for o in self.outcomes if o.accounts is not None]
        if any(r.failed for r in registered):
            return 1
        if self.dry_run and any(o.changed for o in self.outcomes):
            return EXIT_CHANGES_PENDING
        return max((r.exit_code for r in registered), default=0)

    def summary(self) -> str:
        changed = sum(1 for o in self.outcomes if o.changed)
        failed = self.failed
        unchanged = len(self.outcomes) - changed - len(failed)
        total = len(self.outcomes)
        parts = [f"{changed} {'would change' if self.dry_run else 'changed'}", f"{unchanged} unchanged"]
        parts.append(f"{len(failed)} failed" + (f" ({', '.join(o.cluster.name for o in failed)})" if failed else ""))
        missed = [f"{o.cluster.name} in {a.role.account_id}" for o in self.outcomes if o.accounts for a in o.accounts.failed]
        if missed:
            parts.append(f"{len(missed)} account registration{'s' if len(missed) != 1 else ''} failed ({', '.join(missed)})")
        return f"fleet of {total} cluster{'s' if total != 1 else ''}: {', '.join(parts)}"

    def to_text(self) -> str:
        return "\n".join([*(o.to_text() for o in self.outcomes), self.summary()])

    def to_json(self) -> dict[str, Any]:
        return {
            "clusters": [o.to_json() for o in self.outcomes],
            "dry_run": self.dry_run,
            "changed": sum(1 for o in self.outcomes if o.changed),
            "failed": [o.cluster.name for o in self.failed],
            "summary": self.summary(),
        }


def prepare_clients(fleet: Fleet, clients: AwsClients) -> None:
    """Make, in this thread, everything the pool's threads share: the boto3 session is not
    thread-safe, its clients are. One S3 client per region; the modules that are slow to import."""
    for region in sorted({c.target.region for c in fleet.clusters}):
        clients.s3(region)
    if any(c.settings.distribution_id for c in fleet.clusters):
        clients.cloudfront()

    if any(c.settings.source.from_cluster for c in fleet.clusters):
        from oidc_publisher.kube import load_client

        load_client()


def _publish_one(cluster: FleetCluster, clients: AwsClients) -> ClusterOutcome:
    from oidc_publisher.aws.clients import unhandled_aws_error
    from oidc_publisher.commands.publish import publish_documents
    from oidc_publisher.sources import load_keys

    try:
        source = load_keys(cluster.settings.source, cluster.target.issuer)
        report = publish_documents(cluster.target, source, cluster.settings, clients)
    except Error as exc:
        return ClusterOutcome(cluster, error=_as_outcome_error(exc))
    except Exception as exc:  # noqa: BLE001 - one cluster's bug must not hide the other clusters' outcomes
        if (translated := unhandled_aws_error(exc)) is not None:
            return ClusterOutcome(cluster, error=_as_outcome_error(translated))
        if os.environ.get("OIDC_PUBLISHER_DEBUG"):
            import traceback

            traceback.print_exc()
        return ClusterOutcome(
            cluster,
            error=UnexpectedError(
                f"internal error: {type(exc).__name__}: {exc}",
                "this is a bug in oidc-publisher; please report it (OIDC_PUBLISHER_DEBUG=1 prints a traceback)",
            ),
        )
    return ClusterOutcome(cluster, report=report)


@dataclass(frozen=True)
class FleetSettings:
    path: Path
    concurrency: int = DEFAULT_CONCURRENCY
    dry_run: bool = False


def publish_fleet(
    settings: FleetSettings, clients: AwsClients, *, warn: Callable[[str], None] = lambda _: None
) -> FleetReport:
    """Validate the fleet file as a whole, then publish every cluster in it."""
    fleet = load_fleet(settings.path, default_region=clients.region_or_none(), dry_run=settings.dry_run)
    for warning in fleet.warnings:
        warn(warning)
    report = publish_clusters(fleet, clients, concurrency=settings.concurrency)
    if fleet.accounts:
        register_in_accounts(fleet, report, clients)
    for outcome in report.outcomes:
        for note in outcome.report.notes if outcome.report else ():
            warn(f"{outcome.cluster.label}: {note}")
    return report


def register_in_accounts(fleet: Fleet, report: FleetReport, clients: AwsClients) -> None:
    """Register every published cluster's issuer in each of the file's accounts, after its documents are
    published (a cluster that failed to publish is not registered)."""
    from oidc_publisher.commands.accounts import register_issuers_in_accounts
    from oidc_publisher.commands.register import RegisterSettings

    published = [o for o in report.outcomes if o.error is None]
    issuers = [
        RegisterSettings(
            issuer_url=o.cluster.target.issuer.url, jwks_uri=o.cluster.settings.jwks_uri, dry_run=o.cluster.settings.dry_run
        )
        for o in published
    ]
    for outcome, registered in zip(published, register_issuers_in_accounts(issuers, clients, fleet.accounts), strict=True):
        outcome.accounts = registered


def publish_clusters(fleet: Fleet, clients: AwsClients, *, concurrency: int = DEFAULT_CONCURRENCY) -> FleetReport:
    """Publish every cluster, at most ``concurrency`` at a time; outcomes in the file's order."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError(f"concurrency {concurrency} is out of range", f"give 1 to {MAX_CONCURRENCY}")
    prepare_clients(fleet, clients)
    executor = ThreadPoolExecutor(max_workers=min(concurrency, len(fleet.clusters)), thread_name_prefix="fleet")
    try:
        futures = [executor.submit(_publish_one, cluster, clients) for cluster in fleet.clusters]
        outcomes = [future.result() for future in futures]
    except BaseException:
        # Interrupted: start nothing new; the clusters in flight finish their (conditional) writes.
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown()
    dry_run = any(c.settings.dry_run for c in fleet.clusters)
    return FleetReport(outcomes=outcomes, dry_run=dry_run)

