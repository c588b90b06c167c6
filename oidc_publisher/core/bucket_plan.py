"""What to change on a bucket, from a typed snapshot of its live settings. Pure: no boto3, no clock.

The safety rules of the bucket live here, where a plain test or a property test can hold them:

- the tool never widens access beyond the two documents: it refuses while the bucket policy holds a
  public statement that is not its own, and it writes its own statements exactly (a widened own
  statement is rewritten, never kept);
- on a bucket it did not create (no ``managed-by`` tag, which only the creating call writes) it changes
  versioning, object ownership and Block Public Access only when told to (``--adopt-bucket``);
- two issuers served in different modes (public S3-direct, private behind CloudFront) never share a
  bucket: each would switch the other's Block Public Access on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oidc_publisher.core.errors import ConflictError
from oidc_publisher.core.issuer import DISCOVERY_PATH, JWKS_PATH
from oidc_publisher.core.marks import ISSUER_TAG, MANAGED_BY
from oidc_publisher.core.plan import Step, step
from oidc_publisher.core.policies import CLOUDFRONT_READ_SID, DENY_INSECURE_SID, PUBLIC_READ_SID, TOMBSTONE_SID

# On a bucket made for a front the user manages (--front): which one. Teardown cannot see such a front, which
# reads the bucket by name, so it keeps the bucket (a tombstone) rather than free the name.
FRONT_TAG = "oidc-publisher:front"
# The tool's statements; a teardown's tombstone lock (its own) goes when the bucket serves an issuer again.
OWN_SIDS = (PUBLIC_READ_SID, CLOUDFRONT_READ_SID, DENY_INSECURE_SID, TOMBSTONE_SID)
BLOCK_PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

# Condition keys that tie a grant to named principals or networks: a statement restricted by one of them
# (with a fixed value) is not public, as S3's own "is public" evaluation has it.
_RESTRICTING_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner", "aws:SourceVpc", "aws:SourceVpce",
        "aws:PrincipalOrgID", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:userid", "aws:SourceIp",
    )
)


@dataclass(frozen=True)
class BucketSpec:
    name: str
    region: str
    partition: str
    public_policy: dict[str, Any]  # the statements this issuer needs (see policies.bucket_policy)
    private: bool  # True behind CloudFront: Block Public Access fully on
    issuer_url: str
    front: str = ""  # --front: "external" or "cloudfront-arn", recorded on the bucket by the creating call


@dataclass(frozen=True)
class BucketSnapshot:
    """The bucket's live set-up, as read on this run (``exists=False``: nothing else is read)."""

    exists: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    object_ownership: str | None = None  # the ownership rule, None when there are no ownership controls
    public_access_block: Mapping[str, bool] | None = None  # None: no configuration on the bucket
    encrypted: bool = False
    versioning: str | None = None  # "Enabled", "Suspended", or None (never enabled)
    policy: Mapping[str, Any] | None = None

    @property
    def created_by_tool(self) -> bool:
        return self.tags.get(MANAGED_BY[0]) == MANAGED_BY[1]


# The phases of a bucket's set-up. The bucket is made first; its settings are independent of each other;
# the policy goes after Block Public Access, which must admit a public read policy before S3 takes it (and,
# for a private bucket, is tightened before the policy that drops a public read is written).
CREATE_PHASE, SETTINGS_PHASE, POLICY_PHASE = 0, 1, 2


@dataclass
class BucketPlan:
    changes: list[Step] = field(default_factory=list)  # each carries its S3 call and its phase
    notes: list[str] = field(default_factory=list)

    @property
    def creates_bucket(self) -> bool:
        return any(step.action == "create" for step in self.changes)


def wanted_public_access_block(private: bool) -> dict[str, bool]:
    return {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": private,
        "RestrictPublicBuckets": private,
    }


