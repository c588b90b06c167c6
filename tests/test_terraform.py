"""The Terraform modules: fmt and validate; the examples applied against moto's server; documents
byte-equal to `oidc-publisher render`'s and the bucket policy equal to the CLI's; an OIDC verifier that is
not ours (PyJWT, requests) accepting a token through a local HTTPS front; an empty plan after apply; the
input checks; and checkov.

moto's CloudFront gaps, and what the CloudFront test does about them (nothing else is stood in):
- moto drops an origin's OriginAccessControlId (the origin reads back with no OAC) and reports
  CloudFrontDefaultCertificate=true next to an ACM certificate (both show as drift in the plan after
  apply). `cloudfront_like_aws` makes those answers CloudFront's, for that test only (moto runs in this
  process). The `aws` fixture already makes a behaviour with a CachePolicyId read back without the legacy
  ForwardedValues and TTLs moto would invent.
- moto implements no cache-policy calls. The `aws` fixture's `CachePolicyStandIn`
  (demo/oidc_publisher_demo/emulator_cache_policies.py) answers Create/Get/Update/Delete/List CachePolicy from
  memory in front of moto (``aws.moto_endpoint`` is that stand-in). It stores and echoes the config, so the test checks what
  the module asked for (TTLs, an empty cache key), not how CloudFront caches.
What moto never shows: that S3 enforces Block Public Access, the bucket policy or OAC signing, or that
CloudFront serves anything. The HTTPS front in these tests reads the objects through the S3 API.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import glob
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oidc_publisher.core.issuer import parse_issuer
from oidc_publisher.core.policies import bucket_policy
from oidc_publisher.core.trust import default_role_name, trust_policy
from tests.support import keys as k
from tests.support.cli import invoke
from tests.support.fronts import Front
from tests.support.motoserver import AwsWorld

ROOT = Path(__file__).resolve().parents[1] / "terraform"
REPO = ROOT.parent
TERRAFORM = shutil.which("terraform")
MIRROR = os.environ.get("OIDC_PUBLISHER_TF_PLUGIN_DIR", "/opt/tf-plugins")
HAVE_MIRROR = bool(glob.glob(f"{MIRROR}/registry.terraform.io/hashicorp/aws/*"))
pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(TERRAFORM is None, reason="needs the terraform binary on PATH (see DESIGN.md, 'Testing world')"),
    pytest.mark.skipif(
        not HAVE_MIRROR,
        reason=f"needs the hashicorp/aws provider mirror at {MIRROR} (set OIDC_PUBLISHER_TF_PLUGIN_DIR)",
    ),
]
REGION = "eu-west-1"
STS = "sts.amazonaws.com"
ACM_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


# ---------------------------------------------------------------- running terraform


def tf(
    workdir: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **(env or {}),
    }
    full.pop("TF_CLI_CONFIG_FILE", None)
    for name in [n for n in full if n.startswith("AWS_ENDPOINT_URL")]:
        del full[name]  # the provider honours these too; the examples' endpoint_url is the only way in
    command = [TERRAFORM or "terraform", *args] + ([] if args[0] == "fmt" else ["-no-color"])
    result = subprocess.run(command, cwd=workdir, env=full, capture_output=True, text=True, timeout=600, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed in {workdir.name}:\n{result.stdout}\n{result.stderr}")
    return result


def tfvars(**values: Any) -> list[str]:
    out = []
    for name, value in values.items():
        out += ["-var", f"{name}={json.dumps(value) if isinstance(value, list) else value}"]
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of terraform/ per test, so init, state and lock files never touch the repository."""
    copy = tmp_path / "terraform"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return copy


def init(directory: Path) -> Path:
    tf(directory, "init", f"-plugin-dir={MIRROR}")
    return directory


# ---------------------------------------------------------------- moto's CloudFront gaps


