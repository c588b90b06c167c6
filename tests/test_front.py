"""``--front``: a front the user manages (an external CDN or proxy, or a CloudFront distribution made
elsewhere) serves a custom issuer domain from the bucket. Against moto's server and a local HTTPS front with
its own CA: real bucket state, the IAM provider, verify through the front, and a verifier that is not ours."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from oidc_publisher_demo.emulator import HTTPSFront, s3_fetcher
from oidc_publisher_demo.localca import make_chain

from oidc_publisher.core.errors import UsageError
from oidc_publisher.core.front import Front as FrontSpec
from oidc_publisher.core.front import cache_lifetime, cache_margin, cache_warning, parse_front
from oidc_publisher.core.keys import load_public_keys_pem
from oidc_publisher.core.tokens import mint_token
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld
from tests.support.servers import stop_promptly
from tests.test_bootstrap import verify_with_pyjwt

BUCKET = "issuer-origin"
HOST = "oidc.example.com"
ISSUER = f"https://{HOST}"
DISTRIBUTION = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"
DOCS = [f"arn:aws:s3:::{BUCKET}/.well-known/openid-configuration", f"arn:aws:s3:::{BUCKET}/openid/v1/jwks"]
DENY_INSECURE = {
    "Action": ["s3:*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    "Effect": "Deny",
    "Principal": "*",
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
    "Sid": "OidcPublisherDenyInsecureTransport",
}


def keypair(tmp_path: Path) -> tuple[object, Path, str]:
    private = k.rsa_key()
    pub = k.write(tmp_path / "sa.pub", k.public_pem(private))
    return private, pub, load_public_keys_pem(pub.read_bytes(), "x")[0].kid


def bucket_state(aws: AwsWorld) -> tuple[dict, str]:
    s3 = aws.client("s3")
    return s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"], s3.get_bucket_policy(Bucket=BUCKET)["Policy"]


def test_external_front_bootstrap_then_verify_and_an_independent_verifier_through_it(
    aws: AwsWorld, front: Front, tmp_path: Path
) -> None:
    _, chain = front(BUCKET, (HOST,))
    private, pub, kid = keypair(tmp_path)
    result = invoke("bootstrap", "--bucket", BUCKET, "--issuer-url", ISSUER, "--front", "external", "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"Issuer: {ISSUER}" in out
    assert f"  - DNS: {HOST} must point at the front;" in out
    assert f"  - the front's TLS certificate for {HOST}" in out
    assert "  - the front's cache TTL for the two documents: at most 24h" in out
    assert f"--service-account-issuer={ISSUER}" in out

    # The custom host is registered, with the thumbprint of the front's chain; no CloudFront call at all.
    arn = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"
    state = aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert state["ThumbprintList"] == [chain.expected_thumbprint]
    assert aws.recorder.operations("cloudfront") == []
    # Public read on exactly the two documents, at the bucket root (the custom issuer has no path).
    block, policy = bucket_state(aws)
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    read = {"Action": ["s3:GetObject"], "Effect": "Allow", "Principal": "*", "Resource": DOCS, "Sid": "OidcPublisherPublicRead"}
    assert policy == json.dumps({"Statement": [read, DENY_INSECURE], "Version": "2012-10-17"}, sort_keys=True)

    # verify reads through the front (the objects' own max-age=300: no cache warning), and so does PyJWT.
    checked = invoke("verify", "--issuer-url", ISSUER, "--public-key", str(pub))
    assert checked.exit_code == 0, checked.stdout
    assert (f"[ok  ] HTTPS: {HOST} presents a chain that verifies (thumbprint {chain.expected_thumbprint}; private or "
            "uncommon CA: IAM accepts the host only by a registered thumbprint)") in checked.stdout
    assert "[ok  ] cluster keys published" in checked.stdout
    assert "[warn]" not in checked.stdout
    token = mint_token(private, kid=kid, issuer=ISSUER, subject="system:serviceaccount:default:app")  # type: ignore[arg-type]
    assert verify_with_pyjwt(token, ISSUER, chain.files["ca"], chain)["sub"] == "system:serviceaccount:default:app"

    aws.recorder.reset()
    again = invoke("bootstrap", "--bucket", BUCKET, "--issuer-url", ISSUER, "--front", "external", "--public-key", str(pub), "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["changed"] is False
    assert aws.recorder.writes == []


def test_cloudfront_arn_front_keeps_the_bucket_private_for_that_distribution_only(
    aws: AwsWorld, front: Front, tmp_path: Path
) -> None:
    _, chain = front(BUCKET, (HOST,))
    _, pub, _ = keypair(tmp_path)
    args = ("bootstrap", "--bucket", BUCKET, "--issuer-url", ISSUER, "--front", f"cloudfront-arn:{DISTRIBUTION}", "--public-key", str(pub))
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    assert f"Front: CloudFront distribution {DISTRIBUTION} (OAC)" in result.stdout
    assert f"origin must be {BUCKET}.s3.us-east-1.amazonaws.com" in result.stdout
    block, policy = bucket_state(aws)
    assert block == dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    read = {
        "Action": ["s3:GetObject"],
        "Condition": {"StringEquals": {"AWS:SourceArn": DISTRIBUTION}},
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Resource": DOCS,
        "Sid": "OidcPublisherCloudFrontRead",
    }
    assert policy == json.dumps({"Statement": [read, DENY_INSECURE], "Version": "2012-10-17"}, sort_keys=True)
    assert aws.recorder.operations("cloudfront") == []
    provider = aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=f"arn:aws:iam::123456789012:oidc-provider/{HOST}")
    assert provider["ThumbprintList"] == [chain.expected_thumbprint]

    # The planner's mixed-mode rule holds for fronts too: a second issuer in this bucket behind an anonymous
    # front would switch Block Public Access off under the first.
    aws.recorder.reset()
    other = invoke("bootstrap", "--bucket", BUCKET, "--issuer-url", "https://other.example.com", "--prefix", "other",
                   "--front", "external", "--public-key", str(pub))
    assert other.exit_code == 1
    [line] = other.stderr.strip().splitlines()
    assert line.startswith(
        f"error: s3://{BUCKET} already serves another issuer at the bucket root through CloudFront with the bucket private, "
        "and this issuer would be served publicly (S3-direct)"
    ), line
    assert aws.recorder.writes == []


def test_dry_run_shows_the_plan_and_what_is_not_managed(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, (HOST,))
    _, pub, _ = keypair(tmp_path)
    dry = invoke("bootstrap", "--bucket", BUCKET, "--issuer-url", ISSUER, "--front", f"cloudfront-arn:{DISTRIBUTION}",
                 "--public-key", str(pub), "--dry-run")
    assert dry.exit_code == 3, dry.stderr
    assert f"s3://{BUCKET}" in dry.stdout and "Block Public Access: all on" in dry.stdout
    assert "CloudFront (OAC) read on exactly the published documents" in dry.stdout
    assert f"iam:oidc-provider/{HOST}" in dry.stdout
    assert f"  - DNS: {HOST} must point at the front;" in dry.stdout
    assert aws.recorder.writes == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--front", "cloudflare"], "error: --front 'cloudflare' is not a front oidc-publisher knows"),
        (["--front", "cloudfront-arn:E2QWRUHAPOMQZL"], "error: --front cloudfront-arn:E2QWRUHAPOMQZL: 'E2QWRUHAPOMQZL' is not a CloudFront distribution ARN"),
        (["--front", "cloudfront-arn:arn:aws:s3:::issuer-origin"], "is not a CloudFront distribution ARN"),
        (["--front", "cloudfront-arn:arn:aws:cloudfront::123456789012:distribution/E2Q/x"], "is not a CloudFront distribution ARN"),
        (["--front", "external", "--cloudfront"], "error: --front and --cloudfront were both given"),
    ],
)
def test_bad_front_is_one_line_exit_2_and_no_aws_call(aws: AwsWorld, tmp_path: Path, args: list[str], message: str) -> None:
    _, pub, _ = keypair(tmp_path)
    result = invoke("bootstrap", "--bucket", BUCKET, "--issuer-url", ISSUER, "--public-key", str(pub), *args)
    assert result.exit_code == 2, result.stdout
    [line] = result.stderr.strip().splitlines()
    assert message in line, line
    assert aws.recorder.operations() == []


def test_front_needs_a_custom_issuer_and_publish_needs_create_bucket(aws: AwsWorld, tmp_path: Path) -> None:
    _, pub, _ = keypair(tmp_path)
    s3_url = invoke("bootstrap", "--bucket", BUCKET, "--region", "us-east-1", "--front", "external", "--public-key", str(pub))
    assert s3_url.exit_code == 2
    assert s3_url.stderr.strip().splitlines() == [
        f"error: --front with the bucket's own S3 URL (https://{BUCKET}.s3.us-east-1.amazonaws.com); "
        "give the custom domain the front serves as --issuer-url, or drop --front"
    ]
    no_create = invoke("publish", "--bucket", BUCKET, "--issuer-url", ISSUER, "--front", "external", "--public-key", str(pub))
    assert no_create.exit_code == 2
    assert no_create.stderr.strip().splitlines() == ["error: --front only applies with --create-bucket; add --create-bucket or drop --front"]
    bad = invoke("publish", "--bucket", BUCKET, "--issuer-url", ISSUER, "--create-bucket", "--front", "cloudfront-arn:x", "--public-key", str(pub))
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert aws.recorder.operations() == []
    without = invoke("publish", "--bucket", BUCKET, "--issuer-url", ISSUER, "--region", "us-east-1", "--create-bucket", "--public-key", str(pub))
    assert without.exit_code == 2
    [line] = without.stderr.strip().splitlines()
    assert "add --front external or --front cloudfront-arn:ARN" in line
    assert aws.recorder.writes == []


def test_publish_create_bucket_with_a_front(aws: AwsWorld, tmp_path: Path) -> None:
    _, pub, _ = keypair(tmp_path)
    args = ("publish", "--bucket", BUCKET, "--issuer-url", ISSUER, "--region", "us-east-1", "--create-bucket",
            "--front", f"cloudfront-arn:{DISTRIBUTION}", "--public-key", str(pub))
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 3, dry.stderr
    assert "Block Public Access: all on" in dry.stdout and f"  - DNS: {HOST} must point at the front;" in dry.stdout
    assert aws.recorder.writes == []
    done = invoke(*args)
    assert done.exit_code == 0, done.stderr
    block, policy = bucket_state(aws)
    assert all(block.values())
    assert json.loads(policy)["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceArn": DISTRIBUTION}}
    s3 = aws.client("s3")
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=".well-known/openid-configuration")["Body"].read())["issuer"] == ISSUER


@pytest.fixture
def caching_front(aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HTTPSFront]:
    """A front that overrides the objects' Cache-Control, as a CDN rule that caches for two days would."""
    chain = make_chain((HOST,)).write(tmp_path / "caching-front")
    plain = s3_fetcher(aws.client("s3"), BUCKET)

    def fetch(path: str) -> tuple[int, bytes, dict[str, str]]:
        status, body, headers = plain(path)
        return status, body, {**headers, "Cache-Control": "public, max-age=60, s-maxage=172800", "Age": "30"}

    server = HTTPSFront(chain, fetch)
    monkeypatch.setenv("SSL_CERT_FILE", str(chain.files["ca"]))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(chain.files["ca"]))
    monkeypatch.setenv("OIDC_PUBLISHER_CONNECT_TO", f"::127.0.0.1:{server.port}")
    yield server
    stop_promptly(server.stop, server.port)


