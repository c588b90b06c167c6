"""``bootstrap`` and ``register`` against moto's server and a local HTTPS front: real IAM and S3 state,
counted calls, and an OIDC verifier that is not ours (PyJWT) accepting a token signed by the cluster's key."""

from __future__ import annotations

import json
from pathlib import Path

import jwt as pyjwt
import pytest

from oidc_publisher.core.tokens import mint_token
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

BUCKET = "cluster-issuer"
ISSUER = f"https://{BUCKET}.s3.us-east-1.amazonaws.com"
S3_HOSTS = ("*.s3.us-east-1.amazonaws.com",)


def keypair(tmp_path: Path, name: str = "sa") -> tuple[object, Path]:
    private = k.rsa_key()
    return private, k.write(tmp_path / f"{name}.pub", k.public_pem(private))


def provider(aws: AwsWorld, path: str) -> dict:
    arns = [p["Arn"] for p in aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    [arn] = [a for a in arns if a.endswith(path)]
    return {"arn": arn, **aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)}


def test_bootstrap_s3_direct_then_nothing_to_do(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    _, chain = front(BUCKET, S3_HOSTS)
    private, pub = keypair(tmp_path)
    first = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "-o", "json")
    assert first.exit_code == 0, first.stderr
    body = first.json()
    assert body["issuer"] == ISSUER
    state = provider(aws, f"oidc-provider/{BUCKET}.s3.us-east-1.amazonaws.com")
    assert body["provider_arn"] == state["arn"] == f"arn:aws:iam::123456789012:oidc-provider/{BUCKET}.s3.us-east-1.amazonaws.com"
    assert state["ClientIDList"] == ["sts.amazonaws.com"]
    assert state["ThumbprintList"] == [chain.expected_thumbprint]
    assert {t["Key"]: t["Value"] for t in state["Tags"]}["managed-by"] == "oidc-publisher"

    aws.recorder.reset()
    again = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "-o", "json")
    assert again.exit_code == 0
    assert again.json()["changed"] is False
    assert aws.recorder.writes == [], aws.recorder.writes

    dry = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "--dry-run")
    assert dry.exit_code == 0
    assert aws.recorder.writes == []


def test_bootstrap_of_a_new_bucket_reads_nothing_back_and_keeps_its_order(
    aws: AwsWorld, front: Front, tmp_path: Path
) -> None:
    """A bucket this run created is empty: no object is read back, every write is If-None-Match (so a
    concurrent run is still noticed). Settings go side by side, but Block Public Access comes before
    the public policy, the JWKS before the discovery document, and the provider after both."""
    front(BUCKET, S3_HOSTS)
    _, pub = keypair(tmp_path)
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    ops = aws.recorder.operations()
    assert sorted(ops) == sorted([
        "HeadBucket", "CreateBucket", "PutPublicAccessBlock", "PutBucketEncryption",
        "PutBucketVersioning", "PutBucketPolicy", "PutObject", "PutObject", "PutObject",
        "ListOpenIDConnectProviders", "CreateOpenIDConnectProvider",
    ])
    s3_ops = aws.recorder.operations("s3")
    assert s3_ops[:2] == ["HeadBucket", "CreateBucket"]
    assert s3_ops.index("PutPublicAccessBlock") < s3_ops.index("PutBucketPolicy")
    assert aws.recorder.puts() == [
        f"/{BUCKET}/openid/v1/jwks", f"/{BUCKET}/.well-known/openid-configuration", f"/{BUCKET}/.oidc-publisher/state.json",
    ]
    assert ops.index("CreateOpenIDConnectProvider") > max(i for i, op in enumerate(ops) if op == "PutObject")
    assert [r.headers.get("if-none-match") for r in aws.recorder.sent("PutObject")] == ["*", "*", "*"]