def plan_bucket_setup(snapshot: BucketSnapshot, spec: BucketSpec, *, adopt: bool) -> BucketPlan:
    """The steps (each with the S3 call that makes it, and its phase) that converge the bucket for ``spec``.

    Raises :class:`ConflictError`, before anything is changed, when the bucket policy holds a public
    statement that is not the tool's, when another issuer in the bucket is served in the other mode, or
    when Block Public Access would have to be relaxed on a bucket the tool did not create without ``adopt``.
    """
    resource = f"s3://{spec.name}"
    plan = BucketPlan()
    if not snapshot.exists:
        _plan_new_bucket(spec, plan)
        return plan
    policy = normalise_policy(dict(snapshot.policy)) if snapshot.policy else None
    if policy is not None:
        refuse_public_statements(policy, spec.name)
        refuse_mixed_modes(policy, spec)
    mine = snapshot.created_by_tool
    may_change = mine or adopt
    adopted = "" if mine else " (--adopt-bucket: the bucket was not created by oidc-publisher)"
    left = "left as it is: oidc-publisher did not create the bucket (--adopt-bucket lets it change this)"

    if snapshot.object_ownership != "BucketOwnerEnforced":
        if may_change:
            plan.changes.append(
                _ownership_step(spec, f"object ownership is not BucketOwnerEnforced (ACLs must be disabled){adopted}")
            )
        else:
            plan.notes.append(f"{resource}: object ownership ({snapshot.object_ownership or 'ACLs enabled'}) {left}")

    want_pab = wanted_public_access_block(spec.private)
    current_pab = {flag: bool((snapshot.public_access_block or {}).get(flag, False)) for flag in BLOCK_PUBLIC_ACCESS_FLAGS}
    if snapshot.public_access_block is None or current_pab != want_pab:
        loosened = [flag for flag in BLOCK_PUBLIC_ACCESS_FLAGS if current_pab[flag] and not want_pab[flag]]
        if may_change:
            plan.changes.append(_public_access_block_step(spec, adopted))
        elif loosened:
            raise ConflictError(
                f"Block Public Access on {resource} ({', '.join(loosened)}) blocks the public read on the two "
                "documents, and oidc-publisher did not create the bucket",
                "re-run with --adopt-bucket to let it turn those off (the bucket policy then grants public read "
                "on the two documents only), or serve the issuer through CloudFront (--cloudfront)",
            )
        else:
            plan.notes.append(f"{resource}: Block Public Access {left}")

    if not snapshot.encrypted:
        plan.changes.append(_encryption_step(spec))

    if snapshot.versioning != "Enabled":
        if may_change:
            plan.changes.append(_versioning_step(spec, adopted))
        else:
            plan.notes.append(f"{resource}: versioning ({snapshot.versioning or 'never enabled'}) {left}")

    wanted = own_policy(policy, spec)
    if policy is None or policy != wanted:
        plan.changes.append(_policy_step(spec, wanted))
    return plan