def test_verify_warns_when_the_front_caches_longer_than_the_retention_allows(
    aws: AwsWorld, caching_front: HTTPSFront, tmp_path: Path
) -> None:
    _, pub, _ = keypair(tmp_path)
    assert invoke("bootstrap", "--bucket", BUCKET, "--issuer-url", ISSUER, "--front", "external", "--public-key", str(pub)).exit_code == 0
    checked = invoke("verify", "--issuer-url", ISSUER, "--skip-iam")
    assert checked.exit_code == 0, checked.stdout  # a warning, not a failure
    assert (
        "  [warn] JWKS cache: the front lets caches keep the JWKS for 48h (Cache-Control s-maxage=172800), longer than "
        "the 24h the 48h retention leaves after the 24h token life: a new key reaches STS, and a removed one leaves, up to 48h late"
    ) in checked.stdout
    assert "  [warn] discovery document cache:" in checked.stdout
    assert "fix: set the front's TTL for the two documents to minutes" in checked.stdout
    body = invoke("verify", "--issuer-url", ISSUER, "--skip-iam", "-o", "json").json()
    assert [c["check"] for c in body["checks"] if c["status"] == "warn"] == ["discovery document cache", "JWKS cache"]
    assert caching_front.requests  # read through the front


# --- the pure parts ---------------------------------------------------------------------------------


