"""Issuer URLs: what IAM and STS accept, where the documents live, and how a URL maps to S3.

Pure: no network, no boto3.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from oidc_publisher.core.errors import OPTION, InputError

# The audience of an IRSA token and the client ID of the IAM provider that STS asks for (defined once).
STS_AUDIENCE = "sts.amazonaws.com"

DISCOVERY_PATH = ".well-known/openid-configuration"
JWKS_PATH = "openid/v1/jwks"
STATE_PATH = ".oidc-publisher/state.json"

# https://BUCKET.s3.REGION.amazonaws.com (and the .com.cn partition); the virtual-hosted style
# that S3's wildcard certificate covers.
_S3_HOST = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.s3[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-\d)"
    r"\.amazonaws\.com(?:\.cn)?$"
)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# IAM's limit for an OIDC provider's URL (CreateOpenIDConnectProvider's Url).
MAX_URL_LENGTH = 255
# RFC 3986 path characters (pchar and '/'), less the single quote: a sub-delim RFC 3986 allows, but one that
# breaks every shell line, policy and manifest the issuer is pasted into, and no API server needs.
_PATH = re.compile(r"^[A-Za-z0-9\-._~!$&()*+,;=:@/%]*$")
# '%' not followed by two hex digits, or a percent-encoded dot (a %2e segment is '.' or '..' to a server).
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})|%2[eE]")
_PUBLIC_NAME_HINT = "STS fetches the documents over the internet: use a public DNS name (S3, CloudFront or a domain of yours)"


@dataclass(frozen=True)
class Issuer:
    """A validated issuer URL. ``url`` is kept byte for byte: it must equal the tokens' ``iss``."""

    url: str
    host: str
    path: str  # without leading or trailing slash; "" for a bare host

    @property
    def base(self) -> str:
        """The URL documents are appended to: per OIDC Discovery, a terminating '/' is removed first."""
        return self.url.rstrip("/")

    @property
    def discovery_url(self) -> str:
        return f"{self.base}/{DISCOVERY_PATH}"

    @property
    def default_jwks_uri(self) -> str:
        return f"{self.base}/{JWKS_PATH}"

    @property
    def provider_path(self) -> str:
        """HOST/PATH: how IAM names the provider (in its ARN) and the trust-policy condition keys."""
        return f"{self.host}/{self.path}" if self.path else self.host

    def s3_origin(self) -> tuple[str, str] | None:
        """(bucket, region) when this is an S3-direct issuer, else None."""
        match = _S3_HOST.match(self.host)
        return (match["bucket"], match["region"]) if match else None