def _plan_new_bucket(spec: BucketSpec, plan: BucketPlan) -> None:
    resource = f"s3://{spec.name}"
    # The ownership mark rides on the creating call itself (S3 applies CreateBucketConfiguration.Tags
    # atomically with the bucket): there is no moment at which the tool's bucket exists unmarked.
    configuration: dict[str, Any] = {
        "Tags": [
            {"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]},
            {"Key": ISSUER_TAG, "Value": spec.issuer_url[:256]},
            *([{"Key": FRONT_TAG, "Value": spec.front}] if spec.front else []),
        ]
    }
    if spec.region != "us-east-1":  # us-east-1 takes no LocationConstraint
        configuration["LocationConstraint"] = spec.region
    plan.changes.append(
        step(
            resource, "create",
            f"bucket does not exist (region {spec.region}, ACLs disabled, tagged {'='.join(MANAGED_BY)})",
            "s3", "create_bucket", phase=CREATE_PHASE, region=spec.region,
            Bucket=spec.name, ObjectOwnership="BucketOwnerEnforced", CreateBucketConfiguration=configuration,
        )
    )
    plan.changes.append(_public_access_block_step(spec, ""))
    plan.changes.append(_encryption_step(spec))
    plan.changes.append(_versioning_step(spec, ""))
    plan.changes.append(_policy_step(spec, own_policy(None, spec)))


def _ownership_step(spec: BucketSpec, reason: str) -> Step:
    return step(
        f"s3://{spec.name}", "update", reason, "s3", "put_bucket_ownership_controls",
        phase=SETTINGS_PHASE, region=spec.region,
        Bucket=spec.name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )


def _public_access_block_step(spec: BucketSpec, adopted: str) -> Step:
    why = "all on (private bucket behind CloudFront)" if spec.private else "on, except what the read policy on the two documents needs"
    return step(
        f"s3://{spec.name}", "update", f"Block Public Access: {why}{adopted}", "s3", "put_public_access_block",
        phase=SETTINGS_PHASE, region=spec.region,
        Bucket=spec.name, PublicAccessBlockConfiguration=wanted_public_access_block(spec.private),
    )


def _encryption_step(spec: BucketSpec) -> Step:
    return step(
        f"s3://{spec.name}", "update", "default encryption (SSE-S3)", "s3", "put_bucket_encryption",
        phase=SETTINGS_PHASE, region=spec.region,
        Bucket=spec.name,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )


def _versioning_step(spec: BucketSpec, adopted: str) -> Step:
    return step(
        f"s3://{spec.name}", "update", f"versioning, so a bad publish can be rolled back{adopted}", "s3",
        "put_bucket_versioning", phase=SETTINGS_PHASE, region=spec.region,
        Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"},
    )


def _policy_step(spec: BucketSpec, policy: dict[str, Any]) -> Step:
    what = "CloudFront (OAC) read" if spec.private else "public read"
    return step(
        f"s3://{spec.name}", "update", f"bucket policy: {what} on exactly the published documents, TLS only", "s3",
        "put_bucket_policy", phase=POLICY_PHASE, region=spec.region,
        Bucket=spec.name, Policy=_dumps(policy),
    )


def _dumps(policy: dict[str, Any]) -> str:
    import json

    return json.dumps(policy, sort_keys=True)


# --- the bucket policy ---------------------------------------------------------------------------


def normalise_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """A policy in one canonical form (lists for Action and Resource, sorted string lists, sorted keys),
    so that "the same policy" is an equality."""
    import json

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            items = [norm(v) for v in value]
            return (
                sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
                if all(isinstance(v, str) for v in items)
                else items
            )
        return value

    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    out = []
    for statement in statements:
        statement = dict(statement)
        for member in ("Action", "Resource"):
            if isinstance(statement.get(member), str):
                statement[member] = [statement[member]]
        out.append(norm(statement))
    return {"Version": policy.get("Version", "2012-10-17"), "Statement": out}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _any_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in _as_list(value) for value in principal.values())
    return False


def _restricted(condition: Any) -> bool:
    """True when a condition ties the grant to fixed principals, accounts or networks."""
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        if "not" in str(operator).lower() or str(operator).endswith("IfExists") or not isinstance(pairs, dict):
            continue
        for key, value in pairs.items():
            values = _as_list(value)
            if str(key).lower() in _RESTRICTING_KEYS and values and not any("*" in str(v) for v in values):
                if str(key).lower() == "aws:sourceip" and any(str(v).endswith("/0") for v in values):
                    continue
                return True
    return False


