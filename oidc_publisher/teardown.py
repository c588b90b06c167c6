"""``teardown``: remove what the tool created for an issuer, and nothing else.

Recognised by the ``managed-by=oidc-publisher`` tag (bucket, provider) or the comment and name the tool
gives them (distribution, origin access control). Roles are never deleted here: they are listed, so the
people who own them can decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oidc_publisher.errors import UsageError
from oidc_publisher.plan import EXIT_CHANGES_PENDING, Plan
from oidc_publisher.publishing import resolve_target

if TYPE_CHECKING:
    from oidc_publisher.aws import AwsClients

MANAGED = ("managed-by", "oidc-publisher")


@dataclass(frozen=True)
class TeardownSettings:
    issuer_url: str
    bucket: str
    prefix: str | None = None
    region: str | None = None
    yes: bool = False
    dry_run: bool = False


@dataclass
class TeardownReport:
    issuer: str
    plan: Plan
    dry_run: bool
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def exit_code(self) -> int:
        if self.cancelled:
            return 1
        return EXIT_CHANGES_PENDING if self.dry_run and self.plan.has_changes else 0

    def to_text(self) -> str:
        if self.cancelled:
            return "Cancelled: nothing was removed."
        head = self.plan.to_text(dry_run=self.dry_run) if self.plan.has_changes else "Nothing of this issuer's to remove."
        return "\n".join([head, *self.notes])

    def to_json(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "dry_run": self.dry_run, "cancelled": self.cancelled,
                "changes": self.plan.to_json(), "notes": self.notes}


def teardown(settings: TeardownSettings, clients: AwsClients, confirm: Callable[[str], bool]) -> TeardownReport:
    from botocore.exceptions import ClientError

    from oidc_publisher import s3 as s3edge
    from oidc_publisher.auditing import trusting_roles
    from oidc_publisher.aws import translated as _translated
    from oidc_publisher.cloudfront import find_distribution, find_origin_access_control
    from oidc_publisher.iam import delete_provider, find_provider

    target = resolve_target(
        bucket=settings.bucket, issuer_url=settings.issuer_url, prefix=settings.prefix, region=settings.region,
        default_region=None if settings.region else clients.region_or_none(),
    )
    issuer, bucket = target.issuer, target.bucket
    s3 = clients.s3(target.region)
    plan = Plan()
    report = TeardownReport(issuer.url, plan, settings.dry_run)
    actions: list[Callable[[], None]] = []

    provider = find_provider(clients, issuer)
    if provider is not None:
        if provider.tags.get(MANAGED[0]) == MANAGED[1]:
            plan.add(f"iam:oidc-provider/{issuer.provider_path}", "delete", "created by oidc-publisher")
            actions.append(lambda: delete_provider(clients, provider.arn))
        else:
            report.notes.append(f"kept the IAM provider {provider.arn}: it is not tagged managed-by=oidc-publisher")
    roles = trusting_roles(clients, issuer.provider_path)
    if roles:
        report.notes.append(f"roles that trust this issuer are kept (delete them yourself): {', '.join(sorted(roles))}")

    with _translated("s3:ListObjectVersions", f"s3://{bucket}"):
        try:
            versions = _versions(s3, bucket)
        except ClientError as exc:
            if "NoSuchBucket" not in str(exc):
                raise
            versions = None
    ours = set(target.keys.published) | {target.keys.state}
    if versions is not None:
        mine = [v for v in versions if v["Key"] in ours]
        for key in sorted({v["Key"] for v in mine}):
            plan.add(f"s3://{bucket}/{key}", "delete", "every version")
        if mine:
            actions.append(lambda: _delete_versions(s3, bucket, mine))
        others = [v for v in versions if v["Key"] not in ours]
        tags = s3edge.bucket_tags(s3, bucket)
        if tags.get(MANAGED[0]) == MANAGED[1] and not others:
            plan.add(f"s3://{bucket}", "delete", "created by oidc-publisher and empty once the documents are gone")
            actions.append(lambda: _delete_bucket(s3, bucket))
        elif tags.get(MANAGED[0]) == MANAGED[1]:
            report.notes.append(f"kept s3://{bucket}: it holds {len({v['Key'] for v in others})} other object(s)")
        else:
            report.notes.append(f"kept s3://{bucket}: it is not tagged managed-by=oidc-publisher")

    distribution = find_distribution(clients, bucket=bucket, region=target.region)
    if distribution is not None and (issuer.host == distribution.domain_name or issuer.host in distribution.aliases):
        plan.add(f"cloudfront:distribution/{distribution.id}", "delete", "disable, then delete once disabled")
        actions.append(lambda: report.notes.extend(_delete_distribution(clients, distribution.id)))
        oac = find_origin_access_control(clients, bucket)
        if oac:
            plan.add(f"cloudfront:origin-access-control/{oac}", "delete", "after the distribution")
            actions.append(lambda: report.notes.extend(_delete_oac(clients, oac)))

    if settings.dry_run or not plan.has_changes:
        return report
    if not settings.yes and not confirm(plan.to_text(dry_run=True) + "\nRemove all of this?"):
        report.cancelled = True
        return report
    for action in actions:
        action()
    return report


def _versions(s3: Any, bucket: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        out += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        out += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("DeleteMarkers", [])]
    return out


def _delete_versions(s3: Any, bucket: str, versions: list[dict[str, Any]]) -> None:
    from oidc_publisher.aws import translated as _translated

    with _translated("s3:DeleteObjectVersion", f"s3://{bucket}"):
        for start in range(0, len(versions), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[start : start + 1000], "Quiet": True})


def _delete_bucket(s3: Any, bucket: str) -> None:
    from oidc_publisher.aws import translated as _translated

    with _translated("s3:DeleteBucket", f"s3://{bucket}"):
        rest = _versions(s3, bucket)
        if rest:
            _delete_versions(s3, bucket, rest)
        s3.delete_bucket(Bucket=bucket)


def _delete_distribution(clients: AwsClients, distribution_id: str) -> list[str]:
    from botocore.exceptions import ClientError

    from oidc_publisher.aws import translated as _translated

    cf = clients.cloudfront()
    with _translated("cloudfront:GetDistributionConfig", distribution_id):
        current = cf.get_distribution_config(Id=distribution_id)
    config = dict(current["DistributionConfig"])
    etag = current["ETag"]
    if config.get("Enabled"):
        config["Enabled"] = False
        with _translated("cloudfront:UpdateDistribution", distribution_id):
            etag = cf.update_distribution(Id=distribution_id, IfMatch=etag, DistributionConfig=config)["ETag"]  # type: ignore[arg-type]
    try:
        cf.delete_distribution(Id=distribution_id, IfMatch=etag)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("DistributionNotDisabled", "PreconditionFailed"):
            return [f"distribution {distribution_id} is disabled; CloudFront deletes it only once deployed: re-run teardown in about 15 minutes"]
        from oidc_publisher.aws import aws_error

        raise aws_error(exc, "cloudfront:DeleteDistribution", distribution_id) from None
    return []


def _delete_oac(clients: AwsClients, oac_id: str) -> list[str]:
    from botocore.exceptions import ClientError

    cf = clients.cloudfront()
    try:
        etag = cf.get_origin_access_control(Id=oac_id)["ETag"]
        cf.delete_origin_access_control(Id=oac_id, IfMatch=etag)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "OriginAccessControlInUse":
            return [f"origin access control {oac_id} is still in use; re-run teardown once the distribution is gone"]
        from oidc_publisher.aws import aws_error

        raise aws_error(exc, "cloudfront:DeleteOriginAccessControl", oac_id) from None
    return []


def require_terminal(yes: bool, dry_run: bool, is_tty: bool) -> None:
    if not yes and not dry_run and not is_tty:
        raise UsageError(
            "refusing to tear down without confirmation: no terminal is attached",
            "re-run with --yes (or --dry-run to see what would go)",
        )