@pytest.fixture
def cloudfront_like_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two places where moto's CloudFront (in this process) answers unlike CloudFront, made to answer
    as CloudFront does, for this test only (the third, legacy fields next to a CachePolicyId, is patched
    for every test by the `aws` fixture). Each would otherwise show as drift in every plan after apply."""
    from moto.cloudfront import models

    origin_init = models.Origin.__init__
    certificate_init = models.ViewerCertificate.__init__

    def keep_origin_access_control(self: Any, origin: dict[str, Any]) -> None:
        origin_init(self, origin)  # moto forgets the OAC the origin was given
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""

    def no_default_certificate_with_acm(self: Any, config: dict[str, Any]) -> None:
        certificate_init(self, config)  # moto says CloudFrontDefaultCertificate=true next to an ACM certificate
        if config.get("ACMCertificateArn"):
            self.cloud_front_default_certificate = False

    monkeypatch.setattr(models.Origin, "__init__", keep_origin_access_control)
    monkeypatch.setattr(models.ViewerCertificate, "__init__", no_default_certificate_with_acm)


# ---------------------------------------------------------------- an OIDC relying party that is not ours


def kube_kid(key: rsa.RSAPrivateKey) -> str:
    """kube-apiserver's kid, computed here from first principles: base64url(SHA-256(DER SPKI)), unpadded."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def service_account_token(key: rsa.RSAPrivateKey, issuer: str, subject: str) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"iss": issuer, "sub": subject, "aud": [STS], "iat": now, "nbf": now, "exp": now + dt.timedelta(hours=1)}
    return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": kube_kid(key)})