def is_public_statement(statement: Mapping[str, Any]) -> bool:
    """An Allow that any principal in the world can use (S3's sense of "public")."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        return True
    return _any_principal(statement.get("Principal")) and not _restricted(statement.get("Condition"))


def _label(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f"Sid {sid!r}" if sid else f"statement {index + 1}, which has no Sid"


def refuse_public_statements(policy: dict[str, Any], bucket: str) -> None:
    """Refuse while the bucket policy grants public access in a statement that is not the tool's own:
    relaxing Block Public Access for the documents would make that statement live."""
    for index, statement in enumerate(policy.get("Statement", [])):
        if statement.get("Sid") in OWN_SIDS or not is_public_statement(statement):
            continue
        raise ConflictError(
            f"the bucket policy of s3://{bucket} has a public statement that is not oidc-publisher's "
            f"({_label(statement, index)}): with the documents public it would make every object it names public",
            "remove that statement (or restrict it to named principals) and re-run; oidc-publisher adds its own "
            "read on exactly the two documents",
        )


def _bucket_arn_prefix(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}/"


def document_prefix(arn: str, partition: str, bucket: str) -> str | None:
    """The key prefix of an issuer whose document this ARN names exactly, else None ("" for the root)."""
    head = _bucket_arn_prefix(partition, bucket)
    if not isinstance(arn, str) or not arn.startswith(head) or any(ch in arn for ch in "*?"):
        return None
    key = arn[len(head) :]
    for path in (JWKS_PATH, DISCOVERY_PATH):
        if key == path:
            return ""
        if key.endswith("/" + path) and key[: -len(path) - 1]:
            return key[: -len(path) - 1]
    return None


def _documents(statement: Mapping[str, Any] | None, spec: BucketSpec) -> list[str]:
    if statement is None:
        return []
    return [r for r in _as_list(statement.get("Resource")) if document_prefix(r, spec.partition, spec.name) is not None]


def _own_read(spec: BucketSpec) -> dict[str, Any]:
    [read] = [s for s in spec.public_policy["Statement"] if s["Sid"] in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID)]
    return dict(read)


def refuse_mixed_modes(policy: dict[str, Any], spec: BucketSpec) -> None:
    """Refuse when another issuer's documents in this bucket are read in the other mode (public S3-direct
    versus private behind CloudFront): the tool's read statements name every issuer's documents."""
    refuse_other_mode(
        policy, partition=spec.partition, bucket=spec.name, mine=set(_as_list(_own_read(spec)["Resource"])),
        private=spec.private,
    )


def refuse_other_mode(policy: dict[str, Any], *, partition: str, bucket: str, mine: set[str], private: bool) -> None:
    """:func:`refuse_mixed_modes` from this issuer's document ARNs (``mine``) and mode alone: what a
    CloudFront bootstrap knows before its distribution exists."""
    other_sid = PUBLIC_READ_SID if private else CLOUDFRONT_READ_SID
    by_sid = {s.get("Sid"): s for s in normalise_policy(policy).get("Statement", [])}
    other = by_sid.get(other_sid)
    named = _as_list(other.get("Resource")) if other else []
    others = sorted({r for r in named if document_prefix(r, partition, bucket) is not None} - mine)
    if not others:
        return
    prefix = document_prefix(others[0], partition, bucket)
    where = f"under prefix '{prefix}'" if prefix else "at the bucket root"
    theirs, ours = (
        ("publicly (S3-direct)", "through CloudFront with the bucket private")
        if private
        else ("through CloudFront with the bucket private", "publicly (S3-direct)")
    )
    raise ConflictError(
        f"s3://{bucket} already serves another issuer {where} {theirs}, and this issuer would be served {ours}: "
        "the two would switch each other's Block Public Access on every run",
        "give this issuer its own bucket, or serve both issuers the same way",
    )


def own_policy(existing: dict[str, Any] | None, spec: BucketSpec) -> dict[str, Any]:
    """The bucket policy with the tool's statements written exactly as the tool defines them.

    Other statements are kept as they are (public ones are refused before this). The read statement keeps,
    of what it named before, only the exact documents of other issuers in the bucket (other prefixes):
    whatever else was added to it (a wildcard, another key, another action) goes. The read statement of
    the other mode keeps nothing of this issuer's documents, and goes once it names nothing else.
    """
    statements = list(existing.get("Statement", [])) if existing else []
    by_sid = {s.get("Sid"): s for s in statements}
    result = [s for s in statements if s.get("Sid") not in OWN_SIDS]
    ours = {s["Sid"]: dict(s) for s in spec.public_policy["Statement"]}
    mine = set(_as_list(_own_read(spec)["Resource"]))
    for sid in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID):
        old = by_sid.get(sid)
        if sid in ours:
            statement = ours[sid]
            if old is not None and old.get("Condition") == _norm_condition(statement.get("Condition")):
                statement["Resource"] = sorted(set(_documents(old, spec)) | mine)
            result.append(statement)
        elif old is not None:
            rest = sorted(set(_documents(old, spec)) - mine)
            if rest:  # refused by refuse_mixed_modes before any write; kept, in the tool's exact form
                kept: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": "s3:GetObject", "Resource": rest}
                if sid == PUBLIC_READ_SID:
                    kept["Principal"] = "*"
                else:
                    kept["Principal"] = {"Service": "cloudfront.amazonaws.com"}
                    if old.get("Condition") is not None:
                        kept["Condition"] = old["Condition"]
                result.append(kept)
    result.extend(statement for sid, statement in ours.items() if sid not in (PUBLIC_READ_SID, CLOUDFRONT_READ_SID))
    return normalise_policy({"Version": spec.public_policy["Version"], "Statement": result})


def _norm_condition(condition: Any) -> Any:
    if condition is None:
        return None
    return normalise_policy({"Statement": [{"Condition": condition}]})["Statement"][0]["Condition"]