def test_bootstrap_text_says_what_comes_next(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, S3_HOSTS)
    _, pub = keypair(tmp_path)
    result = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"--service-account-issuer={ISSUER}" in out
    assert "templates render --distribution pod-identity-webhook" in out
    assert f"oidc-publisher role create --issuer-url {ISSUER}" in out


def test_dry_run_from_nothing_writes_nothing(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front(BUCKET, S3_HOSTS)
    _, pub = keypair(tmp_path)
    dry = invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub), "--dry-run", "-o", "json")
    assert dry.exit_code == 3, dry.stderr
    actions = [(c["action"], c["resource"]) for c in dry.json()["changes"]]
    assert ("create", f"s3://{BUCKET}") in actions
    assert ("create", f"iam:oidc-provider/{BUCKET}.s3.us-east-1.amazonaws.com") in actions
    assert aws.recorder.writes == []
    assert aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_pyjwt_discovers_the_issuer_and_verifies_a_cluster_token(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    """A verifier that is not ours: discovery over HTTPS, jwks_uri, kid lookup, signature, iss, aud."""
    _, chain = front(BUCKET, S3_HOSTS)
    private, pub = keypair(tmp_path)
    assert invoke("bootstrap", "--bucket", BUCKET, "--public-key", str(pub)).exit_code == 0
    from oidc_publisher.core.keys import load_public_keys_pem

    kid = load_public_keys_pem(pub.read_bytes(), "x")[0].kid
    token = mint_token(private, kid=kid, issuer=ISSUER, subject="system:serviceaccount:default:app")  # type: ignore[arg-type]
    claims = verify_with_pyjwt(token, ISSUER, chain.files["ca"], chain)
    assert claims["sub"] == "system:serviceaccount:default:app"
    # And a token signed by a key that is not published is refused by it.
    stranger = mint_token(k.rsa_key(), kid="not-published", issuer=ISSUER, subject="system:serviceaccount:default:app")
    with pytest.raises(pyjwt.exceptions.PyJWKClientError):
        verify_with_pyjwt(stranger, ISSUER, chain.files["ca"], chain)


def verify_with_pyjwt(token: str, issuer: str, ca: Path, chain: object) -> dict:
    """Discover and verify the way an OIDC relying party does, reaching the local front over TLS with the test CA."""
    import os
    import ssl
    import urllib.request

    route = os.environ["OIDC_PUBLISHER_CONNECT_TO"]
    port = int(route.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(ca))

    class Routed(urllib.request.HTTPSHandler):
        def https_open(self, req):  # type: ignore[no-untyped-def]
            import http.client

            host = req.host

            def factory(h, **kw):  # type: ignore[no-untyped-def]
                conn = http.client.HTTPSConnection(h, context=context, **{k: v for k, v in kw.items() if k != "context"})
                import socket

                raw = socket.create_connection(("127.0.0.1", port))
                conn.sock = context.wrap_socket(raw, server_hostname=host.split(":")[0])
                return conn

            return self.do_open(factory, req)

    opener = urllib.request.build_opener(Routed())
    discovery = json.loads(opener.open(f"{issuer}/.well-known/openid-configuration").read())
    assert discovery["issuer"] == issuer
    jwks_client = pyjwt.PyJWKClient(discovery["jwks_uri"], cache_keys=False)
    jwks_client.fetch_data = lambda: json.loads(opener.open(discovery["jwks_uri"]).read())  # type: ignore[method-assign]
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    return pyjwt.decode(token, signing_key.key, algorithms=discovery["id_token_signing_alg_values_supported"],
                        audience="sts.amazonaws.com", issuer=issuer)


def test_cloudfront_bootstrap_one_key_rotation_invalidates_only_the_jwks(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front("private-issuer", ("*.cloudfront.net",))
    _, one = keypair(tmp_path, "one")
    _, two = keypair(tmp_path, "two")
    first = invoke("bootstrap", "--bucket", "private-issuer", "--cloudfront", "--public-key", str(one), "-o", "json")
    assert first.exit_code == 0, first.stderr
    issuer = first.json()["issuer"]
    distribution_id = first.json()["distribution_id"]
    assert issuer.endswith(".cloudfront.net")
    s3 = aws.client("s3")
    assert s3.get_public_access_block(Bucket="private-issuer")["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    }
    policy = json.loads(s3.get_bucket_policy(Bucket="private-issuer")["Policy"])
    read = [st for st in policy["Statement"] if st["Effect"] == "Allow"][0]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Condition"] == {"StringEquals": {"AWS:SourceArn": f"arn:aws:cloudfront::123456789012:distribution/{distribution_id}"}}
    config = aws.client("cloudfront").get_distribution_config(Id=distribution_id)["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only"
    [listed] = aws.client("cloudfront").list_cache_policies(Type="custom")["CachePolicyList"]["Items"]
    cache_policy = listed["CachePolicy"]
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == cache_policy["Id"]
    assert "ForwardedValues" not in config["DefaultCacheBehavior"]
    assert cache_policy["CachePolicyConfig"] == {
        "Name": "oidc-publisher-private-issuer",
        "Comment": "managed-by oidc-publisher: short TTLs for the issuer in s3://private-issuer",
        "MinTTL": 0, "DefaultTTL": 300, "MaxTTL": 3600,
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": True, "EnableAcceptEncodingBrotli": True,
            "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": "none"},
        },
    }
    # The objects' own max-age is the policy's DefaultTTL: CloudFront keeps them 300 s, within 0-3600.
    assert s3.get_object(Bucket="private-issuer", Key="openid/v1/jwks")["CacheControl"] == "public, max-age=300"
    # moto drops OriginAccessControlId from the stored origin (a known gap); the OAC itself must exist.
    oacs = aws.client("cloudfront").list_origin_access_controls()["OriginAccessControlList"]["Items"]
    assert [o["Name"] for o in oacs] == ["oidc-publisher-private-issuer"]

    cf = aws.client("cloudfront")
    before = cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items", [])
    aws.recorder.reset()
    rotated = invoke("publish", "--bucket", "private-issuer", "--issuer-url", issuer, "--public-key", str(one), "--public-key", str(two), "-o", "json")
    assert rotated.exit_code == 0, rotated.stderr
    after = cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"]["Items"]
    assert len(after) == len(before) + 1
    newest = cf.get_invalidation(DistributionId=distribution_id, Id=rotated.json()["invalidation_id"])["Invalidation"]
    assert newest["InvalidationBatch"]["Paths"]["Items"] == ["/openid/v1/jwks"]
    assert sorted(op for _, op in aws.recorder.writes) == ["CreateInvalidation", "PutObject", "PutObject"]

    aws.recorder.reset()
    assert invoke("publish", "--bucket", "private-issuer", "--issuer-url", issuer, "--public-key", str(one), "--public-key", str(two)).exit_code == 0
    assert aws.recorder.writes == []


def test_register_converges_thumbprints_client_ids_and_tags(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    _, chain = front(BUCKET, S3_HOSTS)
    stale = "0" * 40
    created = invoke("register", "--issuer-url", ISSUER, "--thumbprint", stale, "-o", "json")
    assert created.exit_code == 0, created.stderr
    arn = created.json()["provider_arn"]
    assert provider(aws, BUCKET + ".s3.us-east-1.amazonaws.com")["ThumbprintList"] == [stale]
    aws.recorder.reset()
    updated = invoke("register", "--issuer-url", ISSUER, "--tag", "team=platform", "-o", "json")
    assert updated.exit_code == 0, updated.stderr
    assert updated.json()["provider_arn"] == arn  # converged in place, never recreated
    state = provider(aws, BUCKET + ".s3.us-east-1.amazonaws.com")
    assert state["ThumbprintList"] == [chain.expected_thumbprint]
    assert {t["Key"]: t["Value"] for t in state["Tags"]}["team"] == "platform"
    assert ("iam", "DeleteOpenIDConnectProvider") not in aws.recorder.calls
    assert ("iam", "CreateOpenIDConnectProvider") not in aws.recorder.calls
    aws.recorder.reset()
    assert invoke("register", "--issuer-url", ISSUER, "--tag", "team=platform").exit_code == 0
    assert aws.recorder.writes == []


def test_register_quota_is_a_clear_error(aws: AwsWorld, front: Front) -> None:
    front(BUCKET, S3_HOSTS)
    iam = aws.client("iam")
    for i in range(100):
        iam.create_open_id_connect_provider(Url=f"https://filler-{i}.example.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    aws.recorder.reset()
    result = invoke("register", "--issuer-url", ISSUER)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot create the IAM OIDC provider for {ISSUER}: the account has reached IAM's quota of 100 OIDC providers; "
        "delete providers of clusters that are gone (oidc-publisher teardown), or ask AWS to raise the quota"
    )
    assert aws.recorder.writes == []


def test_register_bad_input(aws: AwsWorld) -> None:
    assert invoke("register", "--issuer-url", "https://x.example.com:8443").stderr.strip() == (
        "error: issuer URL 'https://x.example.com:8443' has a port; IAM refuses issuer URLs with a port; serve it on 443 and drop ':PORT'"
    )
    assert invoke("register", "--issuer-url", ISSUER, "--thumbprint", "xyz").stderr.strip() == (
        "error: thumbprint 'xyz' is not 40 hex digits; give the SHA-1 of the issuer host's top certificate (oidc-publisher thumbprint URL prints it)"
    )
    bad_tag = invoke("register", "--issuer-url", ISSUER, "--no-thumbprint", "--tag", "novalue")
    assert (bad_tag.exit_code, bad_tag.stderr.strip()) == (2, "error: --tag 'novalue' is not KEY=VALUE; write tags like --tag team=platform")
    assert aws.recorder.calls == []


def test_register_adds_a_missing_client_id_in_place(aws: AwsWorld, front: Front) -> None:
    front(BUCKET, S3_HOSTS)
    first = invoke("register", "--issuer-url", ISSUER, "-o", "json")
    assert first.exit_code == 0, first.stderr
    aws.recorder.reset()
    added = invoke("register", "--issuer-url", ISSUER, "--client-id", "sts.amazonaws.com", "--client-id", "vault", "-o", "json")
    assert added.exit_code == 0, added.stderr
    assert added.json()["provider_arn"] == first.json()["provider_arn"]
    assert [c["reason"] for c in added.json()["changes"]] == ["add client ID vault"]
    assert provider(aws, BUCKET + ".s3.us-east-1.amazonaws.com")["ClientIDList"] == ["sts.amazonaws.com", "vault"]
    assert aws.recorder.writes == [("iam", "AddClientIDToOpenIDConnectProvider")]
    # A client ID is never removed by leaving it out: a role may rely on it.
    aws.recorder.reset()
    kept = invoke("register", "--issuer-url", ISSUER, "-o", "json")
    assert kept.json()["changed"] is False
    assert aws.recorder.writes == []


def test_bad_input_is_refused_before_anything_is_created(aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    front("private-issuer", ("*.cloudfront.net",))
    private_key = k.write(tmp_path / "sa.key", k.private_pem(k.rsa_key()))
    _, pub = keypair(tmp_path)
    for args in (
        ["--cloudfront", "--public-key", str(private_key)],
        ["--cloudfront", "--public-key", str(pub), "--tag", "aws:reserved=x"],
        ["--cloudfront", "--public-key", str(pub), "--thumbprint", "nothex"],
        ["--cloudfront", "--public-key", str(pub), "--issuer-url", "https://oidc.example.com"],  # no certificate
    ):
        result = invoke("bootstrap", "--bucket", "private-issuer", *args)
        assert result.exit_code in (1, 2), (args, result.stdout)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert aws.recorder.writes == [], (args, aws.recorder.writes)