@contextlib.contextmanager
def resolving(host: str, port: int) -> Iterator[None]:
    """DNS for one name: `host` resolves to the local front. TLS still checks the certificate for `host`."""
    original = socket.getaddrinfo

    def getaddrinfo(name: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            return original("127.0.0.1", port, *args, **kwargs)
        return original(name, service, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original


def relying_party_verifies(token: str, issuer: str, ca: Path) -> dict[str, Any]:
    """What STS does, with libraries that are not ours: discovery with requests, keys with PyJWT's
    PyJWKClient, both over real TLS to the issuer's host name, trusting only the test CA."""
    discovery_response = requests.get(f"{issuer}/.well-known/openid-configuration", verify=str(ca), timeout=10)
    assert discovery_response.status_code == 200
    assert discovery_response.headers["Content-Type"] == "application/json"
    discovery = discovery_response.json()
    assert discovery["issuer"] == issuer
    assert discovery["jwks_uri"] == f"{issuer}/openid/v1/jwks"
    keys = pyjwt.PyJWKClient(
        discovery["jwks_uri"], cache_keys=False, ssl_context=ssl.create_default_context(cafile=str(ca))
    )
    signing_key = keys.get_signing_key_from_jwt(token)
    return pyjwt.decode(
        token,
        signing_key.key,
        algorithms=discovery["id_token_signing_alg_values_supported"],
        audience=STS,
        issuer=issuer,
    )


def render(tmp_path: Path, issuer: str) -> tuple[rsa.RSAPrivateKey, Path, Path]:
    """The cluster's key and the documents `oidc-publisher render` writes for it."""
    private = k.rsa_key()
    pub = k.write(tmp_path / "sa.pub", k.public_pem(private))
    documents = tmp_path / "documents"
    result = invoke("render", "--issuer-url", issuer, "--public-key", str(pub), "--out-dir", str(documents))
    assert result.exit_code == 0, result.stderr
    return private, pub, documents


def assert_objects_are_the_documents(s3: Any, bucket: str, prefix: str, documents: Path) -> None:
    # Read back through the S3 API: moto's server answers plain GETs of */.well-known/openid-configuration itself.
    for path in ("openid/v1/jwks", ".well-known/openid-configuration"):
        obj = s3.get_object(Bucket=bucket, Key=f"{prefix}{path}")
        assert obj["Body"].read() == (documents / path).read_bytes()  # byte-equal to what render wrote
        assert obj["ContentType"] == "application/json"
        assert obj["CacheControl"] == "public, max-age=300"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert sorted(listed) == sorted([f"{prefix}openid/v1/jwks", f"{prefix}.well-known/openid-configuration"])


def assert_bucket_hardened(s3: Any, bucket: str, *, private: bool) -> None:
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": private,
        "RestrictPublicBuckets": private,
    }
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def assert_provider(iam: Any, arn: str, issuer: str, thumbprint: str) -> None:
    host_path = issuer.removeprefix("https://")
    assert arn == f"arn:aws:iam::123456789012:oidc-provider/{host_path}"
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert provider["Url"] == host_path
    assert provider["ClientIDList"] == [STS]
    assert provider["ThumbprintList"] == [thumbprint]
    assert {t["Key"]: t["Value"] for t in provider["Tags"]} == {
        "cluster": "example",
        "managed-by": "terraform-oidc-issuer",
    }


# ---------------------------------------------------------------- tests


CONFIGURATIONS = ["modules/irsa-role", "modules/oidc-issuer", "examples/cloudfront", "examples/irsa-role", "examples/s3-direct"]


def test_fmt_and_the_configurations_shipped() -> None:
    fmt = tf(ROOT, "fmt", "-check", "-recursive", "-diff", check=False)
    assert fmt.returncode == 0, f"terraform fmt would change:\n{fmt.stdout}"
    found = sorted(f"{kind.name}/{d.name}" for kind in (ROOT / "modules", ROOT / "examples") for d in kind.iterdir() if d.is_dir())
    assert found == sorted(CONFIGURATIONS)
    for example in (ROOT / "examples").iterdir():
        shipped = sorted(p.name for p in example.iterdir() if not p.name.startswith(".") and not p.name.endswith(".tfstate"))
        assert shipped == ["README.md", "main.tf", "outputs.tf", "variables.tf", "versions.tf"], example.name


# One test per configuration, so that the suite's workers validate them side by side.
@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_validate(tree: Path, configuration: str) -> None:
    directory = tree / configuration
    tf(directory, "init", f"-plugin-dir={MIRROR}", "-backend=false")
    assert "The configuration is valid" in tf(directory, "validate").stdout


def test_s3_direct_and_irsa_role_examples_against_moto(tree: Path, aws: AwsWorld, front: Front, tmp_path: Path) -> None:
    bucket = "tf-issuer"
    host = f"{bucket}.s3.{REGION}.amazonaws.com"
    issuer = f"https://{host}"
    private, pub, documents = render(tmp_path, issuer)
    server, chain = front(bucket, (f"*.s3.{REGION}.amazonaws.com",), region=REGION)

    example = init(tree / "examples" / "s3-direct")
    variables = tfvars(
        bucket_name=bucket,
        documents_dir=documents,
        endpoint_url=aws.moto_endpoint,
        region=REGION,
        thumbprints=[chain.expected_thumbprint],
    )
    tf(example, "apply", "-auto-approve", *variables)
    outputs = {name: o["value"] for name, o in json.loads(tf(example, "output", "-json").stdout).items()}
    assert outputs["issuer_url"] == issuer
    assert outputs["bucket_name"] == bucket

    s3 = aws.client("s3", REGION)
    assert_objects_are_the_documents(s3, bucket, "", documents)
    # The same bucket policy as the CLI's, compared as parsed JSON: Sids, statements, resource order.
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy == bucket_policy("aws", bucket, ["openid/v1/jwks", ".well-known/openid-configuration"])
    assert_bucket_hardened(s3, bucket, private=False)
    iam = aws.client("iam")
    assert_provider(iam, outputs["oidc_provider_arn"], issuer, chain.expected_thumbprint)

    # The CLI, pointed at what Terraform built, has nothing to change: same bytes, headers, policy, bucket.
    publish = invoke(
        "publish", "--issuer-url", issuer, "--bucket", bucket, "--public-key", str(pub), "--dry-run", "-o", "json"
    )
    assert publish.exit_code == 0, publish.stdout + publish.stderr

    # The served documents, checked by a relying party that is not ours, with a token the key signed.
    subject = "system:serviceaccount:default:my-app"
    with resolving(host, server.port):
        claims = relying_party_verifies(service_account_token(private, issuer, subject), issuer, chain.files["ca"])
    assert claims["sub"] == subject

    plan = tf(example, "plan", "-detailed-exitcode", *variables, check=False)
    assert plan.returncode == 0, f"plan after apply is not empty:\n{plan.stdout}\n{plan.stderr}"

    role_example = init(tree / "examples" / "irsa-role")
    role_vars = tfvars(
        issuer_url=issuer, oidc_provider_arn=outputs["oidc_provider_arn"], endpoint_url=aws.moto_endpoint, region=REGION
    )
    tf(role_example, "apply", "-auto-approve", *role_vars)
    role_outputs = {name: o["value"] for name, o in json.loads(tf(role_example, "output", "-json").stdout).items()}
    role_name = default_role_name(parse_issuer(issuer), "default", "my-app")  # the CLI's name for it
    assert role_name == "irsa-tf-issuer-default-my-app-5d7b644d"
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role_outputs["role_arn"] == role["Arn"] == f"arn:aws:iam::123456789012:role/{role_name}"
    assert role_outputs["role_name"] == role_name
    assert role_outputs["service_account_annotation"] == {"eks.amazonaws.com/role-arn": role["Arn"]}
    assert role["MaxSessionDuration"] == 3600
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Version"] == "2012-10-17"
    [statement] = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": outputs["oidc_provider_arn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": STS}}
    assert set(statement) == {"Effect", "Principal", "Action", "Condition"}
    assert trust == trust_policy(outputs["oidc_provider_arn"], parse_issuer(issuer), "default", "my-app")  # the CLI's
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["default-my-app-read-my-app-data"]
    assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role_name)["Tags"]} == {
        "cluster": "example",
        "kubernetes.io/namespace": "default",
        "kubernetes.io/service-account": "my-app",
    }
    audit = invoke("audit", "--issuer-url", issuer, "-o", "json")
    assert audit.exit_code == 0, audit.stdout + audit.stderr
    assert audit.json()["findings"] == []
    plan = tf(role_example, "plan", "-detailed-exitcode", *role_vars, check=False)
    assert plan.returncode == 0, f"plan after apply is not empty:\n{plan.stdout}\n{plan.stderr}"