def test_parse_front() -> None:
    assert parse_front("external") == FrontSpec(None)
    assert parse_front(f"cloudfront-arn:{DISTRIBUTION}").distribution_arn == DISTRIBUTION
    assert parse_front("cloudfront-arn:arn:aws-cn:cloudfront::123456789012:distribution/E1").private
    for bad in ("", "External", "cloudfront", "cloudfront-arn:", f"cloudfront-arn:{DISTRIBUTION} ",
                "cloudfront-arn:arn:aws:cloudfront::12345:distribution/E1",
                "cloudfront-arn:arn:aws:cloudfront:us-east-1:123456789012:distribution/E1",
                "cloudfront-arn:arn:aws:cloudfront::123456789012:origin-access-control/E1"):
        with pytest.raises(UsageError):
            parse_front(bad)


def test_cache_lifetime_reads_what_a_shared_cache_obeys() -> None:
    hours = dt.timedelta(hours=1)
    assert cache_lifetime({"Cache-Control": "public, max-age=300"}) == (dt.timedelta(seconds=300), "Cache-Control max-age=300")
    assert cache_lifetime({"Cache-Control": "max-age=60, s-maxage=3600"}) == (hours, "Cache-Control s-maxage=3600")
    assert cache_lifetime({"Cache-Control": "no-store, max-age=999999"}) == (dt.timedelta(0), "Cache-Control: no-store")
    assert cache_lifetime({"Cache-Control": "max-age=60", "Age": "7200"}) == (2 * hours, "Age: 7200")
    assert cache_lifetime({"Cache-Control": "max-age=3600", "Age": "60"})[0] == hours
    assert cache_lifetime({}) == (None, "")
    assert cache_lifetime({"Cache-Control": "max-age=soon"}) == (None, "")


