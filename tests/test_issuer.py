"""Issuer URL rules (what IAM and STS accept) and where documents live in the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_publisher.core.errors import InputError
from oidc_publisher.core.issuer import (
    MAX_URL_LENGTH,
    host_is_ip_literal,
    object_keys_for,
    parse_issuer,
    s3_direct_issuer_url,
    validate_bucket_name,
)
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.motoserver import AwsWorld


@pytest.mark.parametrize(
    "url,message",
    [
        ("http://oidc.example.com", "issuer URL 'http://oidc.example.com' is not https; IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)"),
        ("https://oidc.example.com?x=1", "issuer URL 'https://oidc.example.com?x=1' has a query string; remove everything from '?' on"),
        ("https://oidc.example.com#frag", "issuer URL 'https://oidc.example.com#frag' has a fragment; remove everything from '#' on"),
        ("https://oidc.example.com:8443", "issuer URL 'https://oidc.example.com:8443' has a port; IAM refuses issuer URLs with a port; serve it on 443 and drop ':PORT'"),
        ("https://oidc.example.com:443/p", "issuer URL 'https://oidc.example.com:443/p' has a port; IAM refuses issuer URLs with a port; serve it on 443 and drop ':PORT'"),
        (" https://oidc.example.com", "issuer URL ' https://oidc.example.com' contains whitespace; remove it: the issuer must match 'iss' exactly"),
        ("https://oidc.example.com/a b", "issuer URL 'https://oidc.example.com/a b' contains whitespace; remove it: the issuer must match 'iss' exactly"),
        ("https://oidc.example.com\n", "issuer URL 'https://oidc.example.com\\n' contains whitespace; remove it: the issuer must match 'iss' exactly"),
        ("https://OIDC.example.com", "issuer URL 'https://OIDC.example.com' has no valid lower-case host name; use https://HOST[/PATH] with a DNS name"),
        ("https:///path", "issuer URL 'https:///path' has no valid lower-case host name; use https://HOST[/PATH] with a DNS name"),
        ("https://u@oidc.example.com", "issuer URL 'https://u@oidc.example.com' contains credentials; remove the 'user@' part"),
        ("https://oidc.example.com//x", "issuer URL 'https://oidc.example.com//x' has an empty or relative path segment; normalise the path"),
        ("", "issuer URL is empty; give --issuer-url https://HOST[/PATH]"),
        # The raw string is checked: urlsplit drops a leading control character, the documents would not.
        ("\x01https://oidc.example.com", "issuer URL '\\x01https://oidc.example.com' contains a control or non-ASCII character ('\\x01' at position 1); type it again in plain ASCII (a host in Unicode goes in its xn-- form)"),
        ("https://oidc.example.com/a\x00", "issuer URL 'https://oidc.example.com/a\\x00' contains a control or non-ASCII character ('\\x00' at position 27); type it again in plain ASCII (a host in Unicode goes in its xn-- form)"),
        ("https://oidc.example.com/a\x7f", "issuer URL 'https://oidc.example.com/a\\x7f' contains a control or non-ASCII character ('\\x7f' at position 27); type it again in plain ASCII (a host in Unicode goes in its xn-- form)"),
        ("https://oidc.example.com/a\u200b", "issuer URL 'https://oidc.example.com/a\\u200b' contains a control or non-ASCII character ('\\u200b' at position 27); type it again in plain ASCII (a host in Unicode goes in its xn-- form)"),
        ("https://oidc.example.com/caf\u00e9", "issuer URL 'https://oidc.example.com/caf\u00e9' contains a control or non-ASCII character ('\u00e9' at position 29); type it again in plain ASCII (a host in Unicode goes in its xn-- form)"),
        ("HTTPS://oidc.example.com", "issuer URL 'HTTPS://oidc.example.com' has an upper-case scheme; write it as https:// exactly, in lower case"),
        ("Https://oidc.example.com", "issuer URL 'Https://oidc.example.com' has an upper-case scheme; write it as https:// exactly, in lower case"),
        ("https:oidc.example.com", "issuer URL 'https:oidc.example.com' is not https; IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)"),
        ("https://oidc.example.com/a\\b", "issuer URL 'https://oidc.example.com/a\\\\b' has '\\\\' in its path; use only letters, digits and -._~!$&()*+,;=:@/ (RFC 3986), with %XX escapes for the rest"),
        ('https://oidc.example.com/a"b', "issuer URL 'https://oidc.example.com/a\"b' has '\"' in its path; use only letters, digits and -._~!$&()*+,;=:@/ (RFC 3986), with %XX escapes for the rest"),
        ("https://oidc.example.com/a'b", "issuer URL \"https://oidc.example.com/a'b\" has \"'\" in its path; use only letters, digits and -._~!$&()*+,;=:@/ (RFC 3986), with %XX escapes for the rest"),
        ("https://oidc.example.com/a<b>", "issuer URL 'https://oidc.example.com/a<b>' has '<' in its path; use only letters, digits and -._~!$&()*+,;=:@/ (RFC 3986), with %XX escapes for the rest"),
        ("https://oidc.example.com/%2e%2e/x", "issuer URL 'https://oidc.example.com/%2e%2e/x' has an invalid or percent-encoded dot escape in its path; write '%' only as %XX with two hex digits, and a dot as '.' (a %2e segment is read as '.' or '..')"),
        ("https://oidc.example.com/a%2E", "issuer URL 'https://oidc.example.com/a%2E' has an invalid or percent-encoded dot escape in its path; write '%' only as %XX with two hex digits, and a dot as '.' (a %2e segment is read as '.' or '..')"),
        ("https://oidc.example.com/100%", "issuer URL 'https://oidc.example.com/100%' has an invalid or percent-encoded dot escape in its path; write '%' only as %XX with two hex digits, and a dot as '.' (a %2e segment is read as '.' or '..')"),
        ("https://127.0.0.1", "issuer URL 'https://127.0.0.1' has an IP address as its host; STS fetches the documents over the internet: use a public DNS name (S3, CloudFront or a domain of yours)"),
        ("https://127.1/x", "issuer URL 'https://127.1/x' has an IP address as its host; STS fetches the documents over the internet: use a public DNS name (S3, CloudFront or a domain of yours)"),
        ("https://[::1]/x", "issuer URL 'https://[::1]/x' has an IP address as its host; STS fetches the documents over the internet: use a public DNS name (S3, CloudFront or a domain of yours)"),
        ("https://localhost", "issuer URL 'https://localhost' names localhost; STS fetches the documents over the internet: use a public DNS name (S3, CloudFront or a domain of yours)"),
        ("https://oidc.localhost/x", "issuer URL 'https://oidc.localhost/x' names localhost; STS fetches the documents over the internet: use a public DNS name (S3, CloudFront or a domain of yours)"),
        ("https://oidc.example.com/" + "a" * 231, "issuer URL 'https://oidc.example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is 256 characters long; IAM accepts provider URLs of at most 255 characters; use a shorter host or path"),
    ],
)
def test_bad_issuers(url: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_issuer(url)
    assert str(info.value) == message


def test_the_longest_url_iam_accepts_is_accepted() -> None:
    url = "https://oidc.example.com/" + "a" * (MAX_URL_LENGTH - len("https://oidc.example.com/"))
    assert len(url) == 255
    assert parse_issuer(url).url == url


@pytest.mark.parametrize(
    "url", ["https://oidc.example.com/a-b_c.d~e/!$&()*+,;=:@", "https://oidc.example.com/%41%7e", "https://oidc.example.com/", "https://10x.example.com"]
)
def test_rfc3986_paths_and_numeric_labels_that_are_not_the_tld_are_accepted(url: str) -> None:
    assert parse_issuer(url).url == url


def test_jwks_uri_messages_name_the_option() -> None:
    from oidc_publisher.core.documents import validate_jwks_uri

    with pytest.raises(InputError, match=r"^--jwks-uri 'https://127.0.0.1/jwks' has an IP address as its host"):
        validate_jwks_uri("https://127.0.0.1/jwks")


@pytest.mark.parametrize(("host", "ip"), [("1.2.3.4", True), ("127.1", True), ("0x7f.1", True), ("10.0.0.0x1", True), ("2130706433", True), ("a.b.c", False), ("1.2.3.com", False), ("x0x1.io", False)])
def test_ip_literals_in_every_form_resolvers_accept(host: str, ip: bool) -> None:
    assert host_is_ip_literal(host) is ip


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_HOST = st.lists(_LABEL, min_size=1, max_size=3).map(".".join).map(lambda h: f"{h}.example.com")
_SEGMENT = st.text(alphabet="abcXYZ019-._~!$&()*+,;=:@", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(host=_HOST, segments=st.lists(_SEGMENT, max_size=4), slash=st.booleans())
def test_every_valid_issuer_is_kept_byte_for_byte(host: str, segments: list[str], slash: bool) -> None:
    url = f"https://{host}" + "".join(f"/{s}" for s in segments) + ("/" if slash else "")
    issuer = parse_issuer(url)
    assert issuer.url == url
    assert issuer.host == host
    assert issuer.provider_path == f"{host}/{'/'.join(segments)}".rstrip("/")


@settings(max_examples=300, deadline=None)
@given(prefix=st.text(max_size=10), suffix=st.text(max_size=10), bad=st.characters(blacklist_categories=(), max_codepoint=0x10FFFF).filter(lambda c: not " " < c < "\x7f"))
def test_no_control_whitespace_or_non_ascii_character_gets_through_anywhere(prefix: str, suffix: str, bad: str) -> None:
    """Wherever it is (before the scheme, in the host, in the path), the raw string is refused."""
    for url in (f"{bad}https://oidc.example.com/a", f"https://oidc.example.com/{prefix}{bad}{suffix}", f"https://oidc{bad}.example.com"):
        with pytest.raises(InputError):
            parse_issuer(url)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_whatever_is_accepted_is_printable_ascii_https_and_within_iams_limit(text: str) -> None:
    for url in (text, "https://oidc.example.com/" + text):
        try:
            issuer = parse_issuer(url)
        except InputError as exc:
            assert "\n" not in str(exc)
            continue
        assert issuer.url == url
        assert url.startswith("https://") and len(url) <= MAX_URL_LENGTH
        assert all(" " < ch < "\x7f" for ch in url)
        assert not any(ch in url for ch in "\\\"'<>?#")
        assert "%2e" not in url.lower()


def test_good_issuer_parts() -> None:
    issuer = parse_issuer("https://oidc.example.com/clusters/prod/")
    assert issuer.url == "https://oidc.example.com/clusters/prod/"
    assert issuer.path == "clusters/prod"
    assert issuer.base == "https://oidc.example.com/clusters/prod"
    assert issuer.discovery_url == "https://oidc.example.com/clusters/prod/.well-known/openid-configuration"
    assert issuer.provider_path == "oidc.example.com/clusters/prod"


def test_s3_direct_derivation_and_keys() -> None:
    url = s3_direct_issuer_url("my-issuer", "eu-west-1", "/clusters/prod/")
    assert url == "https://my-issuer.s3.eu-west-1.amazonaws.com/clusters/prod"
    issuer = parse_issuer(url)
    assert issuer.s3_origin() == ("my-issuer", "eu-west-1")
    keys = object_keys_for(issuer, "my-issuer", None)
    assert keys.published == ("clusters/prod/openid/v1/jwks", "clusters/prod/.well-known/openid-configuration")
    assert keys.state == "clusters/prod/.oidc-publisher/state.json"
    with pytest.raises(InputError, match="is served by bucket 'my-issuer', not 'other'"):
        object_keys_for(issuer, "other", None)
    with pytest.raises(InputError, match="disagrees with the issuer's path"):
        object_keys_for(issuer, "my-issuer", "elsewhere")


def test_custom_domain_prefix_defaults_to_path() -> None:
    issuer = parse_issuer("https://oidc.example.com/prod")
    assert object_keys_for(issuer, "b", None).jwks == "prod/openid/v1/jwks"
    assert object_keys_for(issuer, "b", "").jwks == "openid/v1/jwks"
    assert object_keys_for(issuer, "b", "x/y/").discovery == "x/y/.well-known/openid-configuration"


def test_bucket_names() -> None:
    validate_bucket_name("my.bucket", s3_direct=False)
    with pytest.raises(InputError) as info:
        validate_bucket_name("my.bucket", s3_direct=True)
    assert str(info.value) == (
        "bucket name 'my.bucket' contains dots, which S3's wildcard certificate does not cover; "
        "choose a name without dots, or serve the issuer through CloudFront (--cloudfront)"
    )
    for bad in ("ab", "UPPER", "-x-", "a" * 64, "1.2.3.4", "a..b"):
        with pytest.raises(InputError, match="is not a valid S3 bucket name"):
            validate_bucket_name(bad, s3_direct=False)


@pytest.mark.parametrize("prefix", ["a//b", "../up", "with space"])
def test_a_bad_prefix_is_named_as_the_prefix(prefix: str, aws: AwsWorld, tmp_path: Path) -> None:
    """The S3-direct issuer URL is built from --prefix: a bad prefix is reported as the prefix the user
    typed (not as an issuer URL they never typed), on one line, before any AWS call."""
    pub = k.write(tmp_path / "sa.pub", k.K8S_RSA_PUBLIC_KEY)
    result = invoke("publish", "--bucket", "my-issuer", "--region", "us-east-1", "--prefix", prefix, "--public-key", str(pub))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: prefix {prefix!r} ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert aws.recorder.calls == []


@pytest.mark.parametrize(
    "recorded,given,difference,hint",
    [
        ("https://oidc.example.com", "https://oidc.example.com/",
         "only a trailing slash differs (this one ends with '/' and the recorded one does not)",
         "the issuer must match the tokens' iss byte for byte: if the cluster's --service-account-issuer is "
         "https://oidc.example.com, give --issuer-url https://oidc.example.com, slash and all"),
        ("https://oidc.example.com/c/", "https://oidc.example.com/c",
         "only a trailing slash differs (the recorded one ends with '/' and this one does not)",
         "the issuer must match the tokens' iss byte for byte: if the cluster's --service-account-issuer is "
         "https://oidc.example.com/c/, give --issuer-url https://oidc.example.com/c/, slash and all"),
        ("https://bkt.s3.eu-west-1.amazonaws.com", "https://bkt.s3.us-east-1.amazonaws.com",
         "the region differs (eu-west-1 recorded, us-east-1 here)",
         "give --region eu-west-1 (the region the issuer was published for), or --issuer-url "
         "https://bkt.s3.eu-west-1.amazonaws.com"),
        ("https://a.example.com", "https://b.example.com", "the host differs (a.example.com vs b.example.com)",
         "if the cluster's --service-account-issuer is https://a.example.com, give --issuer-url https://a.example.com; "
         "a different issuer needs its own --prefix or bucket"),
        ("https://a.example.com/one", "https://a.example.com/two", "the path differs (/one vs /two)",
         "if the cluster's --service-account-issuer is https://a.example.com/one, give --issuer-url "
         "https://a.example.com/one; a different issuer needs its own --prefix"),
        ("http://a.example.com", "https://a.example.com", "the scheme differs (http vs https)",
         "if the cluster's --service-account-issuer is http://a.example.com, give --issuer-url http://a.example.com"),
    ],
)
def test_issuer_difference_names_what_differs_and_the_fix(recorded: str, given: str, difference: str, hint: str) -> None:
    from oidc_publisher.core.issuer import issuer_difference

    assert issuer_difference(recorded, given) == (difference, hint)