def test_cloudfront_example_against_moto(
    tree: Path,
    aws: AwsWorld,
    front: Front,
    tmp_path: Path,
    cloudfront_like_aws: None,
) -> None:
    cache_policies = aws.cache_policies
    bucket = "issuer.tf-test.example"  # dots are fine behind CloudFront
    host = "oidc.tf-test.example"
    issuer = f"https://{host}/clusters/prod"
    private, pub, documents = render(tmp_path, issuer)
    server, chain = front(bucket, (host,), region=REGION)

    example = init(tree / "examples" / "cloudfront")
    variables = tfvars(
        issuer_url=issuer,
        bucket_name=bucket,
        documents_dir=documents,
        acm_certificate_arn=ACM_ARN,
        endpoint_url=aws.moto_endpoint,  # the cache-policy stand-in, in front of moto
        region=REGION,
        thumbprints=[chain.expected_thumbprint],
        wait_for_deployment="false",  # the provider's waiter sleeps 30 s before its first look, even at moto
    )
    tf(example, "apply", "-auto-approve", *variables)
    outputs = {name: o["value"] for name, o in json.loads(tf(example, "output", "-json").stdout).items()}
    assert outputs["issuer_url"] == issuer

    cloudfront = aws.client("cloudfront")
    [summary] = cloudfront.list_distributions()["DistributionList"]["Items"]
    distribution = cloudfront.get_distribution(Id=summary["Id"])["Distribution"]
    assert (outputs["distribution_domain_name"], outputs["distribution_id"]) == (
        distribution["DomainName"],
        distribution["Id"],
    )
    config = distribution["DistributionConfig"]
    assert config["Aliases"]["Items"] == [host]
    assert config["ViewerCertificate"]["ACMCertificateArn"] == ACM_ARN
    assert config["ViewerCertificate"]["SSLSupportMethod"] == "sni-only"
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    [origin] = config["Origins"]["Items"]
    assert origin["DomainName"] == f"{bucket}.s3.{REGION}.amazonaws.com"
    [oac] = cloudfront.list_origin_access_controls()["OriginAccessControlList"]["Items"]
    assert origin["OriginAccessControlId"] == oac["Id"]
    assert (oac["Name"], oac["SigningProtocol"], oac["SigningBehavior"], oac["OriginAccessControlOriginType"]) == (
        f"oidc-publisher-{bucket}",
        "sigv4",
        "always",
        "s3",
    )
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert sorted(behaviour["AllowedMethods"]["Items"]) == ["GET", "HEAD"]
    [policy_id] = cache_policies.policies
    assert behaviour["CachePolicyId"] == policy_id
    cache = cache_policies.config(policy_id)
    assert [cache.findtext(ttl) for ttl in ("MinTTL", "DefaultTTL", "MaxTTL")] == ["0", "300", "3600"]
    key = cache.find("ParametersInCacheKeyAndForwardedToOrigin")
    assert key is not None
    assert [key.findtext(f".//{b}") for b in ("CookieBehavior", "HeaderBehavior", "QueryStringBehavior")] == [
        "none"
    ] * 3
    assert [key.findtext(f) for f in ("EnableAcceptEncodingGzip", "EnableAcceptEncodingBrotli")] == ["true", "true"]

    s3 = aws.client("s3", REGION)
    assert_objects_are_the_documents(s3, bucket, "clusters/prod/", documents)
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy == bucket_policy(
        "aws",
        bucket,
        ["clusters/prod/openid/v1/jwks", "clusters/prod/.well-known/openid-configuration"],
        distribution_arn=distribution["ARN"],
    )
    assert_bucket_hardened(s3, bucket, private=True)
    publish = invoke(
        "publish", "--issuer-url", issuer, "--bucket", bucket, "--public-key", str(pub),
        "--distribution-id", distribution["Id"], "--dry-run", "-o", "json",
    )  # fmt: skip
    assert publish.exit_code == 0, publish.stdout + publish.stderr  # the CLI has nothing to change either
    assert_provider(aws.client("iam"), outputs["oidc_provider_arn"], issuer, chain.expected_thumbprint)

    subject = "system:serviceaccount:kube-system:rotation"
    with resolving(host, server.port):
        claims = relying_party_verifies(service_account_token(private, issuer, subject), issuer, chain.files["ca"])
    assert claims["sub"] == subject
    assert server.requests == ["/clusters/prod/.well-known/openid-configuration", "/clusters/prod/openid/v1/jwks"]

    plan = tf(example, "plan", "-detailed-exitcode", *variables, check=False)
    assert plan.returncode == 0, f"plan after apply is not empty:\n{plan.stdout}\n{plan.stderr}"


