"""Issuer URL rules (what IAM and STS accept) and where documents live in the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from oidc_publisher.errors import InputError
from oidc_publisher.issuer import object_keys_for, parse_issuer, s3_direct_issuer_url, validate_bucket_name
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
    ],
)
def test_bad_issuers(url: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_issuer(url)
    assert str(info.value) == message


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
    from oidc_publisher.issuer import issuer_difference

    assert issuer_difference(recorded, given) == (difference, hint)