def parse_issuer(url: str, *, what: str = "issuer URL") -> Issuer:
    """Validate an issuer URL the way IAM and STS will, with a message that says how to fix it.

    The raw string is checked, character by character, before it is split: ``urlsplit`` quietly drops
    leading control characters and tabs, and what it drops would still be published in the documents.
    ``what`` names the URL in messages (``--jwks-uri`` follows the same rules: an option, which the error
    names as its ``option``).
    """
    option = what if what.startswith("--") else None
    subject = OPTION if option else what
    refuse = functools.partial(InputError, option=option)
    if not url:
        raise refuse(f"{subject} is empty", "give --issuer-url https://HOST[/PATH]")
    if len(url) > MAX_URL_LENGTH:
        raise refuse(
            f"{subject} {_shown(url)} is {len(url)} characters long",
            f"IAM accepts provider URLs of at most {MAX_URL_LENGTH} characters; use a shorter host or path",
        )
    if url != url.strip() or any(ch.isspace() for ch in url):
        raise refuse(f"{subject} {url!r} contains whitespace", "remove it: the issuer must match 'iss' exactly")
    odd = next((i for i, ch in enumerate(url) if not " " < ch < "\x7f"), None)
    if odd is not None:
        raise refuse(
            f"{subject} {url!r} contains a control or non-ASCII character ({url[odd]!r} at position {odd + 1})",
            "type it again in plain ASCII (a host in Unicode goes in its xn-- form)",
        )
    if not url.startswith("https://"):
        scheme = url.partition(":")[0]
        if scheme.lower() == "https" and url[len(scheme) :].startswith("://"):
            raise refuse(f"{subject} {url!r} has an upper-case scheme", "write it as https:// exactly, in lower case")
        raise refuse(
            f"{subject} {url!r} is not https",
            "IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)",
        )
    parts = urlsplit(url)
    if parts.query or url.endswith("?"):
        raise refuse(f"{subject} {url!r} has a query string", "remove everything from '?' on")
    if parts.fragment or "#" in url:
        raise refuse(f"{subject} {url!r} has a fragment", "remove everything from '#' on")
    if parts.username or parts.password or "@" in parts.netloc:
        raise refuse(f"{subject} {url!r} contains credentials", "remove the 'user@' part")
    if parts.netloc.startswith("["):
        raise refuse(f"{subject} {url!r} has an IP address as its host", _PUBLIC_NAME_HINT)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None or parts.netloc.endswith(":"):
        raise refuse(
            f"{subject} {url!r} has a port",
            "IAM refuses issuer URLs with a port; serve it on 443 and drop ':PORT'",
        )
    host = parts.hostname or ""
    if not host or parts.netloc != parts.netloc.lower() or not all(_HOST_LABEL.match(x) for x in host.split(".")):
        raise refuse(
            f"{subject} {url!r} has no valid lower-case host name", "use https://HOST[/PATH] with a DNS name"
        )
    if host_is_ip_literal(host):
        raise refuse(f"{subject} {url!r} has an IP address as its host", _PUBLIC_NAME_HINT)
    if host == "localhost" or host.endswith(".localhost"):
        raise refuse(f"{subject} {url!r} names localhost", _PUBLIC_NAME_HINT)
    path = parts.path
    if not _PATH.match(path):
        bad = next(ch for ch in path if not _PATH.match(ch))
        raise refuse(
            f"{subject} {url!r} has {bad!r} in its path",
            "use only letters, digits and -._~!$&()*+,;=:@/ (RFC 3986), with %XX escapes for the rest",
        )
    if _BAD_ESCAPE.search(path):
        raise refuse(
            f"{subject} {url!r} has an invalid or percent-encoded dot escape in its path",
            "write '%' only as %XX with two hex digits, and a dot as '.' (a %2e segment is read as '.' or '..')",
        )
    if "//" in path or "/./" in path or "/../" in path or path.endswith(("/.", "/..")):
        raise refuse(f"{subject} {url!r} has an empty or relative path segment", "normalise the path")
    return Issuer(url=url, host=host, path=path.strip("/"))


def host_is_ip_literal(host: str) -> bool:
    """An IPv4 address in any of the forms resolvers accept (``127.1``, ``0x7f.1``): a DNS name's last label
    (its top-level domain) is never numeric."""
    return bool(re.fullmatch(r"\d+|0x[0-9a-f]*", host.rsplit(".", 1)[-1]))


def _shown(url: str) -> str:
    """A long URL, quoted and cut, for a one-line message."""
    return repr(url[:60] + "...") if len(url) > 60 else repr(url)


def validate_bucket_name(bucket: str, *, s3_direct: bool) -> None:
    if not _BUCKET.match(bucket) or ".." in bucket or re.match(r"^\d+\.\d+\.\d+\.\d+$", bucket):
        raise InputError(
            f"bucket name {bucket!r} is not a valid S3 bucket name",
            "use 3-63 lower-case letters, digits, '-' (and '.' only behind CloudFront)",
        )
    if s3_direct and "." in bucket:
        raise InputError(
            f"bucket name {bucket!r} contains dots, which S3's wildcard certificate does not cover",
            "choose a name without dots, or serve the issuer through CloudFront (--cloudfront)",
        )


def s3_direct_issuer_url(bucket: str, region: str, prefix: str = "") -> str:
    """The issuer S3 itself serves: https://BUCKET.s3.REGION.amazonaws.com[/PREFIX]."""
    validate_bucket_name(bucket, s3_direct=True)
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    url = f"https://{bucket}.s3.{region}{suffix}"
    prefix = normalise_prefix(prefix)  # a bad --prefix is named as such, not as a bad issuer URL
    return f"{url}/{prefix}" if prefix else url