def test_cache_warning_rule() -> None:
    """The front may cache for what the retention leaves after the token life (24h with the defaults)."""
    assert cache_margin() == dt.timedelta(hours=24)
    assert cache_margin(dt.timedelta(hours=12)) == dt.timedelta(0)
    assert cache_warning("JWKS", {"Cache-Control": "max-age=86400"}) is None
    assert cache_warning("JWKS", {"Cache-Control": "max-age=86401"}) is not None
    assert cache_warning("JWKS", {"Cache-Control": "max-age=300", "Age": "90000"}) is not None
    assert cache_warning("JWKS", {}) is None
    assert cache_warning("JWKS", {"Cache-Control": "max-age=3601"}, retain=dt.timedelta(hours=25)) is not None
    assert cache_warning("JWKS", {"Cache-Control": "max-age=3600"}, retain=dt.timedelta(hours=25)) is None


def test_own_front_page_commands_run(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """Every oidc-publisher command in docs/own-front.md runs as written, through a local front for its domain."""
    from urllib.parse import urlsplit

    from tests.test_docs import DOCS, commands, run_as_written

    variables, cmds = commands((DOCS / "own-front.md").read_text())
    assert len(cmds) >= 5
    host = urlsplit(variables["ISSUER"]).hostname or ""
    front(variables["BUCKET"], (host,), region="eu-west-1")
    root = tmp_path / "root"
    k.write(root / "etc/kubernetes/pki/sa.pub", k.public_pem(k.rsa_key()))
    run_as_written("own-front.md", cmds, variables, root)


def test_teardown_keeps_the_bucket_a_front_you_manage_reads(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """The front reads the bucket by name and teardown cannot see it: freeing the name would let whoever
    re-creates the bucket serve documents as the issuer's host. The bucket records its front at creation."""
    front(BUCKET, (HOST,))
    _, pub, _ = keypair(tmp_path)
    assert invoke("bootstrap", "--bucket", BUCKET, "--issuer-url", ISSUER, "--front", "external", "--public-key", str(pub)).exit_code == 0
    s3 = aws.client("s3")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags["oidc-publisher:front"] == "external"
    kept = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes")
    assert kept.exit_code == 0, kept.stderr
    assert (f"kept s3://{BUCKET} as a tombstone (empty, private, tagged oidc-publisher:tombstone): it was made for a front "
            f"you manage (external), which reads it by name and which teardown cannot see") in kept.stdout
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    # Asked for, it goes, with the warning.
    gone = invoke("teardown", "--issuer-url", ISSUER, "--bucket", BUCKET, "--yes", "--delete-bucket")
    assert gone.exit_code == 0, gone.stderr
    assert f"warning: s3://{BUCKET} was made for a front you manage (external); teardown cannot see it" in gone.stdout
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