GOOD_ISSUER = {
    "issuer_url": "https://oidc.example.com",
    "bucket_name": "tf-issuer",
    "create_cloudfront": True,
    "acm_certificate_arn": ACM_ARN,
}
GOOD_ROLE = {
    "issuer_url": "https://oidc.example.com",
    "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.example.com",
    "namespace": "default",
    "service_account": "my-app",
}
BAD_INPUTS = [  # (module, inputs that differ from the good ones, the one message the plan stops with)
    (
        "oidc-issuer",
        {"bucket_name": "My_Issuer"},
        "bucket_name is not a valid S3 bucket name: use 3-63 lower-case letters, digits, '-' (and '.' only behind CloudFront).",
    ),
    (
        "oidc-issuer",
        {"prefix": "a/../b"},
        "prefix has an empty or relative segment, or characters that do not belong in a URL path: use a plain path such as 'clusters/prod'.",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "http://oidc.example.com"},
        "issuer_url is not https: IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront).",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://oidc.example.com:8443"},
        "issuer_url has a port: IAM refuses issuer URLs with a port; serve it on 443 and drop ':PORT'.",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://oidc.example.com/?a=b"},
        "issuer_url has a query string, a fragment or whitespace: remove it, the issuer must match 'iss' exactly.",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://oidc.example.com/x#y"},
        "issuer_url has a query string, a fragment or whitespace: remove it, the issuer must match 'iss' exactly.",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://OIDC.example.com"},
        "issuer_url has no valid lower-case host name: use https://HOST[/PATH] with a DNS name (no credentials, no upper case).",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://user@oidc.example.com"},
        "issuer_url has no valid lower-case host name: use https://HOST[/PATH] with a DNS name (no credentials, no upper case).",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://oidc.example.com/a//b"},
        "issuer_url has an empty or relative path segment: normalise the path.",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://oidc.example.com/a/../b"},
        "issuer_url has an empty or relative path segment: normalise the path.",
    ),
    (
        "oidc-issuer",
        {"acm_certificate_arn": ACM_ARN.replace("us-east-1", "eu-west-1")},
        "acm_certificate_arn is not an ACM certificate ARN in us-east-1 (the only region CloudFront takes certificates from).",
    ),
    ("oidc-issuer", {"thumbprints": ["ABCDEF"]}, "thumbprints are at most 5 lower-case 40-digit hex SHA-1 values."),
    ("oidc-issuer", {"thumbprints": ["a" * 40] * 6}, "thumbprints are at most 5 lower-case 40-digit hex SHA-1 values."),
    ("oidc-issuer", {"client_ids": []}, "client_ids are 1 to 100 audiences of 1-255 characters each (IAM's limits)."),
    (
        "oidc-issuer",
        {"documents_dir": "/nonexistent"},
        "documents_dir lacks openid/v1/jwks or .well-known/openid-configuration: run 'oidc-publisher render --issuer-url URL --public-key sa.pub --out-dir DIR' first.",
    ),
    (
        "irsa-role",
        {"oidc_provider_arn": "arn:aws:iam::123456789012:role/oidc.example.com"},
        "oidc_provider_arn is not an IAM OIDC provider ARN (arn:PARTITION:iam::ACCOUNT:oidc-provider/HOST/PATH).",
    ),
    (
        "irsa-role",
        {"namespace": "Kube_System"},
        "namespace is not a Kubernetes namespace name (a DNS label: lower-case letters, digits, '-', at most 63).",
    ),
    (
        "irsa-role",
        {"service_account": "My App"},
        "service_account is not a Kubernetes service account name (a DNS subdomain: lower-case letters, digits, '-', '.').",
    ),
    ("irsa-role", {"max_session_duration": 60}, "max_session_duration must be 3600 to 43200 seconds (IAM's limits)."),
    (
        "irsa-role",
        {"role_name": "a" * 65},
        "role_name must be 1-64 characters of letters, digits and +=,.@_- (IAM's rule).",
    ),
]
# Rules that compare two inputs: Terraform checks them only once every single-input rule has passed,
# so they get a plan of their own.
BAD_COMBINATIONS = [
    (
        "oidc-issuer",
        {"create_cloudfront": False, "bucket_name": "my.issuer"},
        "bucket_name contains dots, which S3's wildcard certificate does not cover: choose a name without dots, or set create_cloudfront.",
    ),
    (
        "oidc-issuer",
        {"create_cloudfront": False, "issuer_url": "https://other.s3.eu-west-1.amazonaws.com"},
        "issuer_url is served by another bucket than bucket_name: use the bucket named in the issuer URL, or an issuer URL for this bucket.",
    ),
    (
        "oidc-issuer",
        {"create_cloudfront": False, "issuer_url": "https://tf-issuer.s3.eu-west-1.amazonaws.com/a", "prefix": "b"},
        "prefix disagrees with the issuer's path: for an S3-direct issuer the path is the prefix; drop prefix.",
    ),
    (
        "oidc-issuer",
        {"issuer_url": "https://tf-issuer.s3.eu-west-1.amazonaws.com"},
        "create_cloudfront serves the issuer on a custom domain: issuer_url must be that domain, not an amazonaws.com host.",
    ),
    (
        "oidc-issuer",
        {"acm_certificate_arn": None},
        "create_cloudfront serves the custom domain in issuer_url: give acm_certificate_arn (a certificate in us-east-1).",
    ),
    (
        "irsa-role",
        {"oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/other.example.com"},
        "oidc_provider_arn is not the provider of issuer_url: give the ARN the oidc-issuer module output for this issuer.",
    ),
]


