"""A front the user manages (``--front``): what it means for the bucket, and how long it may cache. Pure.

``--front external``: a front that reads S3 anonymously (Cloudflare, nginx, a CDN): the bucket grants public
read on exactly the two documents, as for an S3-direct issuer. ``--front cloudfront-arn:ARN``: a CloudFront
distribution made elsewhere (its own Terraform), reading through its Origin Access Control: the bucket stays
private and its policy admits only that distribution, with the same statement the tool writes for its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from oidc_publisher.core.errors import UsageError
from oidc_publisher.core.rotation import DEFAULT_RETAIN, TOKEN_LIFE

EXTERNAL = "external"
CLOUDFRONT_ARN_PREFIX = "cloudfront-arn:"
# arn:PARTITION:cloudfront::ACCOUNT:distribution/ID (CloudFront is global: no region in its ARNs).
_DISTRIBUTION_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):cloudfront::[0-9]{12}:distribution/[A-Z0-9]{1,64}")
FRONT_HINT = "give --front external (a front that reads S3 anonymously) or --front cloudfront-arn:arn:aws:cloudfront::ACCOUNT:distribution/ID"


@dataclass(frozen=True)
class Front:
    """Who serves the bucket: ``distribution_arn`` None for an anonymous front, else that distribution (OAC)."""

    distribution_arn: str | None = None

    @property
    def private(self) -> bool:
        return self.distribution_arn is not None

    @property
    def kind(self) -> str:
        """What the bucket records at creation: "external" or "cloudfront-arn"."""
        return "cloudfront-arn" if self.distribution_arn else "external"

    def describe(self) -> str:
        return f"CloudFront distribution {self.distribution_arn} (OAC)" if self.distribution_arn else "an external front"


def parse_front(value: str) -> Front:
    """``external`` or ``cloudfront-arn:ARN``; anything else is a usage error (before any AWS call)."""
    if value == EXTERNAL:
        return Front()
    if value.startswith(CLOUDFRONT_ARN_PREFIX):
        arn = value[len(CLOUDFRONT_ARN_PREFIX) :]
        if not _DISTRIBUTION_ARN.fullmatch(arn):
            raise UsageError(
                f"--front {value}: {arn!r} is not a CloudFront distribution ARN",
                "give it as arn:aws:cloudfront::ACCOUNT:distribution/ID (the distribution's ARN, not its domain or ID)",
            )
        return Front(distribution_arn=arn)
    raise UsageError(f"--front {value!r} is not a front oidc-publisher knows", FRONT_HINT)


def unmanaged_notes(front: Front, *, host: str, bucket: str, region: str) -> list[str]:
    """What the tool does not manage for a front of the user's: said in the plan and the next steps."""
    origin = f"{bucket}.s3.{region}.amazonaws.com"
    if front.distribution_arn:
        reads = (
            f"the distribution's origin must be {origin} (the S3 REST endpoint, not the website endpoint) with an "
            "Origin Access Control that signs every request"
        )
    else:
        reads = (
            f"the front must read https://{origin}/ over HTTPS, without credentials (the bucket refuses plain HTTP; "
            "only the two documents are public)"
        )
    return [
        f"Front: {front.describe()}; oidc-publisher set up the bucket and registered https://{host}, and does not manage:",
        f"  - DNS: {host} must point at the front;",
        f"  - the front's TLS certificate for {host} (a change of its CA changes the thumbprint: re-run register);",
        f"  - the front's cache TTL for the two documents: at most {format_hours(cache_margin(DEFAULT_RETAIN))} "
        "(minutes is better; verify warns when it is longer);",
        f"  - {reads}.",
    ]


def format_hours(delta: dt.timedelta) -> str:
    hours, rest = divmod(int(delta.total_seconds()), 3600)
    return f"{hours}h" if not rest else f"{hours}h{rest // 60:02d}m"


# --- how long the front may cache ------------------------------------------------------------------


def cache_margin(retain: dt.timedelta = DEFAULT_RETAIN, token_life: dt.timedelta = TOKEN_LIFE) -> dt.timedelta:
    """What the retention leaves for caches: a removed key stays published ``retain`` after it left the
    source, tokens it signed live ``token_life``; the rest is all a cache in front of the JWKS may take."""
    return max(retain - token_life, dt.timedelta(0))


def cache_lifetime(headers: Mapping[str, str]) -> tuple[dt.timedelta | None, str]:
    """How long a shared cache (the front) may keep this response, from its own headers, and why.

    ``s-maxage`` wins over ``max-age`` for a shared cache; ``no-store`` / ``no-cache`` / ``private`` mean it
    keeps nothing; ``Age`` (what this copy has already spent in a cache) counts when it is longer than that.
    None: the response says nothing, the front's own default applies (CloudFront's DefaultTTL is 24 h).
    """
    directives: dict[str, str | None] = {}
    for part in (headers.get("Cache-Control") or "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = value.strip().strip('"') or None
    age = _seconds(headers.get("Age"))
    if {"no-store", "no-cache", "private"} & directives.keys():
        kept = dt.timedelta(0)
        why = "Cache-Control: " + ", ".join(d for d in ("no-store", "no-cache", "private") if d in directives)
    else:
        kept, why = None, ""
        for name in ("s-maxage", "max-age"):
            seconds = _seconds(directives.get(name))
            if seconds is not None:
                kept, why = dt.timedelta(seconds=seconds), f"Cache-Control {name}={seconds}"
                break
    if age is not None and (kept is None or dt.timedelta(seconds=age) > kept):
        return dt.timedelta(seconds=age), f"Age: {age}"
    return kept, why


def _seconds(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def cache_warning(
    document: str, headers: Mapping[str, str], *, retain: dt.timedelta = DEFAULT_RETAIN, token_life: dt.timedelta = TOKEN_LIFE
) -> str | None:
    """A warning when the front keeps ``document`` longer than the retention leaves for caches, else None.

    The rule: the longest the response says a shared cache may keep it (``s-maxage``, else ``max-age``, or
    ``Age`` when a copy is already older) must not exceed ``retain - token_life`` (24 h with the defaults).
    Longer, and a rotation takes longer than the retention is planned for: the JWKS with a new key reaches
    STS only that late, and a removed or revoked key stays served that long. A response that says nothing is
    not warned about here (the front's own default applies: the page on fronts says to check it).
    """
    kept, why = cache_lifetime(headers)
    margin = cache_margin(retain, token_life)
    if kept is None or kept <= margin:
        return None
    return (
        f"the front lets caches keep the {document} for {format_hours(kept)} ({why}), longer than the "
        f"{format_hours(margin)} the {format_hours(retain)} retention leaves after the {format_hours(token_life)} token "
        f"life: a new key reaches STS, and a removed one leaves, up to {format_hours(kept)} late"
    )
