"""What each command may call, and what is made from it: docs/iam-permissions.md and the rotation job's
IAM policy. Pure: text and dicts from the declared AWS surface (:data:`~oidc_publisher.core.operations.SURFACE`).

:data:`SECTIONS` says, per command, which declared calls it may make, with the notes the page gives on
them (which resource, when). A call's IAM actions come from the surface only, so the page and the
policy cannot drift from what the executor is allowed to call. ``python -m tests.test_iam_permissions``
writes the page; ``tests/test_iam_permissions.py`` fails when it is stale, and when a command calls
something its section does not declare.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oidc_publisher.core.operations import SURFACE

Call = tuple[str, str]  # (service, boto3 method): a key of SURFACE
_WIDTH = 106  # the page's lines


@dataclass(frozen=True)
class Item:
    """One call of a command (its IAM actions, as declared), with what the page says of it."""

    call: Call
    note: str = ""  # after the actions, e.g. " (only with --wait)"

    @property
    def actions(self) -> tuple[str, ...]:
        return SURFACE[self.call].actions


@dataclass(frozen=True)
class Line:
    """A bullet of a command's section: ``before``, the items' actions (each once), ``after``."""

    items: tuple[Item, ...]
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class Section:
    command: str  # as the page's heading names it, e.g. "bootstrap --cloudfront"
    intro: str
    lines: tuple[Line, ...]
    outro: str = ""

    @property
    def calls(self) -> tuple[Call, ...]:
        seen: dict[Call, None] = {}
        for line in self.lines:
            for item in line.items:
                seen.setdefault(item.call, None)
        return tuple(seen)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(a for call in self.calls for a in SURFACE[call].actions)


def items(service: str, *methods: str | tuple[str, str]) -> tuple[Item, ...]:
    """Items of one service: a method, or (method, note)."""
    return tuple(
        Item((service, m), "") if isinstance(m, str) else Item((service, m[0]), m[1]) for m in methods
    )


def line(*groups: tuple[Item, ...], before: str = "", after: str = "") -> Line:
    return Line(tuple(i for group in groups for i in group), before, after)


# --- the calls, by concern ------------------------------------------------------------------------

_OBJECT_READS = items("s3", "get_object")
_OBJECT_WRITES = items("s3", "put_object")
_BUCKET_READS = items(
    "s3", "head_bucket", "get_bucket_location", "get_bucket_ownership_controls", "get_public_access_block",
    "get_bucket_encryption", "get_bucket_versioning", "get_bucket_policy", "get_bucket_tagging",
)
_BUCKET_WRITES = items(
    "s3", "create_bucket", "put_bucket_ownership_controls", "put_public_access_block", "put_bucket_encryption",
    "put_bucket_versioning", "put_bucket_policy",
)
_PROVIDER_READS = items("iam", "list_open_id_connect_providers", "get_open_id_connect_provider")
_PROVIDER_WRITES = items(
    "iam", "create_open_id_connect_provider", "add_client_id_to_open_id_connect_provider",
    "update_open_id_connect_provider_thumbprint", "tag_open_id_connect_provider",
)
_INVALIDATION = items("cloudfront", "create_invalidation")

_OBJECTS = "`PREFIX/openid/v1/jwks`, `PREFIX/.well-known/openid-configuration` and\n  `PREFIX/.oidc-publisher/state.json`"

SECTIONS: tuple[Section, ...] = (
    Section(
        "publish",
        "The rotation job's command. It reads the two documents and its state object, and writes only what changed.",
        (
            line(_OBJECT_READS, after=f" on {_OBJECTS}"),
            line(_OBJECT_WRITES, after=" on the same three objects"),
            line(items("s3", "head_bucket"), after=(
                " on the bucket. No listing call is made (`HeadBucket` only asks S3 the bucket's region, when\n"
                "  no region is configured): without this permission S3 answers a missing object with 403 instead\n"
                "  of 404, and a first run (nothing published yet) fails.")),
            line(_INVALIDATION, after=(
                " on the distribution, when the issuer is behind CloudFront: the state\n"
                "  object records the distribution (`bootstrap --cloudfront` or `publish --distribution-id` put it\n"
                "  there), and every run that changes a document invalidates the changed paths.")),
        ),
        outro=(
            "**The rotation job's policy.** `templates render --distribution rotation-job` writes `iam-policy.json`,\n"
            "made from this section's calls, with exactly these statements:\n\n"
            "- the object actions above on the three object ARNs and nothing else;\n"
            "- `s3:ListBucket` on the bucket ARN with no condition. It is **not** limited to the prefix: the job can\n"
            "  list the name of every object in the bucket (names only, not contents). The condition key\n"
            "  `s3:prefix` is not used, because whether S3 applies it when it chooses between 403 and 404 on\n"
            "  `GetObject` is not documented. If the bucket holds anything whose name is a secret, keep the issuer\n"
            "  in a bucket of its own;\n"
            "- `cloudfront:CreateInvalidation` on `arn:PARTITION:cloudfront::ACCOUNT:distribution/ID` (the role's\n"
            "  account), only when rendered with `--distribution-id`. For an issuer behind CloudFront, always render\n"
            "  with `--distribution-id`: the state object names the distribution, so `publish` invalidates it after\n"
            "  every change, and without this statement those calls are denied."
        ),
    ),
    Section(
        "publish --create-bucket",
        "Everything `publish` needs, and to create the bucket or bring its set-up into line:",
        (
            line(_OBJECT_READS, _OBJECT_WRITES, items("s3", ("head_bucket", " (also for `HeadBucket`)")), _INVALIDATION,
                 after=" as for `publish`"),
            line(_BUCKET_READS[1:-1], items("s3", ("get_bucket_tagging", " (whether the tool created the bucket)")),
                 before="reads: "),
            line(_BUCKET_WRITES, before="writes, each only when that setting differs: ", after=(
                "\n  (`CreateBucket` creates the bucket with ACLs disabled and its `managed-by` tag in the same call)")),
        ),
    ),
    Section(
        "publish --fleet",
        "What `publish` needs, for each cluster's objects (see [fleet.md](fleet.md)); with the file's `accounts`,\n"
        "also what `register` needs in each listed account:",
        (
            line(_OBJECT_READS, _OBJECT_WRITES, items("s3", "head_bucket"), _INVALIDATION, after=" as for `publish`"),
            line(items("sts", ("assume_role", " on each listed role")), _PROVIDER_READS, _PROVIDER_WRITES,
                 before="with `accounts`: "),
        ),
    ),
    Section(
        "register",
        "",
        (
            line(_PROVIDER_READS, before="reads: "),
            line(_PROVIDER_WRITES, before="writes, each only when needed: "),
        ),
        outro=(
            "The provider is never deleted and no client ID is ever removed. Thumbprints are computed over HTTPS from\n"
            "the issuer's host, not through AWS."
        ),
    ),
    Section(
        "bootstrap",
        "An S3-direct issuer: what `publish --create-bucket` and `register` need together.",
        (
            line(_BUCKET_READS, _BUCKET_WRITES, _OBJECT_READS, _OBJECT_WRITES, before="S3: "),
            line(_PROVIDER_READS, _PROVIDER_WRITES, before="IAM: "),
        ),
    ),
    Section(
        "bootstrap --cloudfront",
        "Everything `bootstrap` needs, and for the distribution (see [cloudfront.md](cloudfront.md)):",
        (
            line(_BUCKET_READS, _BUCKET_WRITES, _OBJECT_READS, _OBJECT_WRITES, before="S3: "),
            line(_PROVIDER_READS, _PROVIDER_WRITES, before="IAM: "),
            line(items(
                "cloudfront", "list_origin_access_controls", "list_distributions",
                ("get_distribution_config", " (an existing distribution)"),
                ("list_tags_for_resource", " (only\n  for a distribution of the bucket whose comment was edited: it is then recognised by its tag)"),
                ("list_cache_policies", " (the tool's cache policy, found by name among the custom ones)"),
                ("get_cache_policy", " (only when that policy drifted: its ETag, for the update)"),
                ("get_distribution", " (only with `--wait`: the distribution's status until it has deployed)"),
            ), before="CloudFront, reads: "),
            line(items(
                "cloudfront", "create_origin_access_control", "create_cache_policy", "create_distribution_with_tags",
                ("update_cache_policy", " (only when\n  its TTLs or cache key drifted)"),
                ("update_distribution", " (only to converge drift: re-enable,\n  aliases, certificate, viewer policy, "
                 "origin access control, a distribution still on the legacy TTL\n  fields moved onto the cache policy)"),
                "create_invalidation",
            ), before="CloudFront, writes: "),
            line(items("sts", "get_caller_identity"), before=(
                "`GetCallerIdentity`, for the account in the distribution's ARN in the bucket policy (no permission needed)")),
        ),
    ),
    Section(
        "verify",
        "",
        (
            line(_PROVIDER_READS, after="; none with `--skip-iam`. The issuer\n  itself is read over HTTPS, as STS reads it."),
            line(_OBJECT_READS, before="with `--bucket` or `--member` (the members of a shared issuer): ",
                 after=" on the state object and the JWKS"),
        ),
    ),
    Section(
        "doctor",
        "Reads only (see [doctor.md](doctor.md)); a check whose read is refused fails with the permission it\n"
        "needs, and the other checks go on.",
        (
            line(items(
                "iam", ("get_open_id_connect_provider", " (the provider is looked up in the role's account, named by the annotation)"),
                "get_role", "list_attached_role_policies", "list_role_policies",
            )),
            line(items("sts", "assume_role_with_web_identity"), before=(
                "The exchange, `AssumeRoleWithWebIdentity`, is an unsigned call: it needs no permission of the caller\n"
                "  (the role's trust policy is what allows it), and works with no AWS credentials at all.")),
        ),
        outro=(
            "On the Kubernetes side, bind this ClusterRole (and `system:service-account-issuer-discovery`, for\n"
            "`/.well-known/openid-configuration`) to the identity that runs `doctor`. `create` on\n"
            "`serviceaccounts/token` is the one call that is not a read: TokenRequest signs a short-lived (600 s)\n"
            "token and returns it, and stores nothing.\n\n"
            "```yaml\n"
            "apiVersion: rbac.authorization.k8s.io/v1\n"
            "kind: ClusterRole\n"
            "metadata:\n"
            "  name: oidc-publisher-doctor\n"
            "rules:\n"
            '  - apiGroups: [""]\n'
            '    resources: ["pods", "serviceaccounts", "services", "endpoints"]\n'
            '    verbs: ["get"]\n'
            '  - apiGroups: [""]\n'
            '    resources: ["serviceaccounts/token"]\n'
            '    verbs: ["create"]\n'
            '  - apiGroups: ["admissionregistration.k8s.io"]\n'
            '    resources: ["mutatingwebhookconfigurations"]\n'
            '    verbs: ["list"]\n'
            "```"
        ),
    ),
    Section(
        "role create",
        "",
        (
            line(items(
                "iam", "get_open_id_connect_provider", "get_role", "create_role", "update_assume_role_policy", "update_role",
                "put_role_permissions_boundary", "tag_role", "list_attached_role_policies",
                ("get_policy", " (each policy about to be attached or set as the\n  boundary is checked to exist before the first write)"),
                "attach_role_policy", "detach_role_policy", "get_role_policy", "put_role_policy", "delete_role_policy",
            ), items("sts", "get_caller_identity"), after=" (details in [roles.md](roles.md)).\n  `role trust-policy` needs none."),
        ),
    ),
    Section(
        "audit",
        "",
        (
            line(items("sts", "get_caller_identity"), items("iam", "get_open_id_connect_provider", "list_roles")),
            line(_OBJECT_READS, before="with `--bucket` (to note the clusters sharing the issuer): ",
                 after=" on the state object and the JWKS"),
        ),
    ),
    Section(
        "members list",
        "",
        (line(_OBJECT_READS, after=" on the state object and the JWKS (with `s3:ListBucket`, a missing object answers 404)"),),
    ),
    Section(
        "members remove",
        "",
        (
            line(items(
                "s3", ("get_object", " on the state object, the JWKS and the discovery document (with `s3:ListBucket`, a "
                                     "missing object answers 404)"),
                ("put_object", " on those it changes (the state always; the JWKS's metadata; with `--revoke`, the JWKS and "
                               "the discovery document)"),
            )),
            line(_INVALIDATION, after=" on the issuer's distribution, when the JWKS changes behind CloudFront"),
        ),
    ),
    Section(
        "teardown",
        "Details in [teardown.md](teardown.md).",
        (
            line(items(
                "iam", "get_open_id_connect_provider", "list_roles", "delete_open_id_connect_provider",
                ("list_open_id_connect_providers", " (with `--delete-bucket`: no\n  provider of this account may still "
                 "trust an S3-direct issuer's bucket)"),
            ), items("sts", "get_caller_identity"), before="IAM: "),
            line(items(
                "s3", ("head_bucket", " (for `HeadBucket`)"),
                ("get_object", " (the state object, or the discovery document,\n  to check that they are this issuer's "
                 "before anything is deleted)"),
                "get_bucket_tagging", "list_object_versions", "delete_objects", "delete_bucket", "get_bucket_policy",
                "put_bucket_policy", "delete_bucket_policy",
            ), before="S3: "),
            line(items("s3", "put_bucket_tagging", "get_public_access_block", "put_public_access_block"),
                 before="S3, to keep an S3-direct issuer's bucket as a locked tombstone: "),
            line(items(
                "cloudfront", "list_distributions", "list_tags_for_resource", "get_distribution_config", "update_distribution",
                "get_distribution", "delete_distribution", "list_origin_access_controls", "get_origin_access_control",
                "delete_origin_access_control", "list_cache_policies", "get_cache_policy",
                ("delete_cache_policy", " (the\n  tool's cache policy, once the distribution is gone)"),
            ), before="CloudFront: "),
        ),
    ),
)

# Per command, the declared calls it may make.
COMMANDS: Mapping[str, tuple[Call, ...]] = {section.command: section.calls for section in SECTIONS}

# Calls whose IAM action is not simply SERVICE:API, and why, for the page's table.
_WHY: Mapping[Call, str] = {
    ("s3", "create_bucket"): "with ACLs disabled (`ObjectOwnership`) and the tool's tag",
    ("s3", "delete_objects"): "of object versions, by version ID",
    ("iam", "create_open_id_connect_provider"): "with tags",
    ("iam", "create_role"): "with tags",
    ("sts", "get_caller_identity"): "(the caller's account: IAM lets every caller ask)",
    ("sts", "assume_role_with_web_identity"): "(unsigned: the role's trust policy allows it)",
}


def _plain_name(call: Call) -> bool:
    declared = SURFACE[call]
    return declared.actions == (f"{declared.service}:{declared.api}",)


def render_page() -> str:
    """docs/iam-permissions.md."""
    out = [
        "# IAM permissions",
        "",
        "What each command calls, as IAM actions, so you can grant exactly that. Each list is complete: it is",
        "every action the command can need. The lists are generated from the tool's declared AWS surface",
        "(`oidc_publisher/core/operations.py`, regenerate with `python -m tests.test_iam_permissions`), and",
        "`tests/test_iam_permissions.py` runs each command against the local AWS emulator and fails when the",
        "tool makes a call that this page does not list for that command.",
        "Where the API call and the IAM action have different names, the action is what you grant:",
        "",
        "| API call | IAM action(s) it needs |",
        "|---|---|",
    ]
    used = {call for section in SECTIONS for call in section.calls}
    for call in sorted((c for c in used if not _plain_name(c)), key=lambda c: (c[0] != "s3", c[0], SURFACE[c].api)):
        declared = SURFACE[call]
        why = f" {_WHY[call]}" if call in _WHY else ""
        named = [f"`{a}`" for a in declared.actions]
        needs = (", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else "".join(named)) or "none"
        out.append(f"| `{declared.api}`{why} | {needs} |")
    out += [
        "",
        "`keys generate`, `render`, `thumbprint` and `templates render` make no AWS call. An `AccessDenied`",
        "error names the action that was refused. With `--account-role` (several accounts), the caller needs",
        "`sts:AssumeRole` on each listed role, and each role what the command needs in its account: see",
        "[accounts.md](accounts.md#1-the-role-to-assume-in-each-account).",
    ]
    for section in SECTIONS:
        out += ["", f"## `{section.command}`", ""]
        if section.intro:
            out += [section.intro, ""]
        out += [_render_line(each) for each in section.lines]
        if section.outro:
            out += ["", section.outro]
    return "\n".join(out) + "\n"


def _render_line(each: Line) -> str:
    shown: list[str] = []
    seen: set[str] = set()
    for item in each.items:
        fresh = [a for a in item.actions if a not in seen]
        seen.update(fresh)
        if fresh:
            shown.append(", ".join(f"`{a}`" for a in fresh) + item.note)
    text = " ".join((each.before + ", ".join(shown) + each.after).split())
    return textwrap.fill(text, _WIDTH, initial_indent="- ", subsequent_indent="  ", break_long_words=False,
                         break_on_hyphens=False)


# --- the rotation job's policy: publish's calls, each on its resource -------------------------------

# Which resource each of publish's calls acts on: its objects, its bucket, its distribution.
_PUBLISH_RESOURCES: Mapping[Call, str] = {
    ("s3", "get_object"): "objects",
    ("s3", "put_object"): "objects",
    ("s3", "head_bucket"): "bucket",
    ("cloudfront", "create_invalidation"): "distribution",
}
_SIDS = {
    "objects": "ReadAndWriteTheIssuerDocumentsAndState",
    "bucket": "TellMissingObjectsFromDenials",
    "distribution": "InvalidateTheIssuerDocuments",
}


def rotation_job_policy(
    *, partition: str, account: str, bucket: str, object_keys: Sequence[str], distribution_id: str | None
) -> dict[str, Any]:
    """The least privilege ``publish`` needs in the rotation job: each of its declared calls' IAM actions on
    the one resource the call acts on; the distribution's statement only when there is one."""
    resources: dict[str, str | list[str]] = {
        "objects": [f"arn:{partition}:s3:::{bucket}/{key}" for key in object_keys],
        "bucket": f"arn:{partition}:s3:::{bucket}",
    }
    if distribution_id:
        resources["distribution"] = f"arn:{partition}:cloudfront::{account}:distribution/{distribution_id}"
    statements = []
    for kind, resource in resources.items():
        actions = sorted({a for call in COMMANDS["publish"] if _PUBLISH_RESOURCES[call] == kind for a in SURFACE[call].actions})
        statements.append({
            "Sid": _SIDS[kind], "Effect": "Allow", "Action": actions[0] if len(actions) == 1 else actions, "Resource": resource,
        })
    return {"Version": "2012-10-17", "Statement": statements}


def policy_text(policy: Mapping[str, Any]) -> str:
    """A policy as the tool writes it: two-space indents, sorted-as-built keys, each ``Action`` list on one line."""
    return _dumps(policy, 0) + "\n"


def _dumps(value: Any, depth: int, key: str | None = None) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, Mapping):
        body = [f"{inner}{json.dumps(k)}: {_dumps(v, depth + 1, k)}" for k, v in value.items()]
        return "{\n" + ",\n".join(body) + f"\n{pad}}}"
    if isinstance(value, list):
        if key == "Action":
            return "[" + ", ".join(json.dumps(v) for v in value) + "]"
        return "[\n" + ",\n".join(f"{inner}{_dumps(v, depth + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value)