def plan_each_call(root: Path, moto: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[int, list[str]]:
    """One root module that calls a module once per entry; one plan; the error messages per call."""
    root.mkdir()
    text = [
        f'provider "aws" {{\n  region = "{REGION}"\n  skip_credentials_validation = true\n  skip_requesting_account_id = true\n'
        f'  skip_metadata_api_check = true\n  endpoints {{\n    iam = "{moto}"\n    sts = "{moto}"\n  }}\n}}\n'
    ]
    line, owner = text[0].count("\n") + 1, {}
    for index, (source, inputs) in enumerate(calls):
        body = [f'module "call_{index}" {{', f'  source = "{source}"']
        body += [f"  {name} = {json.dumps(value) if value is not None else 'null'}" for name, value in inputs.items()]
        body.append("}")
        owner.update({line + offset: index for offset in range(len(body))})
        line += len(body)
        text.append("\n".join(body) + "\n")
    (root / "main.tf").write_text("".join(text))
    init(root)
    plan = tf(root, "plan", "-json", check=False)
    assert plan.returncode == 1, plan.stdout[-3000:]
    seen: dict[int, list[str]] = {}
    for record in map(json.loads, plan.stdout.splitlines()):
        diagnostic = record.get("diagnostic")
        if diagnostic is not None and diagnostic["severity"] == "error":
            seen.setdefault(owner[diagnostic["range"]["start"]["line"]], []).append(
                diagnostic["detail"].split("\n\n")[0]
            )
    return seen


@pytest.mark.parametrize("cases", [BAD_INPUTS, BAD_COMBINATIONS], ids=["single inputs", "combinations"])
def test_bad_inputs_stop_the_plan_with_the_cli_advice(
    cases: list[tuple[str, dict[str, Any], str]], tree: Path, aws: AwsWorld, tmp_path: Path
) -> None:
    """Each bad call gets exactly its one message; the good calls (first two) get none; nothing is written."""
    _, _, documents = render(tmp_path, "https://oidc.example.com")
    good = {"oidc-issuer": {**GOOD_ISSUER, "documents_dir": str(documents)}, "irsa-role": GOOD_ROLE}
    calls = [(str(tree / "modules" / m), good[m]) for m in good]
    calls += [(str(tree / "modules" / module), {**good[module], **change}) for module, change, _ in cases]
    seen = plan_each_call(tmp_path / "inputs", aws.endpoint, calls)  # through the recording proxy
    expected = {index + 2: [message] for index, (_, _, message) in enumerate(cases)}
    assert seen == expected
    assert aws.recorder.writes == []


def test_role_names_are_the_clis(tree: Path, aws: AwsWorld, tmp_path: Path) -> None:
    """The irsa-role module's default name is default_role_name's, short and cut, for issuers whose old names collided."""
    cases = [
        ("https://tf-issuer.s3.eu-west-1.amazonaws.com", "default", "my-app"),
        ("https://oidc.example.com/clusters/prod", "kube-system", "a-rather-long-service-account-name-for-the-cut"),
        ("https://oidc.example.com/a", "default", "my-app"),
        ("https://oidc.example.com/b", "default", "my-app"),
    ]
    root = tmp_path / "names"
    root.mkdir()
    blocks = [
        f'provider "aws" {{\n  region = "{REGION}"\n  skip_credentials_validation = true\n  skip_requesting_account_id = true\n'
        f'  skip_metadata_api_check = true\n  endpoints {{\n    iam = "{aws.endpoint}"\n    sts = "{aws.endpoint}"\n  }}\n}}\n'
    ]
    for index, (issuer, namespace, service_account) in enumerate(cases):
        provider = f"arn:aws:iam::123456789012:oidc-provider/{issuer.removeprefix('https://')}"
        blocks.append(
            f'module "role_{index}" {{\n  source = "{tree / "modules" / "irsa-role"}"\n  issuer_url = "{issuer}"\n'
            f'  oidc_provider_arn = "{provider}"\n  namespace = "{namespace}"\n  service_account = "{service_account}"\n}}\n'
            f'output "name_{index}" {{\n  value = module.role_{index}.role_name\n}}\n'
        )
    (root / "main.tf").write_text("".join(blocks))
    init(root)
    tf(root, "plan", "-out=plan.bin")
    planned = json.loads(tf(root, "show", "-json", "plan.bin").stdout)["planned_values"]["outputs"]
    names = [planned[f"name_{index}"]["value"] for index in range(len(cases))]
    assert names == [default_role_name(parse_issuer(issuer), ns, sa) for issuer, ns, sa in cases]
    assert len(names[1]) == 64
    assert names[2] != names[3]
    assert aws.recorder.writes == []


def test_checkov_passes() -> None:
    # checkov pins old boto3 releases, so it lives in a venv of its own (.ci/run makes .venv-scan).
    candidates = [REPO / ".venv-scan" / "bin" / "checkov", shutil.which("checkov")]
    checkov = next((str(c) for c in candidates if c and Path(c).exists()), None)
    if checkov is None:
        if os.environ.get("CI") == "true":  # .ci/run installs it: missing there is a broken CI, not a skip
            pytest.fail("checkov is not installed: .ci/run should have made .venv-scan")
        pytest.skip("checkov is not installed (python3 -m venv .venv-scan && .venv-scan/bin/pip install checkov)")
    scan = subprocess.run(
        [checkov, "-d", str(ROOT), "--framework", "terraform", "--compact", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    reports = json.loads(scan.stdout)
    results = (reports if isinstance(reports, list) else [reports])[0]["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert (scan.returncode, failed) == (0, [])
    assert results["passed_checks"], "checkov found nothing to check"
    # Every skip carries a reason in a comment beside the resource.
    assert results["skipped_checks"]
    assert all(check["check_result"].get("suppress_comment") for check in results["skipped_checks"])