def normalise_prefix(prefix: str) -> str:
    """A key prefix without leading or trailing slashes; refuses what S3 keys or URLs cannot hold."""
    stripped = prefix.strip("/")
    if "//" in stripped or any(seg in (".", "..") for seg in stripped.split("/") if stripped):
        raise InputError(
            f"prefix {prefix!r} has an empty or relative segment", "use a plain path such as 'clusters/prod'"
        )
    if any(ch.isspace() or ch in "?#\\" for ch in stripped):
        raise InputError(
            f"prefix {prefix!r} contains characters that do not belong in a URL path", "use [A-Za-z0-9._-/]"
        )
    return stripped


@dataclass(frozen=True)
class ObjectKeys:
    """Where the documents (and the tool's private state) live in the bucket."""

    prefix: str

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    @property
    def discovery(self) -> str:
        return self._key(DISCOVERY_PATH)

    @property
    def jwks(self) -> str:
        return self._key(JWKS_PATH)

    @property
    def state(self) -> str:
        return self._key(STATE_PATH)

    @property
    def published(self) -> tuple[str, str]:
        """The public objects, in write order: the JWKS before the discovery document."""
        return (self.jwks, self.discovery)


def object_keys_for(issuer: Issuer, bucket: str, prefix: str | None) -> ObjectKeys:
    """Where the documents go: an S3-direct issuer's path *is* the prefix; otherwise --prefix or the path."""
    origin = issuer.s3_origin()
    if origin is not None:
        if origin[0] != bucket:
            raise InputError(
                f"issuer {issuer.url} is served by bucket {origin[0]!r}, not {bucket!r}",
                "use the bucket named in the issuer URL, or an issuer URL for this bucket",
            )
        if prefix is not None and normalise_prefix(prefix) != issuer.path:
            raise InputError(
                f"{OPTION} {prefix!r} disagrees with the issuer's path {issuer.path!r}",
                f"for an S3-direct issuer the path is the prefix; drop {OPTION}", option="--prefix",
            )
        return ObjectKeys(issuer.path)
    return ObjectKeys(normalise_prefix(prefix) if prefix is not None else issuer.path)


def issuer_difference(recorded: str, given: str, option: str = "--issuer-url") -> tuple[str, str]:
    """How ``given`` differs from the issuer ``recorded`` in a bucket, and the fix: (difference, hint).

    One explanation wherever the tool finds another issuer's documents at this issuer's keys: most often
    it is the same issuer mistyped (a trailing slash, the region of an S3-direct URL), not another one.
    ``option``: how the hint names the issuer URL's option (errors.OPTION, for an error whose option it is)."""
    keep = f"if the cluster's --service-account-issuer is {recorded}, give {option} {recorded}"
    if recorded.rstrip("/") == given.rstrip("/"):
        which = "the recorded one ends with '/' and this one does not" if recorded.endswith("/") else (
            "this one ends with '/' and the recorded one does not")
        return (
            f"only a trailing slash differs ({which})",
            f"the issuer must match the tokens' iss byte for byte: {keep}, slash and all",
        )
    old, new = urlsplit(recorded), urlsplit(given)
    if old.scheme != new.scheme:
        return f"the scheme differs ({old.scheme or 'none'} vs {new.scheme or 'none'})", keep
    old_host, new_host = old.hostname or "", new.hostname or ""
    if old_host != new_host:
        old_s3, new_s3 = _S3_HOST.match(old_host), _S3_HOST.match(new_host)
        if old_s3 and new_s3 and old_s3["bucket"] == new_s3["bucket"]:
            return (
                f"the region differs ({old_s3['region']} recorded, {new_s3['region']} here)",
                f"give --region {old_s3['region']} (the region the issuer was published for), or {option} {recorded}",
            )
        return (
            f"the host differs ({old_host} vs {new_host})",
            f"{keep}; a different issuer needs its own --prefix or bucket",
        )
    if old.path.strip("/") != new.path.strip("/"):
        return (
            f"the path differs ({old.path or '/'} vs {new.path or '/'})",
            f"{keep}; a different issuer needs its own --prefix",
        )
    return "the URLs differ", keep
